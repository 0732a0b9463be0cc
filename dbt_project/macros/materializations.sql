{#- Short paths through dbt's materializations for the run that repeats itself: on this project's small
    years, dbt's own bookkeeping (temporary relations, renames, column lists compared in Jinja) cost
    more than the queries. Whatever the short path does not cover goes to dbt's own materialization. -#}

{#- dbt-duckdb's incremental materialization, with a short path for the usual run of this project's
    marts: the table exists and the model's columns (names and types) are the ones it has. The
    pre-hooks delete the partition, the model's rows are inserted straight into the table by name,
    and the changed column comments are written. dbt-duckdb's own path first builds a temporary
    table of the rows, lists the columns of both tables twice to look for schema changes and then
    copies the rows over: most of each model's time, and a second write of every row.
    Anything else — a first build, a full refresh, a model whose columns changed
    (on_schema_change), a Python model — takes dbt-duckdb's own path. -#}
{% materialization incremental, adapter='duckdb', supported_languages=['sql', 'python'] -%}
    {%- set existing = load_cached_relation(this) -%}
    {%- if existing is none or existing.is_view or should_full_refresh() or model['language'] != 'sql'
           or not columns_unchanged(existing, compiled_code) -%}
        {{ return(dbt.materialization_incremental_duckdb()) }}
    {%- endif -%}
    {%- set target = this.incorporate(type='table') -%}
    {{ return(build_in_one_statement(target, 'insert into ' ~ target ~ ' by name (\n' ~ compiled_code ~ '\n)')) }}
{%- endmaterialization %}

{#- True when the query's columns, as DuckDB binds it without running it, have the names and types of
    the relation's: one query, where dbt compares column lists in Jinja. -#}
{% macro columns_unchanged(relation, sql) -%}
    {%- set differences -%}
        select count(*)
        from (select column_name, column_type from (describe ({{ sql }}))) as wanted
        full outer join (
            select column_name, data_type as column_type from duckdb_columns()
            where {{ _relation_filter(relation) }}
        ) as stored using (column_name, column_type)
        where wanted.column_name is null or stored.column_name is null
    {%- endset -%}
    {{ return(run_query(differences).columns[0].values()[0] == 0) }}
{%- endmacro %}

{#- dbt's view materialization, for a view that exists or not: `create or replace` in one statement,
    where dbt creates a second view, renames both and drops the old one. A table in the view's place
    goes to dbt's own path. -#}
{% materialization view, adapter='duckdb' -%}
    {%- set existing = load_cached_relation(this) -%}
    {%- if existing is not none and not existing.is_view -%}
        {{ return(dbt.materialization_view_default()) }}
    {%- endif -%}
    {%- set target = this.incorporate(type='view') -%}
    {{ return(build_in_one_statement(target, 'create or replace view ' ~ target ~ ' as (\n' ~ sql ~ '\n)')) }}
{%- endmaterialization %}

{#- The short paths' common part: the model's hooks and `build_sql`, then the changed comments, in one
    transaction. -#}
{% macro build_in_one_statement(target, build_sql) -%}
    {{ run_hooks(pre_hooks, inside_transaction=False) }}
    {{ run_hooks(pre_hooks, inside_transaction=True) }}
    {% call statement('main') -%} {{ build_sql }} {%- endcall %}
    {% do persist_docs(target, model) %}
    {{ run_hooks(post_hooks, inside_transaction=True) }}
    {% do adapter.commit() %}
    {{ run_hooks(post_hooks, inside_transaction=False) }}
    {{ return({'relations': [target]}) }}
{%- endmacro %}
