{#- Yearly partitions: Dagster passes `--vars '{year: 2018}'`; without it every year is built. -#}

{% macro in_partition(column='year') -%}
    {%- if var('year') is not none -%} {{ column }} = {{ var('year') | int }} {%- else -%} true {%- endif -%}
{%- endmacro %}

{#- Pre-hook of the yearly marts (incremental, append): drop the partition's old rows first, so a
    re-run replaces the year and an emptied year leaves nothing behind. -#}
{% macro clear_partition(column='year') -%}
    {%- if is_incremental() -%} delete from {{ this }} where {{ in_partition(column) }} {%- endif -%}
{%- endmacro %}

{#- Monthly partitions of the monitoring marts: `--vars '{month_from: "2018-01", month_to: "2018-06"}'`. -#}
{% macro in_month_partition(column='month') -%}
    {%- if var('month_from') is not none -%}
        {{ column }} between date '{{ var("month_from") }}-01' and date '{{ var("month_to") }}-01'
    {%- else -%} true {%- endif -%}
{%- endmacro %}

{% macro clear_month_partition(column='month') -%}
    {%- if is_incremental() -%} delete from {{ this }} where {{ in_month_partition(column) }} {%- endif -%}
{%- endmacro %}

{#- Pre-hook of a month-grained incremental model over staged rows carrying `loaded_at`: delete the
    months (in the year partition) whose latest load differs from the one they were built from —
    months with new rows, months reloaded, months whose rows are gone. The model then builds the
    months it lacks. -#}
{% macro clear_reloaded_months(staged, month_column) -%}
    {%- if is_incremental() -%}
    delete from {{ this }} where {{ in_partition('year') }} and {{ month_column }} in (
        select {{ month_column }}
        from (select {{ month_column }}, max(loaded_through) as loaded_through from {{ this }}
              where {{ in_partition('year') }} group by all) as built
        full outer join (select {{ month_column }}, max(loaded_at) as loaded_through from {{ ref(staged) }}
                         where {{ in_partition('year') }} group by all) as loaded
            using ({{ month_column }})
        where built.loaded_through is distinct from loaded.loaded_through
    )
    {%- endif -%}
{%- endmacro %}
