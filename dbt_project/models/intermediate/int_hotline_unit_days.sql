{{ config(materialized='incremental', incremental_strategy='append', on_schema_change='fail',
          pre_hook="{{ clear_reloaded_months('stg_hotline__tickets', 'received_month') }}") }}
-- 12345 tickets per unit and day of receipt: the one pass over the tickets that the hotline marts
-- and components share. A run rebuilds only the months whose tickets were loaded
-- since the last one (the pre-hook drops them), so an appended month costs that month.
with tickets as (
    select * from {{ ref('stg_hotline__tickets') }}
    where {{ in_partition('year') }}
    {% if is_incremental() -%}
        and received_month not in (select received_month from {{ this }} where {{ in_partition('year') }})
    {%- endif %}
),

final as (
    select
        year,
        received_month,
        received_on,
        county_code,
        count(*) as tickets_received,
        count(*) filter (where is_closed) as tickets_closed,
        count(*) filter (where is_closed_on_time) as tickets_closed_on_time,
        count(*) filter (where is_rated) as tickets_rated,
        count(*) filter (where is_satisfied) as tickets_satisfied,
        count(*) filter (where is_conduct_complaint) as conduct_complaints,
        max(loaded_at) as loaded_through
    from tickets
    group by all
)

select * from final
