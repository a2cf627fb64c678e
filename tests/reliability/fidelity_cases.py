"""The awkward SQL types of each source dialect, and how a loaded value is compared.

Each case is one source table ``(id, v)``: the column type, the values (SQL literals) and a
comparison family. The value expected in the warehouse is the one the source's driver
returns (raw, without SQLAlchemy's type processing), except for dates and times, read as the
source's own text (``CAST(v AS ...)``), since drivers cannot represent MySQL's zero dates,
838-hour TIMEs or PostgreSQL's 24:00:00. A value loaded with the ``columns.v.type: text``
hint is compared with that source text.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from decimal import Decimal
from typing import Any

import numpy as np


@dataclass(frozen=True)
class TypeCase:
    """One awkward type: the source column type, its values, how values compare."""

    key: str
    sql_type: str
    values: tuple[str, ...]
    family: str  # float, float4, number, text, bytes, temporal, json, bool, bits

    @property
    def read_as_text(self) -> bool:
        return self.family == "temporal"


def _case(key: str, sql_type: str, family: str, *values: str) -> TypeCase:
    return TypeCase(key, sql_type, (*values, "NULL"), family)


BIG = "123456789012345678901234567890123456789012345.12345678901234567890"
CASES: dict[str, list[TypeCase]] = {
    "sqlite": [
        _case("integer", "integer", "number", "9223372036854775807", "-9223372036854775808"),
        _case("real", "real", "float", "1e308", "0.1", "0.30000000000000004", "-0.0"),
        _case("text", "text", "text", "''", "'é😀 \\ '' \"'"),
        _case("blob", "blob", "bytes", "x'00ff10'", "x''"),
        _case("decimal_10_2", "decimal(10,2)", "number", "12.34", "-0.01"),
        _case("date", "date", "temporal", "'2024-02-29'", "'0001-01-01'"),
        _case("datetime", "datetime", "temporal", "'2024-02-29 23:59:59.999999'"),
        _case("boolean", "boolean", "bool", "1", "0"),
        _case("int_holding_text", "integer", "number", "10", "'lots'"),
    ],
    "postgres": [
        _case("double", "double precision", "float", "1e308", "0.1", "'NaN'", "'-Infinity'"),
        _case("real", "real", "float4", "1.1", "3.4e38"),
        _case("bigint", "bigint", "number", "9223372036854775807", "-9223372036854775808"),
        _case("numeric_20_15", "numeric(20,15)", "number", "1.123456789012345"),
        _case("numeric_38_0", "numeric(38,0)", "number", "9" * 38),
        _case("numeric_65_20", "numeric(65,20)", "number", BIG, "1.5"),
        _case("numeric", "numeric", "number", "1.123456789012345678", "12.5"),
        _case("bytea", "bytea", "bytes", "'\\x00ff10'::bytea", "''::bytea"),
        _case("time", "time", "temporal", "'23:59:59.999999'", "'00:00:00'"),
        _case("time_24h", "time", "temporal", "'24:00:00'", "'12:00:00'"),
        _case("interval", "interval", "temporal", "'1 day 02:03:04'"),
        _case("date", "date", "temporal", "'2024-02-29'", "'0001-01-01'"),
        _case("timestamp", "timestamp", "temporal", "'2024-01-01 01:02:03.123456'"),
        _case("timestamptz", "timestamptz", "temporal", "'2024-01-01 01:02:03.123456+02'"),
        _case("jsonb", "jsonb", "json", "'{\"a\": [1, 2.5, null]}'"),
        _case("uuid", "uuid", "text", "'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'"),
        _case("boolean", "boolean", "bool", "true", "false"),
        _case("text", "text", "text", "''", "'é😀 \\ '' \"'"),
    ],
    "mariadb": [
        _case("double", "double", "float", "1e308", "0.1", "10.357019999999999", "-2.2e-308"),
        _case("float", "float", "float", "1.1", "3.4e38"),
        _case("bigint_unsigned", "bigint unsigned", "number", "18446744073709551615", "0"),
        _case("bigint", "bigint", "number", "9223372036854775807", "-9223372036854775808"),
        _case("decimal_65_20", "decimal(65,20)", "number", BIG, "1.5"),
        _case("time", "time", "temporal", "'12:34:56'", "'00:00:00'"),
        _case("time_838h", "time", "temporal", "'838:59:59'", "'-838:59:59'"),
        _case("date_zero", "date", "temporal", "'0000-00-00'", "'2024-02-29'"),
        _case("datetime_zero", "datetime", "temporal", "'0000-00-00 00:00:00'"),
        _case("datetime6", "datetime(6)", "temporal", "'2024-02-29 23:59:59.999999'"),
        _case("set", "set('a','b','c')", "text", "'c,a'", "'b'", "''"),
        _case("enum", "enum('x','y')", "text", "'y'"),
        _case("blob", "blob", "bytes", "x'00ff10'", "''"),
        _case("json", "json", "json", "'{\"a\": [1, 2.5, null]}'"),
        _case("bit8", "bit(8)", "bits", "b'10101010'"),
        _case("year", "year", "number", "1999", "2155"),
        _case("tinyint1", "tinyint(1)", "number", "1", "0"),
        _case("text", "text", "text", "''", "'é😀 \\\\ '' \"'"),
    ],
}
NOTES = {
    ("postgres", "real"): "float4 values widened exactly to double: 1.1 reads back as "
    "1.100000023841858, the same float4",
    ("mariadb", "float"): "MariaDB sends FLOAT as its shortest text (1.1), read as a double",
    ("mariadb", "set"): "the server's text, members in definition order ('c,a' reads 'a,c')",
    ("mariadb", "bit8"): "as an integer (b'10101010' = 170)",
    ("postgres", "numeric"): "dlt types an unconstrained numeric decimal(38,9): more decimals "
    "fail, naming the column",
    ("postgres", "numeric_20_15"): "read with pyarrow: connectorx would round it to 10 decimals",
    ("postgres", "time_24h"): "psycopg2 cannot read 24:00:00",
    ("sqlite", "int_holding_text"): "type drift: an integer column holding 'lots'",
}
"""What the fidelity table says beside a case."""


def same(family: str, sent: Any, got: Any) -> bool:
    """True when the warehouse value ``got`` is the source value ``sent``."""
    if sent is None or got is None:
        return sent is None and got is None
    if family in ("float", "float4"):
        a, b = float(sent), float(got)
        if math.isnan(a):
            return math.isnan(b)
        if family == "float4":
            return bool(np.float32(a) == np.float32(b))
        return a == b and math.copysign(1, a) == math.copysign(1, b)
    if family == "number":
        return isinstance(got, int | Decimal) and Decimal(str(sent)) == Decimal(got)
    if family == "bytes":
        return isinstance(got, bytes | memoryview) and bytes(sent) == bytes(got)
    if family == "temporal":
        return _temporal_text(got) == _canonical_text(str(sent))
    if family == "json":
        return _json(sent) == _json(got)
    if family == "bool":
        return bool(int(sent) if not isinstance(sent, bool) else sent) is got
    if family == "bits":
        return int.from_bytes(bytes(sent), "big") == got
    return str(sent) == got


def _json(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str | bytes) else value


def _temporal_text(value: Any) -> str | None:
    """A warehouse date/time value as the source prints it (datetimes in UTC)."""
    if isinstance(value, datetime):
        if value.tzinfo is not None:
            value = value.astimezone(UTC).replace(tzinfo=None)
        return value.isoformat(sep=" ")
    if isinstance(value, date | time):
        return value.isoformat()
    return None  # a date or time must not arrive as text (or a number) silently


def _canonical_text(text: str) -> str:
    """Source text with an offset (PostgreSQL timestamptz) shifted to UTC, no offset."""
    if len(text) > 19 and text[-3] in "+-" and text[10] == " ":
        parsed = datetime.fromisoformat(text).astimezone(UTC).replace(tzinfo=None)
        return parsed.isoformat(sep=" ")
    return text
