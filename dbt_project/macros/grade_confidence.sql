{#- The Monte Carlo of fct_grade_confidence for one year (none: no row). -#}
{% macro grade_confidence(year) -%}
{%- set year_condition = 'year = ' ~ (year | int) if year is not none else 'false' %}
{%- set draws = var('confidence_draws') | int %}
{%- set seed = var('confidence_seed') | int %}
{%- set alpha = var('confidence_weight_alpha') | float %}

with evaluation as (
    select * from {{ ref('fct_county_evaluation') }} where is_graded and {{ year_condition }}
),

components as (
    select * from {{ ref('fct_components') }} where is_available and {{ year_condition }}
),

methodology as (
    select * from {{ ref('int_methodology') }}
),

grade_scales as (
    -- each version's grades from the highest threshold down, and the veto cap's place among them
    select methodology_version,
        list(min_composite order by min_composite desc) as thresholds,
        list(grade order by min_composite desc) as grade_names,
        list(grade_order order by min_composite desc) as grade_orders,
        any_value(grade_order) filter (where grade = '{{ var("veto_cap_grade") }}') as cap_order
    from {{ ref('methodology_grades') }}
    group by methodology_version
),

draws as (
    select range as draw from range({{ draws }})
),

indicator_weights as (
    -- each year's, under the year's methodology version
    select distinct years.year, methodology.indicator, methodology.indicator_weight
    from (select distinct year, methodology_version from evaluation) as years
    inner join methodology using (methodology_version)
),

weight_draws as (
    -- Dirichlet(alpha × w): Gamma(alpha × w) draws, normalised per year and draw; one weight vector
    -- per draw, shared by every unit of the year (the weights are the committee's).
    {%- if alpha > 0 %}
    select indicator_weights.year, draws.draw, indicator_weights.indicator,
        gammas.gamma / sum(gammas.gamma::decimal(18, 12)) over (partition by indicator_weights.year, draws.draw)::double
            as weight
    from indicator_weights
    cross join draws
    cross join lateral (
        select {{ gamma_draw(alpha ~ ' * indicator_weights.indicator_weight',
                             standard_normal(seed, 'indicator_weights.year', 'draws.draw', 'indicator_weights.indicator')) }}
            as gamma
    ) as gammas
    {%- else %}
    select indicator_weights.year, draws.draw, indicator_weights.indicator, indicator_weights.indicator_weight as weight
    from indicator_weights
    cross join draws
    {%- endif %}
),

component_errors as (
    select
        components.year,
        components.county_code,
        components.indicator,
        components.component,
        -- the component's share of its indicator, among the available components (as published)
        components.component_weight / sum(components.component_weight) over (
            partition by components.year, components.county_code, components.indicator
        ) as share,
        components.value,
        {% if var('confidence_sampling_error') -%}
        coalesce(components.standard_error, 0)
        {%- else -%} 0 {%- endif %} as standard_error,
        {{ random_bits(seed, 'components.year', 'components.county_code', 'components.component') }} as random_key
    from components
    inner join evaluation on components.year = evaluation.year and components.county_code = evaluation.county_code
    inner join methodology
        on components.methodology_version = methodology.methodology_version and components.component = methodology.component
),

composite_draws as (
    -- each component drawn around its value and clipped to [0, 100]; the composite is the sum of
    -- the components weighted by their indicator's drawn weight × their share of it. Joined on the
    -- indicator, the two small sides (components, weight draws) stream out the draws × components
    -- rows, with no hash table of them. Summed as decimals, exactly: the order of a parallel sum of
    -- doubles, and so its last bit, varies with the number of threads.
    select
        component_errors.year,
        component_errors.county_code,
        weight_draws.draw,
        sum((weight_draws.weight * component_errors.share * least(100, greatest(0, component_errors.value
            + component_errors.standard_error
                * {{ normal_from_key('component_errors.random_key', 'weight_draws.draw') }})))::decimal(18, 12)
        )::double as composite
    from component_errors
    inner join weight_draws
        on component_errors.year = weight_draws.year and component_errors.indicator = weight_draws.indicator
    group by all
),

graded_draws as (
    -- the published rules: the highest threshold reached, lowered by the veto cap; the rank among
    -- the year's graded units in the same draw. The grade is found before the rank, so that the
    -- window holds the grade, not the lists of thresholds it comes from.
    select *, rank() over (partition by year, draw order by composite desc) as rank
    from (
        select year, county_code, draw, composite,
            {% if var('veto_cap_enabled') -%}
            case when is_veto_triggered and grade_orders[reached_place] < cap_order
                then '{{ var("veto_cap_grade") }}' else grade_names[reached_place] end
            {%- else -%} grade_names[reached_place] {%- endif %} as grade
        from (
            select composite_draws.*, evaluation.is_veto_triggered, grade_scales.*,
                -- the place of the first threshold the composite reaches
                1 + len(list_filter(grade_scales.thresholds, lambda threshold: threshold > composite_draws.composite))
                    as reached_place
            from composite_draws
            inner join evaluation
                on composite_draws.year = evaluation.year and composite_draws.county_code = evaluation.county_code
            inner join grade_scales on grade_scales.methodology_version = evaluation.methodology_version
        )
    )
),

variance_shares as (
    -- the indicator whose uncertainty adds most to the composite's variance: w² × Σ share² × SE²
    select year, county_code,
        arg_max(indicator, indicator_weight ^ 2 * variance) as top_uncertainty_indicator
    from (
        select component_errors.year, component_errors.county_code, component_errors.indicator,
            any_value(indicator_weights.indicator_weight) as indicator_weight,
            sum(component_errors.share ^ 2 * component_errors.standard_error ^ 2) as variance
        from component_errors
        inner join indicator_weights
            on component_errors.year = indicator_weights.year and component_errors.indicator = indicator_weights.indicator
        group by all
    )
    group by all
),

summarised as (
    select
        graded_draws.year,
        graded_draws.county_code,
        count(*) as draws,
        avg((graded_draws.grade = '好')::int) as p_good,
        avg((graded_draws.grade = '较好')::int) as p_fairly_good,
        avg((graded_draws.grade = '一般')::int) as p_average,
        avg((graded_draws.grade = '差')::int) as p_poor,
        avg((graded_draws.grade = evaluation.grade)::int) as p_published_grade,
        -- one list of quantiles per column: each quantile holds every draw of its group
        quantile_cont(graded_draws.composite, [0.05, 0.50, 0.95]) as composite_quantiles,
        quantile_disc(graded_draws.rank, [0.05, 0.95]) as rank_quantiles
    from graded_draws
    inner join evaluation
        on graded_draws.year = evaluation.year and graded_draws.county_code = evaluation.county_code
    group by graded_draws.year, graded_draws.county_code
),

final as (
    select
        evaluation.year,
        evaluation.county_code,
        evaluation.grade,
        evaluation.composite,
        summarised.p_good,
        summarised.p_fairly_good,
        summarised.p_average,
        summarised.p_poor,
        summarised.p_published_grade,
        summarised.p_published_grade < {{ var('confidence_near_boundary') }} as is_near_boundary,
        summarised.composite_quantiles[1] as composite_p05,
        summarised.composite_quantiles[2] as composite_p50,
        summarised.composite_quantiles[3] as composite_p95,
        summarised.rank_quantiles[1] as rank_p05,
        summarised.rank_quantiles[2] as rank_p95,
        variance_shares.top_uncertainty_indicator,
        summarised.draws,
        {{ seed }}::bigint as seed,
        {{ alpha }}::double as weight_alpha,
        evaluation.methodology_version
    from evaluation
    inner join summarised on evaluation.year = summarised.year and evaluation.county_code = summarised.county_code
    left join variance_shares
        on evaluation.year = variance_shares.year and evaluation.county_code = variance_shares.county_code
)

select * from final
{%- endmacro %}

{#- The years a build of fct_grade_confidence covers: the run's (JINGTU_DBT_YEAR), else every evaluated
    year. Read while executing only, like the other partition macros. -#}
{% macro confidence_years() -%}
    {%- if not execute -%} {{ return([]) }} {%- endif -%}
    {%- set years = partition_years() -%}
    {%- if years -%} {{ return(years) }} {%- endif -%}
    {%- set evaluated = run_query('select distinct year from ' ~ ref('fct_county_evaluation') ~ ' order by 1') -%}
    {{ return(evaluated.columns[0].values() | map('int') | list) }}
{%- endmacro %}

{#- Post-hook: the years after the first, one statement each. -#}
{% macro grade_confidence_other_years() -%}
    {%- for year in confidence_years()[1:] %}
    insert into {{ this }} by name {{ grade_confidence(year) }};
    {%- endfor %}
{%- endmacro %}
