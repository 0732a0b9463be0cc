{#- Random numbers as pure functions of their keys, so that a seed gives the same draws whatever the
    number of threads or the order rows are processed in (grade confidence, methodology §7.1).
    The bits come from MD5: DuckDB's hash() of keys that differ in one argument is correlated enough
    to skew a Box–Muller normal (skewness −0.4 over 200,000 draws; MD5's: 0.00). -#}

{#- A uniform in (0, 1) from 53 bits of a 64-bit half of an MD5. -#}
{% macro uniform(bits) -%}
    ((({{ bits }}) >> 11)::double + 0.5) / 9007199254740992
{%- endmacro %}

{#- A standard normal (Box–Muller) keyed by the seed and the SQL expressions in `varargs`. -#}
{% macro standard_normal(seed) -%}
    {%- set key = "concat_ws(':', " ~ ([seed] + varargs | list) | join(', ') ~ ")" -%}
    (sqrt(-2 * ln({{ uniform('md5_number_upper(' ~ key ~ ')') }}))
        * cos(2 * pi() * {{ uniform('md5_number_lower(' ~ key ~ ')') }}))
{%- endmacro %}

{#- A Gamma(shape) draw from a standard normal `z` by the Wilson–Hilferty cube (accurate to a few
    parts in a thousand for shapes of 5 and more: the Dirichlet(α·w) weights have α·w ≥ 10 at the
    default α = 100), floored at 0. -#}
{% macro gamma_draw(shape, z) -%}
    greatest(0, ({{ shape }}) * power(1 - 1 / (9 * ({{ shape }})) + ({{ z }}) * sqrt(1 / (9 * ({{ shape }}))), 3))
{%- endmacro %}
