-- depends_on: {{ ref('int_methodology') }}  (no mart is built under an invalid configuration)
-- Inspections per unit and month they ended, inspection type and type of inspected unit.
with inspections as (
    select * from {{ ref('stg_inspections__findings') }} where {{ in_partition('year') }}
),

final as (
    select
        year,
        date_trunc('month', ended_on)::date as ended_month,
        county_code,
        inspection_type,
        inspection_type_code,
        unit_type,
        unit_type_code,
        count(*) as inspections,
        sum(problems_found)::bigint as problems_found,
        sum(clues_transferred)::bigint as clues_transferred,
        sum(problems_rectified)::bigint as problems_rectified
    from inspections
    group by all
)

select * from final
