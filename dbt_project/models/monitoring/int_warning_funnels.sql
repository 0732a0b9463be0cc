{{ config(materialized='view', schema='intermediate') }}
-- The funnel plots of the statistical early warnings (methodology §5.1, after Spiegelhalter 2005):
-- each month, each unit's proportion against the pooled one, with the additive overdispersion
-- adjustment (winsorised z, DerSimonian–Laird τ²). One row per statistical methodology version,
-- signal, configured unit and month; a unit-month outside the funnel says why.
with parameters as (
    select * from {{ ref('int_warning_parameters') }}
),

unit_months as (
    select * from {{ ref('int_monitoring_unit_months') }}
),

satisfaction as (
    -- rated tickets received in the month, and those rated 满意 or 基本满意
    select parameters.methodology_version, 'hotline_satisfaction_drop' as signal, -1 as direction,
        unit_months.month, unit_months.county_code,
        unit_months.hotline_satisfied as numerator, unit_months.hotline_rated as denominator,
        parameters.satisfaction_min_rated as min_denominator,
        parameters.satisfaction_warning_z as warning_z, parameters.satisfaction_alarm_z as alarm_z
    from parameters cross join unit_months
),

new_occurrence as (
    -- cases filed in the trailing window (511100 is not a configured unit: it counts nowhere here)
    select parameters.methodology_version, 'new_occurrence_rising', 1,
        current.month, current.county_code,
        sum(window_month.new_occurrence_filed)::bigint, sum(window_month.cases_filed)::bigint,
        parameters.new_occurrence_min_cases, parameters.new_occurrence_warning_z, parameters.new_occurrence_alarm_z
    from parameters
    cross join unit_months as current
    inner join unit_months as window_month
        on window_month.county_code = current.county_code
        and window_month.month between (current.month - to_months(parameters.trailing_months - 1))::date
            and current.month
    group by all
),

points as (
    select *, denominator >= min_denominator as is_eligible
    from (select * from satisfaction union all select * from new_occurrence)
),

pooled as (
    select methodology_version, signal, month,
        count(*) as units_in_funnel,
        sum(numerator)::double / sum(denominator) as theta
    from points
    where is_eligible
    group by all
),

standardised as (
    select
        points.*,
        pooled.units_in_funnel,
        pooled.theta,
        points.numerator::double / points.denominator as proportion,
        pooled.theta * (1 - pooled.theta) / points.denominator as sampling_variance
    from points
    inner join pooled using (methodology_version, signal, month)
    inner join parameters using (methodology_version)
    where points.is_eligible and pooled.units_in_funnel >= parameters.min_units and pooled.theta > 0 and pooled.theta < 1
),

scored as (
    select *,
        (proportion - theta) / sqrt(sampling_variance) as z,
        row_number() over (partition by methodology_version, signal, month
                           order by (proportion - theta) / sqrt(sampling_variance)) - 1 as z_rank
    from standardised
),

percentile_positions as (
    -- numpy's default percentile: position (k − 1)·q in the sorted z, interpolated linearly
    select methodology_version, signal, month,
        (any_value(units_in_funnel) - 1) * any_value(parameters.winsor_lower) as low_position,
        (any_value(units_in_funnel) - 1) * any_value(parameters.winsor_upper) as high_position
    from scored inner join parameters using (methodology_version)
    group by all
),

winsor_limits as (
    select methodology_version, signal, month,
        sum(z * case z_rank when floor(low_position) then 1 - (low_position - floor(low_position))
                            when floor(low_position) + 1 then low_position - floor(low_position) else 0 end)
            as z_low,
        sum(z * case z_rank when floor(high_position) then 1 - (high_position - floor(high_position))
                            when floor(high_position) + 1 then high_position - floor(high_position) else 0 end)
            as z_high
    from scored inner join percentile_positions using (methodology_version, signal, month)
    group by all
),

dispersion as (
    -- φ from the winsorised z; τ² (DerSimonian–Laird) when φ exceeds what chance alone gives
    select methodology_version, signal, month,
        any_value(winsor_limits.z_low) as z_low,
        any_value(winsor_limits.z_high) as z_high,
        sum(least(greatest(z, winsor_limits.z_low), winsor_limits.z_high) ^ 2)
            / (count(*) * any_value(parameters.winsor_c)) as phi,
        count(*) as k,
        sum(1 / sampling_variance) as sum_w,
        sum(1 / sampling_variance ^ 2) as sum_w2
    from scored
    inner join winsor_limits using (methodology_version, signal, month)
    inner join parameters using (methodology_version)
    group by all
),

between_unit as (
    select *,
        case when k * phi > k - 1 then (k * phi - (k - 1)) / (sum_w - sum_w2 / sum_w) else 0 end as tau2
    from dispersion
),

adjusted as (
    -- √(s² + τ²) of each unit in the funnel: z_D is (p − θ) over it, the limits are θ ± z times it
    select scored.methodology_version, scored.signal, scored.month, scored.county_code,
        sqrt(scored.sampling_variance + between_unit.tau2) as adjusted_standard_error
    from scored
    inner join between_unit using (methodology_version, signal, month)
),

final as (
    select
        points.methodology_version,
        points.signal,
        points.month,
        points.county_code,
        points.numerator,
        points.denominator,
        100.0 * points.numerator / nullif(points.denominator, 0) as observed_percent,
        scored.units_in_funnel,
        100 * scored.theta as expected_percent,
        between_unit.phi,
        between_unit.tau2,
        scored.z,
        (scored.proportion - scored.theta) / adjusted.adjusted_standard_error as z_d,
        adjusted.adjusted_standard_error,
        points.warning_z,
        points.alarm_z,
        100 * (scored.theta - points.warning_z * adjusted.adjusted_standard_error) as warning_lower,
        100 * (scored.theta + points.warning_z * adjusted.adjusted_standard_error) as warning_upper,
        100 * (scored.theta - points.alarm_z * adjusted.adjusted_standard_error) as alarm_lower,
        100 * (scored.theta + points.alarm_z * adjusted.adjusted_standard_error) as alarm_upper,
        points.direction,
        scored.z is not null as is_evaluated,
        case
            when scored.z is not null then null
            when not points.is_eligible then 'denominator ' || points.denominator || ' below ' || points.min_denominator
            when pooled.units_in_funnel is null or pooled.units_in_funnel < parameters.min_units
                then coalesce(pooled.units_in_funnel, 0) || ' units in the funnel, fewer than ' || parameters.min_units
            else 'pooled proportion ' || pooled.theta || ', not strictly between 0 and 1'
        end as not_evaluated_because
    from points
    inner join parameters using (methodology_version)
    left join pooled using (methodology_version, signal, month)
    left join scored using (methodology_version, signal, month, county_code)
    left join between_unit using (methodology_version, signal, month)
    left join adjusted using (methodology_version, signal, month, county_code)
)

select * from final
