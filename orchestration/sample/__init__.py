"""The deterministic sample-data generator: `raw/` files for 2015–2018 that reproduce the report."""

from pathlib import Path

from orchestration.sample import cases, hotline, inspections, monitoring, plan, surveys
from orchestration.settings import SAMPLE_MANIFEST, SAMPLE_SEED


def check_options(hotline_scale: float, signals: str) -> None:
    """Refuse what `generate` cannot honour (ValueError, saying why) before anything is written."""
    if signals not in ("report", "off", "shifts"):
        raise ValueError(f"signals={signals!r}: report, off or shifts")
    if signals != "report" and hotline_scale != 1.0:
        raise ValueError(f"a hotline scale ({hotline_scale:g}) applies to the report's sample only: a monitoring"
                         f" scenario (signals {signals}) keeps the ticket volumes its alerts' false-alarm rate"
                         " was measured at")


def generate(out: Path, seed: int = SAMPLE_SEED, unit_count: int | None = None,
             hotline_scale: float = 1.0, years=plan.YEARS, progress=print, signals: str = "report"
             ) -> list[monitoring.Shift]:
    """Write every source for `years` under `out`. At the defaults the warehouse reproduces
    seed-figures.md; `unit_count` and `hotline_scale` grow the data for benchmarks. With more units
    than Leshan's, `out/units.csv` lists them: point `JINGTU_UNITS` at it.

    `signals` "off" or "shifts" writes the hotline (every month) and the cases of a monitoring
    scenario instead (sample/monitoring.py), with no planted signal at all or with the returned
    shifts, and no overdue rectification."""
    check_options(hotline_scale, signals)
    units = plan.units(unit_count or len(plan.UNITS))
    if len(units) != len(plan.UNITS):
        out.mkdir(parents=True, exist_ok=True)
        lines = ["county_code,county_name,unit_type"] + [f"{u.code},{u.name},county" for u in units]
        (out / "units.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
        progress(f"{len(units)} units listed in {out / 'units.csv'}: set JINGTU_UNITS to it")
    shifts = []
    if signals == "report":
        for year in years:
            hotline.generate(out, units, year, hotline_scale, progress)
        cases.generate(out, units, years, seed, progress)
    else:
        shifts = monitoring.generate(out, units, years, signals, seed, progress)
    gaps = plan.RECTIFICATION_GAPS if signals == "report" else {}
    rectification = inspections.generate(out, units, years, seed, progress, gaps)
    surveys.generate(out, units, years, rectification, seed, progress)
    # What the generator wrote: data beside it is real, and needs a secret PII key (settings.pii_key).
    files = sorted(p for p in out.glob("*/*/*") if p.is_file())
    (out / SAMPLE_MANIFEST).write_text("".join(f"{p.relative_to(out).as_posix()}\t{p.stat().st_size}\n"
                                               for p in files))
    return shifts
