{#- Yearly partitions: Dagster passes `--vars '{year: 2018}'`; without it every year is built. -#}

{% macro in_partition(column='year') -%}
    {%- if var('year') is not none -%} {{ column }} = {{ var('year') | int }} {%- else -%} true {%- endif -%}
{%- endmacro %}

{#- Pre-hook of the yearly marts (incremental, append): drop the partition's old rows first, so a
    re-run replaces the year and an emptied year leaves nothing behind. -#}
{% macro clear_partition(column='year') -%}
    {%- if is_incremental() -%} delete from {{ this }} where {{ in_partition(column) }} {%- endif -%}
{%- endmacro %}
