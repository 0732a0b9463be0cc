"""What a published grade came from, in one query: its methodology version, the raw files of its year
as published (path, size, SHA-256, load id) and the rows rejected from them (line and reason; the
record itself is masked at load). Runs on the warehouse, which holds the raw layer.

A file re-delivered since publication was reloaded under a new load id: the rows rejected from the
published version of it went with that load, and the query shows none for it (fct_restatements
names it)."""

AUDIT_SQL = """
with publication as (
    select year, county_code, grade, composite, methodology_version, published_at, unnest(raw_files) as file
    from marts.fct_county_evaluation_published
    where year = $year and county_code = $county
)
select
    publication.year, publication.county_code, publication.grade, publication.composite,
    publication.methodology_version, publication.published_at,
    publication.file.source, publication.file.path, publication.file.bytes, publication.file.sha256,
    publication.file.load_id, publication.file.rows_loaded, publication.file.rows_rejected,
    list(struct_pack(line := rejects.line_number, reason := rejects.reason) order by rejects.line_number)
        filter (where rejects.line_number is not null) as rejected_rows
from publication
left join raw.rejects as rejects
    on rejects.source_file = publication.file.path and rejects.load_id = publication.file.load_id
group by all
order by publication.file.path
"""
