{#- Partitions come from environment variables, read only while executing: dbt re-parses the whole
    project whenever `--vars` change, and every file that read a changed environment variable while
    parsing; these are read by no file at parse time, so each Dagster step reuses the parse.
    JINGTU_DBT_YEAR=2018 builds one year, JINGTU_DBT_YEAR=2015..2018 a range in one run,
    JINGTU_DBT_YEAR=2015,2018 those years; unset, every year is built. -#}
{% macro partition_env(name) -%}
    {{- return(env_var(name, '') if execute else '') -}}
{%- endmacro %}

{#- The run's years in order, or [] when every year is built. -#}
{% macro partition_years() -%}
    {%- set years = partition_env('JINGTU_DBT_YEAR') -%}
    {%- if not years -%} {{ return([]) }} {%- endif -%}
    {%- if '..' in years -%}
        {%- set bounds = years.split('..') -%}
        {{ return(range(bounds[0] | int, (bounds[1] | int) + 1) | list) }}
    {%- endif -%}
    {{ return(years.split(',') | map('int') | sort | list) }}
{%- endmacro %}

{% macro in_partition(column='year') -%}
    {%- set years = partition_years() -%}
    {%- if not years -%} true
    {%- elif years | length == 1 -%} {{ column }} = {{ years[0] }}
    {%- elif years[-1] - years[0] + 1 == years | length -%} {{ column }} between {{ years[0] }} and {{ years[-1] }}
    {%- else -%} {{ column }} in ({{ years | join(', ') }}) {%- endif -%}
{%- endmacro %}

{#- Pre-hook of the yearly marts (incremental, append): drop the partition's old rows first, so a
    re-run replaces the year and an emptied year leaves nothing behind. -#}
{% macro clear_partition(column='year') -%}
    {%- if is_incremental() -%} delete from {{ this }} where {{ in_partition(column) }} {%- endif -%}
{%- endmacro %}

{#- The months the monitoring marts build: from the first month of the run's range of months
    (JINGTU_DBT_MONTHS=2018-12..2018-12) or else of its first year (JINGTU_DBT_YEAR), to the last month
    with data; every month when neither is set. The months after the run's are built again because a
    month's trailing windows, baselines and CUSUMs reach back into them: left as they were, they would
    still count what a corrected delivery took out. -#}
{% macro in_month_partition(column='month') -%}
    {%- set months = partition_env('JINGTU_DBT_MONTHS') -%}
    {%- set years = partition_years() -%}
    {%- if months -%} {{ column }} >= date '{{ months.split('..')[0] }}-01'
    {%- elif years -%} {{ column }} >= date '{{ years[0] }}-01-01'
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

{#- The methodology version in force for the year in `year_column` (seeds/methodology_versions.csv):
    the run's JINGTU_METHODOLOGY_VERSION if set and the year is one of the run's, else the year's entry
    in the var methodology_version_by_year, else the var methodology_version (the default). -#}
{#- The configured versions — the default, the per-year ones and the run's — as a SQL list of
    literals: what the validation macros check (methodology_version_of picks among them). -#}
{% macro versions_in_force() -%}
    {%- set run_version = partition_env('JINGTU_METHODOLOGY_VERSION') -%}
    {%- set versions = [var('methodology_version')] + (var('methodology_version_by_year', {}) or {}).values() | list
                       + ([run_version] if run_version else []) -%}
    [{% for v in versions | unique %}'{{ v }}'{{ ", " if not loop.last }}{% endfor %}]
{%- endmacro %}

{% macro methodology_version_of(year_column) -%}
    {%- set run_version = partition_env('JINGTU_METHODOLOGY_VERSION') -%}
    {%- set years = partition_years() -%}
    {%- set by_year = var('methodology_version_by_year', {}) or {} -%}
    {%- set configured -%}
        {%- if by_year -%}
            case {{ year_column }}
            {%- for year, version in by_year.items() %} when {{ year | int }} then '{{ version }}'{% endfor %}
            else '{{ var("methodology_version") }}' end
        {%- else -%} '{{ var("methodology_version") }}'
        {%- endif -%}
    {%- endset -%}
    {#- the run's version for the run's years only: its warnings of later months keep theirs -#}
    {%- if run_version and years -%}
        case when {{ in_partition(year_column) }} then '{{ run_version }}'
        else {{ configured }} end
    {%- elif run_version -%} '{{ run_version }}'
    {%- else -%} {{ configured }}
    {%- endif -%}
{%- endmacro %}

{#- A raw source's rows, without the pending rows of a load still running (or killed), which the loader
    keeps under the negated year until the load settles (orchestration/ingest.py). -#}
{% macro settled_rows(table) -%}
    select * from {{ source('raw', table) }} where partition_year > 0
{%- endmacro %}
