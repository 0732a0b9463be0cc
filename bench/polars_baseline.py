"""The benchmark's third contender: the same marts as bench/reference.sql (hotline_daily, evaluation),
written with Polars' lazy API as a careful user would — every CSV scanned lazily (GB18030 files
transcoded to UTF-8 first, timed), the same row rules, the same methodology, one collect per result
on the streaming engine.

    python bench/polars_baseline.py RAW UNITS_CSV OUT.parquet-prefix

Prints one JSON line: tickets kept and the peak RSS. Results are written as Parquet so that the
benchmark can compare them with the pipeline's marts.
"""

import json
import resource
import sys
import tempfile
from pathlib import Path

import pandas as pd
import polars as pl
from pandas_baseline import HOTLINE_CATEGORIES, INDICATOR_WEIGHTS, POINTS, SURVEY_COMPONENTS, WEIGHTS
from pipeline_bench import utf8_mirror

CASE_FORMS = ["第一种形态", "第二种形态", "第三种形态", "第四种形态"]
CASE_OUTCOMES = ["谈话函询", "批评教育", "党纪处分", "政务处分", "问责", "组织处理", "移送司法", "了结澄清"]
CASE_CATEGORIES = ["违反中央八项规定精神", "扶贫领域腐败和作风问题", "违反政治纪律", "两个责任落实不力", "其他违纪"]


def read(raw: Path, source: str, mirror: Path) -> pl.LazyFrame:
    """Every file of a source, as trimmed text (empty is null), with its folder year, file and line;
    CSV files from `mirror`, their UTF-8 copies (Polars reads UTF-8 only)."""
    frames = []
    for path in sorted(raw.glob(f"{source}/*/*")):
        if path.suffix == ".xlsx":  # small files; Polars' own Excel reader needs a package we do not ship
            frame = pl.from_pandas(pd.read_excel(path, dtype=str)).lazy()
        else:
            frame = pl.scan_csv(mirror / path.relative_to(raw), infer_schema=False)
        frames.append(frame.with_columns(pl.all().str.strip_chars().replace("", None))
                      .with_row_index("line")
                      .with_columns(folder_year=pl.lit(int(path.parent.name)), file=pl.lit(str(path))))
    return pl.concat(frames, how="diagonal")


def timestamp(v: pl.Expr) -> pl.Expr:
    strict = (v.str.len_chars() == 19) & (v.str.slice(10, 1) == " ")
    return pl.when(strict).then(v.str.to_datetime("%Y-%m-%d %H:%M:%S", strict=False))


def date(v: pl.Expr) -> pl.Expr:
    excel = v.str.contains(r"^[0-9]+(\.[0-9]+)?$")
    serial = pl.lit(pd.Timestamp("1899-12-30").date()) + pl.duration(
        days=v.cast(pl.Float64, strict=False).round().cast(pl.Int64))
    text = pl.when(excel).then(serial.dt.strftime("%Y-%m-%d")).otherwise(v)
    return pl.when(text.str.len_chars() == 10).then(text.str.to_date("%Y-%m-%d", strict=False))


def integer(v: pl.Expr) -> pl.Expr:
    v = v.str.replace(r"^(-?[0-9]+)\.0+$", "${1}")
    return pl.when(v.str.contains(r"^-?[0-9]{1,18}$")).then(v.cast(pl.Int64, strict=False))


def number(v: pl.Expr) -> pl.Expr:
    v = v.str.replace(r"^(-?[0-9]+)\.0+$", "${1}")
    return pl.when(v.str.contains(r"^-?[0-9]+([.][0-9]+)?$")).then(v.cast(pl.Float64, strict=False))


def first_per_key(frame: pl.LazyFrame, key: list[str]) -> pl.LazyFrame:
    """The first row of each key in file and line order (the frames are concatenated in that order)."""
    return frame.unique(subset=key, keep="first", maintain_order=True)


def known(column: str, values) -> pl.Expr:
    return pl.col(column).is_in(list(values))


def hotline(raw: Path, units: list[str], mirror: Path) -> pl.LazyFrame:
    received, due, closed = timestamp(pl.col("受理时间")), timestamp(pl.col("办结时限")), timestamp(pl.col("办结时间"))
    t = read(raw, "hotline", mirror).with_columns(received=received, due=due, closed=closed)
    valid = (pl.col("工单编号").is_not_null() & pl.col("received").is_not_null() & pl.col("due").is_not_null()
             & pl.col("原热线").is_not_null() & known("区县代码", units) & known("诉求类别", HOTLINE_CATEGORIES)
             & known("办理状态", ["办结", "办理中", "退回"])
             & (pl.col("满意度评价").is_null() | known("满意度评价", ["满意", "基本满意", "不满意"]))
             & (pl.col("办结时间").is_null() | pl.col("closed").is_not_null())
             & ~(pl.col("closed") < pl.col("received")).fill_null(False)
             & (pl.col("received").dt.year() == pl.col("folder_year")))
    t = first_per_key(t.filter(valid), ["folder_year", "工单编号"])
    is_closed = (pl.col("办理状态") == "办结") & pl.col("closed").is_not_null()
    return t.select(
        year=pl.col("folder_year"), received_on=pl.col("received").dt.date(), county_code=pl.col("区县代码"),
        is_closed=is_closed, is_closed_on_time=is_closed & (pl.col("closed") <= pl.col("due")),
        is_rated=pl.col("满意度评价").is_not_null(), is_satisfied=known("满意度评价", ["满意", "基本满意"]),
        is_conduct_complaint=known("诉求类别", ["干部作风", "腐败问题"]))


def components(raw: Path, units: list[str], tickets: pl.LazyFrame, mirror: Path) -> tuple[pl.LazyFrame, pl.LazyFrame]:
    parts = []
    d = read(raw, "development", mirror).with_columns(year=integer(pl.col("年度")), score=number(pl.col("考评得分")))
    d = d.filter(known("区县代码", units) & pl.col("score").is_between(0, 100) & (pl.col("year") == pl.col("folder_year")))
    parts.append(first_per_key(d, ["year", "区县代码"]).select(
        "year", county_code=pl.col("区县代码"), component=pl.lit("dev_assessment"), value=pl.col("score")))

    s = read(raw, "surveys", mirror).with_columns(year=integer(pl.col("测评年度")),
                                                   weight=number(pl.col("权重").fill_null("1")))
    s = s.filter(pl.col("问卷编号").is_not_null() & (pl.col("year") == pl.col("folder_year"))
                 & known("测评类型", SURVEY_COMPONENTS) & known("区县代码", units)
                 & known("受访者类型", ["群众", "党员干部", "市委委员"]) & known("评价", POINTS) & (pl.col("weight") > 0))
    s = first_per_key(s, ["year", "问卷编号"]).with_columns(
        points=pl.col("评价").replace_strict(POINTS, return_dtype=pl.Float64)).drop_nulls("points")
    parts.append(s.group_by("year", "区县代码", "测评类型").agg(
        value=(pl.col("weight") * pl.col("points")).sum() / pl.col("weight").sum()).select(
        "year", county_code=pl.col("区县代码"), component=pl.col("测评类型").replace_strict(SURVEY_COMPONENTS),
        value=pl.col("value")))

    c = read(raw, "cases", mirror).with_columns(
        misconduct=date(pl.col("最后违纪时间")), filed=date(pl.col("立案时间")), handled=date(pl.col("处置时间")))
    handled_null = pl.col("handled").is_null()
    c = c.filter(pl.col("记录编号").is_not_null() & pl.col("被审查人编号").is_not_null()
                 & known("区县代码", [*units, "511100"]) & known("职级", ["县处级", "乡科级", "一般干部", "其他"])
                 & known("是否一把手", ["是", "否"]) & known("问题类别", CASE_CATEGORIES)
                 & pl.col("misconduct").is_not_null()
                 & (pl.col("立案时间").is_null() | pl.col("filed").is_not_null())
                 & (pl.col("处置时间").is_null() | pl.col("handled").is_not_null())
                 & (pl.col("处置形态").is_null() | known("处置形态", CASE_FORMS))
                 & (pl.col("处理结果").is_null() | known("处理结果", CASE_OUTCOMES))
                 & known("是否留置", ["是", "否"]) & ~(pl.col("filed").is_null() & handled_null)
                 & (pl.col("处置形态").is_null() == handled_null) & (pl.col("处理结果").is_null() == handled_null)
                 & (pl.coalesce("filed", "handled").dt.year() == pl.col("folder_year")))
    c = first_per_key(c, ["folder_year", "记录编号"]).filter(
        pl.col("filed").is_not_null() & (pl.col("filed").dt.year() == pl.col("folder_year")))
    parts.append(c.filter(known("区县代码", units)).group_by("folder_year", "区县代码").agg(
        value=100.0 * (1 - (pl.col("misconduct") >= pd.Timestamp("2012-11-08").date()).sum() / pl.len())).select(
        year="folder_year", county_code=pl.col("区县代码"), component=pl.lit("discipline_new_occurrence"),
        value=pl.col("value")))
    vetoes = c.filter((pl.col("是否一把手") == "是") & (pl.col("职级") == "县处级") & (pl.col("是否留置") == "是")).select(
        year="folder_year", county_code=pl.col("区县代码")).unique()

    i = read(raw, "inspections", mirror).with_columns(
        started=date(pl.col("开始日期")), ended=date(pl.col("结束日期")), due=date(pl.col("整改期限")),
        found=integer(pl.col("发现问题数")), clues=integer(pl.col("移交线索数")), rectified=integer(pl.col("已整改数")))
    i = i.filter(pl.col("巡察编号").is_not_null() & pl.col("轮次").is_not_null() & pl.col("被巡察单位").is_not_null()
                 & known("类型", ["常规巡察", "专项巡察", "政治体检"]) & known("区县代码", [*units, "511100"])
                 & known("单位类型", ["县(市、区)党委", "市级部门", "县级部门", "基层党组织"])
                 & pl.col("started").is_not_null() & pl.col("ended").is_not_null() & pl.col("due").is_not_null()
                 & (pl.col("found") >= 0) & (pl.col("clues") >= 0) & (pl.col("rectified") >= 0)
                 & (pl.col("ended") >= pl.col("started")) & (pl.col("rectified") <= pl.col("found"))
                 & (pl.col("ended").dt.year() == pl.col("folder_year")))
    sums = first_per_key(i, ["folder_year", "巡察编号"]).filter(known("区县代码", units)).group_by(
        "folder_year", "区县代码").agg(pl.col("rectified").sum(), pl.col("found").sum()).filter(pl.col("found") > 0)
    parts.append(sums.select(year="folder_year", county_code=pl.col("区县代码"), component=pl.lit("inspection_rectification"),
                             value=100.0 * pl.col("rectified") / pl.col("found")))

    h = tickets.group_by("year", "county_code").agg(pl.col("is_satisfied", "is_rated", "is_closed_on_time", "is_closed").sum())
    parts.append(h.filter(pl.col("is_rated") > 0).select(
        "year", "county_code", component=pl.lit("hotline_satisfaction"),
        value=100.0 * pl.col("is_satisfied") / pl.col("is_rated")))
    parts.append(h.filter(pl.col("is_closed") > 0).select(
        "year", "county_code", component=pl.lit("hotline_on_time"),
        value=100.0 * pl.col("is_closed_on_time") / pl.col("is_closed")))
    return pl.concat([p.with_columns(pl.col("year").cast(pl.Int64)) for p in parts]), vetoes


def evaluation(parts: pl.LazyFrame, vetoes: pl.LazyFrame) -> pl.LazyFrame:
    weights = pl.LazyFrame({"component": list(WEIGHTS), "indicator": [i for i, _ in WEIGHTS.values()],
                            "weight": [w for _, w in WEIGHTS.values()]})
    indicator_weights = pl.LazyFrame({"indicator": list(INDICATOR_WEIGHTS), "indicator_weight": list(INDICATOR_WEIGHTS.values())})
    indicators = parts.join(weights, on="component").group_by("year", "county_code", "indicator").agg(
        value=(pl.col("weight") * pl.col("value")).sum() / pl.col("weight").sum())
    scored = indicators.join(indicator_weights, on="indicator").group_by("year", "county_code").agg(
        composite=pl.when(pl.len() == 6).then((pl.col("value") * pl.col("indicator_weight")).sum()))
    vetoed = scored.join(vetoes.with_columns(pl.col("year").cast(pl.Int64), veto=pl.lit(True)),
                         on=["year", "county_code"], how="left").with_columns(pl.col("veto").fill_null(False))
    composite = pl.col("composite")
    return vetoed.select("year", "county_code", "composite", grade=pl.when(composite.is_null()).then(pl.lit("未评定"))
                         .when((composite >= 90) & ~pl.col("veto")).then(pl.lit("好"))
                         .when((composite >= 80) & ~pl.col("veto")).then(pl.lit("较好"))
                         .when(composite >= 70).then(pl.lit("一般")).otherwise(pl.lit("差")))


def main(raw: Path, units_csv: Path, out: str) -> None:
    units = pl.read_csv(units_csv, infer_schema=False)["county_code"].to_list()
    with tempfile.TemporaryDirectory(prefix="jingtu-polars-") as folder:
        mirror = Path(folder)
        utf8_mirror(raw, mirror)
        tickets = hotline(raw, units, mirror).collect(engine="streaming")
        daily = tickets.lazy().group_by("year", "received_on", "county_code").agg(
            tickets_received=pl.len(), tickets_closed=pl.col("is_closed").sum(),
            tickets_closed_on_time=pl.col("is_closed_on_time").sum(), tickets_rated=pl.col("is_rated").sum(),
            tickets_satisfied=pl.col("is_satisfied").sum(), conduct_complaints=pl.col("is_conduct_complaint").sum())
        daily.sink_parquet(f"{out}_hotline_daily.parquet")
        parts, vetoes = components(raw, units, tickets.lazy(), mirror)
        evaluation(parts, vetoes).sink_parquet(f"{out}_evaluation.parquet")
    print(json.dumps({"tickets": tickets.height,
                      "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3])
