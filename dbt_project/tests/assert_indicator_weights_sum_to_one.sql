{{ config(meta={'dagster': {'ref': {'name': 'int_methodology'}}}) }}
-- A failure means the indicator weights in force do not sum to 1, or an indicator's components do
-- not (int_methodology refuses such a configuration; this guards the guard).
select 'indicators' as scope, sum(weight) as weight_sum
from {{ ref('methodology_indicators') }}
having abs(sum(weight) - 1) > 1e-9
union all
select indicator, sum(component_weight)
from {{ ref('int_methodology') }}
group by indicator
having abs(sum(component_weight) - 1) > 1e-9
