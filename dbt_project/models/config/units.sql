-- The configured units: the file named by JINGTU_UNITS, which the loader reads too, so that a province
-- is one longer file and no code change. By default the project's seeds/units.csv (for dbt run by hand
-- from dbt_project/); `jingtu` and Dagster's steps give the path in full (orchestration/dbt.py).
select county_code, county_name, unit_type
from read_csv('{{ env_var("JINGTU_UNITS", "seeds/units.csv") }}', header = true, all_varchar = true)
