"""County portraits (精准画像): one self-contained HTML page per year and an index linking the years,
read from the warehouse's marts.

Charts are Plotly's (its JavaScript ships in the Python wheel and is written once beside the pages,
so they open from disk with no network; Plotly draws radar charts, which Vega-Lite does not); pages
are Jinja2 templates (orchestration/templates/). Chinese first, English beside it.
"""

import datetime
from pathlib import Path

import duckdb
import plotly.graph_objects as go
from plotly.offline import get_plotlyjs

from orchestration.alert_evidence import EVIDENCE_COLUMNS, describe
from orchestration.lib.duck import has_mart
from orchestration.lib.html import templates

PLOTLY_JS = "plotly.min.js"
FONT = "Noto Sans CJK SC, Source Han Sans SC, PingFang SC, Microsoft YaHei, WenQuanYi Micro Hei, sans-serif"
COLOURS = {"unit": "#c0392b", "city": "#7f8c8d", "limit95": "#e67e22", "limit998": "#c0392b"}

def page_name(year: int) -> str:
    return f"portrait_{year}.html"


def _records(con, sql: str, params: dict | None = None) -> list[dict]:
    result = con.execute(sql, params or {})
    names = [d[0] for d in result.description]
    return [dict(zip(names, row)) for row in result.fetchall()]


def _chart(fig: go.Figure, div_id: str, title: tuple[str, str], height: int = 320, width: int | None = None) -> str:
    """The figure as an HTML fragment (Plotly's), titled in Chinese with English under it."""
    fig.update_layout(title=f"{title[0]}<br><sup>{title[1]}</sup>", height=height, width=width,
                      autosize=width is None, margin={"l": 40, "r": 20, "t": 60, "b": 40},
                      font={"family": FONT}, template="plotly_white",
                      legend={"orientation": "h", "yanchor": "top", "y": -0.12, "x": 0})
    return fig.to_html(full_html=False, include_plotlyjs=False, div_id=div_id,
                       config={"displayModeBar": False, "responsive": True})


def _radar(unit: dict, indicators: list[dict], median: dict) -> str:
    labels = [i["indicator_label_zh"] for i in indicators] + [indicators[0]["indicator_label_zh"]]
    values = [i["value"] for i in indicators] + [indicators[0]["value"]]
    city = [median[i["indicator"]] for i in indicators] + [median[indicators[0]["indicator"]]]
    fig = go.Figure([
        go.Scatterpolar(r=city, theta=labels, name="全市中位数 city median", line={"color": COLOURS["city"]}),
        go.Scatterpolar(r=values, theta=labels, name=unit["county_name"], fill="toself",
                        line={"color": COLOURS["unit"]}),
    ])
    fig.update_layout(polar={"radialaxis": {"range": [0, 100]}})
    # a fixed size: a polar chart laid out before the page's grid is drawn centres itself off the page
    return _chart(fig, f"radar-{unit['county_code']}", ("六项指标", "Six indicators"), 400, 480)


def _trend(unit: dict, history: list[dict], grades: list[dict]) -> str:
    fig = go.Figure(go.Scatter(x=[h["year"] for h in history], y=[h["composite"] for h in history],
                               mode="lines+markers", name="综合得分 composite", line={"color": COLOURS["unit"]}))
    for grade in grades[:-1]:  # the lowest grade has no lower bound worth drawing
        fig.add_hline(y=grade["min_composite"], line={"dash": "dot", "color": COLOURS["city"]},
                      annotation_text=f"{grade['grade']} ≥ {grade['min_composite']:g}")
    fig.update_layout(xaxis={"dtick": 1}, showlegend=False)
    return _chart(fig, f"trend-{unit['county_code']}", ("综合得分走势", "Composite over the years"))


def _components(unit: dict, components: list[dict]) -> str:
    shown = [c for c in components if c["value"] is not None]
    fig = go.Figure(go.Bar(
        x=[c["value"] for c in shown], y=[c["component_label_zh"] for c in shown], orientation="h",
        error_x={"type": "data", "array": [1.96 * (c["standard_error"] or 0) for c in shown]},
        marker={"color": COLOURS["unit"]}, hovertext=[c["component_label_en"] for c in shown]))
    fig.update_layout(xaxis={"range": [0, 100]}, yaxis={"autorange": "reversed"})
    return _chart(fig, f"components-{unit['county_code']}", ("构成指标的分项（95% 区间）", "Components, with 95 % intervals"),
                  100 + 32 * max(len(shown), 1))


def _scores(unit: dict) -> str:
    fig = go.Figure(go.Bar(x=["专业评价 professional", "获得感 sense of gain"],
                           y=[unit["professional_score"], unit["sense_of_gain_score"]],
                           marker={"color": [COLOURS["city"], COLOURS["unit"]]}))
    fig.update_layout(yaxis={"range": [0, 100]})
    return _chart(fig, f"scores-{unit['county_code']}", ("专业评价与群众获得感", "Professional score and sense of gain"), 300)


def _funnel(signal: dict, points: list[dict]) -> str:
    inside = sorted((p for p in points if p["is_evaluated"]), key=lambda p: p["denominator"])
    n = [p["denominator"] for p in inside]
    fig = go.Figure()
    for column, name, colour in (("warning_lower", "95%", COLOURS["limit95"]), ("warning_upper", None, COLOURS["limit95"]),
                                 ("alarm_lower", "99.8%", COLOURS["limit998"]), ("alarm_upper", None, COLOURS["limit998"])):
        fig.add_trace(go.Scatter(x=n, y=[p[column] for p in inside], mode="lines", name=name or column,
                                 showlegend=name is not None, line={"color": colour, "dash": "dash"}))
    fig.add_trace(go.Scatter(x=n, y=[p["expected_percent"] for p in inside], mode="lines", name="全市 city θ",
                             line={"color": COLOURS["city"]}))
    fig.add_trace(go.Scatter(x=n, y=[p["observed_percent"] for p in inside], mode="markers+text",
                             text=[p["county_name"] for p in inside], textposition="top center", name="各县 units",
                             marker={"color": COLOURS["unit"], "size": 8}))
    fig.update_layout(xaxis={"title": signal["denominator_label"], "type": "log"}, yaxis={"title": "%"})
    return _chart(fig, f"funnel-{signal['signal']}", (f"{signal['label_zh']}漏斗图 {signal['month']:%Y-%m}",
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
        raise LookupError(f"the warehouse has no evaluation for {year}: materialise it first (jingtu materialize {year})")
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
    sections = []
    for unit in units:
        code = unit["county_code"]
        own = [i for i in indicators if i["county_code"] == code]
        sections.append({
            **unit,
            "ungraded_reason": _ungraded_reason(unit),
            "radar": _radar(unit, own, median) if own and all(i["value"] is not None for i in own) else None,
            "trend": _trend(unit, [h for h in history if h["county_code"] == code and h["composite"] is not None],
                            grades),
            "components": _components(unit, [c for c in components if c["county_code"] == code]),
            "scores": _scores(unit) if unit["professional_score"] is not None else None,
            "alerts": [{**a, "evidence": describe(a)} for a in alerts if a["county_code"] == code],
        })
    out.mkdir(parents=True, exist_ok=True)
    script = out / PLOTLY_JS
    if not script.exists():
        script.write_text(get_plotlyjs(), encoding="utf-8")
    years = [y for (y,) in con.execute("select distinct year from marts.fct_county_evaluation order by 1").fetchall()]
    html = templates.get_template("portrait.html.j2").render(
        year=year, version=version, units=sections, funnels=_funnels(con, year, version), years=years,
        page_name=page_name, plotly_js=PLOTLY_JS, generated=datetime.datetime.now().strftime("%Y-%m-%d %H:%M"))
    path = out / page_name(year)
    path.write_text(html, encoding="utf-8")
    return path


def render_index(con: duckdb.DuckDBPyConnection, out: Path) -> Path:
    """Write index.html, linking the page of every year that has one."""
    years = [{"year": year, "units": units, "graded": graded, "version": version}
             for year, units, graded, version in con.execute("""
                select year, count(*), count(*) filter (where is_graded), any_value(methodology_version)
                from marts.fct_county_evaluation group by all order by year""").fetchall()
             if (out / page_name(year)).exists()]
    out.mkdir(parents=True, exist_ok=True)
    path = out / "index.html"
    path.write_text(templates.get_template("index.html.j2").render(years=years, page_name=page_name),
                    encoding="utf-8")
    return path


def write(database: Path, years: list[int], out: Path) -> list[Path]:
    """Render the pages of `years` and the index from `database`, opened read-only."""
    with duckdb.connect(str(database), read_only=True) as con:
        pages = [render_year(con, year, out) for year in years]
        render_index(con, out)
    return pages
