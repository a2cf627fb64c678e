"""Column types that keep every SQL value as it was, or refuse it naming the column.

``adapt_table`` is dlt's ``table_adapter_callback``: it swaps the reflected type of the
columns whose driver values dlt would change silently (MySQL/MariaDB ``DOUBLE`` read as
``DECIMAL(38,9)``, ``BIGINT UNSIGNED`` overflowing int64, ``TIME`` beyond 24 hours wrapped,
zero dates, ``SET`` as an unordered set). A ``columns.<name>.type: text`` hint selects the
column as the source's own text (``CAST(column AS text)``, ``cast_text_columns``).
``dlt_type`` is the ``type_adapter_callback``: the type each swapped column lands as.
See docs/fidelity.md.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from dlt.sources.sql_database.arrow_helpers import row_tuples_to_arrow
from dlt.sources.sql_database.helpers import TableLoader
from sqlalchemy.dialects import mysql, postgresql

from extract.errors import ExtractError, root_cause
from extract.manifest.typing import Model

UNSIGNED_BIGINT_DIGITS = 20  # 2^64-1 has 20 digits
MYSQL_DIALECTS = ("mysql", "mariadb")
CX_SCALE = 10  # connectorx reads every numeric as decimal(38,10)


class ValueWontFit(ExtractError):
    """A source value that the column's warehouse type cannot hold exactly."""

    def __init__(
        self, table: str, column: str, value: Any, lands_as: str, why: str, kind: str = ""
    ) -> None:
        super().__init__(
            f"table {table} column {column}: {kind or type(value).__name__} value "
            f"{str(value)[:40]!r} "
            f"cannot be loaded as {lands_as} ({why}); declare `columns.{column}.type: text` "
            f"on the model to load this column exactly as text"
        )


class Faithful(sa.types.TypeDecorator[Any]):
    """The column's own type with a converter applied to every non-NULL value it reads."""

    impl = sa.types.NullType
    cache_ok = False  # the converter is a closure: statements using it are not cached

    def __init__(
        self, original: sa.types.TypeEngine[Any], lands_as: sa.types.TypeEngine[Any]
    ) -> None:
        super().__init__()
        self.impl = original  # type: ignore[assignment]
        self.lands_as = lands_as
        self.convert: Callable[[Any], Any] = lambda value: value

    def process_result_value(self, value: Any, dialect: sa.Dialect) -> Any:
        return None if value is None else self.convert(value)


def dlt_type(sql_type: Any) -> Any:
    """dlt's ``type_adapter_callback``: the type a column lands as (see ``adapt_table``).

    SQLAlchemy 2.1's ``Float`` is no longer a ``Numeric``, so dlt would leave such columns
    untyped: they are reflected as dlt's ``double`` (``adapt_table`` reads them as floats).
    """
    if isinstance(sql_type, Faithful):
        return sql_type.lands_as
    if isinstance(sql_type, sa.Float) and not isinstance(sql_type, sa.Numeric):
        return sa.Numeric(asdecimal=False)
    return sql_type


def adapt_table(model: Model, dialect: str, table: sa.Table) -> None:
    """Swap the types of ``table``'s columns that dlt would load inexactly (in place)."""
    for column in table.columns:
        if _as_text(model, column.name):  # read as the source's text: see ``cast_text_columns``
            column.type = sa.Text()
        elif isinstance(column.type, sa.Interval | postgresql.INTERVAL):
            raise ExtractError(
                f"table {table.name} column {column.name}: interval has no warehouse type in "
                f"dlt; declare `columns.{column.name}.type: text` on the model to load it as text"
            )
        elif dialect in MYSQL_DIALECTS:
            column.type = _mysql_exact(table.name, column.name, column.type)
        elif isinstance(column.type, sa.Float):
            column.type = sa.Double(asdecimal=False)


def cast_text_columns(
    model: Model, query: sa.Select[Any], table: sa.Table, *_incremental_engine: Any
) -> sa.Select[Any]:
    """dlt's ``query_adapter_callback``: columns hinted ``type: text`` are selected as
    ``CAST(column AS text)``, the source's own text of the value, whatever the driver."""
    return query.with_only_columns(
        *(
            sa.cast(c, sa.Text).label(c.name) if _as_text(model, c.name) else c
            for c in query.selected_columns
        )
    )


def connectorx_inexact(model: Model, table: sa.Table) -> list[str]:
    """Columns connectorx would change: numerics rounded to 10 decimal places (or refused
    beyond 38 digits), times of 24:00:00 read as 00:00:00, intervals unsupported."""
    found = []
    for c in table.columns:
        kind = c.type
        if _as_text(model, c.name) or isinstance(kind, sa.Float):
            continue
        scale = kind.scale or 0 if isinstance(kind, sa.Numeric) else 0
        wide = isinstance(kind, sa.Numeric) and (
            kind.precision is None or scale > CX_SCALE or kind.precision - scale > 38 - CX_SCALE
        )
        if wide or isinstance(kind, sa.Time | sa.Interval | postgresql.INTERVAL):
            found.append(f"{c.name} ({kind})")
    return found


def _as_text(model: Model, column: str) -> bool:
    hint = model.columns.get(column)
    return hint is not None and hint.type == "text"


def _faithful(
    original: sa.types.TypeEngine[Any],
    lands_as: sa.types.TypeEngine[Any],
    convert: Callable[[Any], Any],
) -> Faithful:
    faithful = Faithful(original, lands_as)
    faithful.convert = convert
    return faithful


def _mysql_exact(table: str, column: str, sql_type: Any) -> Any:
    if isinstance(sql_type, sa.Float):  # DOUBLE reads as a Decimal of 10 digits otherwise
        return sa.Double(asdecimal=False)
    if isinstance(sql_type, sa.BigInteger) and getattr(sql_type, "unsigned", False):
        return sa.Numeric(UNSIGNED_BIGINT_DIGITS, 0)
    if isinstance(sql_type, mysql.SET):  # the server's text: members in definition order
        return sa.Text()
    if isinstance(sql_type, sa.Time):  # SQLAlchemy's TIME drops the days of a duration
        return _faithful(sa.types.NullType(), sa.Time(), _time_of_day(table, column))
    if isinstance(sql_type, sa.Date | sa.DateTime):
        return _faithful(sql_type, sql_type, _real_date(table, column, sql_type))
    return sql_type


def _time_of_day(table: str, column: str) -> Callable[[Any], Any]:
    """MySQL TIME is a duration (-838:59:59..838:59:59): a time of day only within 24 h."""

    def convert(value: Any) -> Any:
        if not isinstance(value, timedelta):
            return value
        if not timedelta(0) <= value < timedelta(days=1):
            raise ValueWontFit(
                table, column, mysql_time_text(value), "time", "outside 00:00:00-23:59:59", "TIME"
            )
        return (datetime.min + value).time()

    return convert


def _real_date(table: str, column: str, sql_type: Any) -> Callable[[Any], Any]:
    """A date the driver could not parse (MySQL's zero date ``0000-00-00``) is refused."""
    lands_as = "timestamp" if isinstance(sql_type, sa.DateTime) else "date"
    kind = str(sql_type).split("(")[0]

    def convert(value: Any) -> Any:
        if isinstance(value, str):
            raise ValueWontFit(table, column, value, lands_as, "not a calendar date", kind)
        return value

    return convert


def mysql_time_text(value: timedelta) -> str:
    """A duration as MySQL prints a TIME: ``[-]H:MM:SS[.ffffff]``, hours beyond 24 kept."""
    sign = "-" if value < timedelta(0) else ""
    micros = abs(value) // timedelta(microseconds=1)
    seconds, fraction = divmod(micros, 1_000_000)
    text = f"{sign}{seconds // 3600:02d}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"
    return text + (f".{fraction:06d}" if fraction else "")


class ColumnNamingLoader(TableLoader):
    """dlt's table loader of the ``pyarrow`` backend whose conversion errors name the column
    and its value."""

    def _load_rows(self, query: Any, backend_kwargs: dict[str, Any]) -> Iterator[Any]:
        yield from _named_fetch_errors(self.table, super()._load_rows(query, backend_kwargs))

    def _convert_result(self, result: Any, backend_kwargs: dict[str, Any]) -> Iterator[Any]:
        if self.backend != "pyarrow":
            raise ExtractError(f"ColumnNamingLoader reads the pyarrow backend, not {self.backend}")
        names = list(result.keys())
        columns = {name: self.columns.get(name) or {"name": name} for name in names}
        for partition in result.partitions(size=self.chunk_size):
            rows = [row._data for row in partition]
            try:
                yield row_tuples_to_arrow(rows, columns=columns, tz=backend_kwargs.get("tz", "UTC"))
            except Exception as exc:  # noqa: BLE001 - re-raised naming the column
                raise _column_error(self.table.name, columns, rows, exc) from None


def _named_fetch_errors(table: sa.Table, batches: Iterator[Any]) -> Iterator[Any]:
    """Batches as read; a value the driver cannot parse (PostgreSQL's 24:00:00 or an
    infinite date with psycopg2) is reported with the columns whose type its error names."""
    try:
        yield from batches
    except ExtractError:
        raise
    except Exception as exc:  # noqa: BLE001 - re-raised naming the likely columns
        text = str(exc).lower()
        likely = [c for c in table.columns if str(c.type).lower() in text]
        named = ", ".join(f"{c.name} ({c.type})" for c in likely) or "unknown"
        hint = likely[0].name if len(likely) == 1 else "<name>"
        raise ExtractError(
            f"table {table.name}: the driver could not read a value ({_short(exc)}); column "
            f"{named}: declare `columns.{hint}.type: text` on the model to read it as text"
        ) from None


def _column_error(
    table: str, columns: dict[str, Any], rows: list[tuple[Any, ...]], exc: Exception
) -> Exception:
    """Convert each column alone to find the one that fails, with its first odd value."""
    for i, (name, hint) in enumerate(columns.items()):
        values = [row[i] for row in rows]
        try:
            row_tuples_to_arrow([(v,) for v in values], columns={name: hint}, tz="UTC")
        except Exception as column_exc:  # noqa: BLE001 - any failure names this column
            lands_as = str(hint.get("data_type", "an inferred type"))
            return ValueWontFit(table, name, _odd_value(values), lands_as, _short(column_exc))
    return exc


def _odd_value(values: list[Any]) -> Any:
    """The first value whose Python type differs from the first non-NULL one (or the first)."""
    present = [v for v in values if v is not None]
    first = type(present[0]) if present else type(None)
    return next((v for v in present if type(v) is not first), present[0] if present else None)


def _short(exc: BaseException) -> str:
    """The root cause's first line (dlt's wrapper repeats what the message already says)."""
    cause = root_cause(exc)
    text = str(cause).splitlines()[0][:120] if str(cause) else ""
    return f"{type(cause).__name__}: {text}"
