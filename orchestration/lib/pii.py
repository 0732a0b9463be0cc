"""Personal data: how it is found, masked and hashed. One place for the patterns, which the loader
(in SQL), the quality gate (in SQL) and every error message the product writes (in Python) share.

The patterns are written in the common subset of RE2 (DuckDB) and Python's `re`.
"""

import re
from collections.abc import Iterator
from contextlib import contextmanager

import duckdb

_DIGIT = "[0-9０-９]"
# What people put inside a number: spaces (ideographic too), dashes, dots, at most three in a row.
_SEP = "[ \t　\\-－—–‐.．·]{0,3}"


def _digits(count: str) -> str:
    """`count` digits (a regex quantifier body such as '16' or '10,') with separators between them."""
    return f"{_DIGIT}(?:{_SEP}{_DIGIT}){{{count}}}"


_MOBILE = f"(?:[+＋]?[8８][6６]{_SEP})?[1１]{_SEP}[3-9３-９](?:{_SEP}{_DIGIT}){{9}}"

# Applied in this order: the longer numbers first, since an ID number contains eleven digits.
MASKS = (
    (f"{_digits('16')}{_SEP}[0-9０-９XxＸｘ]", "[身份证号]"),  # 18-character resident ID
    (_digits("15,"), "[号码]"),  # other runs of sixteen or more digits (a bank card) ...
    (_digits("14"), "[身份证号]"),  # ... so that what is left of fifteen is the older ID
    (_MOBILE, "[手机号]"),
    (_digits("10,"), "[号码]"),  # any other run of eleven or more digits: a landline, a card
)
# What must never remain in free text after masking: eleven or more digits in a row, however written.
LEFT_IN_CLEAR = _digits("10,")
# What identifies a person wherever it stands: an ID card's number (15 or 18 characters), a bank
# card's (16 or more digits), a mobile's. Not a landline with its area code (11 digits): the legacy
# hotlines' own numbers are landlines.
PERSONAL_NUMBER = f"{_digits('14,')}|{_MOBILE}"

_PYTHON_MASKS = tuple((re.compile(pattern), label) for pattern, label in MASKS)


def mask(text: str) -> str:
    """`text` with every number the loader would mask replaced by its label."""
    for pattern, label in _PYTHON_MASKS:
        text = pattern.sub(label, text)
    return text


def mask_sql(expression: str) -> str:
    """SQL masking the text `expression`, as `mask` does. Most texts hold no long number: one search
    decides whether the replacements run at all."""
    masked = expression
    for pattern, label in MASKS:
        masked = f"regexp_replace({masked}, '{pattern}', '{label}', 'g')"
    return f"case when regexp_matches({expression}, '{LEFT_IN_CLEAR}') then {masked} else {expression} end"


# HMAC-SHA256 (RFC 2104) as a vectorised function registered on the connection (`caller_keys`):
# DuckDB has sha256 but no hmac, and its sha256 does not use the processor's SHA instructions, which
# polars-hash's does. The key stays in the function's closure, so it never appears in the SQL text.
CALLER_KEY_FUNCTION = "jingtu_caller_key"
CALLER_KEY_METHOD = "HMAC-SHA256 of the digits"  # part of the loader's rules digest: a new method reloads


def digits_sql(expression: str) -> str:
    """SQL: the digits in the text `expression`, null when it has none: what a caller key is made of,
    so that the separators people type inside a number do not change it."""
    return f"nullif(regexp_replace({expression}, '[^0-9]', '', 'g'), '')"


def hash_sql(expression: str) -> str:
    """SQL: the HMAC of the digits in the text `expression` (`digits_sql`). Needs `caller_keys`."""
    return f"{CALLER_KEY_FUNCTION}({digits_sql(expression)})"


@contextmanager
def caller_keys(con: duckdb.DuckDBPyConnection, key: str) -> Iterator[None]:
    """`hash_sql`'s function on `con`, hashing with `key`, while the block runs."""
    import polars as pl
    import polars_hash  # noqa: F401 (registers the `chash` namespace)

    hmac_of = pl.col("v").chash.hmac_sha256(key=key)

    def hmac_batch(values):  # DuckDB calls it with an Arrow array of a vector's rows
        return pl.DataFrame({"v": values}).select(hmac_of).to_series().to_arrow()

    con.create_function(CALLER_KEY_FUNCTION, hmac_batch, [duckdb.sqltype("VARCHAR")], duckdb.sqltype("VARCHAR"),
                        type="arrow", side_effects=False)
    try:
        yield
    finally:
        # In a transaction of its own: DuckDB 1.4 undoes a removal made in autocommit at the next
        # `begin`, and the function, back without its Python side, then crashes the process if called.
        con.execute("begin transaction")
        con.remove_function(CALLER_KEY_FUNCTION)
        con.execute("commit")
