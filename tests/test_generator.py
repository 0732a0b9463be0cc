"""The sample generator writes exports the way the source systems do, and does it deterministically."""

import hashlib

from orchestration.sample import generate


def digest(root) -> dict[str, str]:
    return {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def test_the_same_seed_writes_the_same_bytes(small_raw_template, tmp_path):
    generate(tmp_path, hotline_scale=0.01, progress=lambda _: None)
    assert digest(tmp_path) == digest(small_raw_template)


def test_another_seed_writes_other_data(small_raw_template, tmp_path):
    generate(tmp_path, seed=7, hotline_scale=0.01, progress=lambda _: None)
    ours, theirs = digest(tmp_path), digest(small_raw_template)
    assert ours.keys() == theirs.keys()
    assert ours["cases/2017/cases_2017.csv"] != theirs["cases/2017/cases_2017.csv"]


def test_exports_mix_encodings_and_formats_like_real_ones(small_raw_template):
    files = {p.relative_to(small_raw_template).as_posix(): p.read_bytes()
             for p in small_raw_template.rglob("*") if p.is_file()}
    bom = [f for f, data in files.items() if data.startswith(b"\xef\xbb\xbf")]
    xlsx = [f for f in files if f.endswith(".xlsx")]
    gb18030 = []
    for name, data in files.items():
        if name.endswith(".csv") and not data.startswith(b"\xef\xbb\xbf"):
            try:
                data.decode("utf-8")
            except UnicodeDecodeError:
                data.decode("gb18030")  # raises if it is neither
                gb18030.append(name)
    assert any(f.startswith("hotline/") for f in gb18030) and any(f.startswith("hotline/") for f in bom)
    assert {f.split("/")[0] for f in xlsx} == {"inspections", "development"}
    assert files["hotline/2018/12345_2018-03.csv"].decode("gb18030").startswith("工单编号,受理时间,来电号码")


def test_hotline_exists_only_from_march_2018(small_raw_template):
    months = sorted(p.name for p in (small_raw_template / "hotline").rglob("*.csv"))
    assert months[0] == "12345_2018-03.csv" and months[-1] == "12345_2018-12.csv" and len(months) == 10


def test_more_units_are_listed_for_the_loader(tmp_path):
    generate(tmp_path, unit_count=30, hotline_scale=0.001, years=(2018,), progress=lambda _: None)
    units = (tmp_path / "units.csv").read_text(encoding="utf-8").splitlines()
    assert len(units) == 31 and units[1].startswith("511102,") and units[-1].startswith("520018,")
