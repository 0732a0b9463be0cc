-- depends_on: {{ ref('int_methodology') }}  (no mart is built under an invalid configuration)
-- 12345 tickets per unit and day of receipt, with what the report and the warnings count.
with tickets as (
    select * from {{ ref('stg_hotline__tickets') }} where {{ in_partition('year') }}
),

final as (
    select
        year,
        received_on,
        county_code,
        count(*) as tickets_received,
        count(*) filter (where is_closed) as tickets_closed,
        count(*) filter (where is_closed_on_time) as tickets_closed_on_time,
        count(*) filter (where is_rated) as tickets_rated,
        count(*) filter (where is_satisfied) as tickets_satisfied,
        count(*) filter (where is_conduct_complaint) as conduct_complaints
    from tickets
    group by all
)

select * from final
