"""SafeUnpickler: official network pickles become inert records; anything executable is refused."""

from __future__ import annotations

import builtins
import io
import os
import pickle
import subprocess
import sys
from collections import OrderedDict
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from tests.compat.official_pickles import OFFICIAL_MODULES, Persistent, dumps, easydicts
from tests.conftest import ParityLookup

from ganforge.compat.safe_unpickle import OfficialObject, TFNetworkRecord, TorchModuleRecord, safe_load
from ganforge.errors import NetworkFileError


def load(data: bytes, source: str = "test.pkl") -> Any:
    assert not any(name in sys.modules for name in OFFICIAL_MODULES)
    return safe_load(io.BytesIO(data), source)


class Reduce:
    """An object that pickles as `func(*args)`: how a malicious file smuggles in a call."""

    def __init__(self, func: Any, *args: Any) -> None:
        self.func, self.args = func, args

    def __reduce__(self) -> tuple[Any, tuple]:
        return self.func, self.args


def marker_writers(marker: Path) -> list[tuple[Reduce, str]]:
    """Calls that would create `marker` if a loader executed them, with the global each names."""
    return [
        (Reduce(os.system, f"touch {marker}"), f"{os.system.__module__}.system"),
        (Reduce(builtins.eval, f"open({str(marker)!r}, 'w').write('x')"), "builtins.eval"),
        (Reduce(builtins.exec, f"open({str(marker)!r}, 'w').write('x')"), "builtins.exec"),
        (Reduce(subprocess.call, ["touch", str(marker)]), "subprocess.call"),
        (Reduce(builtins.open, str(marker), "w"), "io.open"),
    ]


def network(class_name: str = "FullyConnectedLayer", **state: Any) -> Persistent:
    base = {"_parameters": OrderedDict(), "_buffers": OrderedDict(), "_modules": OrderedDict(),
            "_init_args": (), "_init_kwargs": {}}
    return Persistent(class_name, {**base, **state})


# --- what loads -----------------------------------------------------------------------------------


def test_persistent_objects_become_records_without_importing_official_code() -> None:
    weight = torch.nn.Parameter(torch.randn(3, 2))
    inner = network(_parameters=OrderedDict(weight=weight, bias=None), _init_args=(2, 3),
                    _init_kwargs=easydicts({"activation": "lrelu", "opts": {"x": 1}}))
    outer = network("MappingNetwork", _buffers=OrderedDict(w_avg=torch.arange(4.0)),
                    _modules=OrderedDict(fc0=inner, missing=None))
    data = dumps({"G": outer, "training_set_kwargs": easydicts({"path": "x.zip", "resolution": 8})})

    loaded = load(data)
    assert not any(name in sys.modules for name in OFFICIAL_MODULES)
    G = loaded["G"]
    assert isinstance(G, OfficialObject) and G.class_name == "MappingNetwork" and G.version == 6
    fc0 = G.state["_modules"]["fc0"]
    assert isinstance(fc0, OfficialObject) and G.state["_modules"]["missing"] is None
    assert fc0.init_args == (2, 3)
    assert fc0.init_kwargs == {"activation": "lrelu", "opts": {"x": 1}}
    assert type(fc0.init_kwargs["opts"]) is dict  # EasyDict arrives as a plain dict
    assert isinstance(fc0.state["_parameters"]["weight"], torch.nn.Parameter)
    assert torch.equal(fc0.state["_parameters"]["weight"], weight)
    assert fc0.state["_parameters"]["bias"] is None
    assert torch.equal(G.state["_buffers"]["w_avg"], torch.arange(4.0))
    assert loaded["training_set_kwargs"] == {"path": "x.zip", "resolution": 8}


@pytest.mark.parametrize("protocol", [2, 3, 4, 5])
def test_tensors_numpy_and_containers_round_trip(protocol: int) -> None:
    base = torch.arange(24, dtype=torch.float32).reshape(4, 6)
    value = {
        "view": base[1:, ::2],  # storage offset and strides
        "shared": (base, base[2]),  # one storage, two tensors
        "half": torch.ones(3, dtype=torch.float16),
        "long": torch.tensor([1, -2], dtype=torch.int64),
        "scalar": torch.tensor(2.5),
        "array": np.arange(6, dtype=np.float32).reshape(2, 3),
        "np_scalar": np.float64(0.125),
        "np_int": np.int32(-7),
        "set": {1, 2},
        "frozen": frozenset({"a"}),
        "ordered": OrderedDict(b=1, a=2),
        "complex": 1 + 2j,
        "bytes": b"\x00\x01",
    }
    loaded = load(dumps(value, protocol=protocol))
    assert torch.equal(loaded["view"], value["view"]) and loaded["view"].stride() == (6, 2)
    first, row = loaded["shared"]
    assert torch.equal(first, base) and torch.equal(row, base[2])
    for key in ("half", "long", "scalar"):
        assert loaded[key].dtype == value[key].dtype and torch.equal(loaded[key], value[key])
    np.testing.assert_array_equal(loaded["array"], value["array"])
    assert loaded["array"].dtype == np.float32
    assert loaded["np_scalar"] == 0.125 and loaded["np_int"] == -7
    assert loaded["set"] == {1, 2} and loaded["frozen"] == frozenset({"a"})
    assert list(loaded["ordered"].items()) == [("b", 1), ("a", 2)]
    assert loaded["complex"] == 1 + 2j and loaded["bytes"] == b"\x00\x01"


def test_plain_torch_modules_become_records() -> None:
    seq = torch.nn.Sequential(torch.nn.Linear(2, 3))
    loaded = load(dumps({"net": network(_modules=OrderedDict(body=seq))}))
    body = loaded["net"].state["_modules"]["body"]
    assert isinstance(body, TorchModuleRecord) and body.class_name == "torch.nn.modules.container.Sequential"
    linear = body.state["_modules"]["0"]
    assert linear.class_name == "torch.nn.modules.linear.Linear"
    assert torch.equal(linear.state["_parameters"]["weight"], seq[0].weight)


def test_module_source_is_kept_as_text_and_never_run(tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    src = f"open({str(marker)!r}, 'w').write('module source ran')\n"
    loaded = load(dumps(Persistent("Generator", {"_init_kwargs": {}}, module_src=src)))
    assert loaded.module_src == src
    assert not marker.exists()


@pytest.mark.parametrize("name", ["g16_orig_gray_cond", "g32_skip_rgb", "g64_resnet_rgb"])
def test_real_official_snapshots_load_as_records(name: str, parity: ParityLookup) -> None:
    with open(parity(f"{name}-snapshot.pkl"), "rb") as f:
        snapshot = safe_load(f, name)
    assert not any(mod in sys.modules for mod in OFFICIAL_MODULES)
    assert {"G", "D", "G_ema", "augment_pipe", "training_set_kwargs"} <= snapshot.keys()
    assert [snapshot[k].class_name for k in ("G", "D", "G_ema", "augment_pipe")] == [
        "Generator", "Discriminator", "Generator", "AugmentPipe"]
    ref = np.load(parity(f"{name}.npz"))
    fc0 = snapshot["G"].state["_modules"]["mapping"].state["_modules"]["fc0"]
    np.testing.assert_array_equal(fc0.state["_parameters"]["weight"].numpy(), ref["G/mapping.fc0.weight"])
    assert isinstance(fc0.state["weight_gain"], np.floating)


# --- what is refused ------------------------------------------------------------------------------


def test_malicious_reduce_at_top_level_is_refused(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    for payload, global_name in marker_writers(marker):
        expected = rf"refusing to load evil\.pkl: it references {global_name}"
        with pytest.raises(NetworkFileError, match=expected):
            load(pickle.dumps(payload), "evil.pkl")
    assert not marker.exists()


def test_malicious_global_nested_in_network_state_is_refused(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    for payload, global_name in marker_writers(marker):
        inner = network(_init_kwargs={"activation": payload})
        outer = network("Generator", _modules=OrderedDict(mapping=network(_modules=OrderedDict(fc0=inner))))
        data = dumps({"G": outer, "D": network("Discriminator")})
        with pytest.raises(NetworkFileError, match=f"it references {global_name}, which is not a network"):
            load(data)
    assert not marker.exists()


def test_malicious_storage_bytes_are_read_weights_only(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    inner = io.BytesIO()
    torch.save({"x": Reduce(os.system, f"touch {marker}")}, inner)
    evil_storage = Reduce(torch.storage._load_from_bytes, inner.getvalue())
    data = pickle.dumps(Reduce(torch._utils._rebuild_tensor_v2, evil_storage, 0, (1,), (1,), False,
                               OrderedDict()))
    with pytest.raises(NetworkFileError, match="test.pkl: a tensor storage cannot be read safely"):
        load(data)
    assert not marker.exists()


@pytest.mark.filterwarnings("ignore:TypedStorage is deprecated")
def test_tensor_rebuild_arguments_are_checked() -> None:
    hooks = OrderedDict()
    not_storage = Reduce(torch._utils._rebuild_tensor_v2, "abc", 0, (1,), (1,), False, hooks)
    with pytest.raises(NetworkFileError, match="not a storage"):
        load(pickle.dumps(not_storage))
    storage = torch.zeros(4).storage()  # the typed storage tensors pickle through
    out_of_bounds = Reduce(torch._utils._rebuild_tensor_v2, storage, 0, (100,), (1,), False, hooks)
    with pytest.raises(NetworkFileError, match="reaches past the end of its storage"):
        load(pickle.dumps(out_of_bounds))
    past_offset = Reduce(torch._utils._rebuild_tensor_v2, storage, 2, (2, 2), (1, 1), False, hooks)
    with pytest.raises(NetworkFileError, match="reaches past the end of its storage"):
        load(pickle.dumps(past_offset))
    assert load(pickle.dumps(Reduce(torch._utils._rebuild_tensor_v2, storage, 2, (2,), (1,), False,
                                    hooks))).shape == (2,)
    with_hooks = Reduce(torch._utils._rebuild_tensor_v2, storage, 0, (4,), (1,), False,
                        OrderedDict(h=OrderedDict()))
    with pytest.raises(NetworkFileError, match="backward hooks"):
        load(pickle.dumps(with_hooks))


def test_persistent_ids_are_refused() -> None:
    external = object()

    class WithIds(pickle.Pickler):
        def persistent_id(self, obj: Any) -> Any:
            return ("storage", "FloatStorage", "0", "cpu", 1) if obj is external else None

    buffer = io.BytesIO()
    WithIds(buffer).dump({"G": external})
    with pytest.raises(NetworkFileError, match="refusing to load test.pkl: it uses a persistent id"):
        load(buffer.getvalue())


def tf_global_pickle(module: bytes, name: bytes) -> bytes:
    """A pickle of `module.name()` made empty by NEWOBJ, as TF pickles create their Networks."""
    return b"\x80\x04\x8c%c%s\x8c%c%s\x93)\x81." % (len(module), module, len(name), name)


def test_tensorflow_networks_become_inert_records() -> None:
    record = load(tf_global_pickle(b"dnnlib.tflib.network", b"Network"))
    assert isinstance(record, TFNetworkRecord) and record.state == {}


@pytest.mark.parametrize(
    ("module", "name", "what"),
    [(b"dnnlib.tflib.network", b"Network", "a TensorFlow Network"),
     (b"torch.nn.modules.linear", b"Linear", "module torch.nn.modules.linear.Linear")],
)
def test_records_refuse_constructor_arguments_and_a_state_that_is_no_dict(
    module: bytes, name: bytes, what: str
) -> None:
    empty = tf_global_pickle(module, name)[:-1]  # the object made by NEWOBJ, before STOP
    with pytest.raises(NetworkFileError, match=f"{what} is pickled with constructor arguments"):
        load(empty[: -len(b")\x81")] + b"K\x01\x85\x81.")  # NEWOBJ with the arguments (1,)
    with pytest.raises(NetworkFileError, match=rf"{what} has a malformed state \(int\)"):
        load(empty + b"K\x03b.")  # BUILD with the state 3


def test_other_tensorflow_globals_get_a_clear_message() -> None:
    with pytest.raises(NetworkFileError, match="references dnnlib.tflib.tfutil.run; of TensorFlow network"):
        load(tf_global_pickle(b"dnnlib.tflib.tfutil", b"run"))


def test_malformed_persistent_meta_is_refused() -> None:
    bad = Persistent("Generator", {"_init_kwargs": {}})
    data = dumps(bad).replace(b"\x8c\x05class", b"\x8c\x05CLASS")
    with pytest.raises(NetworkFileError, match="cannot load test.pkl: malformed persistent object"):
        load(data)


def test_truncated_and_garbage_files_are_refused() -> None:
    data = dumps({"G": network(_parameters=OrderedDict(weight=torch.nn.Parameter(torch.randn(8, 8))))})
    for cut in (1, len(data) // 3, len(data) - 1):
        with pytest.raises(NetworkFileError, match="cannot load test.pkl: the file is truncated"):
            load(data[:cut])
    with pytest.raises(NetworkFileError, match=r"test\.pkl is not a network pickle .*: it is empty"):
        load(b"")
    with pytest.raises(NetworkFileError, match="not a network pickle .*: it is a text file") as info:
        load(b"this is not a pickle at all")
    assert "truncated" not in str(info.value)
    with pytest.raises(NetworkFileError, match="it is damaged or not a network pickle") as info:
        load(data[:2] + b"\xff" * 40)
    assert "truncated" not in str(info.value)
