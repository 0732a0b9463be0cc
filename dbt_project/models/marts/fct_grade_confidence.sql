-- How sure each published grade is (methodology §7.1): a Monte Carlo over the components' sampling
-- error and the indicator weights, vectorised over draws × units × components. Every random number
-- is a hash of (seed, draw, what it is for), so the same seed gives the same results whatever the
-- number of threads.
{#- A year per statement (the model's select is the first year, a post-hook inserts the others): one
    statement over every year of a national build ran out of memory at the default limit. -#}
{{ config(post_hook=["{{ grade_confidence_other_years() }}"]) }}
{%- set years = confidence_years() %}
{{ grade_confidence(years[0] if years else none) }}
