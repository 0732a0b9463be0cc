{#- Fails the build, before any mart, when the methodology configuration (seeds and vars) is invalid.
    Every problem is listed in one message, each naming its methodology version. -#}
{% macro validate_methodology() %}
    {% if not execute %}{% do return(none) %}{% endif %}
    {% set checks %}
        with versions as (select * from {{ ref('methodology_versions') }}),
        indicators as (select * from {{ ref('methodology_indicators') }}),
        components as (select * from {{ ref('methodology_components') }}),
        grades as (select * from {{ ref('methodology_grades') }}),
        problems as (
            select 'methodology version ' || version || ' is in force but not in methodology_versions.csv'
                as problem
            from (select unnest({{ versions_in_force() }}) as version)
            where version not in (select methodology_version from versions)
            union all
            select methodology_version || ': indicator weights sum to ' || round(sum(weight), 6) || ', not 1'
            from indicators group by methodology_version having abs(sum(weight) - 1) > 1e-9
            union all
            select methodology_version || ': components of indicator ' || indicator || ' have weights summing to '
                || round(sum(weight), 6) || ', not 1'
            from components group by methodology_version, indicator having abs(sum(weight) - 1) > 1e-9
            union all
            select methodology_version || ': component ' || component || ' names an unknown indicator ' || indicator
            from components
            where (methodology_version, indicator) not in (select (methodology_version, indicator) from indicators)
            union all
            select methodology_version || ': indicator ' || indicator || ' has no component'
            from indicators
            where (methodology_version, indicator) not in (select (methodology_version, indicator) from components)
            union all
            select methodology_version || ': indicator or component weight ' || weight || ' is negative'
            from (select methodology_version, weight from indicators
                  union all select methodology_version, weight from components) where weight < 0
            union all
            select methodology_version || ': grade thresholds overlap: ' || grade || ' (min ' || min_composite
                || ') is not below ' || previous_grade || ' (min ' || previous_min || ')'
            from (
                select methodology_version, grade, min_composite,
                    lag(grade) over (partition by methodology_version order by grade_order) as previous_grade,
                    lag(min_composite) over (partition by methodology_version order by grade_order) as previous_min
                from grades
            ) where min_composite >= previous_min
            union all
            select methodology_version || ': the lowest grade threshold is ' || min(min_composite)
                || ': a composite of 0 gets no grade'
            from grades group by methodology_version having min(min_composite) > 0
            union all
            {% for table, what in [('indicators', 'indicators'), ('components', 'components'), ('grades', 'grades'),
                                   (ref('survey_points'), 'survey points')] %}
            select methodology_version || ': a version without {{ what }}' from versions
            where methodology_version not in (select methodology_version from {{ table }})
            {{ "union all" if not loop.last }}
            {% endfor %}
            {% if var('veto_cap_enabled') %}
            union all
            select methodology_version || ': veto_cap_grade {{ var("veto_cap_grade") }} is not a configured grade'
            from versions
            where methodology_version not in (select methodology_version from grades
                                              where grade = '{{ var("veto_cap_grade") }}')
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
