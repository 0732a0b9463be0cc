-- An independent, plain implementation of the methodology for one year, straight from the raw
-- files: no loader, no dbt. The test fills in {raw}, {year} and {units}. It handles only UTF-8
-- CSV and .xlsx (pick a year whose files are such). Rules re-implemented here on purpose:
-- rejected rows (bad county, bad date, out-of-year, duplicates, weight <= 0) count nowhere.

create or replace temp table units as
select county_code from read_csv('{units}', all_varchar = true);

create or replace temp table development as
with rows as (
    select row_number() over () as line, "年度"::varchar as y, "区县代码"::varchar as county_code,
        "考评得分"::varchar as score
    from read_xlsx('{raw}/development/{year}/kaoping_{year}.xlsx', all_varchar = true)
),
valid as (
    select * from rows
    where county_code in (select county_code from units)
      and try_cast(score as double) between 0 and 100 and try_cast(y as double) = {year}
)
select county_code, any_value(try_cast(score as double) order by line) as dev_assessment
from valid group by county_code;

create or replace temp table surveys as
with rows as (
    select row_number() over () as line, * from read_csv('{raw}/surveys/{year}/cepings_{year}.csv', all_varchar = true)
),
valid as (
    select * from rows
    where "区县代码" in (select county_code from units) and "测评年度" = '{year}'
      and coalesce(try_cast("权重" as double), 1) > 0
      and "评价" in ('满意', '比较满意', '一般', '不满意', '好', '较好', '差', '不了解')
    qualify row_number() over (partition by "问卷编号" order by line) = 1
),
scored as (
    select "区县代码" as county_code, "测评类型" as survey_type, coalesce(try_cast("权重" as double), 1) as w,
        case "评价" when '满意' then 100 when '好' then 100 when '比较满意' then 80 when '较好' then 80
                    when '一般' then 60 when '不满意' then 0 when '差' then 0 end as points
    from valid
)
select county_code, survey_type, sum(w * points) / sum(w) as score
from scored where points is not null group by all;

create or replace temp table cases as
with rows as (
    select row_number() over () as line, * from read_csv('{raw}/cases/{year}/cases_{year}.csv', all_varchar = true)
),
valid as (
    select *, try_cast("立案时间" as date) as filed_on from rows
    where "区县代码" in (select county_code || '' from units union select '511100')
      and try_cast("最后违纪时间" as date) is not null
      and ("立案时间" is null or try_cast("立案时间" as date) is not null)
      and ("处置时间" is null or try_cast("处置时间" as date) is not null)
      and coalesce("立案时间", "处置时间") is not null
      and year(coalesce(try_cast("立案时间" as date), try_cast("处置时间" as date))) = {year}
      and (("处置时间" is null) = ("处置形态" is null)) and (("处置时间" is null) = ("处理结果" is null))
    qualify row_number() over (partition by "记录编号" order by line) = 1
)
select "区县代码" as county_code,
    100 * (1 - avg(case when try_cast("最后违纪时间" as date) >= date '2012-11-08' then 1 else 0 end))
        as discipline_new_occurrence,
    bool_or("是否一把手" = '是' and "职级" = '县处级' and "是否留置" = '是') as veto
from valid where filed_on is not null and "区县代码" <> '511100' group by all;

create or replace temp table inspections as
with rows as (
    select row_number() over () as line, * from read_csv('{raw}/inspections/{year}/xuncha_{year}.csv', all_varchar = true)
),
valid as (
    select * from rows
    where "区县代码" in (select county_code from units)
      and try_cast("结束日期" as date) is not null and year(try_cast("结束日期" as date)) = {year}
      and try_cast("结束日期" as date) >= try_cast("开始日期" as date)
      and try_cast("已整改数" as int) <= try_cast("发现问题数" as int)
    qualify row_number() over (partition by "巡察编号" order by line) = 1
)
select "区县代码" as county_code,
    100.0 * sum(try_cast("已整改数" as int)) / sum(try_cast("发现问题数" as int)) as inspection_rectification
from valid group by all;

create or replace temp table evaluation as
with indicators as (
    select units.county_code,
        development.dev_assessment as development,
        (0.6 * cg.score + 0.2 * cases.discipline_new_occurrence + 0.2 * inspections.inspection_rectification)
            as clean_governance,
        gc.score as government_conduct,  -- no hotline before March 2018: the survey alone
        cs.score as cadre_selection,
        ps.score as public_safety,
        cm.score as committee_evaluation,
        coalesce(cases.veto, false) as veto
    from units
    left join development using (county_code)
    left join cases using (county_code)
    left join inspections using (county_code)
    left join surveys cg on cg.county_code = units.county_code and cg.survey_type = '党风廉政建设满意度'
    left join surveys gc on gc.county_code = units.county_code and gc.survey_type = '政风满意度'
    left join surveys cs on cs.county_code = units.county_code and cs.survey_type = '选人用人评议'
    left join surveys ps on ps.county_code = units.county_code and ps.survey_type = '平安建设群众满意度'
    left join surveys cm on cm.county_code = units.county_code and cm.survey_type = '市委委员综合评价'
),
composite as (
    select *, 0.20 * development + 0.25 * clean_governance + 0.15 * government_conduct
        + 0.15 * cadre_selection + 0.10 * public_safety + 0.15 * committee_evaluation as composite
    from indicators
)
select county_code, development, clean_governance, government_conduct, cadre_selection, public_safety,
    committee_evaluation, composite,
    case when composite >= 90 and not veto then '好' when composite >= 80 and not veto then '较好'
         when composite >= 70 then '一般' else '差' end as grade,
    rank() over (order by composite desc) as rank
from composite;
