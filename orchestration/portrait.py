"""County portraits (精准画像): one self-contained HTML page per year and an index linking the years,
read from the warehouse's marts.

Charts are Plotly's (its JavaScript ships in the Python wheel and is written once beside the pages,
so they open from disk with no network; Plotly draws radar charts, which Vega-Lite does not); pages
are Jinja2 templates (orchestration/templates/). Chinese first, English beside it.
"""

import datetime
import decimal
import json
from collections import defaultdict
from pathlib import Path

import duckdb
import plotly.io
from plotly.offline import get_plotlyjs

from orchestration.alert_evidence import EVIDENCE_COLUMNS, describe
from orchestration.lib.duck import connect, has_mart
from orchestration.lib.html import templates

PLOTLY_JS = "plotly.min.js"
FONT = "Noto Sans CJK SC, Source Han Sans SC, PingFang SC, Microsoft YaHei, WenQuanYi Micro Hei, sans-serif"
COLOURS = {"unit": "#c0392b", "city": "#7f8c8d", "limit95": "#e67e22", "limit998": "#c0392b"}

def page_name(year: int | str) -> str:
    return f"portrait_{year}.html"


def _records(con, sql: str, params: dict | None = None) -> list[dict]:
    result = con.execute(sql, params or {})
    names = [d[0] for d in result.description]
    return [dict(zip(names, row)) for row in result.fetchall()]


def evaluated_years(con: duckdb.DuckDBPyConnection) -> list[int]:
    """The years marts.fct_county_evaluation holds, in order: the years that have a page."""
    return [year for (year,) in con.execute("select distinct year from marts.fct_county_evaluation order by 1")
            .fetchall()]


def no_evaluation(years: list[int]) -> str:
    """What to say of `years` that have no evaluation, and so no page."""
    return (f"the warehouse has no evaluation for {', '.join(map(str, years))}: materialise it first"
            f" (jingtu materialize {' '.join(map(str, years))})")


def _by_county(records: list[dict]) -> defaultdict[str, list[dict]]:
    """`records` grouped by county_code, each group in the records' order: one pass, where filtering the
    whole list for each unit grows with the square of the units."""
    grouped = defaultdict(list)
    for record in records:
        grouped[record["county_code"]].append(record)
    return grouped


def _json(value) -> str:
    """JSON for a <script> element ("</" escaped); DuckDB's decimals and dates as Plotly takes them."""
    def plain(v):
        return float(v) if isinstance(v, decimal.Decimal) else v.isoformat()
    return json.dumps(value, ensure_ascii=False, default=plain).replace("</", "<\\/")


def plotly_template() -> str:
    """Plotly's `plotly_white` template as JSON, given once per page: plotly.js knows no template by name."""
    return _json(plotly.io.templates["plotly_white"].to_plotly_json())


def _chart(data: list[dict], layout: dict, div_id: str, title: tuple[str, str], height: int = 320,
           width: int | None = None) -> str:
    """A chart as an HTML fragment drawn by plotly.js, titled in Chinese with English under it. The
    figure is written as plain JSON: Plotly's Python figure objects validate every property, which
    cost most of a page's rendering time."""
    layout = {"title": {"text": f"{title[0]}<br><sup>{title[1]}</sup>"}, "height": height, "width": width,
              "autosize": width is None, "margin": {"l": 40, "r": 20, "t": 60, "b": 40}, "font": {"family": FONT},
              "legend": {"orientation": "h", "yanchor": "top", "y": -0.12, "x": 0}, **layout}
    size = f"height:{height}px; width:{f'{width}px' if width else '100%'};"
    return (f'<div id="{div_id}" class="plotly-graph-div" style="{size}"></div>'
            f'<script>Plotly.newPlot("{div_id}", {_json(data)}, Object.assign({{template: PLOTLY_TEMPLATE}},'
            f' {_json(layout)}), {{"displayModeBar": false, "responsive": true}});</script>')


def _radar(unit: dict, indicators: list[dict], median: dict) -> str:
    labels = [i["indicator_label_zh"] for i in indicators] + [indicators[0]["indicator_label_zh"]]
    values = [i["value"] for i in indicators] + [indicators[0]["value"]]
    city = [median[i["indicator"]] for i in indicators] + [median[indicators[0]["indicator"]]]
    data = [{"type": "scatterpolar", "r": city, "theta": labels, "name": "全市中位数 city median",
             "line": {"color": COLOURS["city"]}},
            {"type": "scatterpolar", "r": values, "theta": labels, "name": unit["county_name"], "fill": "toself",
             "line": {"color": COLOURS["unit"]}}]
    # a fixed size: a polar chart laid out before the page's grid is drawn centres itself off the page
    return _chart(data, {"polar": {"radialaxis": {"range": [0, 100]}}}, f"radar-{unit['county_code']}",
                  ("六项指标", "Six indicators"), 400, 480)


def _trend(unit: dict, history: list[dict], grades: list[dict]) -> str:
    data = [{"type": "scatter", "x": [h["year"] for h in history], "y": [h["composite"] for h in history],
             "mode": "lines+markers", "name": "综合得分 composite", "line": {"color": COLOURS["unit"]}}]
    bounds = grades[:-1]  # the lowest grade has no lower bound worth drawing
    layout = {
        "xaxis": {"dtick": 1}, "showlegend": False,
        "shapes": [{"type": "line", "xref": "x domain", "x0": 0, "x1": 1, "yref": "y", "y0": g["min_composite"],
                    "y1": g["min_composite"], "line": {"dash": "dot", "color": COLOURS["city"]}} for g in bounds],
        "annotations": [{"xref": "x domain", "x": 1, "xanchor": "right", "yref": "y", "y": g["min_composite"],
                         "yanchor": "bottom", "showarrow": False, "text": f"{g['grade']} ≥ {g['min_composite']:g}"}
                        for g in bounds],
    }
    return _chart(data, layout, f"trend-{unit['county_code']}", ("综合得分走势", "Composite over the years"))


def _components(unit: dict, components: list[dict]) -> str:
    shown = [c for c in components if c["value"] is not None]
    data = [{"type": "bar", "x": [c["value"] for c in shown], "y": [c["component_label_zh"] for c in shown],
             "orientation": "h",
             "error_x": {"type": "data", "array": [1.96 * (c["standard_error"] or 0) for c in shown]},
             "marker": {"color": COLOURS["unit"]}, "hovertext": [c["component_label_en"] for c in shown]}]
    return _chart(data, {"xaxis": {"range": [0, 100]}, "yaxis": {"autorange": "reversed"}},
                  f"components-{unit['county_code']}", ("构成指标的分项（95% 区间）", "Components, with 95 % intervals"),
                  100 + 32 * max(len(shown), 1))


def _scores(unit: dict) -> str:
    data = [{"type": "bar", "x": ["专业评价 professional", "获得感 sense of gain"],
             "y": [unit["professional_score"], unit["sense_of_gain_score"]],
             "marker": {"color": [COLOURS["city"], COLOURS["unit"]]}}]
    return _chart(data, {"yaxis": {"range": [0, 100]}}, f"scores-{unit['county_code']}",
                  ("专业评价与群众获得感", "Professional score and sense of gain"), 300)


def _funnel(signal: dict, points: list[dict]) -> str:
    inside = sorted((p for p in points if p["is_evaluated"]), key=lambda p: p["denominator"])
    n = [p["denominator"] for p in inside]
    data = [{"type": "scatter", "x": n, "y": [p[column] for p in inside], "mode": "lines", "name": name or column,
             "showlegend": name is not None, "line": {"color": colour, "dash": "dash"}}
            for column, name, colour in (("warning_lower", "95%", COLOURS["limit95"]),
                                         ("warning_upper", None, COLOURS["limit95"]),
                                         ("alarm_lower", "99.8%", COLOURS["limit998"]),
                                         ("alarm_upper", None, COLOURS["limit998"]))]
    data.append({"type": "scatter", "x": n, "y": [p["expected_percent"] for p in inside], "mode": "lines",
                 "name": "全市 city θ", "line": {"color": COLOURS["city"]}})
    data.append({"type": "scatter", "x": n, "y": [p["observed_percent"] for p in inside], "mode": "markers+text",
                 "text": [p["county_name"] for p in inside], "textposition": "top center", "name": "各县 units",
                 "marker": {"color": COLOURS["unit"], "size": 8}})
    layout = {"xaxis": {"title": {"text": signal["denominator_label"]}, "type": "log"}, "yaxis": {"title": {"text": "%"}}}
    return _chart(data, layout, f"funnel-{signal['signal']}", (f"{signal['label_zh']}漏斗图 {signal['month']:%Y-%m}",
                                                                f"{signal['label_en']}: funnel plot"), 440)


FUNNEL_SIGNALS = {"hotline_satisfaction_drop": ("12345群众满意率", "Hotline satisfaction", "rated tickets 评价工单数"),
                  "new_occurrence_rising": ("新发性违纪占比（近12个月）", "New-occurrence share, trailing 12 months",
                                            "cases filed 立案数")}


def _funnels(con, year: int, version: str) -> list[dict]:
    """The funnel plot of each monitoring signal for the year's last evaluated month."""
    if not has_mart(con, "fct_warning_funnels"):
        return []
    charts = []
    for signal, (label_zh, label_en, denominator) in FUNNEL_SIGNALS.items():
        (month,) = con.execute("""select max(month) from marts.fct_warning_funnels
                                  where signal = $s and year(month) = $y and methodology_version = $v and is_evaluated""",
                               {"s": signal, "y": year, "v": version}).fetchone()
        meta = {"signal": signal, "month": month, "label_zh": label_zh, "label_en": label_en,
                "denominator_label": denominator}
        if month is None:
            charts.append({**meta, "chart": None})  # the page says the signal was not evaluated
            continue
        points = _records(con, """
            select f.*, c.county_name from marts.fct_warning_funnels f join marts.dim_county c using (county_code)
            where f.signal = $s and f.month = $m and f.methodology_version = $v""", {"s": signal, "m": month, "v": version})
        charts.append({**meta, "chart": _funnel(meta, points)})
    return charts


def _ungraded_reason(unit: dict) -> str | None:
    if unit["is_graded"]:
        return None
    return f"缺少指标 missing indicators: {unit['missing_indicators']}" if unit["missing_indicators"] \
        else "无综合得分 no composite"


def render_year(con: duckdb.DuckDBPyConnection, year: int, out: Path) -> Path:
    """Write the year's page (and plotly.min.js beside it); its path."""
    units = _records(con, """
        select e.*, c.county_name, g.p_published_grade, g.is_near_boundary, g.composite_p05, g.composite_p95
        from marts.fct_county_evaluation e
        join marts.dim_county c using (county_code)
        left join marts.fct_grade_confidence g using (year, county_code)
        where e.year = $y order by e.rank nulls last, e.county_code""", {"y": year})
    if not units:
        raise LookupError(no_evaluation([year]))
    version = units[0]["methodology_version"]
    indicators = _records(con, "select * from marts.fct_indicators where year = $y order by indicator_order",
                          {"y": year})
    median = dict(con.execute("select indicator, median(value) from marts.fct_indicators where year = $y "
                              "group by all", {"y": year}).fetchall())
    history = _records(con, "select county_code, year, composite from marts.fct_county_evaluation order by year")
    components = _records(con, "select * from marts.fct_components where year = $y order by indicator, component",
                          {"y": year})
    grades = _records(con, "select * from config.methodology_grades where methodology_version = $v order by grade_order",
                      {"v": version})
    alerts = []
    if has_mart(con, "fct_early_warnings"):
        alerts = _records(con, f"""
            select county_code, signal_label_zh, signal_label_en, {', '.join(EVIDENCE_COLUMNS)}
            from marts.fct_early_warnings where year(month) = $y
            order by month, severity_order desc, signal""", {"y": year})
    indicators, history, components, alerts = map(_by_county, (indicators, history, components, alerts))
    sections = []
    for unit in units:
        code = unit["county_code"]
        own = indicators[code]
        sections.append({
            **unit,
            "ungraded_reason": _ungraded_reason(unit),
            "radar": _radar(unit, own, median) if own and all(i["value"] is not None for i in own) else None,
            "trend": _trend(unit, [h for h in history[code] if h["composite"] is not None], grades),
            "components": _components(unit, components[code]),
            "scores": _scores(unit) if unit["professional_score"] is not None else None,
            "alerts": [{**a, "evidence": describe(a)} for a in alerts[code]],
        })
    out.mkdir(parents=True, exist_ok=True)
    script = out / PLOTLY_JS
    if not script.exists():
        script.write_text(get_plotlyjs(), encoding="utf-8")
    years = evaluated_years(con)
    html = templates.get_template("portrait.html.j2").render(
        year=year, version=version, units=sections, funnels=_funnels(con, year, version), years=years,
        page_name=page_name, plotly_js=PLOTLY_JS, plotly_template=plotly_template(), generated=datetime.datetime.now().strftime("%Y-%m-%d %H:%M"))
    path = out / page_name(year)
    path.write_text(html, encoding="utf-8")
    return path


def render_index(con: duckdb.DuckDBPyConnection, out: Path) -> Path:
    """Write index.html, linking the page of every year that has one; remove the page of a year the
    warehouse no longer evaluates (its files were taken away), which would show grades that are gone."""
    evaluated = con.execute("""
        select year, count(*), count(*) filter (where is_graded), any_value(methodology_version)
        from marts.fct_county_evaluation group by all order by year""").fetchall()
    for stale in set(out.glob(page_name("*"))) - {out / page_name(year) for year, *_ in evaluated}:
        stale.unlink()
    years = [{"year": year, "units": units, "graded": graded, "version": version}
             for year, units, graded, version in evaluated if (out / page_name(year)).exists()]
    out.mkdir(parents=True, exist_ok=True)
    path = out / "index.html"
    path.write_text(templates.get_template("index.html.j2").render(years=years, page_name=page_name),
                    encoding="utf-8")
    return path


def write(database: Path, years: list[int], out: Path) -> list[Path]:
    """Render the pages of `years` and the index from `database`, opened read-only."""
    with connect(database, read_only=True) as con:
        pages = [render_year(con, year, out) for year in years]
        render_index(con, out)
    return pages
