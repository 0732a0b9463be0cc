-- depends_on: {{ ref('int_methodology') }}  (no mart is built under an invalid configuration)
-- Tickets per legacy hotline (原热线) merged into 12345, per year.
with tickets as (
    select * from {{ ref('stg_hotline__tickets') }} where {{ in_partition('year') }}
),

final as (
    select
        year,
        intake_line,
        count(*) as tickets_received
    from tickets
    group by all
)

select * from final
