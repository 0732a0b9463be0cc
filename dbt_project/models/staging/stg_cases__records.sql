with records as (
    {{ settled_rows('cases') }}
),

final as (
    select
        record_id,
        partition_year as year,
        county_code,
        subject_id,
        subject_rank,
        {{ enum_code('subject_rank', 'subject_rank') }} as subject_rank_code,
        is_top_leader,
        category,
        {{ enum_code('case_category', 'category') }} as category_code,
        last_misconduct_on,
        filed_on,
        handled_on,
        form,
        outcome,
        {{ enum_code('case_outcome', 'outcome') }} as outcome_code,
        detained as is_detained,
        filed_on is not null as is_filed,
        handled_on is not null as is_handled,
        filed_on is not null
            and last_misconduct_on >= date '{{ var("new_occurrence_cutoff") }}' as is_new_occurrence,
        coalesce(outcome in ('党纪处分', '政务处分'), false) as is_punished,
        -- 一票否决 trigger: a county-rank top leader detained, the case filed (methodology §6)
        is_top_leader and subject_rank = '县处级' and detained and filed_on is not null as is_veto_trigger,
        source_file,
        line_number
    from records
)

select * from final
