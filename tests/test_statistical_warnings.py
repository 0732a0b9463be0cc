"""The statistical early warnings (methodology 2019.1, §5.1) on small hand-made data whose statistics
are worked out by hand in the comments: a spike at exactly the z limit, a CUSUM crossing h on the
third month of a rise and restarting after it, funnels with τ² = 0 and τ² > 0, too few units, too
short a past; and `jingtu alerts` in words."""

import shutil
from datetime import date, datetime, timedelta
from statistics import NormalDist

import pytest

from orchestration import cli
from tests.conftest import UNITS_CSV, load_every_source, query, run_dbt, write_source

RISE, SPIKE, NEAR_SPIKE = "511126", "511129", "511132"  # surge units
FUNNEL = ["511102", "511111", "511112", "511113", "511123", "511124"]  # satisfaction funnel units


def tickets(county: str, year: int, month: int, count: int, category: str = "干部作风", rated: int = 0,
            satisfied: int = 0) -> list[dict]:
    """`count` closed tickets of `year`-`month`; the first `rated` rated, `satisfied` of them 满意."""
    rows = []
    for k in range(count):
        received = datetime(year, month, 1 + k % 28, 9, 0, 0) + timedelta(seconds=k)
        rating = ("满意" if k < satisfied else "不满意") if k < rated else ""
        rows.append({"ticket_id": f"T{county}{year}{month:02d}{category[0]}{k:04d}",
                     "received_at": f"{received:%Y-%m-%d %H:%M:%S}", "caller_phone": "13800000000",
                     "caller_name": "测试", "county_code": county, "category": category, "content": "",
                     "intake_line": "12345", "due_at": f"{received + timedelta(days=7):%Y-%m-%d %H:%M:%S}",
                     "closed_at": f"{received + timedelta(days=1):%Y-%m-%d %H:%M:%S}", "status": "办结",
                     "rating": rating})
    return rows


def months(first: tuple[int, int], count: int) -> list[tuple[int, int]]:
    year, month = first
    return [(year + (month - 1 + k) // 12, (month - 1 + k) % 12 + 1) for k in range(count)]


def hotline() -> dict[int, list[dict]]:
    by_year = {2017: [], 2018: []}

    def add(county, year, month, count, **kwargs):
        by_year[year].extend(tickets(county, year, month, count, **kwargs))

    # A rise after twelve quiet months of 25: 2018-01 36, 02 37, 03 38, 04 38.
    for (year, month), count in zip(months((2017, 1), 16), [25] * 12 + [36, 37, 38, 38]):
        add(RISE, year, month, count)
    # Seven months 0, 0, 0, 200, 200, 200, 100 (mean 100, sample variance 60000 / 6 = 10000, so
    # φ = 100 and √(φE) = 100), then 333 (z = 233 / 100 = 2.33, the limit) or 332 (z = 2.32).
    for county, last in ((SPIKE, 333), (NEAR_SPIKE, 332)):
        for (year, month), count in zip(months((2017, 6), 8), [0, 0, 0, 200, 200, 200, 100, last]):
            add(county, year, month, count)
            add(county, year, month, 1, category="其他")  # a month with tickets, none about conduct
    # Satisfaction, 100 rated tickets each. May: 90, 92, 88, 90, 90 of 100 satisfied, a tight funnel.
    for county, satisfied in zip(FUNNEL, [90, 92, 88, 90, 90]):
        add(county, 2018, 5, 100, category="其他", rated=100, satisfied=satisfied)
    # June: 92, 94, 90, 92, 92 and 80 of 100, overdispersed.
    for county, satisfied in zip(FUNNEL, [92, 94, 90, 92, 92, 80]):
        add(county, 2018, 6, 100, category="其他", rated=100, satisfied=satisfied)
    # July: four units with 30 rated tickets or more, one with 29.
    for county, rated in zip(FUNNEL[:5], [40, 40, 40, 40, 29]):
        add(county, 2018, 7, rated, category="其他", rated=rated, satisfied=rated // 2)
    return by_year


def cases() -> list[dict]:
    """Filed in January 2018: six units of 20 cases, 4 new-occurrence each but one with 16; the
    municipal level's 50, all new, count in no funnel."""
    plan = [(county, 20, 16 if county == "511181" else 4)
            for county in ("511102", "511111", "511112", "511113", "511123", "511181")] + [("511100", 50, 50)]
    return [{"record_id": f"C{county}{k:03d}", "county_code": county, "subject_id": f"S{county}{k}",
             "subject_rank": "一般干部", "is_top_leader": "否", "category": "其他违纪",
             "last_misconduct_on": "2015-01-01" if k < new else "2010-01-01", "filed_on": "2018-01-15",
             "handled_on": "", "form": "", "outcome": "", "detained": "否"}
            for county, filed, new in plan for k in range(filed)]


@pytest.fixture(scope="module")
def monitored(tmp_path_factory):
    root = tmp_path_factory.mktemp("statistical")
    raw, warehouse = root / "raw", root / "jingtu.duckdb"
    for year, rows in hotline().items():
        write_source(raw / "hotline" / str(year) / "tickets.csv", "hotline", rows)
    write_source(raw / "cases" / "2018" / "cases.csv", "cases", cases())
    assert all(report.rows_rejected == 0 for report in load_every_source(warehouse, raw, (2017, 2018)))
    run_dbt(warehouse, "seed")
    run_dbt(warehouse, "build", "--select", "+path:models/monitoring", "--exclude", "resource_type:seed")
    return warehouse


def alerts(warehouse, signal: str) -> dict:
    return {(r[0], r[1]): r[2:] for r in query(warehouse, f"""
        select county_code, month, severity, observed_value, expected_value, threshold, statistic, cusum,
               denominator, run_started_month, methodology_version
        from marts.fct_early_warnings where signal = '{signal}'""")}


def test_a_spike_at_exactly_the_z_limit_raises_yellow_and_just_below_it_nothing(monitored):
    found = alerts(monitored, "conduct_complaint_surge")
    spike = found.pop((SPIKE, date(2018, 1, 1)))
    severity, observed, expected, limit, z, cusum, baseline_months, started, version = spike
    assert (severity, observed, expected, baseline_months, started, version) == \
        ("黄", 333, 100, 7, date(2018, 1, 1), "2019.1")
    assert z == pytest.approx(2.33, abs=1e-12) and limit == pytest.approx(333, abs=1e-9)
    assert cusum == pytest.approx(2.33 - 0.5)  # the month before scored z = 0
    assert not [key for key in found if key[0] in (SPIKE, NEAR_SPIKE)]  # 332: z = 2.32, no alert


def test_a_cusum_crosses_h_on_the_third_month_of_a_rise_and_restarts_after_its_alarm(monitored):
    # By hand, baseline t−12 … t−1, E its mean, v its variance, φ = max(1, v / E), k = 0.5:
    #   2018-01: E = 25, v = 0, z = (36 − 25) / 5 = 2.2, C = 1.7
    #   2018-02: E = 311/12, v = 121/12 < E, z = (37 − 25.9167) / √25.9167 = 2.1771, C = 3.3771
    #   2018-03: E = 323/12, z = (38 − 26.9167) / √26.9167 = 2.1363, C = 5.0134 ≥ h = 5: 橙
    #   2018-04: E = 28, v = 29.6364, φ = 1.0584, z = 10 / √29.6364 = 1.8369; C restarts from 0 after
    #            the alarm: C = 1.3369 (6.3503 without the restart, a second alarm)
    stats = {r[0]: r[1:] for r in query(monitored, f"""
        select month, expected, z, cusum, cusum_started_month, is_spike, is_sustained_rise
        from marts.fct_warning_surges where county_code = '{RISE}' and month >= '2018-01-01'
        and methodology_version = '2019.1' order by month""")}
    assert [round(stats[date(2018, m, 1)][2], 4) for m in (1, 2, 3, 4)] == [1.7, 3.3771, 5.0134, 1.3369]
    assert [round(stats[date(2018, m, 1)][1], 4) for m in (1, 2, 3, 4)] == [2.2, 2.1771, 2.1363, 1.8369]
    assert stats[date(2018, 3, 1)][3] == date(2018, 1, 1)  # the rise it measures began in January
    assert [stats[date(2018, m, 1)][5] for m in (1, 2, 3, 4)] == [False, False, True, False]
    found = alerts(monitored, "conduct_complaint_surge")
    assert [key for key in found if key[0] == RISE] == [(RISE, date(2018, 3, 1))]
    severity, observed, expected, limit, z, cusum, *_ = found[(RISE, date(2018, 3, 1))]
    assert severity == "橙" and observed == 38 and expected == pytest.approx(323 / 12)
    assert (round(z, 4), round(cusum, 4)) == (2.1363, 5.0134)
    assert limit == pytest.approx(323 / 12 + 2.33 * (323 / 12) ** 0.5)  # the count at z = 2.33


def test_months_with_too_short_a_past_or_no_ticket_are_not_evaluated(monitored):
    evaluated = {(r[0], r[1]) for r in query(monitored, """
        select county_code, month from marts.fct_warning_surges where is_evaluated""")}
    # the hotline's first months: six baseline months are needed, so the 7th month is the first
    assert (RISE, date(2017, 6, 1)) not in evaluated and (RISE, date(2017, 7, 1)) in evaluated
    assert (SPIKE, date(2017, 12, 1)) in evaluated and (SPIKE, date(2017, 11, 1)) not in evaluated
    assert (RISE, date(2018, 5, 1)) not in evaluated  # no ticket in the month
    assert not [u for u, _ in evaluated if u in FUNNEL]  # two months of tickets: never evaluated


def funnel(warehouse, signal: str, month: str) -> dict:
    return {r[0]: r[1:] for r in query(warehouse, f"""
        select county_code, expected_percent, phi, tau2, z, z_d, warning_lower, warning_upper, alarm_lower,
               units_in_funnel, is_evaluated, not_evaluated_because
        from marts.fct_warning_funnels where signal = '{signal}' and month = '{month}'""")}


def test_a_tight_funnel_has_no_between_unit_variance(monitored):
    # θ = 450/500 = 0.9, s = √(0.9 · 0.1 / 100) = 0.03, z = 0, 2/3, −2/3, 0, 0. Sorted, the 10th and
    # 90th percentiles sit at positions 0.4 and 3.6: −0.4 and 0.4; Σ z_w² = 0.32,
    # φ = 0.32 / (5 · 0.6787) = 0.0943, k·φ ≤ k − 1: τ² = 0 and z_D = z.
    month = funnel(monitored, "hotline_satisfaction_drop", "2018-05-01")
    theta, phi, tau2, z, z_d, lower, upper, alarm_lower, k, evaluated, _ = month["511111"]
    assert (theta, tau2, k, evaluated) == (pytest.approx(90), 0, 5, True)
    assert phi == pytest.approx(0.32 / (5 * 0.6787))
    assert z == z_d == pytest.approx(2 / 3)
    assert (lower, upper, alarm_lower) == (pytest.approx(90 - 1.96 * 3), pytest.approx(90 + 1.96 * 3),
                                           pytest.approx(90 - 3.09 * 3))
    assert not [a for a in alerts(monitored, "hotline_satisfaction_drop") if a[1] == date(2018, 5, 1)]


def test_an_overdispersed_funnel_widens_by_tau2_and_still_flags_the_outlier(monitored):
    # θ = 540/600 = 0.9, s² = 0.0009; z = 2/3, 4/3, 0, 2/3, 2/3, −10/3. The percentiles sit at positions
    # 0.5 and 4.5: −5/3 and 1; Σ z_w² = 25/9 + 0 + 3 · 4/9 + 1 = 46/9; φ = (46/9) / (6 · 0.6787);
    # w = 1/s² for all, so Σw − Σw²/Σw = 5 · 1111.1; τ² = (6φ − 5) / 5555.6 = 0.00045553;
    # the last unit: z_D = −0.1 / √(0.0009 + τ²) = −2.7161 ≤ −1.96: 黄 (not ≤ −3.09).
    month = funnel(monitored, "hotline_satisfaction_drop", "2018-06-01")
    phi = (46 / 9) / (6 * 0.6787)
    tau2 = (6 * phi - 5) / (5 / 0.0009)
    _, found_phi, found_tau2, z, z_d, lower, *_ = month["511124"]
    assert (found_phi, found_tau2) == (pytest.approx(phi), pytest.approx(tau2))
    assert round(tau2, 8) == 0.00045553 and z == pytest.approx(-10 / 3)
    assert z_d == pytest.approx(-0.1 / (0.0009 + tau2) ** 0.5) and round(z_d, 4) == -2.7161
    assert lower == pytest.approx(100 * (0.9 - 1.96 * (0.0009 + tau2) ** 0.5))
    found = {k: v for k, v in alerts(monitored, "hotline_satisfaction_drop").items() if k[1] == date(2018, 6, 1)}
    assert list(found) == [("511124", date(2018, 6, 1))]
    severity, observed, expected, limit, statistic, _, rated, *_ = found[("511124", date(2018, 6, 1))]
    assert (severity, observed, expected, rated) == ("黄", 80, pytest.approx(90), 100)
    assert limit == pytest.approx(lower) and statistic == pytest.approx(z_d)


def test_a_month_with_fewer_than_five_units_in_the_funnel_is_not_evaluated(monitored):
    month = funnel(monitored, "hotline_satisfaction_drop", "2018-07-01")
    assert {u: v[-2:] for u, v in month.items() if u in FUNNEL[:4]} == \
        {u: (False, "4 units in the funnel, fewer than 5") for u in FUNNEL[:4]}
    assert month[FUNNEL[4]][-2:] == (False, "denominator 29 below 30")
    assert not [a for a in alerts(monitored, "hotline_satisfaction_drop") if a[1] == date(2018, 7, 1)]


def test_the_new_occurrence_funnel_leaves_the_municipal_level_out_and_holds_a_trailing_year(monitored):
    # Six units of 20 cases: θ = 36/120 = 0.3 (the municipal level's 50 new cases left out),
    # s² = 0.21/20; z = −0.9759 × 5 and 4.8795; the 90th percentile at position 4.5:
    # (−0.9759 + 4.8795) / 2 = 1.9518, the 10th −0.9759; φ = 2.1049, τ² = 0.016021,
    # z_D = 0.5 / √(0.0105 + τ²) = 3.0702: 黄, short of 3.09.
    month = funnel(monitored, "new_occurrence_rising", "2018-06-01")
    theta, phi, tau2, z, z_d, *_ = month["511181"]
    assert theta == pytest.approx(30) and round(phi, 4) == 2.1049 and round(tau2, 6) == 0.016021
    assert round(z, 4) == 4.8795 and round(z_d, 4) == 3.0702
    found = alerts(monitored, "new_occurrence_rising")
    assert set(found) == {("511181", date(2018, m, 1)) for m in range(1, 13)}  # January's cases, a year
    assert {v[0] for v in found.values()} == {"黄"}
    assert found[("511181", date(2018, 12, 1))][-2] == date(2018, 1, 1)  # run_started_month


def test_the_winsorising_constant_matches_the_configured_percentiles():
    """c is configuration beside the percentiles: it must be E[Z_w²] for a standard normal
    winsorised at them, or φ is biased."""
    with open(UNITS_CSV.parent / "warning_parameters.csv", encoding="utf-8") as seed:
        values = {line.split(",")[1]: float(line.split(",")[2]) for line in seed.readlines()[1:]}
    normal = NormalDist()
    a = normal.inv_cdf(values["winsor_upper"])
    assert values["winsor_lower"] == pytest.approx(1 - values["winsor_upper"])
    expected = (1 - 2 * values["winsor_lower"]) - 2 * a * normal.pdf(a) + 2 * values["winsor_lower"] * a * a
    assert values["winsor_c"] == pytest.approx(expected, abs=5e-5)


def test_jingtu_alerts_says_the_evidence_in_words(monitored, tmp_path, monkeypatch, capsys):
    shutil.copyfile(monitored, tmp_path / "reader.duckdb")
    monkeypatch.setenv("JINGTU_SERVING", str(tmp_path / "reader.duckdb"))
    assert cli.main(["alerts", "--month", "2018-03"]) == 0
    out = capsys.readouterr().out
    assert "38 complaints against ~27 expected" in out and "sustained rise since 2018-01" in out
    assert cli.main(["alerts", "--month", "2018-06"]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    satisfaction = next(line for line in lines if "511124" in line)
    assert "satisfaction 80.0% against the city's 90.0%" in satisfaction
    # sorted by severity: the yellow surge of January after nothing, here both yellow → by county
    assert cli.main(["alerts", "--month", "2018-01", "--rules", "2018.1"]) == 0
    assert "methodology 2018.1" in capsys.readouterr().out
