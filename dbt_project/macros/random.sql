{#- Random numbers as pure functions of their keys, so that a seed gives the same draws whatever the
    number of threads or the order rows are processed in (grade confidence, methodology §7.1).
    The bits come from MD5: DuckDB's hash() of keys that differ in one argument is correlated enough
    to skew a Box–Muller normal (skewness −0.4 over 200,000 draws; MD5's: 0.00). -#}

{#- A uniform in (0, 1) from 53 bits of a 64-bit unsigned integer. -#}
{% macro uniform(bits) -%}
    ((({{ bits }}) >> 11)::double + 0.5) / 9007199254740992
{%- endmacro %}

{#- The 128 random bits of the seed and the SQL expressions in `varargs`. -#}
{% macro random_bits(seed) -%}
    md5_number(concat_ws(':', {{ ([seed] + varargs | list) | join(', ') }}))
{%- endmacro %}

{#- A standard normal (Box–Muller) from 128 random bits (`random_bits`), one half for each uniform. -#}
{% macro normal_from_bits(bits) -%}
    (sqrt(-2 * ln({{ uniform('((' ~ bits ~ ') >> 64)::ubigint') }}))
        * cos(2 * pi() * {{ uniform('((' ~ bits ~ ') & 18446744073709551615::uhugeint)::ubigint') }}))
{%- endmacro %}

{#- A standard normal keyed by the seed and the SQL expressions in `varargs`. -#}
{% macro standard_normal(seed) -%}
    {{ normal_from_bits(random_bits(seed, *varargs)) }}
{%- endmacro %}

{#- A Gamma(shape) draw from a standard normal `z` by the Wilson–Hilferty cube (accurate to a few
    parts in a thousand for shapes of 5 and more: the Dirichlet(α·w) weights have α·w ≥ 10 at the
    default α = 100), floored at 0. -#}
{% macro gamma_draw(shape, z) -%}
    greatest(0, ({{ shape }}) * power(1 - 1 / (9 * ({{ shape }})) + ({{ z }}) * sqrt(1 / (9 * ({{ shape }}))), 3))
{%- endmacro %}
