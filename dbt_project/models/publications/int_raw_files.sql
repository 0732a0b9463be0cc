{{ config(materialized='view', schema='intermediate') }}
-- Per year, the raw files loaded now, every source: path, size, SHA-256, load id, rows loaded and
-- rejected; and one digest of them all, which changes when any file is re-delivered. (raw.load_files
-- is written by every ingestion asset, so it is read here directly, not as a dbt source of one.)
select
    partition_year as year,
    md5(string_agg(source_file || ':' || coalesce(file_sha256, ''), ',' order by source_file)) as raw_files_digest,
    list(struct_pack(source, path := source_file, bytes := file_bytes, sha256 := file_sha256, load_id,
                     rows_loaded, rows_rejected) order by source_file) as raw_files
from raw.load_files
group by all
