"""The module itself: loading libdtx (and a clear ImportError when it
cannot), Ctrl-C still raising KeyboardInterrupt once a client exists, the
PEP 249 hierarchy, help(dtx).  No system under test is needed."""

import os
import pydoc
import subprocess
import sys

import dtx

PYTHONPATH = os.path.dirname(os.path.dirname(dtx.__file__))


def python(code, **env):
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60, env=dict(os.environ, PYTHONPATH=PYTHONPATH, **env))


def test_import_fails_clearly_without_the_library():
    out = python("import dtx", DTX_LIBRARY="/nonexistent/libdtx.so.0")
    assert out.returncode != 0
    last = out.stderr.strip().splitlines()[-1]
    assert last.startswith("ImportError: dtx: cannot load libdtx: /nonexistent/libdtx.so.0")
    assert "DTX_LIBRARY" in last


def test_library_named_by_setting_is_loaded():
    out = python("import dtx; print(dtx.library)")
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == os.environ["DTX_LIBRARY"]


def test_ctrl_c_still_interrupts_after_a_client():
    """CZMQ would take SIGINT for itself at its first socket; the binding
    keeps Python's handler (ZSYS_SIGHANDLER=false)."""
    code = ("import os, signal, dtx\n"
            "c = dtx.connect('tcp://127.0.0.1:1', request_timeout=0.2)\n"
            "try:\n"
            "    with c.transaction() as tx:\n"
            "        tx.execute('db1', 'SELECT 1')\n"
            "except dtx.OperationalError:\n"
            "    pass\n"
            "try:\n"
            "    os.kill(os.getpid(), signal.SIGINT)\n"
            "    print('not interrupted')\n"
            "except KeyboardInterrupt:\n"
            "    print('interrupted')\n")
    out = python(code, DTX_CLIENT_CERT="", DTX_COORDINATOR_CERT="")
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "interrupted"


def test_pep249_hierarchy():
    assert not hasattr(dtx, "apilevel")     # not a DB-API driver: no cursors
    assert dtx.threadsafety == 1 and dtx.paramstyle == "numeric"
    for cls in (dtx.InterfaceError, dtx.DatabaseError):
        assert issubclass(cls, dtx.Error)
    for cls in (dtx.DataError, dtx.OperationalError, dtx.IntegrityError, dtx.InternalError,
                dtx.ProgrammingError, dtx.NotSupportedError):
        assert issubclass(cls, dtx.DatabaseError)
    assert issubclass(dtx.TransactionResolutionUnknown, dtx.OperationalError)
    assert dtx.UnknownOutcome is dtx.TransactionResolutionUnknown
    assert issubclass(dtx.TransactionRollbackError, dtx.OperationalError)


def test_sqlstate_mapping_like_psycopg():
    from dtx import _errors
    cases = {"23505": dtx.IntegrityError, "23503": dtx.IntegrityError,
             "22012": dtx.DataError, "42601": dtx.ProgrammingError,
             "42P01": dtx.ProgrammingError, "40001": dtx.TransactionRollbackError,
             "40P01": dtx.TransactionRollbackError, "57014": dtx.QueryCanceledError,
             "53300": dtx.OperationalError, "25P02": dtx.InternalError,
             "0A000": dtx.NotSupportedError, "XX000": dtx.InternalError,
             "08006": dtx.OperationalError, "ZZ999": dtx.DatabaseError}
    for sqlstate, cls in cases.items():
        error = _errors.make("m", database="db1", sqlstate=sqlstate, code=1)
        assert type(error) is cls, sqlstate
        assert (error.database, error.sqlstate, error.message) == ("db1", sqlstate, "m")
    unknown = _errors.make("lost", sqlstate="08007", gid="dtx:a:1:2")
    assert type(unknown) is dtx.TransactionResolutionUnknown and unknown.gid == "dtx:a:1:2"
    # no SQLSTATE: by dtx code
    assert type(_errors.make("x", code=dtx.Code.UNKNOWN_DB)) is dtx.ProgrammingError
    assert type(_errors.make("x", code=dtx.Code.COORDINATOR)) is dtx.OperationalError
    assert type(_errors.make("x", code=dtx.Code.FORBIDDEN)) is dtx.ProgrammingError


def test_help_is_useful():
    text = pydoc.render_doc(dtx, renderer=pydoc.plaintext)
    for word in ("connect", "transaction", "TransactionResolutionUnknown", "outcome",
                 "wait_ready", "Threads", "DTX_LIBRARY", "Parameters", "08007"):
        assert word in text, word
    for function in (dtx.connect, dtx.Client.transaction, dtx.Transaction.execute,
                     dtx.Transaction.send, dtx.Transaction.commit, dtx.Client.outcome,
                     dtx.Client.wait_ready, dtx.Transaction.gid):
        assert function.__doc__ and len(function.__doc__) > 40, function
