"""The deterministic sample-data generator: `raw/` files for 2015–2018 that reproduce the report."""

from pathlib import Path

from orchestration.sample import cases, hotline, inspections, plan, surveys

DEFAULT_SEED = 20180827  # the day of the report's symposium


def generate(out: Path, seed: int = DEFAULT_SEED, unit_count: int = len(plan.UNITS),
             hotline_scale: float = 1.0, years=plan.YEARS, progress=print) -> None:
    """Write every source for `years` under `out`. At the defaults the warehouse reproduces
    seed-figures.md; `unit_count` and `hotline_scale` grow the data for benchmarks."""
    units = plan.units(unit_count)
    for year in years:
        hotline.generate(out, units, year, hotline_scale, progress)
    cases.generate(out, units, years, seed, progress)
    rectification = inspections.generate(out, units, years, seed, progress)
    surveys.generate(out, units, years, rectification, seed, progress)
