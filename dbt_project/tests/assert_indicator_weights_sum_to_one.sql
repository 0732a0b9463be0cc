{{ config(meta={'dagster': {'ref': {'name': 'int_methodology'}}}) }}
-- A failure means a methodology version's indicator weights do not sum to 1, or an indicator's
-- components do not (int_methodology refuses such a configuration; this guards the guard).
select methodology_version, 'indicators' as scope, sum(weight) as weight_sum
from {{ ref('methodology_indicators') }}
group by methodology_version
having abs(sum(weight) - 1) > 1e-9
union all
select methodology_version, indicator, sum(component_weight)
from {{ ref('int_methodology') }}
group by all
having abs(sum(component_weight) - 1) > 1e-9
