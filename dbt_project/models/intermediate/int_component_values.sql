{{ config(materialized='ephemeral') }}  {# filtered to the year partition: inlined into each consumer, never a stale view #}
-- Each available component per configured unit and year, in [0, 100] (methodology §2). A component
-- whose denominator is empty has no row here: missing, never 0 or 100.
-- depends_on: {{ ref('methodology_components') }}
{#- What this model produces besides the survey scores (a survey component is produced from its
    survey_type); the build stops when the configuration and this list disagree. -#}
{%- set produced = ['dev_assessment', 'hotline_satisfaction', 'hotline_on_time', 'discipline_new_occurrence',
                    'inspection_rectification'] %}
{% do validate_component_producers(produced) %}
with units as (
    select county_code from {{ ref('units') }}
),

methodology as (
    select * from {{ ref('int_methodology') }}
),

development as (
    select year, county_code, 'dev_assessment' as component, score as value,
        score as numerator, 1 as denominator, null::double as standard_error
    from {{ ref('stg_development__assessments') }}
    where {{ in_partition('year') }}
),

survey_moments as (
    select year, county_code, survey_type,
        {{ exact_sum('weight * points') }} / {{ exact_sum('weight') }} as mean_points,
        {{ exact_sum('weight') }} as weight_sum,
        {{ exact_sum('weight * weight') }} as weight_square_sum
    from {{ ref('stg_surveys__responses') }}
    where is_valid_answer and {{ in_partition('year') }}
    group by all
),

surveys as (
    -- weighted variance and Kish's effective sample size give the standard error (methodology §6)
    select moments.year, moments.county_code, methodology.component, moments.mean_points as value,
        moments.mean_points * moments.weight_sum as numerator, moments.weight_sum as denominator,
        sqrt(
            {{ exact_sum('responses.weight * (responses.points - moments.mean_points) ^ 2') }} / moments.weight_sum
            / (moments.weight_sum ^ 2 / moments.weight_square_sum)
        ) as standard_error
    from survey_moments as moments
    inner join {{ ref('stg_surveys__responses') }} as responses
        on responses.year = moments.year and responses.county_code = moments.county_code
        and responses.survey_type = moments.survey_type and responses.is_valid_answer
    inner join methodology on methodology.survey_type = moments.survey_type
        and methodology.methodology_version = {{ methodology_version_of('moments.year') }}
    group by moments.year, moments.county_code, methodology.component, moments.mean_points,
        moments.weight_sum, moments.weight_square_sum
),

hotline_counts as (
    select year, county_code,
        sum(tickets_satisfied)::bigint as satisfied,
        sum(tickets_rated)::bigint as rated,
        sum(tickets_closed_on_time)::bigint as closed_on_time,
        sum(tickets_closed)::bigint as closed
    from {{ ref('int_hotline_unit_days') }}
    where {{ in_partition('year') }}
    group by all
),

hotline as (
    select year, county_code, 'hotline_satisfaction' as component, 100.0 * satisfied / rated as value,
        satisfied as numerator, rated as denominator, null::double as standard_error
    from hotline_counts where rated > 0
    union all
    select year, county_code, 'hotline_on_time', 100.0 * closed_on_time / closed,
        closed_on_time, closed, null
    from hotline_counts where closed > 0
),

discipline as (
    -- cases filed in the year: its partition holds exactly them (folder year = year of filing)
    select year, county_code, 'discipline_new_occurrence' as component,
        100.0 * (1 - count(*) filter (where is_new_occurrence) / count(*)) as value,
        count(*) filter (where not is_new_occurrence) as numerator, count(*) as denominator,
        null::double as standard_error
    from {{ ref('stg_cases__records') }}
    where is_filed and year(filed_on) = year and {{ in_partition('year') }}
    group by all
),

inspections as (
    select year, county_code, 'inspection_rectification' as component,
        100.0 * sum(problems_rectified) / sum(problems_found) as value,
        sum(problems_rectified) as numerator, sum(problems_found) as denominator,
        null::double as standard_error
    from {{ ref('stg_inspections__findings') }}
    where {{ in_partition('year') }}
    group by all
    having sum(problems_found) > 0
),

all_components as (
    select * from development
    union all select * from surveys
    union all select * from hotline
    union all select * from discipline
    union all select * from inspections
),

final as (
    -- 511100 (municipal level) counts city-wide only, never in a unit's components
    select all_components.*
    from all_components
    inner join units on all_components.county_code = units.county_code
)

select * from final
