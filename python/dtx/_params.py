"""Python values to PostgreSQL's text form, for $1..$n parameters.

dtx carries parameters and values as text (the wire protocol has no
types): PostgreSQL casts a parameter to the type its place needs, or to
the type a cast names ($1::bigint).  Values come back as text too.
"""

import datetime
import decimal
import math
import uuid

from ._errors import ProgrammingError, DataError


def _float(value):
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    return repr(value)        # the shortest text that reads back exactly


def _decimal(value):
    if value.is_snan():
        raise DataError("a signalling NaN Decimal has no PostgreSQL form")
    if value.is_nan():
        return "NaN"
    if value.is_infinite():
        return "Infinity" if value > 0 else "-Infinity"
    return str(value)         # "1.50", "1E+3": numeric input takes both


def _interval(value):
    # timedelta keeps days, seconds (0..86399) and microseconds
    # (0..999999), days carrying the sign: PostgreSQL adds the parts
    return "%d days %d seconds %d microseconds" % (value.days, value.seconds,
                                                   value.microseconds)


def _text(value):
    if "\x00" in value:
        raise DataError("a str parameter holds a NUL character, which PostgreSQL text"
                        " cannot hold")
    return value


def to_text(value):
    """The text form of one parameter, as str (None for SQL NULL).

    None -> NULL; bool -> 'true'/'false'; int; float (NaN, +-Infinity);
    Decimal; str (no NUL characters); bytes/bytearray/memoryview -> bytea's
    hex form '\\x...'; datetime.datetime/date/time in ISO 8601 (a naive
    datetime is read in the session's TimeZone by timestamptz); timedelta
    -> interval; uuid.UUID.  Anything else raises ProgrammingError.
    """
    if value is None:
        return None
    if isinstance(value, bool):            # before int: bool is an int
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return _float(value)
    if isinstance(value, decimal.Decimal):
        return _decimal(value)
    if isinstance(value, str):
        return _text(value)
    if isinstance(value, (bytes, bytearray, memoryview)):
        return "\\x" + bytes(value).hex()
    if isinstance(value, datetime.datetime):   # before date: a datetime is a date
        return value.isoformat(sep=" ")
    if isinstance(value, (datetime.date, datetime.time)):
        return value.isoformat()
    if isinstance(value, datetime.timedelta):
        return _interval(value)
    if isinstance(value, uuid.UUID):
        return str(value)
    raise ProgrammingError("cannot send a parameter of type %s (dtx sends None, bool, int,"
                           " float, Decimal, str, bytes, date, time, datetime, timedelta,"
                           " UUID)" % type(value).__name__)


def encode(params):
    """params (a sequence, or None) as (count, a ctypes array of char *)."""
    import ctypes
    if params is None:
        return 0, None
    if isinstance(params, (str, bytes, dict)):
        raise ProgrammingError("params must be a sequence (a list or tuple) of values for"
                               " $1..$n, not %s" % type(params).__name__)
    texts = [to_text(value) for value in params]
    if not texts:
        return 0, None
    array = (ctypes.c_char_p * len(texts))(
        *[None if text is None else text.encode("utf-8") for text in texts])
    return len(texts), array
