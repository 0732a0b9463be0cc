-- depends_on: {{ ref('int_methodology') }}  (no mart is built under an invalid configuration)
-- One row per early-warning alert under the methodology version in force: unit, month, signal,
-- severity (黄/橙/红), observation point, evidence, and the first month of its run of alerts.
-- Taken from the alerts of every version, built just before, rather than computed a second time.
select * from {{ ref('fct_early_warnings_all_versions') }}
where methodology_version = {{ methodology_version_of('year(month)') }} and {{ in_month_partition('month') }}
