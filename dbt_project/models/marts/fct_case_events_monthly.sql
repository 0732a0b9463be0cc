-- depends_on: {{ ref('int_methodology') }}  (no mart is built under an invalid configuration)
-- Case records counted by the month of an event: 'filed' (立案) or 'handled' (处置), with the
-- attributes the report counts by. `year` is the raw partition (the year of filing, or of handling
-- when not filed), not the event's year: each
-- yearly run replaces only its own rows; a record filed in 2017 and handled in 2018 adds to 2018's
-- handling counts from partition 2017. Sum over source years to count a period.
with records as (
    select * from {{ ref('stg_cases__records') }} where {{ in_partition('year') }}
),

events as (
    select *, 'filed' as event, filed_on as event_on from records where is_filed
    union all
    select *, 'handled' as event, handled_on as event_on from records where is_handled
),

final as (
    select
        year,
        date_trunc('month', event_on)::date as event_month,
        county_code,
        event,
        category,
        category_code,
        form,
        outcome,
        outcome_code,
        subject_rank,
        subject_rank_code,
        is_top_leader,
        is_detained,
        is_new_occurrence,
        is_punished,
        count(*) as records,
        count(distinct subject_id) as persons
    from events
    group by all
)

select * from final
