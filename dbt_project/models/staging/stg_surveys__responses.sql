with responses as (
    {{ settled_rows('surveys') }}
),

points as (
    select * from {{ ref('survey_points') }}
),

final as (
    select
        responses.response_id,
        responses.survey_year::integer as year,  -- integer in every mart (the raw column is a BIGINT)
        responses.survey_type,
        responses.county_code,
        responses.respondent_type,
        {{ enum_code('respondent_type', 'responses.respondent_type') }} as respondent_type_code,
        responses.answer,
        points.points,
        points.points is not null as is_valid_answer,  -- 不了解 (don't know) carries no points
        responses.weight,
        responses.source_file,
        responses.line_number
    from responses
    left join points on responses.answer = points.answer
        and points.methodology_version = {{ methodology_version_of('responses.survey_year') }}
)

select * from final
