{#- The stable English code of a Chinese enum label, from the enum_codes seed. -#}
{% macro enum_code(field, column) -%}
    (select code from {{ ref('enum_codes') }} where field = '{{ field }}' and label_zh = {{ column }})
{%- endmacro %}
