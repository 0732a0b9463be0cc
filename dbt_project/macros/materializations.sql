{#- Short paths through dbt's materializations for the run that repeats itself: on this project's small
    years, dbt's own bookkeeping (temporary relations, renames, column lists compared in Jinja) cost
    more than the queries. Whatever the short path does not cover goes to dbt's own materialization. -#}

{#- dbt-duckdb's incremental materialization, with a short path for this project's marts when their
    table exists: the model's columns are compared with the table's in one query, the table is brought
    to them as on_schema_change says (sync_all_columns: columns added, dropped and retyped;
    append_new_columns: added), the pre-hooks delete the partition, and the model's rows are inserted
    straight into the table by name, all in one transaction. dbt-duckdb's own path first builds a
    temporary table of the rows, lists the columns of both tables twice and compares them in Jinja,
    then copies the rows over: most of each model's time, and a second write of every row. It also
    retypes a column after the pre-hook's delete, which DuckDB refuses at commit ("another transaction
    has altered this table"); DuckDB takes the same changes before the delete.
    A first build, a full refresh, another on_schema_change or a Python model takes dbt-duckdb's path. -#}
{% materialization incremental, adapter='duckdb', supported_languages=['sql', 'python'] -%}
    {%- set existing = load_cached_relation(this) -%}
    {%- set on_schema_change = config.get('on_schema_change') -%}
    {%- if existing is none or existing.is_view or should_full_refresh() or model['language'] != 'sql'
           or on_schema_change not in ('sync_all_columns', 'append_new_columns') -%}
        {{ return(dbt.materialization_incremental_duckdb()) }}
    {%- endif -%}
    {%- set target = this.incorporate(type='table') -%}
    {%- set changes = [] -%}
    {%- for column, wanted_type, stored_type in column_differences(existing, compiled_code) -%}
        {%- set quoted = adapter.quote(column) -%}
        {%- if stored_type is none -%}
            {%- do changes.append('alter table ' ~ target ~ ' add column ' ~ quoted ~ ' ' ~ wanted_type) -%}
        {%- elif on_schema_change == 'sync_all_columns' and wanted_type is none -%}
            {%- do changes.append('alter table ' ~ target ~ ' drop column ' ~ quoted) -%}
        {%- elif on_schema_change == 'sync_all_columns' and wanted_type is not none -%}
            {%- do changes.append('alter table ' ~ target ~ ' alter column ' ~ quoted ~ ' type ' ~ wanted_type) -%}
        {%- endif -%}
    {%- endfor -%}
    {%- if changes -%}
        {%- do log(this ~ ': ' ~ changes | join('; '), info=true) -%}
    {%- endif -%}
    {{ return(build_in_one_transaction(target, 'insert into ' ~ target ~ ' by name (\n' ~ compiled_code ~ '\n)',
                                     changes)) }}
{%- endmaterialization %}

{#- The columns whose name or type differ between the query, as DuckDB binds it without running it,
    and the relation: (name, the query's type or none, the relation's type or none). One query, where
    dbt compares column lists in Jinja. -#}
{% macro column_differences(relation, sql) -%}
    {%- set differences -%}
        select column_name, wanted.column_type, stored.column_type
        from (select column_name, column_type from (describe ({{ sql }}))) as wanted
        full outer join (
            select column_name, data_type as column_type from duckdb_columns()
            where {{ _relation_filter(relation) }}
        ) as stored using (column_name)
        where wanted.column_type is distinct from stored.column_type
    {%- endset -%}
    {{ return(run_query(differences).rows | map('list') | list) }}
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
    {{ return(build_in_one_transaction(target, 'create or replace view ' ~ target ~ ' as (\n' ~ sql ~ '\n)')) }}
{%- endmaterialization %}

{#- The short paths' common part, in one transaction: the statements in `first` (schema changes, before
    any row is touched), the model's hooks and `build_sql`, then the changed comments. -#}
{% macro build_in_one_transaction(target, build_sql, first=[]) -%}
    {{ run_hooks(pre_hooks, inside_transaction=False) }}
    {%- for statement_sql in first %}
        {% call statement('schema_change_' ~ loop.index, auto_begin=true) -%} {{ statement_sql }} {%- endcall %}
    {%- endfor %}
    {{ run_hooks(pre_hooks, inside_transaction=True) }}
    {% call statement('main') -%} {{ build_sql }} {%- endcall %}
    {% do persist_docs(target, model) %}
    {{ run_hooks(post_hooks, inside_transaction=True) }}
    {% do adapter.commit() %}
    {{ run_hooks(post_hooks, inside_transaction=False) }}
    {{ return({'relations': [target]}) }}
{%- endmacro %}
