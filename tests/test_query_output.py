"""`entrepot query` with what users get wrong or DuckDB hands over unusual: an --out that
cannot be written, SQL that is not UTF-8, duplicate column names, infinite dates, nested values
in CSV, limits out of range. Each ends in a clear error or the right output, never exit 70.

No depot is needed: DuckDB's own constants and table functions (test_all_types) produce every
value. The last tests cover the SDK's checks of the same limits.
"""

from __future__ import annotations

import csv
import io
import json
import os
import stat
import subprocess
from pathlib import Path

import duckdb
import pyarrow.parquet as pq
import pytest

from entrepot.errors import EntrepotError
from tests.conftest import BIN, Result, make_device, run_cli, write

NOT_UTF8 = b"caf\xe9".decode("utf-8", "surrogateescape")  # what Python makes of such argv


def query(*args: str, stdin: bytes | None = None) -> Result:
    result = run_cli("query", *args, stdin=stdin)
    assert "Traceback" not in result.output and result.exit_code != 70, result.output
    return result


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if "partial" in p.name)


# --- --out -------------------------------------------------------------------------------


def test_out_into_a_missing_folder_is_refused_before_the_statement_runs(
    home: Path, tmp_path: Path
) -> None:
    for fmt in ("csv", "json", "parquet", "table"):
        target = tmp_path / "no" / "such" / f"result.{fmt}"
        result = query("SELECT 1 AS a", "--output", fmt, "--out", str(target))
        assert result.exit_code == 3, result.output
        assert result.stderr.startswith(
            f"error: cannot write {target}: the folder {target.parent} does not exist"
        ), result.stderr
        assert "hint: create it first" in result.stderr
        assert not (tmp_path / "no").exists()
    # The --out is opened first: a statement that would fail is not even reached.
    result = query("SELECT nonsense FROM nowhere", "--out", str(tmp_path / "no" / "r.csv"))
    assert result.exit_code == 3 and "does not exist" in result.stderr


@pytest.mark.parametrize(
    ("target", "reason"),
    [
        ("/proc/result.csv", "No such file or directory"),  # /proc takes no new files
        ("/sys/result.csv", "Permission denied"),  # not even root's
        ("full", "No space left on device"),  # a device, written in place: it fills up
    ],
)
def test_out_into_an_unwritable_place_is_refused(
    home: Path, tmp_path: Path, target: str, reason: str
) -> None:
    if target == "full":  # a /dev/full of the test's own: see make_device
        make_device(tmp_path / "full", 7)
        target = str(tmp_path / "full")
    result = query("SELECT * FROM range(100000)", "--output", "csv", "--out", target)
    assert result.exit_code == 5, result.output
    assert f"error: cannot write {target}: {reason}" in result.stderr, result.stderr
    assert not any("partial" in name for name in os.listdir(os.path.dirname(target)))
    assert not os.path.isfile(target)  # a device stays a device


def test_out_appears_complete_or_not_at_all(home: Path, tmp_path: Path) -> None:
    target = write(tmp_path / "report.csv", "old\n")
    target.chmod(0o600)
    failed = query("SELECT CASE WHEN range < 5 THEN range ELSE error('boom') END FROM range(10)",
                   "--output", "csv", "--out", str(target))  # fmt: skip
    assert failed.exit_code == 3 and "boom" in failed.stderr, failed.output
    assert target.read_text() == "old\n"  # untouched
    assert leftovers(tmp_path) == []
    done = query("SELECT 42 AS answer", "--output", "csv", "--out", str(target))
    assert done.exit_code == 0 and done.stderr == f"wrote {target}\n"
    assert target.read_text() == '"answer"\n42\n'
    assert stat.S_IMODE(target.stat().st_mode) == 0o600  # a replaced file keeps its mode
    assert leftovers(tmp_path) == []
    link = tmp_path / "latest.csv"
    link.symlink_to(target)
    query("SELECT 7 AS answer", "--output", "csv", "--out", str(link))
    assert link.is_symlink() and target.read_text() == '"answer"\n7\n'  # the link stays
    table = query("SELECT 1 AS a", "--out", str(tmp_path / "t.txt"))
    assert table.exit_code == 0 and (tmp_path / "t.txt").read_text().split() == ["a", "-", "1"]


def test_stdout_that_cannot_be_written(home: Path, tmp_path: Path) -> None:
    command = [str(BIN / "entrepot"), "query", "SELECT * FROM range(1000000)", "--output", "csv"]
    make_device(tmp_path / "full", 7)
    with open(tmp_path / "full", "wb") as full:
        proc = subprocess.run(command, stdout=full, stderr=subprocess.PIPE, timeout=120)
    assert proc.returncode == 5, proc.stderr
    assert b"error: cannot write stdout: No space left on device" in proc.stderr
    # A reader that stops early (`| head`) is no error: output stops quietly.
    reader = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert reader.stdout is not None and reader.stderr is not None
    assert reader.stdout.read(8) == b'"range"\n'
    reader.stdout.close()
    assert reader.wait(timeout=120) == 1
    assert reader.stderr.read() == b""


# --- SQL that is not UTF-8 -----------------------------------------------------------------


def test_sql_that_is_not_utf8_names_the_file_line_and_byte(home: Path, tmp_path: Path) -> None:
    sql = tmp_path / "report.sql"
    sql.write_bytes(b"SELECT 1;\nSELECT 'caf\xe9';\n")
    result = query("-f", str(sql))
    assert result.exit_code == 3, result.output
    assert result.stderr.startswith(
        f"{sql}:2:12: error: the SQL is not valid UTF-8 (byte 0xe9 at byte offset 21)"
    ), result.stderr
    assert "hint: save the SQL as UTF-8 text" in result.stderr
    piped = query(stdin=b"SELECT 1;\nSELECT 'caf\xe9';\n")
    assert piped.exit_code == 3
    assert piped.stderr.startswith("<stdin>:2:12: error: the SQL is not valid UTF-8"), piped.stderr
    # DuckDB would read a statement only up to a NUL: refused, with where it is.
    sql.write_bytes(b"SELECT 1\x00; DROP TABLE x")
    nul = query("-f", str(sql))
    assert nul.exit_code == 3
    assert "error: the SQL contains a NUL character (at byte offset 8)" in nul.stderr
    # On the command line: Python hands over the bytes as lone surrogates.
    argv = query(f"SELECT '{NOT_UTF8}'")
    assert argv.exit_code == 2
    assert "is not valid UTF-8 (byte 0xe9 at byte offset 11)" in argv.stderr, argv.stderr
    endless = query("-f", "/dev/zero")
    assert endless.exit_code == 3 and "the SQL is larger than 64 MiB" in endless.stderr
    missing = query("-f", str(tmp_path / "nope.sql"))
    assert missing.exit_code == 3
    assert "cannot read the SQL file: No such file or directory" in missing.stderr


def test_the_shell_reports_a_statement_that_is_not_utf8_and_goes_on(home: Path) -> None:
    result = run_cli("sql", stdin=b"SELECT 'caf\xe9';\nSELECT 42 AS answer;\n")
    assert result.exit_code == 0, result.output
    assert "error: the SQL is not valid UTF-8 (byte 0xe9 at byte offset 11)" in result.stderr
    assert "42" in result.stdout


# --- result values -------------------------------------------------------------------------

DUPLICATES = "SELECT 1 AS a, 2 AS a, 3 AS A, 4 AS a_1"


def duckdb_names(sql: str) -> list[str]:
    """The names DuckDB itself gives a result it stores (CREATE TABLE AS, COPY TO)."""
    con = duckdb.connect()
    con.execute(f"CREATE TABLE t AS {sql}")
    return [row[0] for row in con.execute("DESCRIBE t").fetchall()]


def test_duplicate_column_names_are_all_kept_as_duckdb_names_them(
    home: Path, tmp_path: Path
) -> None:
    names = duckdb_names(DUPLICATES)
    assert names == ["a", "a_1", "A_2", "a_1_1"]
    as_json = query(DUPLICATES, "--output", "json")
    assert as_json.exit_code == 0
    assert json.loads(as_json.stdout) == [dict(zip(names, [1, 2, 3, 4], strict=True))]
    assert "note: duplicate column name renamed: a -> a_1" in as_json.stderr
    as_table = query(DUPLICATES)
    assert as_table.exit_code == 0
    assert [c.strip() for c in as_table.stdout.splitlines()[0].split("|")] == names
    as_csv = query(DUPLICATES, "--output", "csv")
    assert list(csv.reader(io.StringIO(as_csv.stdout))) == [names, ["1", "2", "3", "4"]]
    out = tmp_path / "dup.parquet"
    assert query(DUPLICATES, "--output", "parquet", "--out", str(out)).exit_code == 0
    assert pq.read_table(out).to_pylist() == [dict(zip(names, [1, 2, 3, 4], strict=True))]


INFINITE = (
    "SELECT 'infinity'::DATE AS d, '-infinity'::DATE AS nd, 'infinity'::TIMESTAMP AS t, "
    "'-infinity'::TIMESTAMPTZ AS tz, 'infinity'::TIMESTAMP_NS AS ns, "
    "'10000-01-01'::DATE AS far, ['infinity'::DATE, '2024-01-02'] AS l, "
    "{'at': '-infinity'::TIMESTAMP} AS s, TIME '24:00:00' AS midnight, DATE '2024-01-02' AS plain"
)
EXPECTED = {
    "d": "infinity",
    "nd": "-infinity",
    "t": "infinity",
    "tz": "-infinity",
    "ns": "infinity",
    "far": "10000-01-01",
    "l": ["infinity", "2024-01-02"],
    "s": {"at": "-infinity"},
    "midnight": "24:00:00",  # Python's time would wrap it round to 00:00
    "plain": "2024-01-02",
}


def test_infinite_dates_and_timestamps(home: Path, tmp_path: Path) -> None:
    as_json = query(INFINITE, "--output", "json")
    assert as_json.exit_code == 0, as_json.output
    assert json.loads(as_json.stdout) == [EXPECTED]
    as_table = query(INFINITE)
    assert as_table.exit_code == 0, as_table.output
    cells = [c.strip() for c in as_table.stdout.splitlines()[2].split("|")]
    assert cells[:6] == [
        "infinity",
        "-infinity",
        "infinity",
        "-infinity",
        "infinity",
        "10000-01-01",
    ]
    assert cells[-1] == "2024-01-02"
    as_csv = query(INFINITE, "--output", "csv")
    (row,) = list(csv.DictReader(io.StringIO(as_csv.stdout)))
    assert {k: json.loads(v) if k in ("l", "s") else v for k, v in row.items()} == EXPECTED
    out = tmp_path / "inf.parquet"
    assert query(INFINITE, "--output", "parquet", "--out", str(out)).exit_code == 0
    back = duckdb.sql(
        f"SELECT d::VARCHAR, t::VARCHAR, ns::VARCHAR FROM '{out}'"
    ).fetchall()  # DuckDB reads them back
    assert [str(v) for v in back[0]] == ["infinity", "infinity", "infinity"]


def test_nested_values_in_csv_are_json_text(home: Path) -> None:
    result = query(
        "SELECT [1, 2] AS l, {'a': 1, 'b': 'say \"hi\"'} AS s, NULL::INT[] AS n, "
        "[{'k': [DATE '2024-01-02']}] AS deep, '\\xff'::BLOB AS b",
        "--output",
        "csv",
    )
    assert result.exit_code == 0, result.output
    (row,) = list(csv.DictReader(io.StringIO(result.stdout)))
    assert json.loads(row["l"]) == [1, 2]
    assert json.loads(row["s"]) == {"a": 1, "b": 'say "hi"'}
    assert row["n"] == ""
    assert json.loads(row["deep"]) == [{"k": ["2024-01-02"]}]
    assert row["b"] == "\\xff"  # bytes that are not UTF-8, escaped


@pytest.mark.parametrize("fmt", ["table", "json", "csv"])
def test_every_duckdb_type_in_every_text_format(home: Path, tmp_path: Path, fmt: str) -> None:
    out = tmp_path / f"all.{fmt}"
    result = query("SELECT * FROM test_all_types()", "--output", fmt, "--out", str(out))
    assert result.exit_code == 0, result.output
    text = out.read_text()
    assert "out of range" not in text
    assert "5877642-06-25 (BC)" in text  # DuckDB's smallest date, as DuckDB writes it
    if fmt == "json":
        assert len(json.loads(text)) == 3


def test_parquet_names_the_column_it_cannot_hold(home: Path, tmp_path: Path) -> None:
    out = tmp_path / "all.parquet"
    result = query("SELECT 1 AS a, INTERVAL 1 DAY AS i", "--output", "parquet", "--out", str(out))
    assert result.exit_code == 3
    assert "error: parquet cannot hold column 'i' (month_day_nano_interval)" in result.stderr
    assert 'CAST("i" AS VARCHAR)' in result.stderr
    assert not out.exists() and leftovers(tmp_path) == []


# --- limits --------------------------------------------------------------------------------


@pytest.mark.parametrize("value", ["100000", "0", "-1"])
def test_threads_out_of_range(home: Path, value: str) -> None:
    result = query("SELECT 1", "--threads", value)
    assert result.exit_code == 2
    assert f"Invalid value for '--threads': {value} is not in the range 1<=x<=1024" in (
        result.stderr
    )


@pytest.mark.parametrize("value", ["inf", "1e308", "nan", "-1"])
def test_timeouts_out_of_range(home: Path, value: str) -> None:
    for command, accepted in (("query", "0<=x<=604800"), ("check", "0.1<=x<=600")):
        args = ["SELECT 1"] if command == "query" else ["depot", "nodepot"]
        result = run_cli(command, *args, "--timeout", value)
        assert result.exit_code == 2, (command, result.output)
        assert "Invalid value for '--timeout'" in result.stderr
        if value == "nan":
            low, high = accepted.split("<=x<=")
            assert f"'nan' is not a number of seconds from {low} to {high}" in result.stderr
        else:
            assert f"is not in the range {accepted}" in result.stderr
        assert "Traceback" not in result.output


def test_the_sdk_checks_limits_and_statements(home: Path) -> None:
    import entrepot

    for kwargs in ({"timeout": float("inf")}, {"timeout": float("nan")}, {"threads": 100_000}):
        with pytest.raises(EntrepotError, match="is not a"):
            entrepot.Client(**kwargs)  # type: ignore[arg-type]
    with entrepot.Client() as client:
        with pytest.raises(EntrepotError, match="contains a NUL character"):
            client.sql("SELECT 1\x00; SELECT 2")
        assert client.sql("SELECT 1 AS a").to_pylist() == [{"a": 1}]
