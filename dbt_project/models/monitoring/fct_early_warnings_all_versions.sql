-- depends_on: {{ ref('int_methodology') }}  (no mart is built under an invalid configuration)
-- The alerts every methodology version's rules raise, in force or not: to compare rule sets
-- (`jingtu alerts --rules 2018.1`). What people act on is fct_early_warnings.
select * from {{ ref('int_warning_alerts') }}
where {{ in_month_partition('month') }}
