-- The methodology in force: each component with its indicator and weights. Building this model
-- validates the configuration first, so an invalid one stops the build before any mart.
-- depends_on: {{ ref('methodology_grades') }}
{% do validate_methodology() %}

with components as (
    select * from {{ ref('methodology_components') }}
),

indicators as (
    select * from {{ ref('methodology_indicators') }}
),

final as (
    select
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
        indicators.weight as indicator_weight,
        '{{ var("methodology_version") }}' as methodology_version
    from components
    inner join indicators on components.indicator = indicators.indicator
)

select * from final
