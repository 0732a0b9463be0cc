"""The raw source contracts (../shared/spec/raw-contracts.md), declared once.

The loader builds its SQL from these, the expectation suites and the docs read them too: a header,
type or enum is typed here and nowhere else.
"""

from dataclasses import dataclass, field

MUNICIPAL_CODE = "511100"  # 乐山市本级: valid in cases and inspections only, never graded
# Where each loaded row came from: appended to every raw table after the contract's columns
# (name: SQL definition; a file's name and its load's id are the same on all of its rows).
LINEAGE_COLUMNS = {"source_file": "varchar using compression dictionary", "line_number": "bigint",
                   "load_id": "varchar using compression dictionary", "loaded_at": "timestamp"}

# How a text value from a file becomes a typed value: (SQL guard, SQL cast). The guards keep the
# formats strict — '2018-2-3' is not a date, '12.5' not an integer — and are cheaper than regexes
# on the hot path (timestamps, ten million per hotline year).
PARSERS = {
    "text": (None, "{v}"),
    "timestamp": ("length({v}) = 19 and {v}[11] = ' '", "try_cast({v} as timestamp)"),
    "date": ("length({v}) = 10", "try_cast({v} as date)"),
    "integer": ("regexp_full_match({v}, '-?[0-9]{{1,18}}')", "try_cast({v} as bigint)"),
    "decimal": ("regexp_full_match({v}, '-?[0-9]+([.][0-9]+)?')", "try_cast({v} as double)"),
}
SQL_TYPES = {"text": "varchar", "timestamp": "timestamp", "date": "date", "integer": "bigint",
             "decimal": "double"}
TYPE_HINTS = {"timestamp": "a YYYY-MM-DD HH:MM:SS timestamp", "date": "a YYYY-MM-DD date",
              "integer": "an integer", "decimal": "a number"}


@dataclass(frozen=True)
class Column:
    header: str  # the Chinese header the source system exports
    name: str  # the canonical English name in the warehouse
    type: str = "text"  # a key of PARSERS
    required: bool = True  # an empty value is a rejected row
    values: tuple[str, ...] | None = None  # allowed values (enum)
    codes: dict[str, object] | None = None  # enum stored as a code: label -> stored value
    minimum: float | None = None
    maximum: float | None = None
    above: float | None = None  # strict lower bound (weight > 0)
    default: str | None = None  # stands in for an empty value
    county: bool = False  # must be a configured unit (or 511100 where the source allows it)
    pii: str | None = None  # 'hash' (stored as <name> hashed), 'drop' or 'mask'
    stored_as: str | None = None  # warehouse name when it differs (hashed PII)
    past: bool = False  # an event that has happened: never after the time it is loaded (a due date may be)

    @property
    def allowed(self) -> tuple[str, ...] | None:
        return tuple(self.codes) if self.codes else self.values

    @property
    def warehouse_name(self) -> str:
        return self.stored_as or self.name

    @property
    def sql_type(self) -> str:
        if self.codes:
            sample = next(iter(self.codes.values()))
            return "boolean" if isinstance(sample, bool) else "integer"
        return SQL_TYPES[self.type]

    def label(self) -> str:
        return f"{self.header} ({self.name})"


@dataclass(frozen=True)
class RowRule:
    description: str  # the reason recorded for a rejected row
    violated: str  # SQL over the typed canonical columns, true when the row breaks the rule


@dataclass(frozen=True)
class SourceContract:
    name: str
    title: str
    columns: tuple[Column, ...]
    key: tuple[str, ...]  # unique within a year partition; the first occurrence wins
    year_expression: str  # SQL: the year a row belongs to, which must be the folder year
    formats: tuple[str, ...] = ("csv",)
    allow_municipal: bool = False
    row_rules: tuple[RowRule, ...] = field(default_factory=tuple)
    # The quality gate: a file rejecting a larger share of its rows blocks the year's evaluation.
    # Small sources allow more, because one or two bad rows are a large share of a dozen.
    max_reject_rate: float = 0.02

    def column(self, name: str) -> Column:
        return next(c for c in self.columns if c.name == name)

    @property
    def stored_columns(self) -> tuple[Column, ...]:
        return tuple(c for c in self.columns if c.pii != "drop")

    @property
    def table(self) -> str:
        return f"raw.{self.name}"

    def compression(self, column: Column) -> str:
        """SQL telling DuckDB how to store the column where its kind of values decides it (told, DuckDB
        does not try every method on each segment it writes); empty where DuckDB is left to choose."""
        if column.sql_type != "varchar":
            return ""
        if self.is_row_id(column) or column.pii == "hash":  # distinct on every row; a hex digest per caller
            return " using compression fsst"
        if column.allowed or column.county:  # a few distinct values
            return " using compression dictionary"
        return ""

    def is_row_id(self, column: Column) -> bool:
        """The source system's id of a row (a one-column key, such as the ticket number): distinct on
        every row, assigned rather than typed, and no one's personal data."""
        return self.key == (column.name,)

    def typed_by_hand(self, column: Column) -> bool:
        """Text typed by hand that is no one's personal data (a legacy hotline's number, a pseudonymous
        person id, a unit's name): an ID card, bank card or mobile number in it is a rejected row. Not a
        row id, nor a value from a list, nor the personal data the loader hashes or masks."""
        return (column.type == "text" and not (column.allowed or column.county or column.pii)
                and not self.is_row_id(column))

    def definition(self, column: Column) -> str:
        """The column's SQL definition in the source's table."""
        return f"{column.warehouse_name} {column.sql_type}{self.compression(column)}"

    @property
    def key_label(self) -> str:
        return " + ".join(self.column(k).label() for k in self.key)


HOTLINE_CATEGORIES = ("城乡建设", "环境保护", "劳动社保", "教育医疗", "交通运输", "市场监管",
                      "农业农村", "公共安全", "干部作风", "腐败问题", "其他")
CASE_CATEGORIES = ("违反中央八项规定精神", "扶贫领域腐败和作风问题", "违反政治纪律",
                   "两个责任落实不力", "其他违纪")
CASE_OUTCOMES = ("谈话函询", "批评教育", "党纪处分", "政务处分", "问责", "组织处理", "移送司法", "了结澄清")
SURVEY_TYPES = ("党风廉政建设满意度", "政风满意度", "选人用人评议", "平安建设群众满意度", "市委委员综合评价")
SURVEY_ANSWERS = ("满意", "比较满意", "一般", "不满意", "好", "较好", "差", "不了解")
YES_NO = {"是": True, "否": False}

HOTLINE = SourceContract(
    name="hotline",
    title="12345 心连心服务热线工单",
    columns=(
        Column("工单编号", "ticket_id"),
        Column("受理时间", "received_at", "timestamp", past=True),
        Column("来电号码", "caller_phone", required=False, pii="hash", stored_as="caller_key"),
        Column("来电人", "caller_name", required=False, pii="drop"),
        Column("区县代码", "county_code", county=True),
        Column("诉求类别", "category", values=HOTLINE_CATEGORIES),
        Column("诉求内容", "content", required=False, pii="mask"),
        Column("原热线", "intake_line"),
        Column("办结时限", "due_at", "timestamp"),
        Column("办结时间", "closed_at", "timestamp", required=False, past=True),
        Column("办理状态", "status", values=("办结", "办理中", "退回")),
        Column("满意度评价", "rating", required=False, values=("满意", "基本满意", "不满意")),
    ),
    key=("ticket_id",),
    year_expression="year(received_at)",
    row_rules=(RowRule("办结时间 (closed_at) is before 受理时间 (received_at)", "closed_at < received_at"),),
)

CASES = SourceContract(
    name="cases",
    title="监督执纪记录",
    columns=(
        Column("记录编号", "record_id"),
        Column("区县代码", "county_code", county=True),
        Column("被审查人编号", "subject_id"),
        Column("职级", "subject_rank", values=("县处级", "乡科级", "一般干部", "其他")),
        Column("是否一把手", "is_top_leader", codes=YES_NO),
        Column("问题类别", "category", values=CASE_CATEGORIES),
        Column("最后违纪时间", "last_misconduct_on", "date", past=True),
        Column("立案时间", "filed_on", "date", required=False, past=True),
        Column("处置时间", "handled_on", "date", required=False, past=True),
        Column("处置形态", "form", required=False,
               codes={"第一种形态": 1, "第二种形态": 2, "第三种形态": 3, "第四种形态": 4}),
        Column("处理结果", "outcome", required=False, values=CASE_OUTCOMES),
        Column("是否留置", "detained", codes=YES_NO),
    ),
    key=("record_id",),
    year_expression="year(coalesce(filed_on, handled_on))",
    allow_municipal=True,
    row_rules=(
        RowRule("立案时间 (filed_on) and 处置时间 (handled_on) are both empty",
                "filed_on is null and handled_on is null"),
        RowRule("处置形态 (form) and 处理结果 (outcome) must be empty exactly when 处置时间 (handled_on) is empty",
                "(form is null) <> (handled_on is null) or (outcome is null) <> (handled_on is null)"),
    ),
)

INSPECTIONS = SourceContract(
    name="inspections",
    title="巡察 / 政治体检",
    columns=(
        Column("巡察编号", "inspection_id"),
        Column("轮次", "round"),
        Column("类型", "inspection_type", values=("常规巡察", "专项巡察", "政治体检")),
        Column("区县代码", "county_code", county=True),
        Column("被巡察单位", "unit_name"),
        Column("单位类型", "unit_type", values=("县(市、区)党委", "市级部门", "县级部门", "基层党组织")),
        Column("开始日期", "started_on", "date", past=True),
        Column("结束日期", "ended_on", "date", past=True),
        Column("发现问题数", "problems_found", "integer", minimum=0),
        Column("移交线索数", "clues_transferred", "integer", minimum=0),
        Column("已整改数", "problems_rectified", "integer", minimum=0),
        Column("整改期限", "rectification_due_on", "date"),
    ),
    key=("inspection_id",),
    year_expression="year(ended_on)",
    formats=("csv", "xlsx"),
    allow_municipal=True,
    max_reject_rate=0.10,
    row_rules=(
        RowRule("结束日期 (ended_on) is before 开始日期 (started_on)", "ended_on < started_on"),
        RowRule("已整改数 (problems_rectified) exceeds 发现问题数 (problems_found)",
                "problems_rectified > problems_found"),
    ),
)

SURVEYS = SourceContract(
    name="surveys",
    title="满意度测评",
    columns=(
        Column("问卷编号", "response_id"),
        Column("测评年度", "survey_year", "integer"),
        Column("测评类型", "survey_type", values=SURVEY_TYPES),
        Column("区县代码", "county_code", county=True),
        Column("受访者类型", "respondent_type", values=("群众", "党员干部", "市委委员")),
        Column("评价", "answer", values=SURVEY_ANSWERS),
        Column("权重", "weight", "decimal", above=0, default="1"),
    ),
    key=("response_id",),
    year_expression="survey_year",
)

DEVELOPMENT = SourceContract(
    name="development",
    title="经济社会发展考评",
    columns=(
        Column("年度", "year", "integer"),
        Column("区县代码", "county_code", county=True),
        Column("考评得分", "score", "decimal", minimum=0, maximum=100),
    ),
    key=("year", "county_code"),
    year_expression="year",
    formats=("csv", "xlsx"),
    max_reject_rate=0.25,
)

SOURCES: dict[str, SourceContract] = {
    c.name: c for c in (HOTLINE, CASES, INSPECTIONS, SURVEYS, DEVELOPMENT)
}
