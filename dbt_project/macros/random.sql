{#- Random numbers as pure functions of their keys, so that a seed gives the same draws whatever the
    number of threads or the order rows are processed in (grade confidence, methodology §7.1).
    Keys come from MD5: DuckDB's hash() of keys that differ in one argument is correlated enough
    to skew a Box–Muller normal (skewness −0.4 over 200,000 draws; MD5's: 0.00). Per draw, a key's
    words are stepped and mixed (normal_from_key: skewness 0.00, excess kurtosis −0.03 over 200,000
    draws of 100 keys; correlation between keys in a draw and between draws of a key below 0.002). -#}

{#- A uniform in (0, 1) from 53 bits of a 64-bit unsigned integer. -#}
{% macro uniform(bits) -%}
    ((({{ bits }}) >> 11)::double + 0.5) / 9007199254740992
{%- endmacro %}

{#- The 128 random bits of the seed and the SQL expressions in `varargs`. -#}
{% macro random_bits(seed) -%}
    md5_number(concat_ws(':', {{ ([seed] + varargs | list) | join(', ') }}))
{%- endmacro %}

{#- A standard normal from two independent uniforms in (0, 1) (Box–Muller). -#}
{% macro box_muller(u1, u2) -%}
    (sqrt(-2 * ln({{ u1 }})) * cos(2 * pi() * {{ u2 }}))
{%- endmacro %}

{#- A standard normal from 128 random bits (`random_bits`), one half for each uniform. -#}
{% macro normal_from_bits(bits) -%}
    {{ box_muller(uniform('((' ~ bits ~ ') >> 64)::ubigint'),
                  uniform('((' ~ bits ~ ') & 18446744073709551615::uhugeint)::ubigint')) }}
{%- endmacro %}

{#- A uniform in (0, 1) from a 32-bit integer. -#}
{% macro uniform32(bits) -%}
    (({{ bits }})::double + 0.5) / 4294967296
{%- endmacro %}

{#- MurmurHash3's 32-bit finaliser: every input bit moves about half the output bits. -#}
{% macro mix32(x) -%}
    {%- set z = '(' ~ x ~ ')' -%}
    {%- set z = '((xor(' ~ z ~ ', ' ~ z ~ ' >> 16) * 2246822507::ubigint) & 4294967295)' -%}
    {%- set z = '((xor(' ~ z ~ ', ' ~ z ~ ' >> 13) * 3266489909::ubigint) & 4294967295)' -%}
    xor({{ z }}, {{ z }} >> 16)
{%- endmacro %}

{#- A standard normal (Box–Muller) from a `random_bits` key and a counter (the draw): two 32-bit words
    of the key, each stepped by the counter times the golden ratio and mixed, make the two uniforms.
    One MD5 per key, then a few integer operations per draw, where an MD5 per draw cost most of the
    grade confidence's time. -#}
{% macro normal_from_key(key, counter) -%}
    {%- set step = '(' ~ counter ~ ')::ubigint * 2654435769::ubigint' -%}
    {%- set word1 = '(((' ~ key ~ ') & 4294967295::uhugeint)::ubigint + ' ~ step ~ ') & 4294967295' -%}
    {%- set word2 = '(((' ~ key ~ ') >> 32 & 4294967295::uhugeint)::ubigint + ' ~ step ~ ') & 4294967295' -%}
    {{ box_muller(uniform32(mix32(word1)), uniform32(mix32(word2))) }}
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
