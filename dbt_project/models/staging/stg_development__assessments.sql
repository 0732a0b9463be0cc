with assessments as (
    select * from {{ source('raw', 'development') }}
),

final as (
    select
        year,
        county_code,
        score,
        source_file,
        line_number
    from assessments
)

select * from final
