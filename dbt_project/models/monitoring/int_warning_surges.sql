{{ config(materialized='view', schema='intermediate') }}
-- Conduct-complaint surges (methodology §5.1): each unit's monthly count of conduct complaints
-- against its own recent past, as a one-month spike (an overdispersion-aware z) and as a sustained
-- rise (a CUSUM of those z that restarts after each alarm). One row per statistical methodology
-- version, configured unit and month.
with recursive parameters as (
    select * from {{ ref('int_warning_parameters') }}
),

unit_months as (
    select month, county_code, has_hotline_data, conduct_complaints from {{ ref('int_monitoring_unit_months') }}
),

baselines as (
    -- the calendar months t−12 … t−1 in which the unit had any hotline ticket
    select
        parameters.methodology_version,
        current.month,
        current.county_code,
        current.has_hotline_data,
        current.conduct_complaints as observed,
        count(past.month) as months_in_baseline,
        avg(past.conduct_complaints) as baseline_mean,
        var_samp(past.conduct_complaints) as baseline_variance
    from parameters
    cross join unit_months as current
    left join unit_months as past
        on past.county_code = current.county_code and past.has_hotline_data
        and past.month >= (current.month - to_months(parameters.baseline_months))::date
        and past.month < current.month
    group by all
),

expected as (
    select
        baselines.*,
        -- a month without tickets, or with too short a past, is not evaluated
        has_hotline_data and months_in_baseline >= parameters.min_baseline_months as is_evaluated,
        greatest(baseline_mean, parameters.expected_floor) as expected,
        parameters.spike_z,
        parameters.spike_min_count,
        parameters.cusum_k,
        parameters.cusum_h
    from baselines
    inner join parameters using (methodology_version)
),

scored as (
    select
        *,
        -- φ: the baseline's variance (about its unfloored mean) over the expected count, at least 1
        case when is_evaluated then greatest(1, coalesce(baseline_variance, 0) / expected) end as dispersion,
        case when is_evaluated then (observed - expected) / sqrt(dispersion * expected) end as z,
        row_number() over (partition by methodology_version, county_code order by month) as month_index
    from expected
),

cusum (methodology_version, county_code, month_index, cusum, cusum_started_month) as (
    -- C_t = max(0, C_{t−1} + z_t − k), C_{t−1} taken as 0 when month t−1 was not evaluated or
    -- raised the alarm (C ≥ h); null in a month not evaluated
    select methodology_version, county_code, month_index,
        case when is_evaluated then greatest(0, z - cusum_k) end,
        case when is_evaluated and z - cusum_k > 0 then month end
    from scored
    where month_index = 1
    union all
    select scored.methodology_version, scored.county_code, scored.month_index,
        case when scored.is_evaluated then greatest(0, next.carried + scored.z - scored.cusum_k) end,
        case when not scored.is_evaluated or next.carried + scored.z - scored.cusum_k <= 0 then null
             when next.carried > 0 then next.cusum_started_month
             else scored.month end
    from (
        select *, if(cusum < cusum_h, cusum, 0) as carried
        from cusum inner join (select distinct methodology_version, cusum_h from scored) using (methodology_version)
    ) as next
    inner join scored
        on scored.methodology_version = next.methodology_version and scored.county_code = next.county_code
        and scored.month_index = next.month_index + 1
),

final as (
    select
        scored.methodology_version,
        scored.month,
        scored.county_code,
        scored.is_evaluated,
        scored.observed,
        scored.months_in_baseline,
        scored.baseline_mean,
        scored.baseline_variance,
        scored.expected,
        scored.dispersion,
        scored.z,
        -- the count at which z reaches the spike limit
        scored.expected + scored.spike_z * sqrt(scored.dispersion * scored.expected) as spike_limit,
        cusum.cusum,
        cusum.cusum_started_month,
        scored.is_evaluated and scored.z >= scored.spike_z and scored.observed >= scored.spike_min_count
            as is_spike,
        coalesce(cusum.cusum >= scored.cusum_h, false) as is_sustained_rise
    from scored
    inner join cusum using (methodology_version, county_code, month_index)
)

select * from final
