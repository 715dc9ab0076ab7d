"""A pickle reader for official StyleGAN2-ADA network files that never runs code from the file.

Official network pickles store each network through `torch_utils.persistence`: the object is
rebuilt by calling `_reconstruct_persistent_obj(meta)`, where `meta` carries the Python source of
the network module and the object's `__dict__`. Loading such a file with `pickle.load` would
execute that source (and any other callable the file names). This reader instead serves an explicit
allow-list of globals: the persistence call turns into an inert `OfficialObject` record, tensors and
numpy arrays are rebuilt through checked wrappers, and every other global is refused with a
`NetworkFileError` naming it. Legacy TensorFlow pickles hold `dnnlib.tflib.network.Network` objects,
which become inert `TFNetworkRecord`s (their build-module source is kept as text, never run).
"""

from __future__ import annotations

import collections
import io
import pickle
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, BinaryIO, TypeVar

import numpy as np
import torch

from ganforge.compat.checkpoint import HEAD_BYTES
from ganforge.errors import NetworkFileError

try:  # NumPy >= 2
    from numpy._core.multiarray import _reconstruct as _np_reconstruct
    from numpy._core.multiarray import scalar as _np_scalar
except ImportError:  # pragma: no cover - NumPy 1.x
    from numpy.core.multiarray import _reconstruct as _np_reconstruct
    from numpy.core.multiarray import scalar as _np_scalar


@dataclass
class OfficialObject:
    """An object the official code pickled through `torch_utils.persistence`, as plain data.

    `state` is the object's `__dict__` (for networks: `_parameters`, `_buffers`, `_modules`,
    `_init_args`, `_init_kwargs`, plain attributes). `module_src` is kept as text and never run.
    """

    class_name: str
    state: dict[str, Any]
    version: int | None = None
    module_src: str = field(default="", repr=False)

    @property
    def init_args(self) -> tuple[Any, ...]:
        """The positional arguments the object was constructed with."""
        return tuple(self.state.get("_init_args", ()))

    @property
    def init_kwargs(self) -> dict[str, Any]:
        """The keyword arguments the object was constructed with."""
        return dict(self.state.get("_init_kwargs", {}))


_Record = TypeVar("_Record", bound="_PickledRecord")


class _PickledRecord:
    """Something pickle creates empty (NEWOBJ) and hands a state dict (BUILD), kept as plain data.

    Refuses constructor arguments and a state that is not a dict; `described()` names it in errors.
    """

    state: dict[str, Any]

    @classmethod
    def described(cls) -> str:
        raise NotImplementedError

    def __new__(cls: type[_Record], *args: Any) -> _Record:
        if args:
            raise NetworkFileError(f"{cls.described()} is pickled with constructor arguments")
        record = super().__new__(cls)
        record.state = {}
        return record

    def __setstate__(self, state: Any) -> None:
        if not isinstance(state, dict):
            raise NetworkFileError(f"{self.described()} has a malformed state ({type(state).__name__})")
        self.state = state


class TorchModuleRecord(_PickledRecord):
    """A plain `torch.nn` module (not a persistent class) found in a pickle, as plain data.

    Subclassed once per class name by `SafeUnpickler`, so that pickle's NEWOBJ/BUILD opcodes can
    create it without importing or constructing the real module.
    """

    class_name: str = ""

    @classmethod
    def described(cls) -> str:
        return f"module {cls.class_name}"

    def __repr__(self) -> str:
        return f"TorchModuleRecord({self.class_name})"


class TFNetworkRecord(_PickledRecord):
    """A TensorFlow `dnnlib.tflib.network.Network` from a legacy pickle, as plain data.

    Pickle creates it empty (NEWOBJ) and hands it the dict `Network.__getstate__` wrote (BUILD):
    version, name, static_kwargs, components, build_func_name, build_module_src, variables.
    `ganforge.compat.tf_legacy` checks and converts it.
    """

    @classmethod
    def described(cls) -> str:
        return "a TensorFlow Network"

    def __repr__(self) -> str:
        return f"TFNetworkRecord({self.state.get('name')!r}, {self.state.get('build_func_name')!r})"


def _reconstruct_persistent(meta: Any) -> OfficialObject:
    """Stand-in for `torch_utils.persistence._reconstruct_persistent_obj`: record, don't execute."""
    if not isinstance(meta, dict) or meta.get("type") != "class":
        raise NetworkFileError(f"malformed persistent object (expected type 'class', got {meta!r:.80})")
    class_name, state = meta.get("class_name"), meta.get("state")
    if not isinstance(class_name, str) or not isinstance(state, dict):
        raise NetworkFileError(f"malformed persistent object {class_name!r:.80}: missing class name or state")
    src = meta.get("module_src")
    return OfficialObject(class_name, state, meta.get("version"), src if isinstance(src, str) else "")


def _check_hooks(hooks: Any) -> None:
    """Tensors in network files never carry backward hooks; refuse any that do."""
    if hooks is not None and (not isinstance(hooks, dict) or len(hooks) > 0):
        raise NetworkFileError("a tensor carries backward hooks, which network files never hold")


def _is_int_tuple(value: Any) -> bool:
    return isinstance(value, tuple | list | torch.Size) and all(
        isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in value
    )


def _rebuild_tensor(
    storage: Any, offset: Any, size: Any, stride: Any, requires_grad: Any, hooks: Any, metadata: Any = None
) -> torch.Tensor:
    """Checked `torch._utils._rebuild_tensor_v2`: a view of a storage, nothing else."""
    if not isinstance(storage, torch.UntypedStorage | torch.storage.TypedStorage):
        raise NetworkFileError(f"a tensor is backed by {type(storage).__name__}, not a storage")
    if not (isinstance(offset, int) and offset >= 0 and _is_int_tuple(size) and _is_int_tuple(stride)):
        raise NetworkFileError("a tensor has a malformed size, stride or offset")
    if len(size) != len(stride):
        raise NetworkFileError("a tensor has a malformed size, stride or offset")
    if isinstance(storage, torch.storage.TypedStorage):  # without TypedStorage's deprecation warning
        numel = storage._untyped_storage.nbytes() // storage.dtype.itemsize
    else:
        numel = storage.nbytes()
    if all(size) and offset + sum((n - 1) * s for n, s in zip(size, stride, strict=True)) >= numel:
        raise NetworkFileError(f"a tensor of size {list(size)} reaches past the end of its storage")
    _check_hooks(hooks)
    if metadata:
        raise NetworkFileError("a tensor carries extra metadata, which network files never hold")
    return torch._utils._rebuild_tensor_v2(storage, offset, tuple(size), tuple(stride), bool(requires_grad),
                                           collections.OrderedDict())


def _rebuild_parameter(data: Any, requires_grad: Any, hooks: Any, state: Any = None) -> torch.nn.Parameter:
    """Checked `torch._utils._rebuild_parameter` (and `_with_state`, with an empty state only)."""
    if not isinstance(data, torch.Tensor):
        raise NetworkFileError(f"a parameter wraps {type(data).__name__}, not a tensor")
    _check_hooks(hooks)
    if state:
        raise NetworkFileError("a parameter carries extra attributes, which network files never hold")
    return torch.nn.Parameter(data, requires_grad=bool(requires_grad))


def _load_storage(data: Any) -> torch.UntypedStorage | torch.storage.TypedStorage:
    """Stand-in for `torch.storage._load_from_bytes`, reading the bytes with `weights_only=True`."""
    if not isinstance(data, bytes | bytearray):
        raise NetworkFileError(f"a storage is given as {type(data).__name__}, not bytes")
    try:
        storage = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    except Exception as exc:
        raise NetworkFileError(f"a tensor storage cannot be read safely: {exc}") from exc
    if not isinstance(storage, torch.UntypedStorage | torch.storage.TypedStorage):
        raise NetworkFileError(f"a storage record holds {type(storage).__name__}, not a storage")
    return storage


def _np_reconstruct_checked(subtype: Any, shape: Any, dtype: Any) -> np.ndarray:
    """Checked `numpy.core.multiarray._reconstruct`: plain ndarrays only."""
    if subtype is not np.ndarray:
        raise NetworkFileError(f"a numpy array of type {subtype!r:.80} is not allowed")
    return _np_reconstruct(np.ndarray, shape, dtype)


def _np_frombuffer_checked(buffer: Any, dtype: Any, shape: Any, order: Any) -> np.ndarray:
    """Checked `numpy.core.numeric._frombuffer` (arrays in pickle protocol 5): numbers only."""
    if not isinstance(dtype, np.dtype) or dtype.hasobject or order not in ("C", "F"):
        raise NetworkFileError("a numpy array has a malformed buffer record")
    return np.frombuffer(buffer, dtype=dtype).reshape(shape, order=order)


def _codecs_encode_checked(text: Any, encoding: Any = "utf-8") -> bytes:
    """Checked `_codecs.encode`, which pickle protocol 2 uses to store bytes as latin-1 text."""
    if not isinstance(text, str) or encoding not in ("latin1", "latin-1"):
        raise NetworkFileError("bytes are stored with an unexpected encoding")
    return text.encode("latin-1")


_NUMPY_MODULES = ("numpy.core.multiarray", "numpy._core.multiarray")

ALLOWED_GLOBALS: dict[tuple[str, str], Callable[..., Any] | type | torch.dtype] = {
    ("torch_utils.persistence", "_reconstruct_persistent_obj"): _reconstruct_persistent,
    ("dnnlib.util", "EasyDict"): dict,
    ("dnnlib", "EasyDict"): dict,
    ("collections", "OrderedDict"): collections.OrderedDict,
    **{(mod, cls.__name__): cls for mod in ("builtins", "__builtin__") for cls in (set, frozenset, complex)},
    ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor,
    ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
    ("torch._utils", "_rebuild_parameter_with_state"): _rebuild_parameter,
    ("torch.storage", "_load_from_bytes"): _load_storage,
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
    **{(mod, "_reconstruct"): _np_reconstruct_checked for mod in _NUMPY_MODULES},
    **{(mod, "scalar"): _np_scalar for mod in _NUMPY_MODULES},
    ("numpy.core.numeric", "_frombuffer"): _np_frombuffer_checked,
    ("numpy._core.numeric", "_frombuffer"): _np_frombuffer_checked,
    ("_codecs", "encode"): _codecs_encode_checked,
    ("dnnlib.tflib.network", "Network"): TFNetworkRecord,
    **{("torch", name): getattr(torch, name) for name in ("float32", "float16", "bfloat16")},
}
"""Every global a network file may reference, mapped to what it is allowed to become."""

R3GAN_CLASSES = frozenset({
    ("training.networks", "Generator"),
    ("training.networks", "Discriminator"),
    *(("R3GAN.Networks", name) for name in (
        "Generator", "Discriminator", "GeneratorStage", "DiscriminatorStage", "GenerativeBasis",
        "DiscriminativeBasis", "ResidualBlock", "UpsampleLayer", "DownsampleLayer", "Convolution",
    )),
    *(("R3GAN.FusedOperators", f"BiasedActivation{kind}") for kind in ("CUDA", "Reference")),
    *(("R3GAN.Resamplers", f"Interpolative{way}sampler{kind}")
      for way in ("Up", "Down") for kind in ("CUDA", "Reference")),
})
"""The classes of R3GAN (brownvc/R3GAN) that its snapshots pickle by name: read as inert module
records (`TorchModuleRecord`), like plain `torch.nn` modules; `ganforge.compat.r3gan` rebuilds them."""

_TORCH_MODULE_PREFIX = "torch.nn.modules."

PICKLE_MAGIC = b"\x80"
"""The first byte of every pickle of protocol 2 and up, as all network pickles are."""

_MAGIC_KINDS = {
    b"\x89PNG": "a PNG image",
    b"\xff\xd8\xff": "a JPEG image",
    b"\x1f\x8b": "a gzip file",
    b"PK\x03\x04": "a zip file",
}


class SafeUnpickler(pickle.Unpickler):
    """`pickle.Unpickler` that resolves only `ALLOWED_GLOBALS` (plus inert records of `torch.nn` modules
    and of `R3GAN_CLASSES`)."""

    def __init__(self, file: BinaryIO, source: str) -> None:
        super().__init__(file)
        self.source = source
        self._module_records: dict[str, type[TorchModuleRecord]] = {}

    def find_class(self, module: str, name: str) -> Any:
        """Serve the allow-list; refuse anything else, naming the global."""
        allowed = ALLOWED_GLOBALS.get((module, name))
        if allowed is not None:
            return allowed
        torch_module = module.startswith(_TORCH_MODULE_PREFIX) and name.isidentifier() and name[0].isupper()
        if torch_module or (module, name) in R3GAN_CLASSES:
            return self._module_record_type(f"{module}.{name}")
        if module.startswith("dnnlib.tflib"):
            raise NetworkFileError(
                f"refusing to load {self.source}: it references {module}.{name}; of TensorFlow network "
                "pickles ganforge reads only the dnnlib.tflib.network.Network records"
            )
        raise NetworkFileError(
            f"refusing to load {self.source}: it references {module}.{name}, which is not a network "
            "component. ganforge never runs code from network files; only open files from sources you trust"
        )

    def persistent_load(self, pid: Any) -> Any:
        """Official network pickles use no persistent ids: any id is refused."""
        raise NetworkFileError(f"refusing to load {self.source}: it uses a persistent id ({pid!r:.80})")

    def _module_record_type(self, qualname: str) -> type[TorchModuleRecord]:
        record_type = self._module_records.get(qualname)
        if record_type is None:
            record_type = type("TorchModuleRecord", (TorchModuleRecord,), {"class_name": qualname})
            self._module_records[qualname] = record_type
        return record_type


def safe_load(file: BinaryIO, source: str) -> Any:
    """Unpickle `file` with `SafeUnpickler`; any failure becomes a `NetworkFileError` naming `source`
    and saying whether the file is empty, no pickle at all, truncated, or otherwise damaged."""
    start = file.tell()
    head = file.read(HEAD_BYTES)
    file.seek(start)
    if not head.startswith(PICKLE_MAGIC):
        what = describe_start(head)
        raise NetworkFileError(f"{source} is not a network pickle or ganforge checkpoint: {what}")
    try:
        return SafeUnpickler(file, source).load()
    except NetworkFileError as exc:
        if source in str(exc):
            raise
        raise NetworkFileError(f"cannot load {source}: {exc}") from exc
    except Exception as exc:
        if isinstance(exc, EOFError) or "truncated" in str(exc) or "exhausted" in str(exc):
            raise NetworkFileError(
                f"cannot load {source}: the file is truncated (the pickle ends early); download or copy it "
                "again"
            ) from exc
        raise NetworkFileError(
            f"cannot load {source}: it is damaged or not a network pickle ({type(exc).__name__}: {exc})"
        ) from exc


def describe_start(head: bytes) -> str:
    """What a file that is no pickle is, from its first bytes, in a few words for a message."""
    if not head:
        return "it is empty (0 bytes)"
    for magic, kind in _MAGIC_KINDS.items():
        if head.startswith(magic):
            return f"it is {kind}"
    sample = head[:512]
    try:
        text = sample.decode("utf-8")
    except UnicodeDecodeError as exc:  # a character cut off at the end of the sample is fine
        text = sample[:exc.start].decode("utf-8") if exc.start >= len(sample) - 3 else "\0"
    if all(c.isprintable() or c.isspace() for c in text):
        first = text.strip().splitlines()[0][:40] if text.strip() else ""
        return f"it is a text file (starting {first!r})"
    return f"it starts with the bytes {head[:8].hex(' ')}"
