-- depends_on: {{ ref('int_methodology') }}  (no mart is built under an invalid configuration)
-- The monthly monitoring mart (监土): one row per configured unit and month. has_*_data tell a month
-- without data from a quiet month (a month without tickets has null rates, not zeros).
select * from {{ ref('int_monitoring_unit_months') }}
where {{ in_month_partition('month') }}
