with tickets as (
    {{ settled_rows('hotline') }}
),

final as (
    select
        ticket_id,
        partition_year as year,
        received_at,
        received_at::date as received_on,
        date_trunc('month', received_at)::date as received_month,
        county_code,
        category,
        {{ enum_code('hotline_category', 'category') }} as category_code,
        category in {{ "('" ~ var('conduct_complaint_categories') | join("', '") ~ "')" }} as is_conduct_complaint,
        content,
        intake_line,
        due_at,
        closed_at,
        status,
        {{ enum_code('hotline_status', 'status') }} as status_code,
        status = '办结' and closed_at is not null as is_closed,
        status = '办结' and closed_at is not null and closed_at <= due_at as is_closed_on_time,
        rating,
        {{ enum_code('hotline_rating', 'rating') }} as rating_code,
        rating is not null as is_rated,
        coalesce(rating in ('满意', '基本满意'), false) as is_satisfied,
        caller_key,
        source_file,
        line_number,
        loaded_at
    from tickets
)

select * from final
