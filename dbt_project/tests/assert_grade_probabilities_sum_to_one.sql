{{ config(meta={'dagster': {'ref': {'name': 'fct_grade_confidence'}}}) }}
-- A failure means a unit-year's grade probabilities do not sum to 1, its published grade's
-- probability is not the one of its four, or a graded unit-year has no confidence row.
with confidence as (
    select * from {{ ref('fct_grade_confidence') }} where {{ in_partition('year') }}
),

evaluation as (
    select * from {{ ref('fct_county_evaluation') }} where is_graded and {{ in_partition('year') }}
),

final as (
    select evaluation.year, evaluation.county_code, confidence.p_good, confidence.p_fairly_good,
        confidence.p_average, confidence.p_poor, confidence.p_published_grade
    from evaluation
    left join confidence on evaluation.year = confidence.year and evaluation.county_code = confidence.county_code
    where confidence.county_code is null
        or abs(confidence.p_good + confidence.p_fairly_good + confidence.p_average + confidence.p_poor - 1) > 1e-9
        or confidence.p_published_grade is distinct from case evaluation.grade
            when '好' then confidence.p_good when '较好' then confidence.p_fairly_good
            when '一般' then confidence.p_average when '差' then confidence.p_poor end
)

select * from final
