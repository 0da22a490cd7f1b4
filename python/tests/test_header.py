"""The binding's declarations against dtx.h, so that the two cannot drift:
dtx.h is parsed with pycparser (Debian's python3-pycparser) and every
function the binding declares must exist in the header with the same
return and argument types; every function of the header must be declared;
the enums' values must match.  No system under test is needed.

dtx.h is read from the source tree (DTX_HEADER names another)."""

import ctypes
import os
import re

import pytest

pycparser = pytest.importorskip("pycparser")
from pycparser import c_ast   # noqa: E402

from dtx import _lib          # noqa: E402
import dtx                    # noqa: E402

HEADER = os.environ.get("DTX_HEADER") or os.path.join(
    os.path.dirname(__file__), "..", "..", "lib", "dtx.h")

# The C types dtx.h takes from <stdint.h> and <stddef.h>
_PRELUDE = "typedef unsigned long size_t;\ntypedef unsigned long long uint64_t;\n"


def _preprocess(text):
    """dtx.h without comments, #includes, #defines and its C++ guard: what
    pycparser can parse (it takes preprocessed C)."""
    text = re.sub(r"/\*.*?\*/", " ", text, flags=re.S)
    text = re.sub(r"//[^\n]*", "", text)
    out, skip = [], 0
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith("#ifdef __cplusplus"):
            skip += 1
            continue
        if skip and stripped.startswith("#endif"):
            skip -= 1
            continue
        if skip or stripped.startswith("#"):
            continue
        out.append(line)
    return _PRELUDE + "\n".join(out)


def _defines(text):
    return {m.group(1): int(m.group(2)) for m in
            re.finditer(r"^#define\s+(\w+)\s+(\d+)\s*$", text, flags=re.M)}


@pytest.fixture(scope="module")
def header():
    with open(HEADER) as source:
        text = source.read()
    ast = pycparser.CParser().parse(_preprocess(text), filename=HEADER)
    functions, enums, typedefs = {}, {}, {}
    for node in ast.ext:
        if isinstance(node, c_ast.Decl) and isinstance(node.type, c_ast.FuncDecl):
            functions[node.name] = node.type
        elif isinstance(node, c_ast.Typedef):
            typedefs[node.name] = node.type
            inner = node.type.type
            if isinstance(inner, c_ast.Enum):
                value = -1
                for item in inner.values.enumerators:
                    value = int(item.value.value) if item.value is not None else value + 1
                    enums[item.name] = value
    return {"functions": functions, "enums": enums, "typedefs": typedefs,
            "defines": _defines(text)}


def _ctype(node, typedefs):
    """The ctypes type the binding must use for a C type node."""
    if isinstance(node, c_ast.TypeDecl):
        if isinstance(node.type, c_ast.IdentifierType):
            name = " ".join(node.type.names)
            if name == "void":
                return None
            simple = {"int": ctypes.c_int, "size_t": ctypes.c_size_t,
                      "uint64_t": ctypes.c_uint64}
            if name in simple:
                return simple[name]
            target = typedefs.get(name)
            if target is not None and isinstance(target.type, c_ast.Enum):
                return ctypes.c_int
            if target is not None and isinstance(target.type, c_ast.Struct):
                return getattr(_lib, name)          # the opaque class of that name
            raise AssertionError("dtx.h type %s has no ctypes mapping in this test" % name)
        raise AssertionError("unexpected type node %r" % node)
    if isinstance(node, c_ast.PtrDecl):
        inner = node.type
        if (isinstance(inner, c_ast.TypeDecl) and isinstance(inner.type, c_ast.IdentifierType)
                and inner.type.names == ["char"]):
            # const char * is a string in; char * a buffer written to
            return ctypes.c_char_p if "const" in inner.quals else ctypes.POINTER(ctypes.c_char)
        target = _ctype(inner, typedefs)
        if target is None:
            return ctypes.c_void_p
        return ctypes.POINTER(target)
    raise AssertionError("unexpected type node %r" % node)


def _signature(funcdecl, typedefs):
    restype = _ctype(funcdecl.type, typedefs)
    argtypes = []
    for param in (funcdecl.args.params if funcdecl.args else []):
        if isinstance(param, c_ast.Typename) and _ctype(param.type, typedefs) is None:
            continue            # (void)
        argtypes.append(_ctype(param.type, typedefs))
    return restype, argtypes


def _name(ctype):
    return "void" if ctype is None else ctype.__name__


def test_every_declared_function_matches_the_header(header):
    mismatches = []
    for name, (restype, argtypes) in _lib.FUNCTIONS.items():
        assert name in header["functions"], "binding declares %s, which dtx.h lacks" % name
        want_res, want_args = _signature(header["functions"][name], header["typedefs"])
        if restype is not want_res or list(argtypes) != want_args:
            mismatches.append("%s: binding (%s) -> %s, dtx.h (%s) -> %s" % (
                name, ", ".join(map(_name, argtypes)), _name(restype),
                ", ".join(map(_name, want_args)), _name(want_res)))
    assert not mismatches, "\n".join(mismatches)


def test_every_header_function_is_declared(header):
    missing = sorted(set(header["functions"]) - set(_lib.FUNCTIONS))
    assert not missing, "dtx.h functions the binding does not declare: %s" % missing


def test_loaded_functions_carry_the_declarations():
    for name, (restype, argtypes) in _lib.FUNCTIONS.items():
        function = getattr(_lib.lib, name)
        assert function.restype is restype, name
        assert list(function.argtypes) == list(argtypes), name


def test_enums_and_limits_match(header):
    enums = header["enums"]
    for name, value in list(_lib.OUTCOMES.items()) + list(_lib.ERRCODES.items()):
        assert enums.get(name) == value, "%s: binding %s, dtx.h %s" % (name, value,
                                                                      enums.get(name))
    for name, value in _lib.OUTCOMES.items():
        assert dtx.Outcome[name[len("DTX_"):]] == value
    for name, value in _lib.ERRCODES.items():
        short = name[len("DTX_ERR_"):] if name.startswith("DTX_ERR_") else name[len("DTX_"):]
        assert dtx.Code[short] == value
    assert header["defines"]["DTX_ENDPOINTS_MAX"] == _lib.ENDPOINTS_MAX
    assert header["defines"]["DTX_GID_MAX"] == _lib.GID_MAX


def test_error_codes_newer_than_the_binding_map_generically(header):
    """A code dtx.h gained after this binding (none, or e.g. a new timeout
    kind) still maps: a DatabaseError with libdtx's name for it."""
    from dtx import _errors
    for name, value in header["enums"].items():
        if name.startswith("DTX_ERR_") and value not in _lib.ERRCODES.values():
            error = _errors.make("", code=value)
            assert isinstance(error, dtx.DatabaseError)
            assert error.message and error.message != "?"
    error = _errors.make("", code=99)
    assert type(error) is dtx.DatabaseError and error.code == 99
