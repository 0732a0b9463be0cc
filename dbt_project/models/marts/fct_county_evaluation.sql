-- One row per configured unit and year: one column per indicator (generated from the seed), the
-- composite, the professional and sense-of-gain scores, the grade after the veto cap, its consequence
-- and the rank (methodology §4).
with indicators as (
    select * from {{ ref('fct_indicators') }} where {{ in_partition('year') }}
),

components as (
    select * from {{ ref('fct_components') }} where is_available and {{ in_partition('year') }}
),

grades as (
    select * from {{ ref('methodology_grades') }}
),

units as (
    select * from {{ ref('units') }}
),

veto_triggers as (
    select year, county_code, count(*) as veto_trigger_cases
    from {{ ref('stg_cases__records') }}
    where is_veto_trigger and year(filed_on) = year and {{ in_partition('year') }}
    group by all
),

wide as (
    select
        year,
        county_code,
        {% for indicator in indicators() -%}
        any_value(value) filter (where indicator = '{{ indicator }}') as {{ indicator }},
        {% endfor -%}
        count(*) filter (where value is null) as indicators_missing,
        string_agg(indicator, ', ' order by indicator_order) filter (where value is null) as missing_indicators,
        {{ exact_sum('indicator_weight * value') }} as weighted_sum,
        any_value(methodology_version) as methodology_version
    from indicators
    group by all
),

effective_weights as (
    -- a component's effective weight: its indicator's weight × its renormalised weight inside it
    select
        components.year,
        components.county_code,
        components.component_kind,
        components.value,
        indicators.indicator_weight * components.component_weight
            / {{ exact_sum('components.component_weight',
                           'over (partition by components.year, components.county_code, components.indicator)') }}
            as effective_weight
    from components
    inner join indicators
        on components.year = indicators.year
        and components.county_code = indicators.county_code
        and components.indicator = indicators.indicator
),

scores_by_kind as (
    select
        year,
        county_code,
        {{ exact_sum('effective_weight * value', "filter (where component_kind = 'professional')") }}
            / {{ exact_sum('effective_weight', "filter (where component_kind = 'professional')") }} as professional_score,
        {{ exact_sum('effective_weight * value', "filter (where component_kind = 'sense_of_gain')") }}
            / {{ exact_sum('effective_weight', "filter (where component_kind = 'sense_of_gain')") }} as sense_of_gain_score
    from effective_weights
    group by all
),

scored as (
    select
        wide.*,
        case when wide.indicators_missing = 0 then wide.weighted_sum end as composite,
        scores_by_kind.professional_score,
        scores_by_kind.sense_of_gain_score,
        coalesce(veto_triggers.veto_trigger_cases, 0) > 0 as is_veto_triggered
    from wide
    left join scores_by_kind on wide.year = scores_by_kind.year and wide.county_code = scores_by_kind.county_code
    left join veto_triggers on wide.year = veto_triggers.year and wide.county_code = veto_triggers.county_code
),

uncapped as (
    -- thresholds apply to the unrounded composite: the grade with the highest threshold reached
    select scored.year, scored.county_code, arg_max(grades.grade, grades.min_composite) as uncapped_grade
    from scored
    inner join grades
        on grades.methodology_version = scored.methodology_version and scored.composite >= grades.min_composite
    group by all
),

capped as (
    select
        scored.*,
        uncapped.uncapped_grade,
        {% if var('veto_cap_enabled') -%}
        scored.is_veto_triggered
            and uncapped_order.grade_order < cap.grade_order as is_veto_cap_applied
        {%- else -%}
        false as is_veto_cap_applied
        {%- endif %}
    from scored
    left join uncapped on scored.year = uncapped.year and scored.county_code = uncapped.county_code
    left join grades as uncapped_order
        on uncapped_order.methodology_version = scored.methodology_version and uncapped.uncapped_grade = uncapped_order.grade
    left join grades as cap
        on cap.methodology_version = scored.methodology_version and cap.grade = '{{ var("veto_cap_grade") }}'
),

final as (
    select
        capped.year,
        capped.county_code,
        units.county_name,
        {% for indicator in indicators() -%}
        capped.{{ indicator }},
        {% endfor -%}
        capped.composite,
        capped.professional_score,
        capped.sense_of_gain_score,
        capped.composite is not null as is_graded,
        capped.missing_indicators,
        capped.uncapped_grade,
        coalesce(final_grade.grade, '未评定') as grade,
        coalesce(final_grade.grade_en, 'not graded') as grade_en,
        final_grade.consequence,
        final_grade.consequence_en,
        case when capped.composite is not null
            then rank() over (partition by capped.year, capped.composite is not null order by capped.composite desc)
        end as rank,
        capped.is_veto_triggered,
        capped.is_veto_cap_applied,
        case when capped.is_veto_cap_applied
            then '一票否决: 县处级一把手被留置, 等次不高于{{ var("veto_cap_grade") }}'
        end as veto_cap,
        capped.methodology_version
    from capped
    left join units on capped.county_code = units.county_code
    left join grades as final_grade
        on final_grade.methodology_version = capped.methodology_version and final_grade.grade = case when capped.is_veto_cap_applied
            then '{{ var("veto_cap_grade") }}' else capped.uncapped_grade end
)

select * from final
