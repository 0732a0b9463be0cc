{{ config(materialized='view', schema='intermediate') }}
-- Every configured unit × every month from January of the first data year to December of the
-- last, with what the early warnings watch (methodology §5–6). Computed over all months, so that a
-- month's windows (previous 3 months, trailing 12) never depend on which months were run before.
with units as (
    select county_code from {{ ref('units') }}
),

bounds as (
    select min(year) as first_year, max(year) as last_year from {{ ref('int_unit_years') }}
),

months as (
    select unnest(generate_series(make_date(first_year, 1, 1), make_date(last_year, 12, 1), interval 1 month))::date
        as month
    from bounds
),

grid as (
    select units.county_code, months.month from units cross join months
),

hotline as (
    -- the daily mart summed by month, rather than counting every staged ticket again
    select county_code, date_trunc('month', received_on)::date as month,
        sum(tickets_received)::bigint as hotline_tickets,
        sum(conduct_complaints)::bigint as conduct_complaints,
        sum(tickets_rated)::bigint as hotline_rated,
        sum(tickets_satisfied)::bigint as hotline_satisfied,
        sum(tickets_closed)::bigint as hotline_closed,
        sum(tickets_closed_on_time)::bigint as hotline_closed_on_time
    from {{ ref('fct_hotline_daily') }}
    group by all
),

filed as (
    -- every filed case, 511100 included: the city-wide share counts it
    select county_code, date_trunc('month', filed_on)::date as month,
        count(*) as cases_filed, count(*) filter (where is_new_occurrence) as new_occurrence_filed
    from {{ ref('stg_cases__records') }}
    where is_filed
    group by all
),

trailing_cases as (
    select grid.county_code, grid.month,
        coalesce(sum(filed.cases_filed), 0)::bigint as cases_filed_12m,
        coalesce(sum(filed.new_occurrence_filed), 0)::bigint as new_occurrence_12m
    from grid
    left join filed on filed.county_code = grid.county_code
        and filed.month between grid.month - interval 11 month and grid.month
    group by all
),

city_trailing_cases as (
    select months.month,
        sum(filed.cases_filed)::bigint as city_cases_filed_12m,
        sum(filed.new_occurrence_filed)::bigint as city_new_occurrence_12m
    from months
    left join filed on filed.month between months.month - interval 11 month and months.month
    group by all
),

inspections as (
    -- at the end of month M: inspections ended by then, with problems still open past their due date
    -- (the latest delivered rectified counts: the sources carry no rectification dates)
    select grid.county_code, grid.month,
        count(*) as inspections_ended,
        coalesce(sum(problems_found - problems_rectified) filter (
            where rectification_due_on < last_day(grid.month)), 0)::bigint as overdue_problems
    from grid
    inner join {{ ref('stg_inspections__findings') }} as findings
        on findings.county_code = grid.county_code and findings.ended_on <= last_day(grid.month)
    group by all
),

joined as (
    select
        grid.month,
        grid.county_code,
        coalesce(hotline.hotline_tickets, 0) > 0 as has_hotline_data,
        coalesce(hotline.hotline_tickets, 0) as hotline_tickets,
        coalesce(hotline.conduct_complaints, 0) as conduct_complaints,
        coalesce(hotline.hotline_rated, 0) as hotline_rated,
        coalesce(hotline.hotline_satisfied, 0) as hotline_satisfied,
        coalesce(hotline.hotline_closed, 0) as hotline_closed,
        coalesce(hotline.hotline_closed_on_time, 0) as hotline_closed_on_time,
        coalesce(inspections.inspections_ended, 0) > 0 as has_inspection_data,
        coalesce(inspections.overdue_problems, 0) as overdue_problems,
        coalesce(filed.cases_filed, 0) as cases_filed,
        coalesce(filed.new_occurrence_filed, 0) as new_occurrence_filed,
        trailing_cases.cases_filed_12m,
        trailing_cases.new_occurrence_12m,
        city_trailing_cases.city_cases_filed_12m,
        city_trailing_cases.city_new_occurrence_12m
    from grid
    left join hotline on hotline.county_code = grid.county_code and hotline.month = grid.month
    left join inspections on inspections.county_code = grid.county_code and inspections.month = grid.month
    left join filed on filed.county_code = grid.county_code and filed.month = grid.month
    left join trailing_cases on trailing_cases.county_code = grid.county_code and trailing_cases.month = grid.month
    left join city_trailing_cases on city_trailing_cases.month = grid.month
),

final as (
    select
        *,
        -- the previous 3 calendar months, all of which must have tickets, else no baseline
        case when count(*) filter (where has_hotline_data) over previous_3 = 3
            then avg(conduct_complaints) over previous_3 end as conduct_baseline,
        100.0 * hotline_satisfied / nullif(hotline_rated, 0) as hotline_satisfaction_rate,
        100.0 * hotline_closed_on_time / nullif(hotline_closed, 0) as hotline_on_time_rate,
        100.0 * new_occurrence_12m / nullif(cases_filed_12m, 0) as new_occurrence_share_12m,
        100.0 * city_new_occurrence_12m / nullif(city_cases_filed_12m, 0) as city_new_occurrence_share_12m
    from joined
    window previous_3 as (partition by county_code order by month rows between 3 preceding and 1 preceding)
)

select * from final
