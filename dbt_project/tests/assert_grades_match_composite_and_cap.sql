{{ config(meta={'dagster': {'ref': {'name': 'fct_county_evaluation'}}}) }}
-- A failure means a unit-year's grade does not follow from its composite, the grade thresholds and
-- the veto cap, or a consequence does not belong to its grade. Returns the offending rows.
with evaluation as (
    select * from {{ ref('fct_county_evaluation') }}
),

grades as (
    select * from {{ ref('methodology_grades') }}
),

expected as (
    select
        evaluation.year,
        evaluation.county_code,
        evaluation.grade,
        evaluation.consequence,
        evaluation.is_veto_cap_applied,
        evaluation.methodology_version,
        (select grade from grades
         where grades.methodology_version = evaluation.methodology_version and evaluation.composite >= min_composite
         order by min_composite desc limit 1) as threshold_grade
    from evaluation
)

select expected.*, grades.consequence as grade_consequence
from expected
left join grades on grades.methodology_version = expected.methodology_version and grades.grade = expected.grade
where (threshold_grade is null and expected.grade <> '未评定')
    or (threshold_grade is not null and not is_veto_cap_applied and expected.grade <> threshold_grade)
    or (is_veto_cap_applied and expected.grade <> '{{ var("veto_cap_grade") }}')
    or expected.consequence is distinct from grades.consequence
