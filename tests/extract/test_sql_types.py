"""The column types of ``extract.sql_types``: what they select, accept and refuse."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa
from sqlalchemy.dialects import mysql, postgresql

from extract.manifest.typing import Model
from extract.sql_types import (
    ValueWontFit,
    adapt_table,
    cast_text_columns,
    connectorx_inexact,
    mysql_time_text,
)


def _table(*columns: sa.Column[object]) -> sa.Table:
    return sa.Table("t", sa.MetaData(), sa.Column("id", sa.Integer), *columns)


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (timedelta(hours=838, minutes=59, seconds=59), "838:59:59"),
        (-timedelta(hours=838, minutes=59, seconds=59), "-838:59:59"),
        (timedelta(seconds=1, microseconds=5), "00:00:01.000005"),
        (timedelta(0), "00:00:00"),
    ],
)
def test_mysql_time_text(value: timedelta, text: str) -> None:
    assert mysql_time_text(value) == text


def test_text_hint_selects_the_source_text() -> None:
    model = Model(name="t", columns={"v": {"type": "text"}})
    table = _table(sa.Column("v", sa.Numeric(65, 20)))
    adapt_table(model, "mysql", table)
    sql = str(cast_text_columns(model, table.select(), table).compile(dialect=mysql.dialect()))
    assert "CAST(t.v AS CHAR) AS v" in sql
    assert "t.id" in sql


def test_mysql_time_beyond_a_day_is_refused_naming_the_column() -> None:
    table = _table(sa.Column("took", mysql.TIME()))
    adapt_table(Model(name="t"), "mysql", table)
    convert = table.c.took.type.process_result_value  # type: ignore[attr-defined]
    assert str(convert(timedelta(hours=23), None)) == "23:00:00"
    with pytest.raises(ValueWontFit, match=r"column took: TIME value '838:59:59'.*columns\.took"):
        convert(timedelta(hours=838, minutes=59, seconds=59), None)


def test_mysql_zero_date_is_refused_and_double_stays_a_double() -> None:
    table = _table(sa.Column("d", mysql.DATETIME()), sa.Column("x", mysql.DOUBLE()))
    adapt_table(Model(name="t"), "mariadb", table)
    with pytest.raises(ValueWontFit, match="column d: DATETIME value '0000-00-00 00:00:00'"):
        table.c.d.type.process_result_value("0000-00-00 00:00:00", None)  # type: ignore[attr-defined]
    assert isinstance(table.c.x.type, sa.Double)
    assert table.c.x.type.asdecimal is False


def test_connectorx_inexact_columns() -> None:
    table = _table(
        sa.Column("a", sa.Numeric(20, 15)),
        sa.Column("b", sa.Numeric(18, 2)),
        sa.Column("c", sa.Numeric()),
        sa.Column("d", postgresql.INTERVAL()),
        sa.Column("e", sa.Float()),
    )
    assert [c.split(" ")[0] for c in connectorx_inexact(Model(name="t"), table)] == [
        "a",
        "c",
        "d",
    ]
