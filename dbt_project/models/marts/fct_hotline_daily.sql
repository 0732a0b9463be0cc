-- depends_on: {{ ref('int_methodology') }}  (no mart is built under an invalid configuration)
-- 12345 tickets per unit and day of receipt, with what the report and the warnings count.
with unit_days as (
    select * from {{ ref('int_hotline_unit_days') }} where {{ in_partition('year') }}
),

final as (
    select
        year,
        received_on,
        county_code,
        sum(tickets_received)::bigint as tickets_received,
        sum(tickets_closed)::bigint as tickets_closed,
        sum(tickets_closed_on_time)::bigint as tickets_closed_on_time,
        sum(tickets_rated)::bigint as tickets_rated,
        sum(tickets_satisfied)::bigint as tickets_satisfied,
        sum(conduct_complaints)::bigint as conduct_complaints
    from unit_days
    group by all
)

select * from final
