{{ config(materialized='ephemeral') }}  {# filtered to the year partition: inlined into each consumer, never a stale view #}
-- The unit-years evaluated: every configured unit × every year with data in any source.
with units as (
    select county_code from {{ ref('units') }}
),

years as (
    select distinct year from {{ ref('int_hotline_unit_days') }} where {{ in_partition('year') }}
    union
    select distinct year from {{ ref('stg_cases__records') }} where {{ in_partition('year') }}
    union
    select distinct year from {{ ref('stg_inspections__findings') }} where {{ in_partition('year') }}
    union
    select distinct year from {{ ref('stg_surveys__responses') }} where {{ in_partition('year') }}
    union
    select distinct year from {{ ref('stg_development__assessments') }} where {{ in_partition('year') }}
),

final as (
    select units.county_code, years.year
    from units
    cross join years
)

select * from final
