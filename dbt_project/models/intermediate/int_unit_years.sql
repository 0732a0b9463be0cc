{{ config(materialized='ephemeral') }}
-- Every configured unit × every year with data in any source, whatever the run's years: the
-- evaluation takes the run's years from it, the early warnings every month from the first on.
with units as (
    select county_code from {{ ref('units') }}
),

years as (
    select distinct year from {{ ref('int_hotline_unit_days') }}
    union
    select distinct year from {{ ref('stg_cases__records') }}
    union
    select distinct year from {{ ref('stg_inspections__findings') }}
    union
    select distinct year from {{ ref('stg_surveys__responses') }}
    union
    select distinct year from {{ ref('stg_development__assessments') }}
),

final as (
    select units.county_code, years.year
    from units
    cross join years
)

select * from final
