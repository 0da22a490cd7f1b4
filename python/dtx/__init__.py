"""dtx: atomic transactions across PostgreSQL databases, from Python.

A binding over libdtx (dtx.h), the client library of the dtx
two-phase-commit coordinator, through ctypes: pure Python, no compiler.
It loads the installed libdtx.so.0, or the one the environment variable
DTX_LIBRARY names; if it cannot, ``import dtx`` raises ImportError saying
what it tried.

    import dtx

    with dtx.connect("tcp://127.0.0.1:7100", client_cert="keys/app1_secret",
                     coordinator_cert="keys/coordinator") as client:
        with client.transaction(timeout=10) as tx:
            rows = tx.execute("bank1", "UPDATE accounts SET balance = balance - $1"
                              " WHERE id = $2 RETURNING balance", [100, 1])
            if int(rows[0][0]) < 0:
                raise ValueError("overdraft")       # rolls back
            tx.send("bank2", "UPDATE accounts SET balance = balance + $1"
                    " WHERE id = $2", [100, 7])
        # committed here, on both databases, or an exception says why

Commit returns a definite outcome or raises: IntegrityError and the like
(PEP 249, mapped by SQLSTATE as psycopg maps them) when the transaction
aborted, with the database, SQLSTATE and message of the cause;
TransactionResolutionUnknown (SQLSTATE 08007) carrying the gid when the
coordinator did not answer: ask again with ``client.outcome(gid)``.

Parameters ($1..$n) are sent as PostgreSQL text: None, bool, int, float,
Decimal, str, bytes (bytea), date, time, datetime, timedelta (interval),
UUID.  Values come back as str (or None for NULL): the protocol carries
text, not types; convert them (int(), Decimal(), ...) or cast in SQL.

Threads: a client, and its transaction, belong to one thread at a time
(dtx.h's rule).  The binding enforces it: every call on a client holds the
client's lock, so calls from two threads are serialized, never
interleaved; and a client runs one transaction at a time, so a second
``transaction()`` while one is open raises ProgrammingError.  Use one
client per thread.  Blocking calls release the GIL.  A client does not
survive fork(): make clients in the process that uses them.

Timeouts are in seconds (floats allowed).
"""

import atexit
import ctypes
import enum
import os
import threading
import weakref

from . import _lib
from ._errors import (Code, Warning, Error, InterfaceError, DatabaseError, DataError,
                      OperationalError, IntegrityError, InternalError, ProgrammingError,
                      NotSupportedError, TransactionRollbackError, QueryCanceledError,
                      TransactionResolutionUnknown, UnknownOutcome)
from . import _errors
from ._params import to_text

__all__ = [
    "connect", "check_endpoints", "Client", "Transaction", "Result", "Outcome", "Code",
    "Warning", "Error", "InterfaceError", "DatabaseError", "DataError", "OperationalError",
    "IntegrityError", "InternalError", "ProgrammingError", "NotSupportedError",
    "TransactionRollbackError", "QueryCanceledError", "TransactionResolutionUnknown",
    "UnknownOutcome", "to_text", "threadsafety", "paramstyle", "library",
]

__version__ = "0.1.0"

#: PEP 249's names for two facts (dtx is not a DB-API driver: it has no
#: cursors and no apilevel; it borrows PEP 249's exceptions).
#: threadsafety 1: threads may share the module, not a client (a client
#: is used by one thread at a time).
threadsafety = 1
#: Parameters are PostgreSQL's own $1, $2, ... ("numeric")
paramstyle = "numeric"

#: The path of the libdtx this module loaded
library = _lib.path

_c = _lib.lib


class Outcome(enum.IntEnum):
    """The outcome of a global transaction (dtx_outcome_t)."""
    COMMITTED = 1       #: committed on every database it wrote to
    ABORTED = 2         #: rolled back on every database
    UNKNOWN = 3         #: the coordinator could not be asked, or could not say: ask again
    IN_PROGRESS = 4     #: still running (from Client.outcome only)


COMMITTED = Outcome.COMMITTED
ABORTED = Outcome.ABORTED
UNKNOWN = Outcome.UNKNOWN
IN_PROGRESS = Outcome.IN_PROGRESS


def _text(value):
    """bytes from libdtx as str ("" for NULL)."""
    return value.decode("utf-8", "replace") if value else ""


def _bytes(value, what):
    if not isinstance(value, str):
        raise ProgrammingError("%s must be a str, not %s" % (what, type(value).__name__))
    if "\x00" in value:
        raise ProgrammingError("%s holds a NUL character" % what)
    return value.encode("utf-8")


def _ms(seconds, what, zero_ok=False):
    """A timeout in seconds as the int milliseconds libdtx takes."""
    if isinstance(seconds, bool) or not isinstance(seconds, (int, float)):
        raise ProgrammingError("%s must be a number of seconds, not %r" % (what, seconds))
    ms = int(round(seconds * 1000))
    if ms < 0 or (ms == 0 and not zero_ok) or ms > 2**31 - 1:
        raise ProgrammingError("%s=%r: give seconds between 0.001 and %d" %
                               (what, seconds, (2**31 - 1) // 1000))
    return ms


def check_endpoints(endpoint):
    """Check an endpoint list as connect() takes it, without connecting.
    Raises ProgrammingError naming the problem (an empty item, an endpoint
    given twice, more than 8, not transport://address)."""
    buffer = ctypes.create_string_buffer(512)
    if _c.dtx_client_endpoints_check(_bytes(endpoint, "endpoint"), buffer, len(buffer)):
        raise ProgrammingError(_text(buffer.value) or "invalid endpoint list")


def _check_cert(path, what):
    if not isinstance(path, (str, os.PathLike)):
        raise ProgrammingError("%s must be a path, not %r" % (what, path))
    path = os.fspath(path)
    try:
        with open(path, "rb"):
            pass
    except OSError as error:
        raise InterfaceError("%s %s cannot be read: %s" % (what, path, error.strerror)) from None
    return path


def connect(endpoint, request_timeout=30.0, client_cert=None, coordinator_cert=None):
    """Connect to a dtx coordinator; returns a :class:`Client`.

    endpoint: "tcp://HOST:PORT", or a comma-separated list of up to 8
    coordinators' endpoints (docs/ha.md: transactions begin on one and
    move on to the next when it stops answering).

    request_timeout: seconds to wait for any one answer (default 30).

    client_cert, coordinator_cert: CurveZMQ keys (docs/security.md): this
    client's certificate with its secret key (NAME_secret, from `dtxctl
    keygen NAME`) and the coordinator's public certificate.  Give both or
    neither; with neither, libdtx takes DTX_CLIENT_CERT and
    DTX_COORDINATOR_CERT from the environment, and without those the link
    has no CurveZMQ (a secured coordinator never answers it: requests time
    out).

    Nothing is sent yet: an unreachable coordinator shows at the first
    request (use wait_ready to wait for the system).  Raises
    ProgrammingError for a malformed endpoint list, InterfaceError for a
    certificate that cannot be read.
    """
    return Client(endpoint, request_timeout, client_cert, coordinator_cert)


_clients = weakref.WeakSet()


@atexit.register
def _close_all():
    # Before libdtx's own exit handlers (CZMQ's zsys_shutdown): sockets
    # still open at that point are reported as dangling and slow the exit
    for client in list(_clients):
        client.close()


class Client:
    """A connection to a dtx coordinator (or to several).  Make it with
    :func:`connect`.  A context manager: ``with dtx.connect(...) as
    client:`` closes it at the end (an open transaction is rolled back).

    One thread at a time: each call holds the client's lock (calls from
    two threads are serialized), and one transaction at a time (a second
    raises ProgrammingError).
    """

    def __init__(self, endpoint, request_timeout=30.0, client_cert=None, coordinator_cert=None):
        self._handle = None
        self._lock = threading.RLock()
        self._pid = os.getpid()
        self._txn = None                # weakref to the open Transaction
        check_endpoints(endpoint)
        self.endpoint = endpoint
        self.request_timeout = request_timeout
        ms = _ms(request_timeout, "request_timeout")
        if (client_cert is None) != (coordinator_cert is None):
            raise ProgrammingError("give both client_cert and coordinator_cert, or neither")
        if client_cert is not None:
            client_cert = _check_cert(client_cert, "client certificate")
            coordinator_cert = _check_cert(coordinator_cert, "coordinator certificate")
            handle = _c.dtx_client_new_secure(_bytes(endpoint, "endpoint"), ms,
                                              client_cert.encode(), coordinator_cert.encode())
        else:
            cert = os.environ.get("DTX_CLIENT_CERT")
            coordinator = os.environ.get("DTX_COORDINATOR_CERT")
            if bool(cert) != bool(coordinator):
                raise InterfaceError("DTX_CLIENT_CERT and DTX_COORDINATOR_CERT: set both or"
                                     " neither (only %s is set)" %
                                     ("DTX_CLIENT_CERT" if cert else "DTX_COORDINATOR_CERT"))
            if cert:
                _check_cert(cert, "DTX_CLIENT_CERT")
                _check_cert(coordinator, "DTX_COORDINATOR_CERT")
            handle = _c.dtx_client_new(_bytes(endpoint, "endpoint"), ms)
        if not handle:
            raise InterfaceError("cannot make a dtx client for %s (libdtx logged why on"
                                 " stderr)" % endpoint)
        self._handle = handle
        _clients.add(self)

    # -- life ---------------------------------------------------------------

    def _checked(self):
        """The C handle, for a call made under the lock."""
        if self._handle is None:
            raise InterfaceError("the client is closed")
        if os.getpid() != self._pid:
            raise InterfaceError("the client was made in another process (before fork):"
                                 " make a client in this one")
        return self._handle

    def close(self):
        """Close the client.  A transaction still open is rolled back.
        Closing twice is harmless."""
        with self._lock:
            if self._handle is None:
                return
            txn = self._txn() if self._txn else None
            if txn is not None:
                txn._discard()
            handle, self._handle = self._handle, None
            if os.getpid() == self._pid:
                _c.dtx_client_destroy(ctypes.byref(handle))
            # (after fork the ZeroMQ sockets are the parent's: leave them)
            _clients.discard(self)

    @property
    def closed(self):
        """True once close() was called."""
        return self._handle is None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False

    def __del__(self):
        try:
            self.close()
        except Exception:
            pass

    def __repr__(self):
        return "<dtx.Client %s%s>" % (self.endpoint, " closed" if self.closed else "")

    # -- requests -----------------------------------------------------------

    @property
    def error(self):
        """The last error message libdtx kept on this client ("" if none)."""
        with self._lock:
            return _text(_c.dtx_client_error(self._checked()))

    def transaction(self, timeout=None):
        """Begin a global transaction; returns a :class:`Transaction`.

        timeout: seconds the whole transaction may live; when they run
        out the coordinator aborts it (None: the coordinator's default).

        As a context manager it commits on a clean exit and rolls back
        when the block raises (the exception goes on).  Nothing is sent
        until the first statement: an unreachable coordinator shows there.
        One transaction per client at a time: ProgrammingError otherwise.
        """
        ms = 0 if timeout is None else _ms(timeout, "timeout")
        with self._lock:
            handle = self._checked()
            open_ = self._txn() if self._txn else None
            if open_ is not None and not open_.closed:
                raise ProgrammingError(
                    "this client already has an open transaction (%s): a client runs one"
                    " transaction at a time and belongs to one thread; use a client per"
                    " thread" % (open_._gid or "gid not known yet"))
            txn = _c.dtx_begin(handle, ms)
            if not txn:
                raise InterfaceError("dtx_begin refused its arguments")
            transaction = Transaction(self, txn)
            self._txn = weakref.ref(transaction)
            return transaction

    def outcome(self, gid):
        """Ask the coordinator(s) for the outcome of the transaction gid.

        Returns Outcome.COMMITTED, ABORTED or IN_PROGRESS (exact answers),
        or Outcome.UNKNOWN when no coordinator answered or could say
        (``client.error`` says what each said): ask again later.  Silence
        is never taken for ABORTED.  A client is told about the gids its
        key began only (an operator's key: any); others are UNKNOWN.
        """
        gid = _bytes(gid, "gid")
        with self._lock:
            return Outcome(_c.dtx_client_outcome(self._checked(), gid))

    def wait_ready(self, databases, timeout=30.0):
        """Wait until the coordinator answers and each database (by
        participant name) runs a statement; raise OperationalError naming
        the last reason if that takes more than timeout seconds."""
        if isinstance(databases, str):
            databases = [databases]
        names = [_bytes(name, "database") for name in databases]
        if not names:
            raise ProgrammingError("wait_ready needs at least one database name")
        ms = _ms(timeout, "timeout")
        array = (ctypes.c_char_p * len(names))(*names)
        with self._lock:
            handle = self._checked()
            if not _c.dtx_client_wait_ready(handle, array, len(names), ms):
                raise OperationalError("not ready within %g s: %s" %
                                       (timeout, _text(_c.dtx_client_error(handle))),
                                       code=Code.COORDINATOR)


class Result:
    """The result of one statement: ``columns`` (names), ``rows`` (a list
    of tuples of str, None for NULL), ``rowcount`` (rows affected by
    INSERT/UPDATE/DELETE or returned by SELECT) and ``command`` (the tag,
    e.g. "UPDATE 1").  Iterating, len() and indexing go over the rows.
    Values are text as PostgreSQL prints them ('t'/'f' for booleans,
    '\\x...' for bytea): convert as needed.
    """

    __slots__ = ("columns", "rows", "rowcount", "command")

    def __init__(self, columns, rows, rowcount, command):
        self.columns = columns
        self.rows = rows
        self.rowcount = rowcount
        self.command = command

    def __iter__(self):
        return iter(self.rows)

    def __len__(self):
        return len(self.rows)

    def __getitem__(self, index):
        return self.rows[index]

    def one(self):
        """The only row (a tuple); ProgrammingError unless there is exactly one."""
        if len(self.rows) != 1:
            raise ProgrammingError("expected one row, got %d" % len(self.rows))
        return self.rows[0]

    def scalar(self):
        """The first value of the only row (str or None)."""
        return self.one()[0]

    def dicts(self):
        """The rows as dicts by column name."""
        return [dict(zip(self.columns, row)) for row in self.rows]

    def __repr__(self):
        return "<dtx.Result %s: %d row(s)>" % (self.command, len(self.rows))


def _copy_result(result):
    """The rows of a successful dtx_result_t, copied into Python."""
    nfields = _c.dtx_result_nfields(result)
    ntuples = _c.dtx_result_ntuples(result)
    columns = [_text(_c.dtx_result_fname(result, j)) for j in range(nfields)]
    rows = []
    value = _c.dtx_result_value
    for i in range(ntuples):
        row = []
        for j in range(nfields):
            raw = value(result, i, j)
            row.append(None if raw is None else raw.decode("utf-8", "replace"))
        rows.append(tuple(row))
    return Result(columns, rows, int(_c.dtx_result_affected(result)),
                  _text(_c.dtx_result_command(result)))


class Transaction:
    """A global transaction, made by :meth:`Client.transaction`.

    ``execute`` runs a statement and returns its rows; ``send`` queues one
    whose result is not needed (it runs with the commit); ``commit`` and
    ``rollback`` end it.  As a context manager: commit on a clean exit,
    roll back when the block raises.  After a statement fails the
    transaction can only roll back (commit raises the cause).
    """

    def __init__(self, client, handle):
        self._client = client
        self._handle = handle
        self._gid = None
        #: None while open; then the Outcome the transaction ended with
        self.outcome = None

    @property
    def closed(self):
        """True once it has committed, aborted or ended unknown."""
        return self._handle is None

    def _checked(self):
        self._client._checked()
        if self._handle is None:
            raise ProgrammingError("the transaction has already ended (%s)" %
                                   (self.outcome.name.lower() if self.outcome else "closed"))
        return self._handle

    def _error(self, database=None, code=None, sqlstate=None, message=None):
        """The exception for the transaction's recorded error (its cause)."""
        handle = self._handle
        tcode = _c.dtx_txn_errcode(handle)
        return _errors.make(
            message if message is not None else _text(_c.dtx_txn_error_message(handle)),
            database=database if database is not None
            else _text(_c.dtx_txn_error_database(handle)),
            sqlstate=sqlstate if sqlstate is not None
            else _text(_c.dtx_txn_error_sqlstate(handle)),
            code=code if code is not None else tcode,
            gid=self._gid)

    @property
    def gid(self):
        """The global id (as in PREPARE TRANSACTION).  Asked before any
        statement ran, it waits for the coordinator's answer (one round
        trip).  Raises OperationalError if the coordinator could not be
        reached or refused the transaction."""
        if self._gid:
            return self._gid
        if self._handle is None:
            raise OperationalError("the transaction ended without a gid (nothing reached the"
                                   " coordinator)", code=Code.COORDINATOR)
        with self._client._lock:
            gid = _text(_c.dtx_txn_gid(self._checked()))
            if not gid:
                raise OperationalError(
                    "the transaction has no gid: %s" % (self._client_error() or
                                                         "the coordinator did not give one"),
                    code=Code.COORDINATOR)
            self._gid = gid
            return gid

    def _client_error(self):
        return _text(_c.dtx_client_error(self._client._handle))

    def _remember_gid(self):
        """Keep the gid once libdtx knows it (never waits)."""
        if not self._gid and self._handle is not None:
            # dtx_txn_gid waits only when no request was answered yet; it
            # is called here after a request, or on an ended transaction
            gid = _text(_c.dtx_txn_gid(self._handle))
            self._gid = gid or None

    def execute(self, database, sql, params=None):
        """Run one statement on the database the participant `database`
        fronts, with $1..$n taken from params; returns a :class:`Result`.
        Raises the mapped exception if it fails (then the transaction can
        only roll back)."""
        db = _bytes(database, "database")
        text = _bytes(sql, "sql")
        count, array = _params_encode(params)
        with self._client._lock:
            handle = self._checked()
            result = _c.dtx_exec(handle, db, text, count, array)
            if not result:
                raise MemoryError("dtx_exec: out of memory")
            try:
                if _c.dtx_result_ok(result):
                    copied = _copy_result(result)
                    self._remember_gid()
                    return copied
                code = _c.dtx_result_errcode(result)
                sqlstate = _text(_c.dtx_result_sqlstate(result))
                message = _text(_c.dtx_result_error(result))
            finally:
                _c.dtx_result_destroy(ctypes.byref(result))
            self._remember_gid()
            # The database the error came from: the transaction's record
            # when it is this error (an earlier dtx_send's failure reported
            # here names its own database), else the one asked
            where = database
            if (_c.dtx_txn_errcode(handle) == code
                    and _text(_c.dtx_txn_error_message(handle)) == message
                    and _text(_c.dtx_txn_error_database(handle))):
                where = _text(_c.dtx_txn_error_database(handle))
            error = _errors.make(message, database=where, sqlstate=sqlstate, code=code,
                                 gid=self._gid)
            if _is_ended(code):
                # The coordinator ended it (timeout, no such transaction)
                self._finish(Outcome.ABORTED)
        raise error

    def send(self, database, sql, params=None):
        """Queue one statement whose result is not needed (an UPDATE, an
        INSERT): no round trip; it runs with the next execute on that
        database or with the commit.  If it fails the transaction aborts
        and the next execute or the commit raises its error."""
        db = _bytes(database, "database")
        text = _bytes(sql, "sql")
        count, array = _params_encode(params)
        with self._client._lock:
            handle = self._checked()
            if _c.dtx_send(handle, db, text, count, array):
                if _c.dtx_txn_errcode(handle) == Code.COORDINATOR:
                    raise self._error()
                raise ProgrammingError("dtx_send refused the statement (transaction ended,"
                                       " or a database name longer than dtx allows)",
                                       database=database, code=Code.BAD_REQUEST)

    def commit(self, decided=False):
        """Commit; returns Outcome.COMMITTED.

        decided=True returns as soon as the decision is durable in the
        coordinator's log, before every database has run COMMIT PREPARED
        (same atomicity and durability; another session may see the old
        rows for a moment).

        Raises the cause's exception (IntegrityError for a NO vote, ...)
        if the transaction aborted, and TransactionResolutionUnknown
        (SQLSTATE 08007, with .gid) if the coordinator did not answer:
        ask later with client.outcome(gid).
        """
        with self._client._lock:
            handle = self._checked()
            end = _c.dtx_commit_decided if decided else _c.dtx_commit
            raw = end(handle)
            self._remember_gid()
            outcome = _outcome(raw)
            if outcome is None:
                # Not an outcome but an error code (dtx.h: DTX_ERR_UNAVAILABLE
                # when the coordinator was shutting down: nothing was done)
                error = self._error(code=raw)
                self._finish(Outcome.ABORTED)
                raise error
            if outcome == Outcome.COMMITTED:
                self._finish(outcome)
                return outcome
            if outcome == Outcome.ABORTED:
                error = self._error()
                if error.code == Code.OK or error.code is None:
                    error = TransactionRollbackError(
                        "transaction aborted (the coordinator gave no cause)", code=Code.OK,
                        gid=self._gid)
            else:
                # UNKNOWN: libdtx never answers it without a gid
                why = _text(_c.dtx_txn_error_message(handle)) or self._client_error()
                error = TransactionResolutionUnknown(
                    "commit outcome unknown for %s: %s; ask again with client.outcome(gid)"
                    % (self._gid, why), gid=self._gid, code=Code.COORDINATOR)
            self._finish(outcome)
        raise error

    def rollback(self):
        """Roll back; returns Outcome.ABORTED (no COMMIT was sent, so it
        cannot commit; on lost contact the coordinator rolls back at the
        transaction's timeout).  Rolling back an ended transaction does
        nothing."""
        with self._client._lock:
            if self._handle is None:
                return self.outcome
            self._client._checked()
            _c.dtx_rollback(self._handle)
            self._remember_gid()
            self._finish(Outcome.ABORTED)
            return Outcome.ABORTED

    def _finish(self, outcome):
        """Ended: free the handle (under the client's lock)."""
        self.outcome = outcome
        handle, self._handle = self._handle, None
        if handle is not None:
            _c.dtx_txn_destroy(ctypes.byref(handle))

    def _discard(self):
        """The client closes: roll back if open (under the client's lock)."""
        if self._handle is not None:
            if os.getpid() == self._client._pid:
                _c.dtx_rollback(self._handle)
                self._finish(Outcome.ABORTED)
            else:
                self._handle = None

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        if self._handle is None:
            return False
        if exc_type is not None:
            try:
                self.rollback()
            except Error:
                pass            # the block's exception is the one to see
            return False
        self.commit()
        return False

    def __del__(self):
        try:
            client = self._client
            if self._handle is not None and client._handle is not None:
                with client._lock:
                    self._discard()
        except Exception:
            pass

    def __repr__(self):
        state = "open" if self.outcome is None else self.outcome.name.lower()
        return "<dtx.Transaction %s %s>" % (self._gid or "(gid not known yet)", state)


def _params_encode(params):
    from ._params import encode
    return encode(params)


def _outcome(value):
    """An outcome dtx_commit may return (IN_PROGRESS counts as UNKNOWN),
    or None for anything else."""
    if value == Outcome.IN_PROGRESS:
        return Outcome.UNKNOWN
    try:
        return Outcome(value)
    except ValueError:
        return None


def _is_ended(code):
    return code in (Code.NO_TXN, Code.TIMEOUT)
