{#- A sum whose result does not depend on the order of its rows: each term is converted to a decimal
    (its rounding, at 1e-18, is far below a double's precision) and summed exactly. A sum of doubles
    varies in its last bit with the order rows arrive in, and a year re-run under its methodology
    version must reproduce the published rows bit for bit. `clause`: a filter (…) or over (…). -#}
{% macro exact_sum(expression, clause='') -%}
    (sum(({{ expression }})::decimal(38, 18)) {{ clause }})::double
{%- endmacro %}
