{#- Fails with each configured unit that has no row in a year the model holds (within the partition):
    a unit silently absent would drop out of the ranking. -#}
{% test every_unit_has_a_row(model) %}
with years as (
    select distinct year from {{ model }} where {{ in_partition('year') }}
)

select years.year, units.county_code
from years
cross join {{ ref('units') }} as units
where not exists (
    select 1 from {{ model }} as rows
    where rows.year = years.year and rows.county_code = units.county_code
)
{% endtest %}
