"""Parameters of every supported type go to PostgreSQL in text form and
come back equal; values come back as text."""

import datetime
import decimal
import math
import uuid

import pytest

import dtx
from dtx import to_text

UTC = datetime.timezone.utc
PLUS2 = datetime.timezone(datetime.timedelta(hours=2, minutes=30))


def parse_bytea(text):
    assert text.startswith("\\x")
    return bytes.fromhex(text[2:])


def parse_bool(text):
    return {"t": True, "f": False}[text]


def parse_timestamptz(text):
    # PostgreSQL prints "+00" for a whole-hour offset: fromisoformat
    # wants "+00:00"
    if len(text) > 3 and text[-3] in "+-" and text[-2:].isdigit():
        text += ":00"
    return datetime.datetime.fromisoformat(text)


CASES = [
    # (value, cast, parse the returned text)
    (None, "text", None),
    ("", "text", str),
    ("plain", "text", str),
    ("quote ' backslash \\ tab\t newline\n", "text", str),
    ("unicode: żółw 🐢 中文", "text", str),
    (0, "bigint", int),
    (-42, "int", int),
    (2**63 - 1, "bigint", int),
    (-2**63, "bigint", int),
    (10**30, "numeric", int),
    (1.5, "float8", float),
    (-0.1, "float8", float),
    (1e300, "float8", float),
    (5e-324, "float8", float),
    (float("inf"), "float8", float),
    (float("-inf"), "float8", float),
    (decimal.Decimal("0.1"), "numeric", decimal.Decimal),
    (decimal.Decimal("-123456789012345678901234567890.000000001"), "numeric",
     decimal.Decimal),
    (decimal.Decimal("1E+3"), "numeric", decimal.Decimal),
    (decimal.Decimal("Infinity"), "numeric", decimal.Decimal),
    (b"", "bytea", parse_bytea),
    (b"\x00\x01\xff binary \x00", "bytea", parse_bytea),
    (bytearray(b"ba"), "bytea", parse_bytea),
    (memoryview(b"mv"), "bytea", parse_bytea),
    (True, "bool", parse_bool),
    (False, "bool", parse_bool),
    (datetime.date(2024, 2, 29), "date", datetime.date.fromisoformat),
    (datetime.date(1, 1, 1), "date", datetime.date.fromisoformat),
    (datetime.datetime(2024, 2, 29, 23, 59, 58, 123456), "timestamp",
     datetime.datetime.fromisoformat),
    (datetime.datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC), "timestamptz", parse_timestamptz),
    (datetime.datetime(2024, 1, 2, 3, 4, 5, 7, tzinfo=PLUS2), "timestamptz",
     parse_timestamptz),
    (datetime.time(12, 34, 56, 789), "time", datetime.time.fromisoformat),
    (uuid.UUID("12345678-1234-5678-1234-567812345678"), "uuid", uuid.UUID),
]


@pytest.mark.parametrize("value, cast, parse", CASES,
                         ids=["%s-%s" % (type(c[0]).__name__, i) for i, c in enumerate(CASES)])
def test_round_trip(client, value, cast, parse):
    with client.transaction() as tx:
        # UTC for timestamptz's text; the value compared is the instant
        tx.execute("db1", "SET LOCAL TimeZone = 'UTC'")
        result = tx.execute("db1", "SELECT $1::%s AS v, $1::%s IS NULL AS isnull" % (cast, cast),
                            [value])
    text, isnull = result.one()
    if value is None:
        assert text is None and isnull == "t"
        return
    assert isinstance(text, str)
    assert isnull == "f"
    back = parse(text)
    if isinstance(value, memoryview):
        value = value.tobytes()
    assert back == value, (value, text)


def test_float_nan_and_decimal_nan(client):
    with client.transaction() as tx:
        row = tx.execute("db1", "SELECT $1::float8, $2::numeric",
                         [float("nan"), decimal.Decimal("NaN")]).one()
    assert math.isnan(float(row[0]))
    assert decimal.Decimal(row[1]).is_nan()


def test_timedelta_as_interval(client):
    cases = [datetime.timedelta(0), datetime.timedelta(days=3, hours=4, microseconds=5),
             datetime.timedelta(seconds=-1), datetime.timedelta(days=-400, minutes=7)]
    with client.transaction() as tx:
        for value in cases:
            # its length in seconds, exact (a day of an interval is 86400 s)
            row = tx.execute("db1", "SELECT extract(epoch FROM $1::interval)", [value]).one()
            exact = (decimal.Decimal(value.days * 86400 + value.seconds)
                     + decimal.Decimal(value.microseconds) / 10**6)
            assert decimal.Decimal(row[0]) == exact, (value, row[0])


def test_many_params_mixed(client):
    values = [None, 1, "two", 3.0, decimal.Decimal("4.00"), b"5", True,
              datetime.date(2006, 7, 8)]
    placeholders = ", ".join("$%d" % (i + 1) for i in range(len(values)))
    with client.transaction() as tx:
        row = tx.execute("db2", "SELECT %s" % placeholders.replace(
            "$3", "$3::text").replace("$8", "$8::date"), values).one()
    assert row == (None, "1", "two", "3.0", "4.00", "\\x35", "true", "2006-07-08")


def test_parameters_are_not_interpolated(system, client):
    """A parameter is data, never SQL."""
    evil = "x'); DROP TABLE items; --"
    with client.transaction() as tx:
        assert tx.execute("db1", "SELECT $1::text", [evil]).scalar() == evil
    assert system.value(0, "SELECT count(*) >= 0 FROM items") == "t"


def test_to_text():
    assert to_text(None) is None
    assert to_text(True) == "true"
    assert to_text(7) == "7"
    assert to_text(0.1) == "0.1"
    assert to_text(float("-inf")) == "-Infinity"
    assert to_text(decimal.Decimal("1.10")) == "1.10"
    assert to_text(b"\x01\xab") == "\\x01ab"
    assert to_text(datetime.datetime(2020, 1, 2, 3, 4, 5)) == "2020-01-02 03:04:05"
    assert to_text(datetime.timedelta(days=-1, seconds=5)) == "-1 days 5 seconds 0 microseconds"
    with pytest.raises(dtx.DataError):
        to_text(decimal.Decimal("sNaN"))
    with pytest.raises(dtx.ProgrammingError):
        to_text(object())
