-- The six indicators per unit-year: the weighted mean of the available components, their weights
-- renormalised; coverage is the share of the indicator's weight that was available (methodology §3).
with components as (
    select * from {{ ref('fct_components') }} where {{ in_partition('year') }}
),

methodology as (
    select distinct methodology_version, indicator, indicator_label_zh, indicator_label_en, indicator_order,
        indicator_weight
    from {{ ref('int_methodology') }}
),

aggregated as (
    select
        year,
        county_code,
        indicator,
        {{ exact_sum('component_weight * value', "filter (where is_available)") }}
            / {{ exact_sum('component_weight', "filter (where is_available)") }} as value,
        coalesce({{ exact_sum('component_weight', "filter (where is_available)") }}, 0)
            / {{ exact_sum('component_weight') }} as coverage,
        count(*) filter (where is_available) as components_available,
        count(*) as components_configured,
        any_value(methodology_version) as methodology_version
    from components
    group by all
),

final as (
    select
        aggregated.year,
        aggregated.county_code,
        aggregated.indicator,
        methodology.indicator_label_zh,
        methodology.indicator_label_en,
        methodology.indicator_order,
        methodology.indicator_weight,
        aggregated.value,
        aggregated.coverage,
        aggregated.components_available,
        aggregated.components_configured,
        aggregated.methodology_version
    from aggregated
    inner join methodology
        on aggregated.methodology_version = methodology.methodology_version
        and aggregated.indicator = methodology.indicator
)

select * from final
