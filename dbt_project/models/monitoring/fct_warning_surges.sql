-- depends_on: {{ ref('int_methodology') }}  (no mart is built under an invalid configuration)
-- The conduct-complaint surge statistics of every unit-month: expected count, z, CUSUM.
select * from {{ ref('int_warning_surges') }}
where {{ in_month_partition('month') }}
