-- depends_on: {{ ref('int_methodology') }}  (no mart is built under an invalid configuration)
-- The funnel plots of the statistical early warnings, every unit-month: a chart draws the funnel
-- from these rows without recomputing it.
select * from {{ ref('int_warning_funnels') }}
where {{ in_month_partition('month') }}
