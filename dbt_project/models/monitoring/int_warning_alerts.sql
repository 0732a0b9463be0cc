{{ config(materialized='view', schema='intermediate') }}
-- Every alert of every month, at its highest severity, with the month its run of consecutive
-- alerts began. Thresholds, minimum counts and switches come from the warning_rules seed.
with unit_months as (
    select * from {{ ref('int_monitoring_unit_months') }}
),

rules as (
    select * from {{ ref('warning_rules') }} where enabled
),

observations as (
    -- observed value and the threshold it must exceed (or fall below), in the same unit
    select unit_months.month, unit_months.county_code, rules.*,
        conduct_complaints::double as observed_value,
        rules.threshold * conduct_baseline as threshold_value,
        conduct_complaints >= rules.min_count and conduct_complaints > rules.threshold * conduct_baseline
            as is_breached
    from unit_months inner join rules on rules.signal = 'conduct_complaint_surge'
    where conduct_baseline is not null
    union all
    select unit_months.month, unit_months.county_code, rules.*,
        hotline_satisfaction_rate, rules.threshold,
        hotline_rated >= rules.min_count and hotline_satisfaction_rate < rules.threshold
    from unit_months inner join rules on rules.signal = 'hotline_satisfaction_drop'
    where has_hotline_data
    union all
    select unit_months.month, unit_months.county_code, rules.*,
        overdue_problems, rules.threshold,
        overdue_problems > rules.threshold
    from unit_months inner join rules on rules.signal = 'overdue_rectification'
    union all
    select unit_months.month, unit_months.county_code, rules.*,
        new_occurrence_share_12m, city_new_occurrence_share_12m + rules.threshold,
        cases_filed_12m >= rules.min_count
            and new_occurrence_share_12m > city_new_occurrence_share_12m + rules.threshold
    from unit_months inner join rules on rules.signal = 'new_occurrence_rising'
),

alerts as (
    -- one alert per unit, month and signal, at its highest severity
    select month, county_code, signal,
        arg_max(severity, severity_order) as severity,
        max(severity_order) as severity_order,
        any_value(observed_value) as observed_value,
        arg_max(threshold_value, severity_order) as threshold,
        any_value(observation_point) as observation_point,
        any_value(label_zh) as signal_label_zh,
        any_value(label_en) as signal_label_en
    from observations
    where is_breached
    group by all
),

runs as (
    -- consecutive months with the same alert share a run key (gaps and islands)
    select *,
        month - to_months(row_number() over (partition by county_code, signal order by month)::integer) as run_key
    from alerts
),

units as (
    select county_code, county_name from {{ ref('units') }}
),

final as (
    select
        runs.month,
        runs.county_code,
        units.county_name,
        signal,
        signal_label_zh,
        signal_label_en,
        severity,
        case severity when '黄' then 'yellow' when '橙' then 'orange' when '红' then 'red' end as severity_en,
        severity_order,
        observed_value,
        threshold,
        observation_point,
        min(runs.month) over (partition by runs.county_code, signal, run_key) as run_started_month,
        '{{ var("methodology_version") }}' as methodology_version
    from runs
    inner join units on runs.county_code = units.county_code
)

select * from final
