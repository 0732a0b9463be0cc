"""12345 hotline tickets, generated inside DuckDB and streamed to one file per month.

Nothing here holds a ticket in Python: a month of any size is one `COPY` of a query over a small
plan table. Each ticket's attributes come from low-discrepancy sequences frac(i·√p + phase), so every
unit-month hits its planned rates almost exactly, and the run is deterministic without a random seed.
"""

import calendar
from pathlib import Path

import pyarrow as pa

from orchestration.contracts import HOTLINE
from orchestration.lib.duck import connect
from orchestration.sample import plan
from orchestration.sample.writer import write_export

OTHER_CATEGORIES = ["城乡建设"] * 3 + ["环境保护", "劳动社保", "劳动社保", "教育医疗", "教育医疗", "交通运输",
                                    "市场监管", "农业农村", "公共安全", "其他", "其他"]
PHRASES = {"干部作风": "工作人员推诿扯皮、态度生硬", "腐败问题": "村干部优亲厚友、截留补助资金",
           "城乡建设": "小区道路破损、路灯不亮", "环境保护": "夜间施工噪音扰民", "劳动社保": "企业拖欠工资",
           "教育医疗": "学校周边交通拥堵", "交通运输": "公交线路调整不便", "市场监管": "商家虚假宣传",
           "农业农村": "灌溉渠道堵塞", "公共安全": "路口缺少信号灯", "其他": "咨询政策办理流程"}
SURNAMES = list("王李张刘陈杨黄赵吴周徐孙马朱胡郭何罗高林")
GIVEN = list("伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华建国红梅兰志")
# 55 legacy hotlines merged into 12345 (F14): 16 national short numbers and 39 local numbers.
SHORT_LINES = ["12369", "12315", "12333", "12319", "12358", "12320", "12331", "12318", "12366",
               "12348", "12380", "12388", "12310", "12317", "12316", "12393"]
INTAKE_LINES = SHORT_LINES + [f"0833-2{k:06d}" for k in range(101, 140)]
# Fractional parts of square roots of primes: jointly equidistributed sequences.
ALPHA = {"time": 0.41421356237, "category": 0.73205080757, "rating": 0.23606797750,
         "closing": 0.64575131106, "line": 0.31662479036, "duration": 0.60555127546}


def month_plan(units: list[plan.Unit], year: int, scale: float) -> pa.Table | None:
    """Tickets and target rates per unit for each month of `year` the hotline was open."""
    rows = []
    for month, total in plan.HOTLINE_MONTHLY.items():
        if (year, month) < plan.HOTLINE_OPENED or year != 2018:
            continue
        counts = plan.largest_remainder([u.size for u in units], round(total * scale))
        for index, (unit, n) in enumerate(zip(units, counts)):
            rows.append({
                "county_code": unit.code, "unit_index": index, "month": month, "n": int(n),
                "conduct_share": plan.CONDUCT_SHARE * plan.CONDUCT_SURGES.get((unit.code, month), 1.0),
                "satisfaction": plan.SATISFACTION_DROPS.get((unit.code, month),
                                                            plan.hotline_satisfaction(unit.code, year)),
                "on_time": plan.hotline_on_time(unit.code, year),
                "closed_share": 1.0 if month <= 8 else (0.998 if month < 12 else 0.97),
                "rated_share": 0.62,
            })
    if not rows:
        return None
    table = pa.Table.from_pylist(rows)
    return table.set_column(table.schema.get_field_index("satisfaction"), "satisfaction",
                            pa.array(_calibrated_satisfaction(rows)))


def _calibrated_satisfaction(rows: list[dict]) -> list[float]:
    """Shift the window months' satisfaction so that 2018-03-01 … 08-26 makes exactly 95.8 % (F13)."""
    days = plan.F12_WINDOW_END_DAY / 31
    in_window = [(r, r["n"] * r["rated_share"] * (days if r["month"] == 8 else 1.0))
                 for r in rows if r["month"] <= 8]
    rated = sum(w for _, w in in_window)
    shift = plan.HOTLINE_SATISFACTION - sum(r["satisfaction"] * w for r, w in in_window) / rated
    return [r["satisfaction"] + shift if r["month"] <= 8 else r["satisfaction"] for r in rows]


def _month_query(year: int, month: int) -> str:
    seconds = calendar.monthrange(year, month)[1] * 86400
    u = {k: f"(i * {a} + unit_index * 0.137 + {month} * 0.071 + {j} * 0.113) % 1"
         for j, (k, a) in enumerate(ALPHA.items())}
    phrase = "case category " + " ".join(f"when '{k}' then '{v}'" for k, v in PHRASES.items()) + " end"
    return f"""
        with tickets as (
            select *, unnest(range(n)) as i from month_plan where month = {month}
        ),
        drawn as (
            select county_code, i, satisfaction, rated_share, on_time,
                make_timestamp({year}, {month}, 1, 0, 0, 0) + to_seconds(floor({u['time']} * {seconds})::bigint)
                    as received_at,
                case when {u['category']} < conduct_share * 0.7 then '干部作风'
                     when {u['category']} < conduct_share then '腐败问题'
                     else {OTHER_CATEGORIES}[1 + floor(({u['category']} - conduct_share) / (1 - conduct_share)
                          * {len(OTHER_CATEGORIES)})::int] end as category,
                {u['closing']} < closed_share as is_closed,
                {u['closing']} as u_closing, {u['rating']} as u_rating, {u['duration']} as u_duration,
                {INTAKE_LINES}[1 + floor({u['line']} * {len(INTAKE_LINES)})::int] as intake_line,
                hash(county_code, {month}, i) as h
            from tickets
        )
        select
            -- printf, not lpad: lpad cuts a number longer than 7 digits (past 10 M tickets a month)
            'LS' || strftime(received_at, '%Y%m') || printf('%07d', row_number() over (order by received_at,
                county_code, i)) as ticket_id,
            received_at,
            '1' || (3 + h % 7)::varchar || lpad(((h // 7) % 1000000000)::varchar, 9, '0') as caller_phone,
            {SURNAMES}[1 + (h % {len(SURNAMES)})::int] || {GIVEN}[1 + ((h // 101) % {len(GIVEN)})::int]
                as caller_name,
            county_code, category,
            '反映' || {phrase} || case
                when h % 211 = 0 then '，请回电' || '1' || (3 + h % 7)::varchar
                    || lpad(((h // 7) % 1000000000)::varchar, 9, '0')
                when h % 503 = 1 then '，身份证号5111' || lpad((h % 100000000000000)::varchar, 14, '0')
                else '' end as content,
            intake_line,
            received_at + interval 7 day as due_at,
            case when is_closed then received_at + to_seconds(3600 + floor(case
                when u_duration < on_time then u_duration / on_time * 6 * 86400
                else 7 * 86400 + (u_duration - on_time) / (1 - on_time) * 4 * 86400 end)::bigint) end
                as closed_at,
            case when is_closed then '办结' when u_closing > 0.999 then '退回' else '办理中' end as status,
            case when not is_closed or u_rating >= rated_share then null
                 when u_rating / rated_share < satisfaction * 0.8 then '满意'
                 when u_rating / rated_share < satisfaction then '基本满意'
                 else '不满意' end as rating
        from drawn
        order by received_at, county_code, i
    """


def _bad_rows(year: int, month: int) -> list[dict]:
    """A few broken rows per month file so that the reject path always runs."""
    good = {"received_at": f"{year}-{month:02d}-15 09:30:00", "caller_phone": "13800000000",
            "caller_name": "测试", "county_code": "511102", "category": "其他", "content": "反映咨询政策办理流程",
            "intake_line": "12345", "due_at": f"{year}-{month:02d}-22 09:30:00",
            "closed_at": f"{year}-{month:02d}-16 09:30:00", "status": "办结", "rating": "满意"}
    first_id = f"LS{year}{month:02d}0000001"
    return [
        {**good, "ticket_id": f"BAD{year}{month:02d}1", "county_code": "519999"},
        {**good, "ticket_id": f"BAD{year}{month:02d}2", "received_at": f"{year}/{month}/15 25:61"},
        {**good, "ticket_id": first_id},  # a duplicate of the month's first ticket
        {**good, "ticket_id": f"BAD{year}{month:02d}3", "closed_at": f"{year}-{month:02d}-14 09:30:00"},
    ]


def encoding_of_month(month: int) -> str:
    """Real exports differ by month: GB18030 in some, UTF-8 with BOM in others, plain UTF-8 once."""
    return "gb18030" if month % 3 == 0 else ("utf-8" if month == 11 else "utf-8-sig")


def generate(out: Path, units: list[plan.Unit], year: int, scale: float = 1.0, progress=print,
             monthly: pa.Table | None = None) -> None:
    """Write raw/hotline/<year>/12345_<year>-<MM>.csv for each month the line was open, or of the
    given month plan (sample/monitoring.py), without the report's broken rows."""
    report = monthly is None
    monthly = month_plan(units, year, scale) if report else monthly
    if monthly is None:
        return
    con = connect()
    con.register("month_plan", monthly)
    months = sorted({m for (m,) in con.execute("select distinct month from month_plan").fetchall()})
    for month in months:
        path = out / "hotline" / str(year) / f"12345_{year}-{month:02d}.csv"
        bad = _bad_rows(year, month) if report and month in (4, 7, 10) else None
        tickets = write_export(con, HOTLINE, _month_query(year, month), path, encoding_of_month(month), bad)
        progress(f"hotline {year}-{month:02d}: {tickets} tickets → {path}")
    con.close()
