"""Exceptions in the DB-API 2.0 (PEP 249) hierarchy, mapped like psycopg's.

An error PostgreSQL reported is mapped by its SQLSTATE class, as psycopg
maps it (23xxx IntegrityError, 42xxx ProgrammingError, 40xxx
TransactionRollbackError, ...).  An error of dtx itself (no SQLSTATE: an
unknown database name, an unreachable coordinator, a timeout) is mapped
by its dtx error code (see CODE_CLASSES).  Every exception carries the
database, SQLSTATE and message, the dtx code and, where known, the
transaction's gid.
"""

import enum

from . import _lib


class Code(enum.IntEnum):
    """dtx error codes (dtx_errcode_t in dtx.h)."""
    OK = 0
    SQL = 1             #: PostgreSQL reported an error (see the SQLSTATE)
    UNKNOWN_DB = 2      #: no participant of that name is registered
    NO_TXN = 3          #: the coordinator has no such transaction
    ABORT_ONLY = 4      #: an earlier error doomed the transaction
    BAD_REQUEST = 5     #: malformed request, gid too long, ...
    TIMEOUT = 6         #: transaction or request timeout
    BUSY = 7            #: a statement is already running
    PARTICIPANT = 8     #: participant unreachable or failed
    COORDINATOR = 9     #: coordinator unreachable / no reply
    STATE = 10          #: e.g. commit after commit
    UNAVAILABLE = 11    #: coordinator shutting down: nothing was done, retry
    FORBIDDEN = 12      #: not a transaction of this client: nothing was done
    NOT_OWNER = 13      #: the gid's shard is not this coordinator's


def code_of(value):
    """A Code for a known value, else the plain int (a code newer than
    this binding; its name comes from dtx_errcode_name)."""
    try:
        return Code(value)
    except ValueError:
        return int(value)


class Warning(Exception):        # noqa: A001 (PEP 249's name)
    """PEP 249 Warning (dtx raises none)."""


class Error(Exception):
    """Base of every dtx error (PEP 249).

    Attributes: ``database`` (the participant name the error came from,
    or None), ``sqlstate`` (five characters from PostgreSQL, or None),
    ``message`` (the text), ``code`` (a :class:`Code`, dtx's error code),
    ``gid`` (the transaction's global id when known, else None).
    ``pgcode`` and ``pgerror`` are psycopg2's names for sqlstate and
    message.
    """

    def __init__(self, message, database=None, sqlstate=None, code=None, gid=None):
        super().__init__(message)
        self.message = message
        self.database = database or None
        self.sqlstate = sqlstate or None
        self.code = code
        self.gid = gid or None

    @property
    def pgcode(self):
        return self.sqlstate

    @property
    def pgerror(self):
        return self.message

    def __str__(self):
        where = []
        if self.database:
            where.append(self.database)
        if self.sqlstate:
            where.append(self.sqlstate)
        elif self.code not in (None, Code.OK, Code.SQL):
            where.append(_code_name(self.code))
        return ("%s: %s" % (" ".join(where), self.message)) if where else self.message


class InterfaceError(Error):
    """The binding itself was misused or cannot work (a closed client, a
    client used after fork)."""


class DatabaseError(Error):
    """An error of the databases or of dtx."""


class DataError(DatabaseError):
    """SQLSTATE class 22: bad data (division by zero, a value out of range)."""


class OperationalError(DatabaseError):
    """Not the program's fault: lost contact, timeouts, resources."""


class IntegrityError(DatabaseError):
    """SQLSTATE class 23: a constraint failed (at a statement or as a NO
    vote at PREPARE TRANSACTION)."""


class InternalError(DatabaseError):
    """The database is in a state where the request cannot be done
    (SQLSTATE classes 24, 25, ...; a transaction an earlier error doomed)."""


class ProgrammingError(DatabaseError):
    """The program's fault: bad SQL (class 42), an unknown database name,
    a parameter of a type the binding cannot send, a second transaction on
    one client."""


class NotSupportedError(DatabaseError):
    """SQLSTATE class 0A."""


class TransactionRollbackError(OperationalError):
    """SQLSTATE class 40 (serialization failure, deadlock): retry the
    transaction."""


class QueryCanceledError(OperationalError):
    """SQLSTATE 57014: the statement was cancelled (statement_timeout)."""


class TransactionResolutionUnknown(OperationalError):
    """The commit's outcome is unknown (SQLSTATE 08007, "transaction
    resolution unknown"): the coordinator did not answer in time.  It may
    have committed or aborted; ``gid`` names the transaction: ask again
    with ``client.outcome(e.gid)``, never guess."""

    def __init__(self, message, gid, database=None, code=None):
        super().__init__(message, database=database, sqlstate="08007", code=code, gid=gid)


# psycopg's short name for the same thing
UnknownOutcome = TransactionResolutionUnknown

# By SQLSTATE class, as psycopg2 (pqpath.c, exception_from_sqlstate) and
# psycopg 3 map them
_SQLSTATE_CLASSES = {
    "0A": NotSupportedError,
    "08": OperationalError,
    "20": ProgrammingError, "21": ProgrammingError,
    "22": DataError,
    "23": IntegrityError,
    "24": InternalError, "25": InternalError,
    "26": OperationalError, "27": OperationalError, "28": OperationalError,
    "2B": InternalError, "2D": InternalError, "2F": InternalError,
    "34": OperationalError,
    "38": InternalError, "39": InternalError, "3B": InternalError,
    "3D": ProgrammingError, "3F": ProgrammingError,
    "40": TransactionRollbackError,
    "42": ProgrammingError, "44": ProgrammingError,
    "53": OperationalError, "54": OperationalError, "55": OperationalError,
    "57": OperationalError, "58": OperationalError,
    "F0": InternalError,
    "HV": OperationalError,
    "P0": InternalError,
    "XX": InternalError,
}

# Errors of dtx itself (no SQLSTATE), by code.  A code newer than this
# binding is a DatabaseError (its name from libdtx)
CODE_CLASSES = {
    Code.SQL: DatabaseError,
    Code.UNKNOWN_DB: ProgrammingError,
    Code.NO_TXN: OperationalError,
    Code.ABORT_ONLY: InternalError,
    Code.BAD_REQUEST: ProgrammingError,
    Code.TIMEOUT: OperationalError,
    Code.BUSY: OperationalError,
    Code.PARTICIPANT: OperationalError,
    Code.COORDINATOR: OperationalError,
    Code.STATE: ProgrammingError,
    Code.UNAVAILABLE: OperationalError,
    Code.FORBIDDEN: ProgrammingError,
    Code.NOT_OWNER: OperationalError,
}


def _code_name(code):
    name = _lib.lib.dtx_errcode_name(int(code))
    return name.decode("utf-8", "replace") if name else str(int(code))


def class_for(sqlstate, code):
    """The exception class for a SQLSTATE (preferred) or a dtx code."""
    if sqlstate:
        if sqlstate == "57014":
            return QueryCanceledError
        if sqlstate == "08007":
            return TransactionResolutionUnknown
        return _SQLSTATE_CLASSES.get(sqlstate[:2], DatabaseError)
    return CODE_CLASSES.get(code, DatabaseError)


def make(message, database=None, sqlstate=None, code=None, gid=None):
    """The mapped exception for an error libdtx reported."""
    code = code_of(code) if code is not None else None
    if not message:
        message = _code_name(code) if code is not None else "error"
    cls = class_for(sqlstate, code)
    if cls is TransactionResolutionUnknown:
        return cls(message, gid=gid, database=database, code=code)
    return cls(message, database=database, sqlstate=sqlstate, code=code, gid=gid)
