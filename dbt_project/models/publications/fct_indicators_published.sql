-- The indicators behind the published grades, append-only like fct_county_evaluation_published: a
-- restatement's change of composite is attributed to them.
with indicators as (
    select * from {{ ref('fct_indicators') }} where {{ in_partition('year') }}
)

select indicators.*, now()::timestamp as published_at
from indicators
{% if is_incremental() %}
where indicators.year not in (select year from {{ this }})
{% endif %}
