-- The grades as first published, append-only: a year's evaluation is recorded the first time it is
-- built, with the publication time and the raw files it came from. A later build of the year never
-- changes these rows: a re-delivery of its files is a restatement (fct_restatements), kept beside them.
with evaluation as (
    select * from {{ ref('fct_county_evaluation') }} where {{ in_partition('year') }}
),

files as (
    select * from {{ ref('int_raw_files') }}
)

select evaluation.*, files.raw_files_digest, files.raw_files, now()::timestamp as published_at
from evaluation
left join files using (year)
{% if is_incremental() %}
where evaluation.year not in (select year from {{ this }})
{% endif %}
