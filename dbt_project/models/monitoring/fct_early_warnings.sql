-- depends_on: {{ ref('int_methodology') }}  (no mart is built under an invalid configuration)
-- One row per early-warning alert under the methodology version in force: unit, month, signal,
-- severity (黄/橙/红), observation point, evidence, and the first month of its run of alerts.
select * from {{ ref('int_warning_alerts') }}
where methodology_version = {{ methodology_version_of('year(month)') }} and {{ in_month_partition('month') }}
