"""libdtx through ctypes: finding the library and declaring its functions.

Every function of dtx.h is declared here, in FUNCTIONS, with its C
signature spelled in ctypes types.  python/tests/test_header.py parses
dtx.h (pycparser) and checks each entry against the header, so that the
two cannot drift apart.

Why ctypes and not cffi: dtx.h has no structs passed by value, no
callbacks and no variadic functions; every object is an opaque pointer,
every string a NUL-terminated char *, every number an int, a size_t or a
uint64_t.  Given exact argtypes/restype (checked against the header),
ctypes converts and checks each argument, and no compiler is needed at
install time.  CDLL releases the GIL around each call.
"""

import ctypes
import ctypes.util
import os

# CZMQ (inside libdtx) catches SIGINT and SIGTERM when its first socket is
# made unless ZSYS_SIGHANDLER is "false": Ctrl-C would then stop raising
# KeyboardInterrupt in the Python process.  The application's own setting
# wins.
os.environ.setdefault("ZSYS_SIGHANDLER", "false")


class dtx_client_t(ctypes.Structure):
    """Opaque: a client (dtx.h)."""


class dtx_txn_t(ctypes.Structure):
    """Opaque: a transaction (dtx.h)."""


class dtx_result_t(ctypes.Structure):
    """Opaque: a statement's result (dtx.h)."""


ClientP = ctypes.POINTER(dtx_client_t)
TxnP = ctypes.POINTER(dtx_txn_t)
ResultP = ctypes.POINTER(dtx_result_t)

# The C types of dtx.h, in ctypes.  An enum is an int (its values are
# small and non-negative).  "const char *" is c_char_p (bytes in, bytes
# out); a writable "char *" (an error buffer) is POINTER(c_char).
c_int = ctypes.c_int
c_size_t = ctypes.c_size_t
c_uint64 = ctypes.c_uint64
c_char_p = ctypes.c_char_p
c_char_ptr = ctypes.POINTER(ctypes.c_char)
c_char_p_p = ctypes.POINTER(ctypes.c_char_p)      # const char *const *
dtx_outcome_t = ctypes.c_int
dtx_errcode_t = ctypes.c_int

# name: (return type, [argument types]), as in dtx.h
FUNCTIONS = {
    "dtx_client_new": (ClientP, [c_char_p, c_int]),
    "dtx_client_new_secure": (ClientP, [c_char_p, c_int, c_char_p, c_char_p]),
    "dtx_client_endpoints_check": (c_int, [c_char_p, c_char_ptr, c_size_t]),
    "dtx_client_destroy": (None, [ctypes.POINTER(ClientP)]),
    "dtx_client_error": (c_char_p, [ClientP]),
    "dtx_client_outcome": (dtx_outcome_t, [ClientP, c_char_p]),
    "dtx_client_wait_ready": (c_int, [ClientP, c_char_p_p, c_int, c_int]),
    "dtx_begin": (TxnP, [ClientP, c_int]),
    "dtx_txn_gid": (c_char_p, [TxnP]),
    "dtx_exec": (ResultP, [TxnP, c_char_p, c_char_p, c_int, c_char_p_p]),
    "dtx_send": (c_int, [TxnP, c_char_p, c_char_p, c_int, c_char_p_p]),
    "dtx_commit": (dtx_outcome_t, [TxnP]),
    "dtx_commit_decided": (dtx_outcome_t, [TxnP]),
    "dtx_rollback": (dtx_outcome_t, [TxnP]),
    "dtx_txn_errcode": (dtx_errcode_t, [TxnP]),
    "dtx_txn_error_database": (c_char_p, [TxnP]),
    "dtx_txn_error_sqlstate": (c_char_p, [TxnP]),
    "dtx_txn_error_message": (c_char_p, [TxnP]),
    "dtx_txn_destroy": (None, [ctypes.POINTER(TxnP)]),
    "dtx_result_ok": (c_int, [ResultP]),
    "dtx_result_errcode": (dtx_errcode_t, [ResultP]),
    "dtx_result_sqlstate": (c_char_p, [ResultP]),
    "dtx_result_error": (c_char_p, [ResultP]),
    "dtx_result_command": (c_char_p, [ResultP]),
    "dtx_result_affected": (c_uint64, [ResultP]),
    "dtx_result_ntuples": (c_int, [ResultP]),
    "dtx_result_nfields": (c_int, [ResultP]),
    "dtx_result_fname": (c_char_p, [ResultP, c_int]),
    "dtx_result_value": (c_char_p, [ResultP, c_int, c_int]),
    "dtx_result_isnull": (c_int, [ResultP, c_int, c_int]),
    "dtx_result_destroy": (None, [ctypes.POINTER(ResultP)]),
    "dtx_outcome_name": (c_char_p, [dtx_outcome_t]),
    "dtx_errcode_name": (c_char_p, [dtx_errcode_t]),
}

# Constants of dtx.h (checked against it by test_header.py)
ENDPOINTS_MAX = 8
GID_MAX = 200
OUTCOMES = {"DTX_COMMITTED": 1, "DTX_ABORTED": 2, "DTX_UNKNOWN": 3, "DTX_IN_PROGRESS": 4}
ERRCODES = {
    "DTX_OK": 0, "DTX_ERR_SQL": 1, "DTX_ERR_UNKNOWN_DB": 2, "DTX_ERR_NO_TXN": 3,
    "DTX_ERR_ABORT_ONLY": 4, "DTX_ERR_BAD_REQUEST": 5, "DTX_ERR_TIMEOUT": 6,
    "DTX_ERR_BUSY": 7, "DTX_ERR_PARTICIPANT": 8, "DTX_ERR_COORDINATOR": 9,
    "DTX_ERR_STATE": 10, "DTX_ERR_UNAVAILABLE": 11, "DTX_ERR_FORBIDDEN": 12,
    "DTX_ERR_NOT_OWNER": 13,
}


def _installed_libdir():
    """The libdir `make install` recorded next to this package, or None."""
    try:
        from . import _installed       # written by make install
    except ImportError:
        return None
    return getattr(_installed, "LIBDIR", None)


def _candidates():
    """Where to look for libdtx, in order, as (what, path) pairs."""
    named = os.environ.get("DTX_LIBRARY")
    if named:
        # The setting names the library: that one or nothing
        return [("DTX_LIBRARY", named)]
    found = []
    libdir = _installed_libdir()
    if libdir:
        found.append(("the libdir of make install", os.path.join(libdir, "libdtx.so.0")))
    name = ctypes.util.find_library("dtx")
    if name:
        found.append(("the loader's cache (ldconfig)", name))
    found.append(("the loader's search path", "libdtx.so.0"))
    return found


def load():
    """Load libdtx and declare its functions.  Raises ImportError, saying
    what was tried and how to name the library, if it cannot."""
    tried = []
    lib = None
    for what, path in _candidates():
        try:
            lib = ctypes.CDLL(path)
            break
        except OSError as error:
            tried.append("%s (%s): %s" % (path, what, error))
    if lib is None:
        raise ImportError(
            "dtx: cannot load libdtx: " + "; ".join(tried)
            + ".  Install dtx (make install, then ldconfig), or set DTX_LIBRARY to the"
            " path of libdtx.so.0 (in a build tree: lib/.libs/libdtx.so.0)")
    for name, (restype, argtypes) in FUNCTIONS.items():
        try:
            function = getattr(lib, name)
        except AttributeError:
            raise ImportError(
                "dtx: %s has no %s: that libdtx is older than this binding"
                " (set DTX_LIBRARY to a newer one)" % (lib._name, name)) from None
        function.restype = restype
        function.argtypes = argtypes
    return lib


lib = load()
path = lib._name
