{{ config(materialized='view', schema='intermediate') }}
-- Every alert of every month under every methodology version, at its highest severity, with its
-- evidence and the month its run of consecutive alerts began. Each rule of the warning_rules seed
-- is tested by its `statistic`: the threshold rules of methodology §5.2 (ratio, rate, points,
-- count) or the statistical rules of §5.1 (z, cusum, z_and_cusum, z_d).
with unit_months as (
    select * from {{ ref('int_monitoring_unit_months') }}
),

rules as (
    select rules.*, versions.warning_rule_set
    from {{ ref('warning_rules') }} as rules
    inner join {{ ref('methodology_versions') }} as versions using (methodology_version)
    where rules.enabled
),

observations as (
    -- the observed value, what was expected, the limit, the statistic and the denominator, in the
    -- observed value's unit; `is_breached` says whether the rule fires
    select unit_months.month, unit_months.county_code, rules.*,
        conduct_complaints::double as observed_value,
        conduct_baseline as expected_value,
        rules.threshold * conduct_baseline as threshold_value,
        null::double as statistic_value,
        null::double as cusum,
        null::date as cusum_started_month,
        3 as denominator,
        conduct_complaints >= rules.min_count and conduct_complaints > rules.threshold * conduct_baseline
            as is_breached
    from unit_months inner join rules on rules.signal = 'conduct_complaint_surge' and rules.statistic = 'ratio'
    where conduct_baseline is not null
    union all
    select unit_months.month, unit_months.county_code, rules.*,
        hotline_satisfaction_rate, null, rules.threshold, null, null, null, hotline_rated,
        hotline_rated >= rules.min_count and hotline_satisfaction_rate < rules.threshold
    from unit_months inner join rules on rules.signal = 'hotline_satisfaction_drop' and rules.statistic = 'rate'
    where has_hotline_data
    union all
    select unit_months.month, unit_months.county_code, rules.*,
        overdue_problems, null, rules.threshold, null, null, null, null,
        overdue_problems > rules.threshold
    from unit_months inner join rules on rules.signal = 'overdue_rectification' and rules.statistic = 'count'
    union all
    select unit_months.month, unit_months.county_code, rules.*,
        new_occurrence_share_12m, city_new_occurrence_share_12m, city_new_occurrence_share_12m + rules.threshold,
        null, null, null, cases_filed_12m,
        cases_filed_12m >= rules.min_count
            and new_occurrence_share_12m > city_new_occurrence_share_12m + rules.threshold
    from unit_months inner join rules on rules.signal = 'new_occurrence_rising' and rules.statistic = 'points'
    union all
    select surges.month, surges.county_code, rules.*,
        surges.observed, surges.expected, surges.spike_limit, surges.z, surges.cusum, surges.cusum_started_month,
        surges.months_in_baseline,
        case rules.statistic when 'z' then surges.is_spike
                             when 'cusum' then surges.is_sustained_rise
                             when 'z_and_cusum' then surges.is_spike and surges.is_sustained_rise end
    from {{ ref('int_warning_surges') }} as surges
    inner join rules on rules.methodology_version = surges.methodology_version
        and rules.signal = 'conduct_complaint_surge' and rules.statistic in ('z', 'cusum', 'z_and_cusum')
    where surges.is_evaluated
    union all
    select funnels.month, funnels.county_code, rules.*,
        funnels.observed_percent, funnels.expected_percent,
        funnels.expected_percent + funnels.direction * rules.threshold * 100 * funnels.adjusted_standard_error,
        funnels.z_d, null, null, funnels.denominator,
        funnels.denominator >= rules.min_count and funnels.direction * funnels.z_d >= rules.threshold
    from {{ ref('int_warning_funnels') }} as funnels
    inner join rules on rules.methodology_version = funnels.methodology_version
        and rules.signal = funnels.signal and rules.statistic = 'z_d'
    where funnels.is_evaluated
),

alerts as (
    -- one alert per version, unit, month and signal, at its highest severity, with that rule's evidence
    select methodology_version, month, county_code, signal,
        max(severity_order) as severity_order,
        arg_max(severity, severity_order) as severity,
        any_value(warning_rule_set) as rule_set,
        any_value(observed_value) as observed_value,
        any_value(expected_value) as expected_value,
        arg_max(threshold_value, severity_order) filter (where threshold_value is not null) as threshold,
        any_value(statistic_value) as statistic,
        any_value(cusum) as cusum,
        any_value(cusum_started_month) as cusum_started_month,
        any_value(denominator)::bigint as denominator,
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
        month - to_months(row_number() over (partition by methodology_version, county_code, signal
                                             order by month)::integer) as run_key
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
        expected_value,
        threshold,
        case when rule_set = 'statistical' and signal = 'conduct_complaint_surge' then 'z'
             when rule_set = 'statistical' and signal <> 'overdue_rectification' then 'z_D' end as statistic_name,
        statistic,
        cusum,
        cusum_started_month,
        denominator,
        observation_point,
        min(runs.month) over (partition by methodology_version, runs.county_code, signal, run_key)
            as run_started_month,
        rule_set,
        methodology_version
    from runs
    inner join units on runs.county_code = units.county_code
)

select * from final
