{{ config(materialized='view', schema='intermediate') }}
-- The parameters of the statistical early warnings (methodology §5.1), one row per methodology
-- version that has them: the warning_parameters seed pivoted, with the limits of the enabled rules.
with parameters as (
    select
        methodology_version,
        any_value(value) filter (where parameter = 'baseline_months')::integer as baseline_months,
        any_value(value) filter (where parameter = 'min_baseline_months')::integer as min_baseline_months,
        any_value(value) filter (where parameter = 'expected_floor') as expected_floor,
        any_value(value) filter (where parameter = 'cusum_k') as cusum_k,
        any_value(value) filter (where parameter = 'trailing_months')::integer as trailing_months,
        any_value(value) filter (where parameter = 'min_units')::integer as min_units,
        any_value(value) filter (where parameter = 'winsor_lower') as winsor_lower,
        any_value(value) filter (where parameter = 'winsor_upper') as winsor_upper,
        any_value(value) filter (where parameter = 'winsor_c') as winsor_c
    from {{ ref('warning_parameters') }}
    group by all
),

limits as (
    select
        methodology_version,
        any_value(threshold) filter (where statistic = 'z') as spike_z,
        any_value(min_count) filter (where statistic = 'z') as spike_min_count,
        any_value(threshold) filter (where statistic = 'cusum') as cusum_h,
        min(min_count) filter (where signal = 'hotline_satisfaction_drop') as satisfaction_min_rated,
        min(threshold) filter (where signal = 'hotline_satisfaction_drop') as satisfaction_warning_z,
        max(threshold) filter (where signal = 'hotline_satisfaction_drop') as satisfaction_alarm_z,
        min(min_count) filter (where signal = 'new_occurrence_rising') as new_occurrence_min_cases,
        min(threshold) filter (where signal = 'new_occurrence_rising') as new_occurrence_warning_z,
        max(threshold) filter (where signal = 'new_occurrence_rising') as new_occurrence_alarm_z
    from {{ ref('warning_rules') }}
    where enabled and statistic in ('z', 'cusum', 'z_d')
    group by all
)

select * from parameters inner join limits using (methodology_version)
