"""A statement's Arrow result as each output format can hold it.

DuckDB hands over what neither Python nor the Arrow writers always take:

- duplicate column names (`SELECT 1 AS a, 2 AS a`): a JSON object keeps one value per key, a
  table needs one header per column. Every format gets the unique names DuckDB itself gives
  when it writes a result (`COPY ... TO`, `CREATE TABLE AS`): `a`, `a_1`.
- dates and timestamps Python cannot hold: DuckDB's `infinity` and `-infinity` (the largest and
  smallest values of the type) and years beyond 1-9999. They read as DuckDB writes them
  (`infinity`, `-infinity`, `10000-01-01`, `5877642-06-25 (BC)`), at any depth of lists,
  structs and maps. DuckDB's `24:00:00` stays that (Python's time would wrap it to 00:00).
- values CSV has no syntax for: lists, structs, maps and unions are written as JSON text (as
  DuckDB writes them to JSON), bytes that are not UTF-8 with `\\xNN` escapes.
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pyarrow as pa


def unique_names(names: Sequence[str]) -> list[str]:
    """DuckDB's rule (QueryResult::DeduplicateColumns): names compare case-insensitively; a
    repeat gets `_1`, `_2`, ..., skipping a name already taken."""
    seen: dict[str, int] = {}
    out = []
    for name in names:
        low = name.lower()
        if low not in seen:
            seen[low] = 1
            out.append(name)
            continue
        candidate = f"{name}_{seen[low]}"
        while candidate.lower() in seen:
            seen[low] += 1
            candidate = f"{name}_{seen[low]}"
        seen[candidate.lower()] = 1
        out.append(candidate)
    return out


def renamed(names: Sequence[str]) -> list[str]:
    """`a -> a_1` for each column unique_names renames (said on stderr, once)."""
    return [
        f"{old} -> {new}" for old, new in zip(names, unique_names(names), strict=True) if old != new
    ]


def python_values(array: pa.Array) -> list[Any]:
    """`array.to_pylist()`, with the dates and timestamps Python cannot hold as text."""
    import pyarrow as pa

    kind = array.type
    if not _has_temporal(kind):
        values: list[Any] = array.to_pylist()
        return values
    if isinstance(array, pa.ExtensionArray):
        return python_values(array.storage)
    if _is_temporal(kind):
        return _temporal(array)
    valid = array.is_valid().to_pylist()
    if pa.types.is_dictionary(kind):
        values = python_values(array.dictionary)
        return [None if i is None else values[i] for i in array.indices.to_pylist()]
    if pa.types.is_struct(kind):
        names = [kind.field(i).name for i in range(kind.num_fields)]
        columns = [python_values(child) for child in array.flatten()]  # offset and nulls applied
        rows = list(zip(*columns, strict=True)) if columns else [()] * len(array)
        return [
            dict(zip(names, row, strict=True)) if ok else None
            for ok, row in zip(valid, rows, strict=True)
        ]
    if pa.types.is_map(kind):
        pairs = list(zip(python_values(array.keys), python_values(array.items), strict=True))
        return _slices(pairs, array.offsets.to_pylist(), valid)  # as to_pylist: (key, value)
    if pa.types.is_list(kind) or pa.types.is_large_list(kind):
        return _slices(python_values(array.values), array.offsets.to_pylist(), valid)
    if pa.types.is_fixed_size_list(kind):
        size, start = kind.list_size, array.offset  # .values ignores the slice's offset
        values = python_values(array.values)
        return [
            values[(start + i) * size : (start + i + 1) * size] if ok else None
            for i, ok in enumerate(valid)
        ]
    # Unions, whose members are rarely dates: one value at a time.
    return [_scalar_value(scalar) for scalar in array]


def _slices(values: list[Any], offsets: list[int], valid: list[bool]) -> list[Any]:
    return [values[offsets[i] : offsets[i + 1]] if ok else None for i, ok in enumerate(valid)]


def _scalar_value(scalar: Any) -> Any:
    import pyarrow as pa

    if isinstance(scalar, pa.UnionScalar):
        return None if scalar.value is None else _scalar_value(scalar.value)
    return python_values(pa.array([scalar], type=scalar.type))[0]


def _is_temporal(kind: pa.DataType) -> bool:
    import pyarrow as pa

    return bool(pa.types.is_date32(kind) or pa.types.is_timestamp(kind) or pa.types.is_time(kind))


def _has_temporal(kind: pa.DataType) -> bool:
    import pyarrow as pa

    if _is_temporal(kind):
        return True
    if isinstance(kind, pa.ExtensionType):
        return _has_temporal(kind.storage_type)
    if pa.types.is_dictionary(kind):
        return _has_temporal(kind.value_type)
    return any(_has_temporal(kind.field(i).type) for i in range(kind.num_fields))


# Python's datetime holds years 1 to 9999: from day -719162 to day 2932896 after 1970-01-01.
FIRST_DAY, LAST_DAY = -719_162, 2_932_896
PER_DAY = {"s": 86_400, "ms": 86_400_000, "us": 86_400_000_000, "ns": 86_400_000_000_000}


def _beyond_python(array: pa.Array) -> pa.Array:
    """Where a date or timestamp lies outside Python's years 1-9999 (DuckDB's infinities are
    the type's extreme values, so they do too), or a time of day is 24:00:00. Inside, Python's
    and Arrow's conversions are right; outside, Python's raises or wraps round to 00:00, and
    Arrow's prints garbage or "<value out of range>"."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if pa.types.is_date32(array.type):
        raw, low, high = array.view(pa.int32()), FIRST_DAY, LAST_DAY
    elif pa.types.is_time(array.type):  # DuckDB's TIME goes up to 24:00:00, Python's not
        width = pa.int32() if pa.types.is_time32(array.type) else pa.int64()
        raw, low, high = array.view(width), 0, PER_DAY[array.type.unit] - 1
    else:
        per_day = PER_DAY[array.type.unit]
        limit = 2**63 - 2  # a nanosecond timestamp's whole range is inside, but its infinities
        low = max(FIRST_DAY * per_day, -limit)
        high = min((LAST_DAY + 1) * per_day - 1, limit)
        raw = array.view(pa.int64())
    return pc.fill_null(pc.or_(pc.less(raw, low), pc.greater(raw, high)), False)


_formatter: Any = None


def duckdb_text(array: pa.Array) -> list[str | None]:
    """DuckDB's own text of each value (`infinity`, `5877642-06-25 (BC)`), from a connection
    of its own that holds no data and reaches nothing."""
    global _formatter
    import pyarrow as pa

    if _formatter is None:
        import duckdb

        _formatter = duckdb.connect(
            ":memory:",
            config={
                "enable_external_access": False,
                "autoload_known_extensions": False,
                "autoinstall_known_extensions": False,
                "threads": 1,
            },
        )
    rows = _formatter.from_arrow(pa.table({"v": array})).select("v::VARCHAR").fetchall()
    return [row[0] for row in rows]


def _temporal(array: pa.Array) -> list[Any]:
    import pyarrow.compute as pc

    beyond = _beyond_python(array)
    if not pc.any(beyond).as_py():
        values: list[Any] = array.to_pylist()  # the usual case: dates and datetimes
        return values
    texts = iter(duckdb_text(array.filter(beyond)))
    inside = pc.if_else(beyond, None, array).to_pylist()
    return [
        next(texts) if out else value for out, value in zip(beyond.to_pylist(), inside, strict=True)
    ]


def json_text(value: Any) -> str:
    """One value as compact JSON; what JSON has no type for (dates, decimals) as its text."""
    return json.dumps(value, default=str, ensure_ascii=False, separators=(",", ":"))


# --- CSV ---------------------------------------------------------------------------------


def csv_converters(schema: pa.Schema) -> list[Callable[[pa.Array], pa.Array] | None]:
    """For each column, how to turn it into text the CSV writer takes; None: as it is."""
    return [_csv_converter(field.type) for field in schema]


def csv_schema(schema: pa.Schema, converters: Sequence[object | None]) -> pa.Schema:
    import pyarrow as pa

    names = unique_names(schema.names)
    return pa.schema(
        [
            pa.field(name, pa.string() if convert else field.type)
            for name, field, convert in zip(names, schema, converters, strict=True)
        ]
    )


def _csv_converter(kind: pa.DataType) -> Callable[[pa.Array], pa.Array] | None:
    import pyarrow as pa

    if isinstance(kind, pa.ExtensionType):
        storage = _csv_converter(kind.storage_type)
        return lambda array: _text_of(array.storage, storage)
    if pa.types.is_nested(kind) or pa.types.is_union(kind):
        return _as_json
    if _is_temporal(kind):
        return _temporal_text
    if pa.types.is_binary(kind) or pa.types.is_large_binary(kind):
        return _bytes_text
    if pa.types.is_fixed_size_binary(kind):
        return _bytes_text
    if not _csv_writes(kind):  # intervals, ...: Python's text of the value
        return _as_str
    return None


def _text_of(array: pa.Array, convert: Callable[[pa.Array], pa.Array] | None) -> pa.Array:
    import pyarrow as pa

    return convert(array) if convert else array.cast(pa.string())


def _csv_writes(kind: pa.DataType) -> bool:
    """Whether Arrow's CSV writer takes this type (tried on one null: an empty column is not
    even cast)."""
    import pyarrow as pa
    import pyarrow.csv as pacsv

    try:
        pacsv.write_csv(pa.table({"c": pa.nulls(1, type=kind)}), io.BytesIO())
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError):
        return False
    return True


def _as_json(array: pa.Array) -> pa.Array:
    import pyarrow as pa

    return pa.array(
        [None if v is None else json_text(v) for v in python_values(array)], type=pa.string()
    )


def _as_str(array: pa.Array) -> pa.Array:
    import pyarrow as pa

    return pa.array([None if v is None else str(v) for v in python_values(array)], pa.string())


def _temporal_text(array: pa.Array) -> pa.Array:
    """Arrow's text (what its CSV writer prints), or DuckDB's where Arrow's is wrong."""
    import pyarrow as pa
    import pyarrow.compute as pc

    beyond = _beyond_python(array)
    texts = array.cast(pa.string())
    if not pc.any(beyond).as_py():
        return texts
    return pc.replace_with_mask(
        texts, beyond, pa.array(duckdb_text(array.filter(beyond)), pa.string())
    )


def _bytes_text(array: pa.Array) -> pa.Array:
    """Bytes as UTF-8 text (what the CSV writer prints), bytes that are not UTF-8 as `\\xNN`."""
    import pyarrow as pa

    try:
        return array.cast(pa.string())
    except pa.ArrowInvalid:
        values = array.to_pylist()
        return pa.array(
            [None if v is None else v.decode("utf-8", "backslashreplace") for v in values],
            type=pa.string(),
        )
