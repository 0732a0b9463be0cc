-- Every methodology version's components with their indicators and weights (seeds keyed by
-- methodology_version); a mart takes each year's version with methodology_version_of(year). Building
-- this model validates the configuration first, so an invalid one stops the build before any mart.
-- depends_on: {{ ref('methodology_grades') }}
-- depends_on: {{ ref('methodology_versions') }}
-- depends_on: {{ ref('survey_points') }}
{% do validate_methodology() %}

with components as (
    select * from {{ ref('methodology_components') }}
),

indicators as (
    select * from {{ ref('methodology_indicators') }}
),

final as (
    select
        components.methodology_version,
        components.component,
        components.label_zh as component_label_zh,
        components.label_en as component_label_en,
        components.kind as component_kind,
        components.source as component_source,
        components.survey_type,
        components.weight as component_weight,
        components.sampling_error,
        indicators.indicator,
        indicators.label_zh as indicator_label_zh,
        indicators.label_en as indicator_label_en,
        indicators.display_order as indicator_order,
        indicators.weight as indicator_weight
    from components
    inner join indicators
        on components.methodology_version = indicators.methodology_version
        and components.indicator = indicators.indicator
)

select * from final
