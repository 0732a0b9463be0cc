{#- Fails the build, before any mart, when the methodology configuration (seeds and vars) is invalid.
    Every problem is listed in one message. -#}
{% macro validate_methodology() %}
    {% if not execute %}{% do return(none) %}{% endif %}
    {% set checks %}
        with indicators as (select * from {{ ref('methodology_indicators') }}),
        components as (select * from {{ ref('methodology_components') }}),
        grades as (select * from {{ ref('methodology_grades') }}),
        problems as (
            select 'indicator weights sum to ' || round(sum(weight), 6) || ', not 1' as problem
            from indicators having abs(sum(weight) - 1) > 1e-9
            union all
            select 'components of indicator ' || indicator || ' have weights summing to '
                || round(sum(weight), 6) || ', not 1'
            from components group by indicator having abs(sum(weight) - 1) > 1e-9
            union all
            select 'component ' || component || ' names an unknown indicator ' || indicator
            from components where indicator not in (select indicator from indicators)
            union all
            select 'indicator ' || indicator || ' has no component'
            from indicators where indicator not in (select indicator from components)
            union all
            select 'indicator or component weight ' || weight || ' is negative'
            from (select weight from indicators union all select weight from components) where weight < 0
            union all
            select 'grade thresholds overlap: ' || grade || ' (min ' || min_composite || ') is not below '
                || previous_grade || ' (min ' || previous_min || ')'
            from (
                select grade, min_composite,
                    lag(grade) over (order by grade_order) as previous_grade,
                    lag(min_composite) over (order by grade_order) as previous_min
                from grades
            ) where min_composite >= previous_min
            union all
            select 'the lowest grade threshold is ' || min(min_composite) || ': a composite of 0 gets no grade'
            from grades having min(min_composite) > 0
            {% if var('veto_cap_enabled') %}
            union all
            select 'veto_cap_grade {{ var("veto_cap_grade") }} is not a configured grade'
            where '{{ var("veto_cap_grade") }}' not in (select grade from grades)
            {% endif %}
        )
        select problem from problems
    {% endset %}
    {% set problems = run_query(checks).columns[0].values() %}
    {% if problems | length > 0 %}
        {{ exceptions.raise_compiler_error(
            "Invalid methodology configuration (dbt_project/seeds, dbt_project.yml vars): "
            ~ problems | join("; ")) }}
    {% endif %}
{% endmacro %}
