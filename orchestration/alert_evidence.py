"""An alert's evidence in the words a commission staffer reads at a glance, from the columns of
marts.fct_early_warnings: the CLI prints them, and a report can."""

from datetime import date

# The columns `describe` reads, in a query's select list.
EVIDENCE_COLUMNS = ("month", "signal", "severity", "rule_set", "observed_value", "expected_value", "threshold",
                    "statistic", "cusum_started_month", "denominator", "run_started_month")


def _month(day: date | None) -> str:
    return f"{day:%Y-%m}" if day else "?"


def describe(alert: dict) -> str:
    signal, severity, statistical = alert["signal"], alert["severity"], alert["rule_set"] == "statistical"
    observed, expected, limit, n = (alert[k] for k in ("observed_value", "expected_value", "threshold", "denominator"))
    if signal == "conduct_complaint_surge" and statistical:
        text = f"{observed:.0f} complaints against ~{expected:.0f} expected"
        if severity == "黄":
            text += f", a one-month spike (limit {limit:.0f}, z {alert['statistic']:.1f})"
        else:
            spike = "a spike on a " if severity == "红" else ""
            text += f"; {spike}sustained rise since {_month(alert['cusum_started_month'])}"
    elif signal == "conduct_complaint_surge":
        text = f"{observed:.0f} complaints against {expected:.1f} a month over the previous 3 (limit {limit:.1f})"
    elif signal == "hotline_satisfaction_drop" and statistical:
        text = (f"satisfaction {observed:.1f}% against the city's {expected:.1f}% "
                f"(limit {limit:.1f}%, z_D {alert['statistic']:.1f}; {n} rated tickets)")
    elif signal == "hotline_satisfaction_drop":
        text = f"satisfaction {observed:.1f}% below {limit:.0f}% ({n} rated tickets)"
    elif signal == "new_occurrence_rising":
        text = (f"new-occurrence share {observed:.1f}% of {n} cases filed in 12 months against the city's "
                f"{expected:.1f}% (limit {limit:.1f}%" + (f", z_D {alert['statistic']:.1f})" if statistical else ")"))
    else:
        text = f"{observed:.0f} problems past their rectification date" + (
            f", more than {limit:.0f}" if severity != "黄" else "")
    if alert["run_started_month"] and alert["run_started_month"] < alert["month"]:
        text += f"; alerting since {_month(alert['run_started_month'])}"
    return text
