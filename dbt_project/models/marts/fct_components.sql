-- One row per configured unit, year and component; a missing component is a row with a null value.
with unit_years as (
    select * from {{ ref('int_unit_years') }} where {{ in_partition('year') }}
),

methodology as (
    select * from {{ ref('int_methodology') }}
),

component_values as (
    select * from {{ ref('int_component_values') }}
),

final as (
    select
        unit_years.year,
        unit_years.county_code,
        methodology.indicator,
        methodology.component,
        methodology.component_label_zh,
        methodology.component_label_en,
        methodology.component_kind,
        methodology.component_weight,
        component_values.value,
        component_values.value is not null as is_available,
        component_values.numerator,
        component_values.denominator,
        -- the sampling error of the component's kind (methodology_components.sampling_error)
        case methodology.sampling_error
            when 'survey' then component_values.standard_error
            when 'binomial' then 100 * sqrt((component_values.value / 100) * (1 - component_values.value / 100)
                                            / nullif(component_values.denominator, 0))
            when 'none' then 0
        end as standard_error,
        methodology.methodology_version
    from unit_years
    inner join methodology on methodology.methodology_version = {{ methodology_version_of('unit_years.year') }}
    left join component_values
        on component_values.year = unit_years.year
        and component_values.county_code = unit_years.county_code
        and component_values.component = methodology.component
)

select * from final
