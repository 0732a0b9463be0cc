-- Inspections ended in the year, per unit, inspection type and type of inspected unit.
with inspections as (
    select * from {{ ref('stg_inspections__findings') }} where {{ in_partition('year') }}
),

final as (
    select
        year,
        county_code,
        inspection_type,
        inspection_type_code,
        unit_type,
        unit_type_code,
        count(*) as inspections,
        sum(problems_found) as problems_found,
        sum(clues_transferred) as clues_transferred,
        sum(problems_rectified) as problems_rectified
    from inspections
    group by all
)

select * from final
