-- depends_on: {{ ref('int_methodology') }}  (no mart is built under an invalid configuration)
-- Tickets per legacy hotline (原热线) merged into 12345, per year.
with unit_days as (
    select * from {{ ref('int_hotline_unit_days') }} where {{ in_partition('year') }}
),

final as (
    select
        year,
        intake_line,
        sum(tickets_received)::bigint as tickets_received
    from unit_days
    group by all
)

select * from final
