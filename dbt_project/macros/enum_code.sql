{#- The stable English code of a Chinese enum label, from the enum_codes seed, written into the
    view as a CASE when the model runs. A plain expression (not a lookup join) lets DuckDB skip it
    when a query does not read the code: the hotline models read ten million staged tickets. -#}
{% macro enum_code(field, column) -%}
    {%- set enum_codes = ref('enum_codes') -%}  {#- outside the `if`, so that parsing records the dependency -#}
    {%- if execute -%}
        {%- set codes = run_query("select label_zh, code from " ~ enum_codes ~ " where field = '" ~ field ~ "' order by all") -%}
        case {{ column }}
        {%- for label, code in codes.rows %} when '{{ label | replace("'", "''") }}' then '{{ code | replace("'", "''") }}'{% endfor %} end
    {%- else -%}
        null
    {%- endif -%}
{%- endmacro %}
