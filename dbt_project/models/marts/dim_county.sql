{{ config(materialized='table') }}
-- depends_on: {{ ref('int_methodology') }}  (no mart is built under an invalid configuration)

with units as (
    select * from {{ ref('units') }}
),

final as (
    select
        county_code,
        county_name,
        unit_type,
        true as is_graded_unit
    from units
    union all
    -- the municipal level: counted city-wide, never graded
    select '511100', '乐山市本级', 'municipal level', false
)

select * from final
