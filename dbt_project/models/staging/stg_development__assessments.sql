with assessments as (
    {{ settled_rows('development') }}
),

final as (
    select
        year::integer as year,  -- integer in every mart (the raw column is a BIGINT)
        county_code,
        score,
        source_file,
        line_number
    from assessments
)

select * from final
