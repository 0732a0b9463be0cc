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
        tickets_received,
        tickets_closed,
        tickets_closed_on_time,
        tickets_rated,
        tickets_satisfied,
        conduct_complaints
    from unit_days
)

select * from final
