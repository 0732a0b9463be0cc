"""Personal data: how it is found, masked and hashed. One place for the patterns, which the loader
(in SQL), the quality gate (in SQL) and every error message the product writes (in Python) share.

The patterns are written in the common subset of RE2 (DuckDB) and Python's `re`.
"""

import hashlib
import re

_DIGIT = "[0-9０-９]"
# What people put inside a number: spaces (ideographic too), dashes, dots, at most three in a row.
_SEP = "[ \t　\\-－—–‐.．·]{0,3}"


def _digits(count: str) -> str:
    """`count` digits (a regex quantifier body such as '16' or '10,') with separators between them."""
    return f"{_DIGIT}(?:{_SEP}{_DIGIT}){{{count}}}"


# Applied in this order: the longer numbers first, since an ID number contains eleven digits.
MASKS = (
    (f"{_digits('16')}{_SEP}[0-9０-９XxＸｘ]", "[身份证号]"),  # 18-character resident ID
    (_digits("15,"), "[号码]"),  # other runs of sixteen or more digits (a bank card) ...
    (_digits("14"), "[身份证号]"),  # ... so that what is left of fifteen is the older ID
    (f"(?:[+＋]?[8８][6６]{_SEP})?[1１]{_SEP}[3-9３-９](?:{_SEP}{_DIGIT}){{9}}", "[手机号]"),
    (_digits("10,"), "[号码]"),  # any other run of eleven or more digits: a landline, a card
)
# What must never remain in free text after masking: eleven or more digits in a row, however written.
LEFT_IN_CLEAR = _digits("10,")

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


# HMAC-SHA256 (RFC 2104) in DuckDB, which has sha256 but no hmac: the key's inner and outer pads
# are set as session variables (`hmac_variables`), so the secret never appears in the SQL text.
HMAC_INNER, HMAC_OUTER = "jingtu_hmac_inner", "jingtu_hmac_outer"
HMAC_SQL = (f"sha256(getvariable('{HMAC_OUTER}') || unhex(sha256(getvariable('{HMAC_INNER}')"
            " || encode({v}))))")


def hash_sql(expression: str) -> str:
    """SQL: the HMAC (`HMAC_SQL`) of the digits in the text `expression`, null when it has none, so
    that the separators people type inside a number do not change its key."""
    return HMAC_SQL.format(v=f"nullif(regexp_replace({expression}, '[^0-9]', '', 'g'), '')")


_BLOCK = 64


def hmac_variables(key: str) -> dict[str, bytes]:
    """The session variables `HMAC_SQL` reads for `key`."""
    raw = key.encode()
    if len(raw) > _BLOCK:
        raw = hashlib.sha256(raw).digest()
    raw = raw.ljust(_BLOCK, b"\0")
    return {HMAC_INNER: bytes(b ^ 0x36 for b in raw), HMAC_OUTER: bytes(b ^ 0x5C for b in raw)}
