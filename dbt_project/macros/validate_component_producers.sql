{#- Fails the build, in one message, when the components configured for a methodology version in force
    and the components int_component_values produces disagree: a configured component that nothing
    produces would be silently "missing" in every unit-year; a produced one that no version configures
    is dead code. Survey components are produced from their survey_type; the others are listed in
    int_component_values. -#}
{% macro validate_component_producers(produced) %}
    {% if not execute %}{% do return(none) %}{% endif %}
    {% set checks %}
        with configured as (
            select * from {{ ref('methodology_components') }}
            where list_contains({{ versions_in_force() }}, methodology_version)
        ),
        produced as (
            select unnest([{% for c in produced %}'{{ c }}'{{ ", " if not loop.last }}{% endfor %}]) as component
        )
        select 'component ' || component || ' (' || methodology_version || ') has no producer in'
            || ' models/intermediate/int_component_values.sql' as problem
        from configured
        where component not in (select component from produced) and (source <> 'surveys' or survey_type is null)
        union all
        select 'int_component_values produces ' || component || ', which no methodology version in force configures'
        from produced
        where component not in (select component from configured)
        order by problem
    {% endset %}
    {% set problems = run_query(checks).columns[0].values() %}
    {% if problems | length > 0 %}
        {{ exceptions.raise_compiler_error("Components and their producers disagree: " ~ problems | join("; ")) }}
    {% endif %}
{% endmacro %}
