-- Each unit-year whose grade or composite changed when the year's raw files were re-delivered: the
-- published and restated values side by side, the change attributed to the indicators
-- (Δcomposite = Σ_k w′_k v′_k − w_k v_k, in indicator_changes) and the files that changed.
-- Append-only: one set of rows per state of the year's files (raw_files_digest), so a re-run with
-- nothing new adds nothing.
with published as (
    select * from {{ ref('fct_county_evaluation_published') }} where {{ in_partition('year') }}
),

current as (
    select * from {{ ref('fct_county_evaluation') }} where {{ in_partition('year') }}
),

files as (
    select * from {{ ref('int_raw_files') }} where {{ in_partition('year') }}
),

files_now as (
    select year, file.path, file.sha256 from (select year, unnest(raw_files) as file from files)
),

files_published as (
    select distinct year, file.path, file.sha256
    from (select year, unnest(raw_files) as file from published)
),

changed_files as (
    -- re-delivered with other content, new, or gone
    select coalesce(now_.year, then_.year) as year,
        list(coalesce(now_.path, then_.path) order by coalesce(now_.path, then_.path)) as changed_files
    from files_now as now_
    full outer join files_published as then_ on now_.year = then_.year and now_.path = then_.path
    where now_.sha256 is distinct from then_.sha256
    group by all
),

indicator_changes as (
    select current_.year, current_.county_code,
        list(struct_pack(indicator := current_.indicator, published_value := then_.value,
                         restated_value := current_.value,
                         contribution := current_.indicator_weight * current_.value - then_.indicator_weight * then_.value)
             order by current_.indicator_order) as indicator_changes
    from {{ ref('fct_indicators') }} as current_
    inner join {{ ref('fct_indicators_published') }} as then_ using (year, county_code, indicator)
    where {{ in_partition('current_.year') }}
    group by all
),

restated as (
    select
        current.year,
        current.county_code,
        published.grade as published_grade,
        current.grade as restated_grade,
        published.composite as published_composite,
        current.composite as restated_composite,
        current.composite - published.composite as composite_change,
        indicator_changes.indicator_changes,
        changed_files.changed_files,
        published.methodology_version as published_methodology_version,
        current.methodology_version as restated_methodology_version,
        published.published_at,
        now()::timestamp as restated_at,
        files.raw_files_digest
    from current
    inner join published using (year, county_code)
    inner join files using (year)
    left join changed_files using (year)
    left join indicator_changes using (year, county_code)
    where files.raw_files_digest is distinct from published.raw_files_digest
        and (current.composite is distinct from published.composite or current.grade <> published.grade)
)

select * from restated
{% if is_incremental() %}
where (year, raw_files_digest) not in (select (year, raw_files_digest) from {{ this }})
{% endif %}
