"""A pickle reader that builds data and never runs code: only allow-listed globals resolve.

Third-party network pickles (official StyleGAN PyTorch and TensorFlow files) are plain `pickle` streams
that name globals to call. `pickle.load` would import and call anything named; `RestrictedUnpickler`
resolves only the globals in an explicit allow-list and refuses the rest *before* anything is called.
The reusable pieces are the allow-lists: `NUMPY_GLOBALS` (numpy scalars, dtypes and arrays in every
spelling numpy 1 and numpy 2 write, protocols 2-5, object dtypes refused), `TORCH_GLOBALS` (tensors and
parameters as plain `pickle` stores them) and `CONTAINER_GLOBALS`. Importers add their own reconstructors.
"""

from __future__ import annotations

import io
import os
import pickle
import pickletools
from collections import OrderedDict
from collections.abc import Mapping
from typing import IO, Any

import numpy as np
import torch

from core.errors import SGError

GlobalKey = tuple[str, str]


class RefusedPickle(SGError):
    """The pickle asked for something outside the allow-list; nothing from it was executed."""


def refuse(what: str) -> RefusedPickle:
    return RefusedPickle(f"refusing to load: {what} (nothing from the file was executed)")


# ----------------------------------------------------------------------------------------------------------
# numpy: `numpy.float64` attributes pickle as scalar(dtype, bytes); arrays as _reconstruct(ndarray, ...)
# followed by BUILD(state) (protocols 2-4, and 5 for non-contiguous arrays) or as _frombuffer(buf, dtype,
# shape, order) (protocol 5). numpy 2 moved numpy.core to numpy._core; both spellings occur in real files.


def _checked_dtype(dtype: Any, where: str) -> np.dtype:
    if not isinstance(dtype, np.dtype):
        raise refuse(f"{where} without a numpy dtype")
    if dtype.hasobject:
        kind = f"numpy's object dtype ('{dtype}', in a {where})"
        raise refuse(f"the pickle asks for {kind}, which can hold any object")
    return dtype


def _np_dtype(spec: Any, align: Any = False, copy: Any = False) -> np.dtype:
    """numpy.dtype('f8', False, True) as numpy pickles it; only a type code string is accepted."""
    if not isinstance(spec, str):
        raise refuse(f"the pickle builds a numpy dtype from {type(spec).__name__}, not a type code")
    try:
        dt = np.dtype(spec, align=bool(align), copy=bool(copy))
    except TypeError as exc:
        raise refuse(f"unknown numpy dtype {spec!r}: {exc}") from None
    return _checked_dtype(dt, "dtype")


def _np_scalar(dtype: Any, data: Any = None) -> Any:
    """numpy.core.multiarray.scalar(dtype, raw bytes): a numpy scalar such as the float64 `weight_gain`."""
    dt = _checked_dtype(dtype, "scalar")
    if not isinstance(data, bytes) or len(data) != dt.itemsize:
        raise refuse("a numpy scalar whose data is not its raw bytes")
    return np.frombuffer(data, dtype=dt)[0].copy()


class _NDArrayName:
    """Stands in for the `numpy.ndarray` global: only `_reconstruct` may use it; it cannot be called."""

    def __new__(cls, *args: Any, **kwargs: Any) -> Any:
        raise refuse("the pickle calls numpy.ndarray directly")


class CheckedArray(np.ndarray):
    """An ndarray rebuilt from a pickle; its state is checked (no object dtype, raw bytes) before use.

    `np.asarray(a)` gives a plain ndarray view when the subclass matters.
    """

    def __setstate__(self, state: Any) -> None:
        if not isinstance(state, tuple) or len(state) not in (4, 5):
            raise refuse("a numpy array with an unexpected pickled state")
        _checked_dtype(state[-3], "array")
        if not isinstance(state[-1], (bytes, bytearray)):
            raise refuse("a numpy array whose data is not raw bytes")
        super().__setstate__(state)


def _np_reconstruct(subtype: Any, shape: Any, typecode: Any) -> CheckedArray:
    if subtype is not _NDArrayName:
        raise refuse("numpy _reconstruct of something other than numpy.ndarray")
    return np.ndarray.__new__(CheckedArray, (0,), dtype=np.uint8)


def _np_frombuffer(buf: Any, dtype: Any, shape: Any, order: Any = "C") -> np.ndarray:
    """Protocol 5 arrays: numpy.core.numeric._frombuffer(bytes, dtype, shape, order)."""
    dt = _checked_dtype(dtype, "array")
    if not isinstance(buf, (bytes, bytearray)) or order not in ("C", "F", "K", "A"):
        raise refuse("a protocol-5 numpy array whose data is not raw bytes")
    try:
        arr = np.frombuffer(buf, dtype=dt).reshape(tuple(shape), order="F" if order == "F" else "C")
    except (ValueError, TypeError) as exc:
        raise refuse(f"a protocol-5 numpy array that does not fit its shape: {exc}") from None
    return arr.copy(order="F" if order == "F" else "C")


NUMPY_GLOBALS: dict[GlobalKey, Any] = {("numpy", "dtype"): _np_dtype, ("numpy", "ndarray"): _NDArrayName}
for _core in ("numpy.core", "numpy._core"):
    NUMPY_GLOBALS[(f"{_core}.multiarray", "scalar")] = _np_scalar
    NUMPY_GLOBALS[(f"{_core}.multiarray", "_reconstruct")] = _np_reconstruct
    NUMPY_GLOBALS[(f"{_core}.numeric", "_frombuffer")] = _np_frombuffer


# ----------------------------------------------------------------------------------------------------------
# torch: a tensor in a plain pickle is _rebuild_tensor_v2(storage, ...) whose storage is a torch.save blob
# (legacy format in torch 1.x files, zip format since); parameters wrap it in _rebuild_parameter.


def _storage_from_bytes(b: Any) -> Any:
    """Read a tensor storage blob with torch's own weights-only loader (which refuses code as well)."""
    if not isinstance(b, (bytes, bytearray)):
        raise refuse("a tensor storage that is not a byte string")
    storage = torch.load(io.BytesIO(bytes(b)), map_location="cpu", weights_only=True)
    if not isinstance(storage, (torch.TypedStorage, torch.UntypedStorage)):
        raise refuse("a tensor storage blob that holds something else")
    return storage


def _rebuild_tensor(
    storage: Any, offset: Any, size: Any, stride: Any, requires_grad: Any, hooks: Any, *metadata: Any
) -> torch.Tensor:
    if not isinstance(storage, (torch.TypedStorage, torch.UntypedStorage)):
        raise refuse("a tensor without a tensor storage")
    if hooks:
        raise refuse("a tensor with backward hooks")
    return torch._utils._rebuild_tensor_v2(storage, offset, size, stride, bool(requires_grad), OrderedDict())


def _rebuild_parameter(data: Any, requires_grad: Any, hooks: Any, *state: Any) -> torch.nn.Parameter:
    if not isinstance(data, torch.Tensor):
        raise refuse("a parameter without tensor data")
    if hooks:
        raise refuse("a parameter with backward hooks")
    return torch.nn.Parameter(data, requires_grad=bool(requires_grad))


TORCH_GLOBALS: dict[GlobalKey, Any] = {
    ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor,
    ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
    ("torch._utils", "_rebuild_parameter_with_state"): _rebuild_parameter,
    ("torch.storage", "_load_from_bytes"): _storage_from_bytes,
    ("torch", "Size"): torch.Size,
    ("torch", "device"): torch.device,
}
for _dt in ("float32", "float16", "bfloat16", "float64", "int64", "int32", "int16", "int8", "uint8", "bool"):
    TORCH_GLOBALS[("torch", _dt)] = getattr(torch, _dt)


# ----------------------------------------------------------------------------------------------------------
# Plain containers (torch's hook dictionaries are OrderedDicts; protocol <= 2 names builtins differently).


def _latin1_bytes(text: Any, encoding: Any = "latin1") -> bytes:
    """_codecs.encode(str, 'latin1'): how protocol-2 pickles written by Python 3 store bytes."""
    if not isinstance(text, str) or encoding not in ("latin1", "latin-1"):
        raise refuse("_codecs.encode used for anything but protocol-2 bytes")
    return text.encode("latin1")


def _bytes_like(kind: type) -> Any:
    """bytes() / bytearray(data[, 'latin-1']) as protocols <= 4 write them; never bytes(huge_int)."""

    def build(data: Any = b"", encoding: Any = None) -> Any:
        if isinstance(data, str) and encoding in ("latin1", "latin-1"):
            data = data.encode("latin1")
        if not isinstance(data, (bytes, bytearray)):
            raise refuse(f"{kind.__name__}() built from {type(data).__name__}")
        return kind(data)

    return build


CONTAINER_GLOBALS: dict[GlobalKey, Any] = {("collections", "OrderedDict"): OrderedDict}
for _mod in ("builtins", "__builtin__"):
    CONTAINER_GLOBALS.update({(_mod, "set"): set, (_mod, "frozenset"): frozenset, (_mod, "slice"): slice})
    CONTAINER_GLOBALS.update(
        {(_mod, "bytes"): _bytes_like(bytes), (_mod, "bytearray"): _bytes_like(bytearray)}
    )
for _mod in ("_codecs", "codecs"):
    CONTAINER_GLOBALS[(_mod, "encode")] = _latin1_bytes


# ----------------------------------------------------------------------------------------------------------


class RestrictedUnpickler(pickle.Unpickler):
    """Resolves only the globals in `allowed`; any other global aborts the load before it is called."""

    def __init__(self, file: IO[bytes], allowed: Mapping[GlobalKey, Any], kind: str = "network pickle"):
        super().__init__(file)
        self._allowed = allowed
        self._kind = kind

    def find_class(self, module: str, name: str) -> Any:
        found = self._allowed.get((module, name))
        if found is None:
            raise refuse(f"the pickle asks for '{module}.{name}', which no {self._kind} uses")
        return found

    def persistent_load(self, pid: Any) -> Any:
        raise refuse("the pickle uses persistent ids (a torch.save file, not a network pickle?)")


LOAD_ERRORS = (
    pickle.UnpicklingError,
    EOFError,
    ValueError,
    TypeError,
    AttributeError,
    RuntimeError,
    IndexError,
    KeyError,
    OverflowError,
    MemoryError,
)


class _Capped:
    """A file reader for the size pre-scan: a read past the end is an error, never an allocation."""

    def __init__(self, f: IO[bytes], size: int) -> None:
        self.f, self.left = f, size

    def read(self, n: int = -1) -> bytes:
        if n < 0 or n > self.left:
            raise ValueError(f"it declares {n:,} bytes where only {self.left:,} remain (damaged or crafted)")
        data = self.f.read(n)
        self.left -= len(data)
        return data

    def tell(self) -> int:
        return self.f.tell()

    def readline(self) -> bytes:
        line = self.f.readline(min(self.left, 1 << 20))
        self.left -= len(line)
        return line


def check_declared_sizes(path: str | os.PathLike) -> None:
    """Walk the pickle's opcodes and refuse any length (bytes, strings, frames) longer than the file,
    before the C unpickler allocates what a few bytes can declare (a 14-byte file can ask for a terabyte)."""
    size = os.path.getsize(path)
    with open(path, "rb") as f:
        reader = _Capped(f, size)
        for op, arg, pos in pickletools.genops(reader):
            if op.name == "FRAME" and isinstance(arg, int) and arg > size - pos:
                raise ValueError(f"a frame declares {arg:,} bytes where only {size - pos:,} remain")
            if op.name == "STOP":
                return


def restricted_load(
    path: str | os.PathLike, allowed: Mapping[GlobalKey, Any], kind: str = "network pickle"
) -> Any:
    """The pickle's top object, built only from `allowed` globals; SGError (naming the file) otherwise.

    `kind` names what the file should be ("official StyleGAN network pickle") in the error lines."""
    try:
        check_declared_sizes(path)
        with open(path, "rb") as f:
            return RestrictedUnpickler(f, allowed, kind).load()
    except SGError as exc:
        raise type(exc)(f"{path}: {exc}") from None
    except FileNotFoundError:
        raise SGError(f"{path}: file not found") from None
    except LOAD_ERRORS as exc:
        cause = str(exc) or type(exc).__name__
        if isinstance(exc, MemoryError):  # a few bytes can declare terabytes: say so, not just "MemoryError"
            cause = "it declares more data than memory can hold (damaged or crafted file)"
        raise SGError(f"{path}: not a readable {kind} (truncated or corrupt?): {cause}") from None


def allow(*tables: Mapping[GlobalKey, Any]) -> dict[GlobalKey, Any]:
    """Merge allow-lists (later tables win)."""
    out: dict[GlobalKey, Any] = {}
    for t in tables:
        out.update(t)
    return out


DATA_GLOBALS: dict[GlobalKey, Any] = allow(CONTAINER_GLOBALS, NUMPY_GLOBALS, TORCH_GLOBALS)
