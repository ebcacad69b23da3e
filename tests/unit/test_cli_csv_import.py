"""`starter.py import`: whatever a CSV file holds, each row is opened or reported as
`line N: field: problem`, and nothing ends in a traceback.

No Temporal server: an import with an invalid row must not connect (`refuse_connect`).
"""

from __future__ import annotations

import asyncio
import csv
import io
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cli import csv_import
from cli import main as starter
from cli.cases import validate_case
from domain.fields import AMOUNT_MAX
from tests.helpers.cli import GOOD_ROW, HEADER, NOW, refuse_connect

COLUMNS = HEADER.split(",")
DAYS_HEADER = "loan_id,borrower_id,name,timezone,currency,overdue_amount_minor,days_overdue"


def parse(*rows: str, header: str = HEADER) -> csv_import.CsvBatch:
    return csv_import.parse_case_csv(io.StringIO("\n".join([header, *rows]) + "\n"), now=NOW)


def only_error(batch: csv_import.CsvBatch) -> str:
    assert batch.cases == []
    (error,) = batch.errors
    return error.describe()


def good_row(**cells: str) -> str:
    """GOOD_ROW with some cells replaced, written as a spreadsheet would (quoted as needed)."""
    values = dict(zip(COLUMNS, GOOD_ROW.split(","), strict=True)) | cells
    text = io.StringIO()
    csv.writer(text, lineterminator="").writerow([values[column] for column in COLUMNS])
    return text.getvalue()


# -- each cell that once ended the import with a traceback --------------------------------------
def test_a_cell_longer_than_the_csv_modules_limit_names_its_line_and_field() -> None:
    # 140,000 characters: over the csv module's default limit of 131,072.
    batch = parse(GOOD_ROW, good_row(loan_id="L-2", name="名" * 140_000))
    assert [case.loan_id for case in batch.cases] == ["L-1"]
    (error,) = batch.errors
    assert error.describe() == "line 3: borrower.name: must be at most 2000 characters"


def test_a_cell_longer_than_any_the_reader_takes_is_reported_for_its_line() -> None:
    too_long = "x" * (csv_import.CELL_CHARS_MAX + 1)
    batch = parse(good_row(name=too_long), good_row(loan_id="L-2"))
    # The rows after it are read as usual.
    assert [(case.line, case.loan_id) for case in batch.cases] == [(3, "L-2")]
    (error,) = batch.errors
    assert error.describe().startswith("line 2: row: cannot be read: field larger than")


@pytest.mark.parametrize("days", ["99999999", "9" * 5000])
def test_days_overdue_beyond_any_date_names_the_field(days: str) -> None:
    message = only_error(parse(f"L-1,B-1,n,Asia/Shanghai,CNY,100,{days}", header=DAYS_HEADER))
    assert message.startswith("line 2: days_overdue: must be at most ")
    assert message.endswith("(a due date in year 1 or later)")


def test_days_overdue_as_far_back_as_a_date_goes_is_read() -> None:
    today = NOW.date()
    (case,) = parse(f"L-1,B-1,n,,CNY,100,{(today - date.min).days}", header=DAYS_HEADER).cases
    assert case.raw["due_date"] == "0001-01-01"


@pytest.mark.parametrize("days", ["²", "٣", "-3", "3.5", "3\x00"])
def test_days_overdue_that_is_not_a_whole_number_of_days_names_the_field(days: str) -> None:
    message = only_error(parse(f"L-1,B-1,n,,CNY,100,{days}", header=DAYS_HEADER))
    assert message == "line 2: days_overdue: must be a whole number of days (0 or more)"


@pytest.mark.parametrize(
    ("amount", "problem"),
    [
        ("9" * 5000, f"must be at most {AMOUNT_MAX} minor units"),
        ("-" + "9" * 5000, "must be greater than 0"),
        (str(AMOUNT_MAX + 1), f"must be at most {AMOUNT_MAX} minor units"),
        ("١٠٠", "must be an integer amount in minor units"),
    ],
)
def test_an_amount_of_any_size_names_the_field(amount: str, problem: str) -> None:
    message = only_error(parse(good_row(overdue_amount_minor=amount)))
    assert message == f"line 2: overdue_amount_minor: {problem}"


def test_an_amount_with_thousands_of_leading_zeros_is_its_value() -> None:
    (case,) = parse(good_row(overdue_amount_minor="0" * 5000 + "500000")).cases
    assert case.raw["overdue_amount_minor"] == 500000


def test_a_nul_byte_names_the_field() -> None:
    message = only_error(parse(good_row(name="Test\x00A")))
    assert message.startswith("line 2: borrower.name: must not contain NUL")


def test_more_cells_than_the_header_names_is_refused() -> None:
    # An unquoted comma in the address: every later cell would land in the wrong column.
    message = only_error(parse(GOOD_ROW + ",Pudong"))
    assert message == (
        f"line 2: row: {len(COLUMNS) + 1} cells, but the header has {len(COLUMNS)} columns "
        "(put a value that holds a comma in double quotes)"
    )
    # Empty cells past the last column (some spreadsheets write them) are harmless.
    assert [case.loan_id for case in parse(GOOD_ROW + ",,").cases] == ["L-1"]


def test_a_timezone_of_any_length_names_the_field() -> None:
    message = only_error(parse("L-1,B-1,n," + "A" * 300_000 + ",CNY,100,3", header=DAYS_HEADER))
    assert message.startswith("line 2: borrower.timezone: unknown IANA timezone 'AAAA")
    assert len(message) < 200


# -- the debt's parts, the loan's terms, the segment -------------------------------------------
DEBT_COLUMNS = (
    "principal_minor",
    "interest_minor",
    "fees_minor",
    "penalty_rate_bps_per_day",
    "fees_authorized",
    "segment",
)
DEBT_HEADER = f"{HEADER},{','.join(DEBT_COLUMNS)}"


def debt_row(*cells: str) -> str:
    """GOOD_ROW (overdue 500000) with the debt's columns after it."""
    return f"{GOOD_ROW},{','.join(cells)}"


def test_csv_parts_terms_and_segment_become_the_start_input() -> None:
    batch = parse(
        debt_row("400000", "50000", "50000", "5", "TRUE", "salaried"),
        debt_row("", "", "500000", "", "no", "").replace("L-1,", "L-2,"),
        header=DEBT_HEADER,
    )
    assert batch.errors == []
    first, second = (case.raw for case in batch.cases)
    assert first["balance"] == {
        "principal_minor": 400000,
        "interest_minor": 50000,
        "fees_minor": 50000,
    }
    assert first["terms"] == {"penalty_rate_bps_per_day": 5, "fees_authorized": True}
    assert first["segment"] == "salaried"
    # A part left empty is 0: a debt of fees alone.
    assert second["balance"] == {"fees_minor": 500000}
    assert second["terms"] == {"fees_authorized": False}
    assert "segment" not in second
    case, _ = validate_case(first, now=NOW)
    assert (case.opening_parts.interest_minor, case.segment) == (50000, "salaried")


def test_csv_without_the_debts_columns_or_with_them_empty_is_as_before() -> None:
    (plain,) = parse(GOOD_ROW).cases
    (empty,) = parse(debt_row("", "", "", "", "", ""), header=DEBT_HEADER).cases
    assert plain.raw == empty.raw
    assert not {"balance", "terms", "segment"} & set(plain.raw)


@pytest.mark.parametrize(
    ("cells", "message"),
    [
        (
            ("400000", "50000", "", "", "", ""),
            "line 2: balance: its parts sum to 450000, not to overdue_amount_minor (500000)",
        ),
        (
            ("4e5", "", "", "", "", ""),
            "line 2: balance.principal_minor: must be a whole number of minor units, 0 or more",
        ),
        (
            ("500001", "", "-1", "", "", ""),
            "line 2: balance.fees_minor: must be a whole number of minor units, 0 or more",
        ),
        (("", "", "", "101", "", ""), "line 2: terms.penalty_rate_bps_per_day: must be at most"),
        (("", "", "", "5.5", "", ""), "line 2: terms.penalty_rate_bps_per_day: must be a whole"),
        (("", "", "", "", "maybe", ""), "line 2: terms.fees_authorized: must be true or false"),
        (("", "", "", "", "", "s" * 65), "line 2: segment: must be at most 64 characters"),
    ],
)
def test_csv_debt_cells_the_case_would_refuse_name_the_line_and_field(
    cells: tuple[str, ...], message: str
) -> None:
    assert only_error(parse(debt_row(*cells), header=DEBT_HEADER)).startswith(message)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cells=st.lists(st.one_of(st.text(max_size=12), st.integers().map(str)), min_size=6))
def test_any_debt_cells_either_open_or_are_reported_naming_their_field(cells: list[str]) -> None:
    text = io.StringIO()
    writer = csv.writer(text)
    writer.writerow(DEBT_HEADER.split(","))
    writer.writerow([*GOOD_ROW.split(","), *cells[:6]])
    batch = csv_import.parse_case_csv(io.StringIO(text.getvalue()), now=NOW)
    for error in batch.errors:
        assert error.field.split(".")[0] in ("balance", "terms", "segment"), error
    for case in batch.cases:
        validate_case(case.raw, now=NOW)
    assert len(batch.cases) + len(batch.errors) == 1


# -- a file that is not UTF-8 -------------------------------------------------------------------
def write_bytes(tmp_path: Path, *rows: bytes) -> Path:
    path = tmp_path / "cases.csv"
    path.write_bytes(b"\n".join([HEADER.encode(), *rows]) + b"\n")
    return path


def test_a_cell_that_is_not_utf8_names_its_line_and_field(tmp_path: Path) -> None:
    gbk_name = GOOD_ROW.replace("Test A", "王小明").replace("L-1,", "L-2,").encode("gbk")
    path = write_bytes(
        tmp_path, GOOD_ROW.encode(), gbk_name, GOOD_ROW.replace("L-1,", "L-3,").encode()
    )
    batch = csv_import.read_case_csv(path, now=NOW)
    assert [case.loan_id for case in batch.cases] == ["L-1", "L-3"]
    assert [error.describe() for error in batch.errors] == [
        "line 3: borrower.name: is not UTF-8 text (save the file as UTF-8)"
    ]


def test_a_byte_that_is_not_utf8_in_an_ignored_column_is_ignored(tmp_path: Path) -> None:
    path = write_bytes(tmp_path, GOOD_ROW.encode()[:-1] + b"\xff")  # the `extra` column
    assert [case.loan_id for case in csv_import.read_case_csv(path, now=NOW).cases] == ["L-1"]


# -- through the command ------------------------------------------------------------------------
def test_import_of_the_rows_that_ended_in_a_traceback_reports_each_and_opens_nothing(
    tmp_path: Path, capsys: Any
) -> None:
    path = tmp_path / "cases.csv"
    path.write_bytes(
        "\n".join(
            [
                DAYS_HEADER,
                f"L-1,B-1,{'x' * 140_000},,CNY,100,3",
                "L-2,B-2,n,,CNY,100,99999999",
                "L-3,B-3,n,,CNY," + "9" * 5000 + ",3",
                "L-4,B-4,n,,CNY,100,3",
            ]
        ).encode()
        + b"\nL-5,B-5,\xff,,CNY,100,3\n"
    )
    code = asyncio.run(starter.run(["import", str(path)], connect=refuse_connect))
    assert code == 2
    captured = capsys.readouterr()
    lines = captured.err.splitlines()
    assert lines[:3] == [
        "line 2: borrower.name: must be at most 2000 characters",
        lines[1],
        f"line 4: overdue_amount_minor: must be at most {AMOUNT_MAX} minor units",
    ]
    assert lines[1].startswith("line 3: days_overdue: must be at most ")
    assert lines[3] == "line 6: borrower.name: is not UTF-8 text (save the file as UTF-8)"
    assert lines[4].startswith("4 invalid row(s); nothing imported")
    assert "Traceback" not in captured.err
    assert captured.out == ""


# -- any row at all -----------------------------------------------------------------------------
GOOD_CELLS = dict(zip(COLUMNS, GOOD_ROW.split(","), strict=True))
any_cell = st.one_of(
    st.text(max_size=40),
    # Bytes of any file, as the reader decodes them.
    st.binary(max_size=40).map(lambda raw: raw.decode("utf-8", "surrogateescape")),
    st.integers().map(str),
    st.integers(min_value=0, max_value=6000).map(lambda n: "9" * n),
    st.sampled_from(["", " ", "0", "-1", "1e3", "Asia/Shanghai", "../x", "\x00", '"', "\r\n"]),
)


@settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(
    changes=st.dictionaries(st.sampled_from(COLUMNS), any_cell, max_size=len(COLUMNS)),
    extra_cells=st.lists(any_cell, max_size=2),
    days_instead=st.booleans(),
)
def test_any_row_either_opens_or_is_reported_with_its_line_and_field(
    changes: dict[str, str], extra_cells: list[str], days_instead: bool
) -> None:
    columns = [c if c != "due_date" or not days_instead else "days_overdue" for c in COLUMNS]
    cells = {**GOOD_CELLS, **({"due_date": "5"} if days_instead else {}), **changes}
    text = io.StringIO()
    writer = csv.writer(text)
    writer.writerow(columns)
    writer.writerow([cells[column] for column in COLUMNS] + extra_cells)
    # Also any text at all after it, however (un)quoted.
    text.write(",".join(changes.values()) + "\n")

    batch = csv_import.parse_case_csv(io.StringIO(text.getvalue()), now=NOW)

    for error in batch.errors:
        assert error.line >= 2 and error.field and error.problem
        assert error.describe().startswith(f"line {error.line}: {error.field}: ")
    for case in batch.cases:
        validate_case(case.raw, now=NOW)
    # The row written first is opened or reported (unless every cell of it is blank).
    if any(cells[column].strip() for column in COLUMNS):
        assert batch.cases or batch.errors
