{# Schemas are named as configured (staging, intermediate, marts, config), not prefixed with the
   target schema: BI tools read `marts.*`. #}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {{ custom_schema_name if custom_schema_name is not none else target.schema }}
{%- endmacro %}
