-- depends_on: {{ ref('int_methodology') }}  (no mart is built under an invalid configuration)
-- One row per early-warning alert: unit, month, signal, observed value, threshold, severity
-- (黄/橙/红), observation point and the first month of its run of consecutive alerts.
select * from {{ ref('int_warning_alerts') }}
where {{ in_month_partition('month') }}
