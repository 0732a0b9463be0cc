"""The benchmark's baseline: the same marts as bench/reference.sql (hotline_daily, evaluation),
written the straightforward pandas way a user would otherwise write — every file read whole into a
DataFrame, the same row rules, the same methodology.

    python bench/pandas_baseline.py RAW UNITS_CSV OUT.parquet-prefix [MEMORY_CAP_BYTES]

Prints one JSON line: tickets kept and the peak RSS. Results are written as Parquet so that the
benchmark can compare them with the pipeline's marts.
"""

import json
import resource
import sys
from pathlib import Path

import pandas as pd
import pyarrow

REACHED = ["nothing read yet"]  # how far it got, for the report when memory runs out

HOTLINE_CATEGORIES = {"城乡建设", "环境保护", "劳动社保", "教育医疗", "交通运输", "市场监管", "农业农村", "公共安全",
                      "干部作风", "腐败问题", "其他"}
POINTS = {"满意": 100, "好": 100, "比较满意": 80, "较好": 80, "一般": 60, "不满意": 0, "差": 0, "不了解": None}
SURVEY_COMPONENTS = {"党风廉政建设满意度": "survey_clean_governance", "政风满意度": "survey_government_conduct",
                     "选人用人评议": "survey_cadre_selection", "平安建设群众满意度": "survey_public_safety",
                     "市委委员综合评价": "survey_committee"}
WEIGHTS = {"dev_assessment": ("development", 1.0), "survey_clean_governance": ("clean_governance", 0.6),
           "discipline_new_occurrence": ("clean_governance", 0.2), "inspection_rectification": ("clean_governance", 0.2),
           "survey_government_conduct": ("government_conduct", 0.5), "hotline_satisfaction": ("government_conduct", 0.3),
           "hotline_on_time": ("government_conduct", 0.2), "survey_cadre_selection": ("cadre_selection", 1.0),
           "survey_public_safety": ("public_safety", 1.0), "survey_committee": ("committee_evaluation", 1.0)}
INDICATOR_WEIGHTS = {"development": 0.20, "clean_governance": 0.25, "government_conduct": 0.15,
                     "cadre_selection": 0.15, "public_safety": 0.10, "committee_evaluation": 0.15}


def read(raw: Path, source: str) -> pd.DataFrame:
    """Every file of a source, as text, with its folder year and line order."""
    frames = []
    for path in sorted(raw.glob(f"{source}/*/*")):
        if path.suffix == ".xlsx":
            frame = pd.read_excel(path, dtype=str)
        else:
            try:
                frame = pd.read_csv(path, dtype=str, encoding="utf-8-sig", keep_default_na=False)
            except UnicodeDecodeError:
                frame = pd.read_csv(path, dtype=str, encoding="gb18030", keep_default_na=False)
        frame = frame.apply(lambda column: column.str.strip()).replace({"": None, "nan": None})
        frame["folder_year"] = int(path.parent.name)
        frame["file"] = str(path)
        frame["line"] = range(len(frame))
        frames.append(frame)
        REACHED[0] = f"{sum(map(len, frames)):,} rows of {source} read, up to {path.name}"
    return pd.concat(frames, ignore_index=True)


def timestamp(values: pd.Series) -> pd.Series:
    strict = values.str.len().eq(19) & values.str[10].eq(" ")
    return pd.to_datetime(values.where(strict), format="%Y-%m-%d %H:%M:%S", errors="coerce")


def date(values: pd.Series) -> pd.Series:
    excel = values.str.fullmatch(r"[0-9]+(\.[0-9]+)?", na=False)
    serial = pd.to_datetime("1899-12-30") + pd.to_timedelta(pd.to_numeric(values.where(excel)).round(), unit="D")
    text = values.where(~excel, serial.dt.strftime("%Y-%m-%d"))
    return pd.to_datetime(text.where(text.str.len().eq(10)), format="%Y-%m-%d", errors="coerce")


def integer(values: pd.Series) -> pd.Series:
    values = values.str.replace(r"^(-?[0-9]+)\.0+$", r"\1", regex=True)
    return pd.to_numeric(values.where(values.str.fullmatch(r"-?[0-9]{1,18}", na=False)), errors="coerce")


def number(values: pd.Series) -> pd.Series:
    values = values.str.replace(r"^(-?[0-9]+)\.0+$", r"\1", regex=True)
    return pd.to_numeric(values.where(values.str.fullmatch(r"-?[0-9]+([.][0-9]+)?", na=False)), errors="coerce")


def first_per_key(frame: pd.DataFrame, key: list[str]) -> pd.DataFrame:
    return frame.sort_values(["file", "line"]).drop_duplicates(key, keep="first")


def hotline(raw: Path, units: set) -> pd.DataFrame:
    t = read(raw, "hotline")
    received, due, closed = timestamp(t["受理时间"]), timestamp(t["办结时限"]), timestamp(t["办结时间"])
    valid = (t["工单编号"].notna() & received.notna() & due.notna() & t["原热线"].notna()
             & t["区县代码"].isin(units) & t["诉求类别"].isin(HOTLINE_CATEGORIES)
             & t["办理状态"].isin({"办结", "办理中", "退回"})
             & (t["满意度评价"].isna() | t["满意度评价"].isin({"满意", "基本满意", "不满意"}))
             & (t["办结时间"].isna() | closed.notna()) & ~(closed < received).fillna(False)
             & (received.dt.year == t["folder_year"]))
    t = t.assign(received=received, due=due, closed=closed)[valid]
    t = first_per_key(t, ["folder_year", "工单编号"])
    is_closed = t["办理状态"].eq("办结") & t["closed"].notna()
    return pd.DataFrame({
        "year": t["folder_year"], "received_on": t["received"].dt.date, "county_code": t["区县代码"],
        "is_closed": is_closed, "is_closed_on_time": is_closed & (t["closed"] <= t["due"]),
        "is_rated": t["满意度评价"].notna(), "is_satisfied": t["满意度评价"].isin({"满意", "基本满意"}),
        "is_conduct_complaint": t["诉求类别"].isin({"干部作风", "腐败问题"})})


def components(raw: Path, units: set, tickets: pd.DataFrame) -> pd.DataFrame:
    parts = []
    d = read(raw, "development")
    d["year"], d["score"] = integer(d["年度"]), number(d["考评得分"])
    d = d[d["区县代码"].isin(units) & d["score"].between(0, 100) & d["year"].eq(d["folder_year"])]
    d = first_per_key(d, ["year", "区县代码"])
    parts.append(pd.DataFrame({"year": d["year"], "county_code": d["区县代码"], "component": "dev_assessment",
                               "value": d["score"]}))

    s = read(raw, "surveys")
    s["year"], s["weight"] = integer(s["测评年度"]), number(s["权重"].fillna("1"))
    s = s[s["问卷编号"].notna() & s["year"].eq(s["folder_year"]) & s["测评类型"].isin(SURVEY_COMPONENTS)
          & s["区县代码"].isin(units) & s["受访者类型"].isin({"群众", "党员干部", "市委委员"})
          & s["评价"].isin(POINTS) & (s["weight"] > 0)]
    s = first_per_key(s, ["year", "问卷编号"])
    s = s.assign(points=s["评价"].map(POINTS).astype(float)).dropna(subset=["points"])
    s = s.assign(weighted=s["weight"] * s["points"])
    grouped = s.groupby(["year", "区县代码", "测评类型"])[["weighted", "weight"]].sum().reset_index()
    parts.append(pd.DataFrame({"year": grouped["year"], "county_code": grouped["区县代码"],
                               "component": grouped["测评类型"].map(SURVEY_COMPONENTS),
                               "value": grouped["weighted"] / grouped["weight"]}))

    c = read(raw, "cases")
    misconduct, filed, handled = date(c["最后违纪时间"]), date(c["立案时间"]), date(c["处置时间"])
    forms = {"第一种形态", "第二种形态", "第三种形态", "第四种形态"}
    outcomes = {"谈话函询", "批评教育", "党纪处分", "政务处分", "问责", "组织处理", "移送司法", "了结澄清"}
    categories = {"违反中央八项规定精神", "扶贫领域腐败和作风问题", "违反政治纪律", "两个责任落实不力", "其他违纪"}
    valid = (c["记录编号"].notna() & c["被审查人编号"].notna() & c["区县代码"].isin(units | {"511100"})
             & c["职级"].isin({"县处级", "乡科级", "一般干部", "其他"}) & c["是否一把手"].isin({"是", "否"})
             & c["问题类别"].isin(categories) & misconduct.notna()
             & (c["立案时间"].isna() | filed.notna()) & (c["处置时间"].isna() | handled.notna())
             & (c["处置形态"].isna() | c["处置形态"].isin(forms)) & (c["处理结果"].isna() | c["处理结果"].isin(outcomes))
             & c["是否留置"].isin({"是", "否"}) & ~(filed.isna() & handled.isna())
             & (c["处置形态"].isna() == handled.isna()) & (c["处理结果"].isna() == handled.isna())
             & (filed.fillna(handled).dt.year == c["folder_year"]))
    c = c.assign(misconduct=misconduct, filed=filed)[valid]
    c = first_per_key(c, ["folder_year", "记录编号"])
    c = c[c["filed"].notna() & (c["filed"].dt.year == c["folder_year"])]
    c = c.assign(is_new=c["misconduct"] >= pd.Timestamp("2012-11-08"),
                 veto=c["是否一把手"].eq("是") & c["职级"].eq("县处级") & c["是否留置"].eq("是"))
    counted = c[c["区县代码"].isin(units)].groupby(["folder_year", "区县代码"])["is_new"].agg(["sum", "count"])
    counted = counted.reset_index()
    parts.append(pd.DataFrame({"year": counted["folder_year"], "county_code": counted["区县代码"],
                               "component": "discipline_new_occurrence",
                               "value": 100.0 * (1 - counted["sum"] / counted["count"])}))
    vetoes = c[c["veto"]][["folder_year", "区县代码"]].drop_duplicates()
    vetoes.columns = ["year", "county_code"]

    i = read(raw, "inspections")
    started, ended, due = date(i["开始日期"]), date(i["结束日期"]), date(i["整改期限"])
    found, clues, rectified = integer(i["发现问题数"]), integer(i["移交线索数"]), integer(i["已整改数"])
    valid = (i["巡察编号"].notna() & i["轮次"].notna() & i["被巡察单位"].notna()
             & i["类型"].isin({"常规巡察", "专项巡察", "政治体检"}) & i["区县代码"].isin(units | {"511100"})
             & i["单位类型"].isin({"县(市、区)党委", "市级部门", "县级部门", "基层党组织"})
             & started.notna() & ended.notna() & due.notna() & (found >= 0) & (clues >= 0) & (rectified >= 0)
             & (ended >= started) & (rectified <= found) & (ended.dt.year == i["folder_year"]))
    i = i.assign(found=found, rectified=rectified)[valid]
    i = first_per_key(i, ["folder_year", "巡察编号"])
    sums = i[i["区县代码"].isin(units)].groupby(["folder_year", "区县代码"])[["rectified", "found"]].sum()
    sums = sums[sums["found"] > 0].reset_index()
    parts.append(pd.DataFrame({"year": sums["folder_year"], "county_code": sums["区县代码"],
                               "component": "inspection_rectification",
                               "value": 100.0 * sums["rectified"] / sums["found"]}))

    h = tickets.groupby(["year", "county_code"])[["is_satisfied", "is_rated", "is_closed_on_time", "is_closed"]]
    h = h.sum().reset_index()
    rated, closed = h[h["is_rated"] > 0], h[h["is_closed"] > 0]
    parts.append(pd.DataFrame({"year": rated["year"], "county_code": rated["county_code"],
                               "component": "hotline_satisfaction",
                               "value": 100.0 * rated["is_satisfied"] / rated["is_rated"]}))
    parts.append(pd.DataFrame({"year": closed["year"], "county_code": closed["county_code"],
                               "component": "hotline_on_time",
                               "value": 100.0 * closed["is_closed_on_time"] / closed["is_closed"]}))
    return pd.concat(parts, ignore_index=True), vetoes


def evaluation(parts: pd.DataFrame, vetoes: pd.DataFrame) -> pd.DataFrame:
    parts = parts.assign(indicator=parts["component"].map(lambda c: WEIGHTS[c][0]),
                         weight=parts["component"].map(lambda c: WEIGHTS[c][1]))
    parts["weighted"] = parts["weight"] * parts["value"]
    indicators = parts.groupby(["year", "county_code", "indicator"])[["weighted", "weight"]].sum().reset_index()
    indicators["value"] = indicators["weighted"] / indicators["weight"] * indicators["indicator"].map(INDICATOR_WEIGHTS)
    scored = indicators.groupby(["year", "county_code"])["value"].agg(["sum", "count"]).reset_index()
    scored["composite"] = scored["sum"].where(scored["count"] == 6)
    vetoed = scored.merge(vetoes.assign(veto=True), on=["year", "county_code"], how="left")["veto"].notna()

    def grade(row_composite, row_veto):
        if pd.isna(row_composite):
            return "未评定"
        if row_composite >= 90 and not row_veto:
            return "好"
        if row_composite >= 80 and not row_veto:
            return "较好"
        return "一般" if row_composite >= 70 else "差"

    scored["grade"] = [grade(c, v) for c, v in zip(scored["composite"], vetoed, strict=True)]
    return scored[["year", "county_code", "composite", "grade"]]


def main(raw: Path, units_csv: Path, out: str) -> None:
    units = set(pd.read_csv(units_csv, dtype=str)["county_code"])
    tickets = hotline(raw, units)
    daily = (tickets.groupby(["year", "received_on", "county_code"])
             .agg(tickets_received=("is_closed", "size"), tickets_closed=("is_closed", "sum"),
                  tickets_closed_on_time=("is_closed_on_time", "sum"), tickets_rated=("is_rated", "sum"),
                  tickets_satisfied=("is_satisfied", "sum"), conduct_complaints=("is_conduct_complaint", "sum"))
             .reset_index())
    parts, vetoes = components(raw, units, tickets)
    daily.to_parquet(f"{out}_hotline_daily.parquet")
    evaluation(parts, vetoes).to_parquet(f"{out}_evaluation.parquet")
    print(json.dumps({"tickets": len(tickets),
                      "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))


if __name__ == "__main__":
    if len(sys.argv) > 4:  # an address-space cap: a MemoryError rather than the OOM killer
        resource.setrlimit(resource.RLIMIT_AS, (int(sys.argv[4]), int(sys.argv[4])))
    try:
        main(Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3])
    # The finding at national scale: say how far it got. Under the cap pandas' Arrow strings fail to
    # allocate with an ArrowException ("Unknown error: Wrapping 满意 failed") as often as a MemoryError.
    except (MemoryError, pyarrow.ArrowException) as error:
        cap = f" under the {int(sys.argv[4]) / 2**30:.0f} GiB cap" if len(sys.argv) > 4 else ""
        print(json.dumps({"failed": f"{type(error).__name__}{cap} ({str(error)[:60]}) with {REACHED[0]}",
                          "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
        raise SystemExit(1) from None
