with inspections as (
    {{ settled_rows('inspections') }}
),

final as (
    select
        inspection_id,
        partition_year as year,
        round,
        inspection_type,
        {{ enum_code('inspection_type', 'inspection_type') }} as inspection_type_code,
        county_code,
        unit_name,
        unit_type,
        {{ enum_code('inspection_unit_type', 'unit_type') }} as unit_type_code,
        started_on,
        ended_on,
        problems_found,
        clues_transferred,
        problems_rectified,
        rectification_due_on,
        source_file,
        line_number
    from inspections
)

select * from final
