{#- The descriptions of a model and its columns as DuckDB comments (what BI tools show, kept by the
    publication), written only where they differ from the stored ones: a re-run of an incremental model
    writes none. dbt-duckdb's own macro lists the relation's columns twice and comments every column on
    every run, which cost more than many of the models' queries. -#}
{% macro duckdb__persist_docs(relation, model, for_relation, for_columns) -%}
    {%- set wanted = {} -%}
    {%- if for_relation and config.persist_relation_docs() and model.description -%}
        {%- do wanted.update({'': model.description}) -%}
    {%- endif -%}
    {%- if for_columns and config.persist_column_docs() -%}
        {%- for name, column in model.columns.items() if column.description -%}
            {%- do wanted.update({name: column.description}) -%}
        {%- endfor -%}
    {%- endif -%}
    {%- if wanted -%}
        {%- set stored_sql -%}
            select '' as name, comment from duckdb_tables() where {{ _relation_filter(relation) }}
            union all select '', comment from duckdb_views() where {{ _relation_filter(relation, 'view_name') }}
            union all select column_name, comment from duckdb_columns() where {{ _relation_filter(relation) }}
        {%- endset -%}
        {%- set stored = {} -%}
        {%- for row in run_query(stored_sql) -%} {%- do stored.update({row[0]: row[1]}) -%} {%- endfor -%}
        {%- set statements = [] -%}
        {%- for name, description in wanted.items() if name in stored and stored[name] != description -%}
            {%- if name == '' -%}
                {%- do statements.append('comment on ' ~ relation.type ~ ' ' ~ relation ~ ' is '
                                         ~ duckdb_escape_comment(description)) -%}
            {%- else -%}
                {%- set quoted = adapter.quote(name) if model.columns[name].quote else name -%}
                {%- do statements.append('comment on column ' ~ relation ~ '.' ~ quoted ~ ' is '
                                         ~ duckdb_escape_comment(description)) -%}
            {%- endif -%}
        {%- endfor -%}
        {%- if statements -%} {%- do run_query(statements | join(';\n')) -%} {%- endif -%}
    {%- endif -%}
{%- endmacro %}

{% macro _relation_filter(relation, name_column='table_name') -%}
    database_name = '{{ relation.database }}' and schema_name = '{{ relation.schema }}'
    and {{ name_column }} = '{{ relation.identifier }}'
{%- endmacro %}
