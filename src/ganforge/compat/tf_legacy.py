"""Legacy TensorFlow network pickles of StyleGAN2 (NVlabs/stylegan2) and StyleGAN (NVlabs/stylegan)
as ganforge networks.

Such a pickle is a tuple (G, D, Gs) of `dnnlib.tflib.network.Network` objects, which `SafeUnpickler`
reads as `TFNetworkRecord`s: the name of the build function, its keyword arguments, sub-networks and
the variables as (name, numpy array) pairs. The build module's source is never run: the network is
rebuilt from the function name and arguments, and the variables are copied in by name with their
layouts changed from TensorFlow's to torch's (conv HWIO -> OIHW, dense [in, out] -> [out, in], style
bias + 1, and up-sampling kernels flipped, since TF runs them as a transposed convolution of the
flipped kernel where ganforge's transposed convolution takes the kernel as stored). StyleGAN (v1)
networks are named by `ganforge.models.stylegan.tf_variable_names` and need only the transposes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from ganforge.compat.safe_unpickle import TFNetworkRecord
from ganforge.errors import NetworkFileError
from ganforge.models import stylegan
from ganforge.models.stylegan2 import Discriminator, Generator

SUPPORTED = (
    "StyleGAN2's G_main (with G_mapping and G_synthesis_stylegan2) and D_stylegan2, "
    "StyleGAN's G_style (with G_mapping and G_synthesis) and D_basic"
)
NOT_YET_SUPPORTED = {
    "G_synthesis_stylegan_revised": "StyleGAN2 configs B-D (progressive growing) are not supported",
}
"""Build functions ganforge recognises but cannot convert, with the reason given to the user."""


@dataclass
class TFNetwork:
    """A checked `TFNetworkRecord`: build function, its kwargs, sub-networks and variables by name."""

    name: str
    func: str
    kwargs: dict[str, Any]
    components: dict[str, TFNetwork]
    variables: dict[str, np.ndarray]

    @classmethod
    def parse(cls, record: Any, source: str) -> TFNetwork:
        """Check the record's state and turn it into a `TFNetwork` (sub-networks included)."""
        if not isinstance(record, TFNetworkRecord):
            found = type(record).__name__
            raise NetworkFileError(f"{source}: expected a TensorFlow Network, found a {found}")
        state = record.state
        name, func = state.get("name"), state.get("build_func_name")
        kwargs, components = state.get("static_kwargs", {}), state.get("components", {})
        variables = state.get("variables")
        if not (isinstance(name, str) and isinstance(func, str) and isinstance(kwargs, dict)
                and isinstance(components, dict) and isinstance(variables, list | tuple)):
            raise NetworkFileError(f"{source}: malformed TensorFlow Network {name!r} (missing or odd fields)")
        values: dict[str, np.ndarray] = {}
        for item in variables:
            if not (isinstance(item, tuple | list) and len(item) == 2 and isinstance(item[0], str)
                    and isinstance(item[1], np.ndarray | np.generic) and item[1].dtype.kind == "f"):
                raise NetworkFileError(f"{source}: network {name!r} has a malformed variable ({item!r:.80})")
            values[item[0]] = np.asarray(item[1])
        subs = {str(key): cls.parse(value, source) for key, value in components.items()}
        return cls(name, func, dict(kwargs), subs, values)

    def all_variables(self, by_name: bool = False, prefix: str = "") -> dict[str, np.ndarray]:
        """Own and sub-network variables by full name, a sub-network's prefixed with its key in
        `components` ('synthesis/4x4/Conv/weight') or, `by_name`, with its name as TF's `Network.vars`
        does ('G_synthesis/4x4/Conv/weight')."""
        found = {prefix + name: value for name, value in self.variables.items()}
        for key, component in self.components.items():
            sub = component.name if by_name else key
            found.update(component.all_variables(by_name, f"{prefix}{sub}/"))
        return found


class _Variables:
    """A network's TF variables, taken one by one so that any left unconverted can be reported."""

    def __init__(self, network: TFNetwork, source: str, by_name: bool = False) -> None:
        self.values = network.all_variables(by_name)
        self.unused = set(self.values)
        self.network, self.source = network.name, source

    def take(self, name: str) -> np.ndarray:
        if name not in self.values:
            raise NetworkFileError(f"{self.source}: TF network {self.network!r} lacks variable {name!r}")
        self.unused.discard(name)
        return self.values[name]

    def dense(self, prefix: str, scope: str) -> dict[str, np.ndarray]:
        """A dense layer: TF [in, out] -> torch [out, in]."""
        weight, bias = self.take(f"{scope}/weight"), self.take(f"{scope}/bias")
        return {f"{prefix}.weight": weight.T, f"{prefix}.bias": bias}

    def conv(self, name: str, flip: bool = False) -> np.ndarray:
        """A conv kernel: TF [kh, kw, in, out] -> torch [out, in, kh, kw], spatially flipped if `flip`."""
        w = self.take(name)
        return (w[::-1, ::-1] if flip else w).transpose(3, 2, 0, 1)

    def modulated(self, prefix: str, scope: str, flip: bool = False) -> dict[str, np.ndarray]:
        """A modulated conv: kernel, bias and style affine (TF adds 1 to the style at run time)."""
        return {
            f"{prefix}.weight": self.conv(f"{scope}/weight", flip),
            f"{prefix}.bias": self.take(f"{scope}/bias"),
            f"{prefix}.affine.weight": self.take(f"{scope}/mod_weight").T,
            f"{prefix}.affine.bias": self.take(f"{scope}/mod_bias") + 1,
        }


def is_tf_pickle(data: Any) -> bool:
    """Whether unpickled `data` is a legacy TF pickle: a Network or a tuple of them."""
    if isinstance(data, tuple):
        return len(data) > 0 and all(isinstance(item, TFNetworkRecord) for item in data)
    return isinstance(data, TFNetworkRecord)


def convert_tf_pickle(data: Any, source: str) -> dict[str, nn.Module]:
    """The networks of a TF pickle: (G, D, Gs) -> {'G', 'D', 'G_ema'}; a lone G -> {'G_ema'}, D -> {'D'}."""
    if isinstance(data, TFNetworkRecord):
        network = convert_tf_network(data, source)
        return {"D" if isinstance(network, Discriminator | stylegan.Discriminator) else "G_ema": network}
    if isinstance(data, tuple) and len(data) == 3:
        return dict(zip(("G", "D", "G_ema"), (convert_tf_network(net, source) for net in data), strict=True))
    raise NetworkFileError(
        f"{source}: a TF network pickle holds (G, D, Gs); this one holds {len(data)} networks"
    )


def convert_tf_network(record: TFNetworkRecord, source: str) -> nn.Module:
    """One TF Network as the ganforge network its build function describes, weights copied in."""
    network = TFNetwork.parse(record, source)
    funcs = [network.func, *(c.func for c in network.components.values())]
    for func in funcs:
        if func in NOT_YET_SUPPORTED:
            reason = NOT_YET_SUPPORTED[func]
            raise NetworkFileError(f"{source}: {reason} (network {network.name!r} uses {func})")
    if network.func == "G_main":
        return convert_generator(network, source)
    if network.func == "D_stylegan2":
        return convert_discriminator(network, source)
    if network.func == "G_style":
        return convert_stylegan_generator(network, source)
    if network.func == "D_basic":
        return convert_stylegan_discriminator(network, source)
    raise NetworkFileError(
        f"{source}: TF network {network.name!r} is built by {network.func!r}, which ganforge cannot convert; "
        f"supported: {SUPPORTED}"
    )


def convert_generator(net: TFNetwork, source: str) -> Generator:
    """G_main with G_mapping and G_synthesis_stylegan2 -> `stylegan2.Generator`."""
    mapping = _component(net, "mapping", "G_mapping", source)
    synthesis = _component(net, "synthesis", "G_synthesis_stylegan2", source)
    mk, sk = mapping.kwargs, synthesis.kwargs
    _refuse_labels(mk, net.name, source)
    if not mk.get("normalize_latents", True):
        raise NetworkFileError(f"{source}: TF generator {net.name!r}: normalize_latents=False is unsupported")
    resolution = int(sk.get("resolution", 1024))
    beta = net.kwargs.get("dlatent_avg_beta", 0.995)
    kwargs = dict(
        z_dim=mk.get("latent_size", 512), c_dim=0, w_dim=mk.get("dlatent_size", 512),
        img_resolution=resolution, img_channels=sk.get("num_channels", 3),
        mapping_kwargs=dict(
            num_layers=mk.get("mapping_layers", 8), layer_features=mk.get("mapping_fmaps", 512),
            activation=mk.get("mapping_nonlinearity", "lrelu"), lr_multiplier=mk.get("mapping_lrmul", 0.01),
            w_avg_beta=1.0 if beta is None else beta,
        ),
        synthesis_kwargs=dict(
            channel_base=_channel_base(sk, resolution, net.name, source), channel_max=sk.get("fmap_max", 512),
            architecture=sk.get("architecture", "skip"), resample_filter=_resample_filter(sk),
            activation=sk.get("nonlinearity", "lrelu"),
        ),
    )
    G = _construct(Generator, kwargs, net.name, source)
    v = _Variables(net, source)
    v.take("lod")  # progressive-growing state, always 0 for StyleGAN2
    state = {"mapping.w_avg": v.take("dlatent_avg")}
    for i in range(G.mapping.num_layers):
        state.update(v.dense(f"mapping.fc{i}", f"mapping/Dense{i}"))
    for res in G.synthesis.block_resolutions:
        block, prefix, scope = getattr(G.synthesis, f"b{res}"), f"synthesis.b{res}", f"synthesis/{res}x{res}"
        log2 = int(math.log2(res))
        if res == 4:
            state[f"{prefix}.const"] = v.take(f"{scope}/Const/const")[0]
            layers = [("conv1", "Conv", 0, False)]
        else:
            layers = [("conv0", "Conv0_up", 2 * log2 - 5, True), ("conv1", "Conv1", 2 * log2 - 4, False)]
        for name, tf_name, noise_idx, up in layers:
            state.update(v.modulated(f"{prefix}.{name}", f"{scope}/{tf_name}", flip=up))
            state[f"{prefix}.{name}.noise_strength"] = v.take(f"{scope}/{tf_name}/noise_strength")
            state[f"{prefix}.{name}.noise_const"] = v.take(f"synthesis/noise{noise_idx}")[0, 0]
        if hasattr(block, "torgb"):
            state.update(v.modulated(f"{prefix}.torgb", f"{scope}/ToRGB"))
        if hasattr(block, "skip"):
            state[f"{prefix}.skip.weight"] = v.conv(f"{scope}/Skip/weight", flip=True)
    return _load(G, state, v, source)


def convert_discriminator(net: TFNetwork, source: str) -> Discriminator:
    """D_stylegan2 -> `stylegan2.Discriminator`."""
    k = net.kwargs
    _refuse_labels(k, net.name, source)
    resolution = int(k.get("resolution", 1024))
    channel_base = _channel_base(k, resolution, net.name, source)
    fc_features = min(k.get("fmap_base", 16 << 10), k.get("fmap_max", 512))  # TF nf(0)
    if fc_features != min(channel_base // 4, k.get("fmap_max", 512)):
        raise NetworkFileError(
            f"{source}: TF discriminator {net.name!r} has a 4x4 dense layer of {fc_features} features, wider "
            "than its 4x4 convolution; ganforge's discriminator cannot represent that"
        )
    group_size = k.get("mbstd_group_size", 4) or 0
    activation = k.get("nonlinearity", "lrelu")
    kwargs = dict(
        c_dim=0, img_resolution=resolution, img_channels=k.get("num_channels", 3),
        architecture=k.get("architecture", "resnet"), channel_base=channel_base,
        channel_max=k.get("fmap_max", 512),
        block_kwargs=dict(activation=activation, resample_filter=_resample_filter(k)),
        epilogue_kwargs=dict(
            mbstd_group_size=group_size,
            mbstd_num_channels=k.get("mbstd_num_features", 1) if group_size > 1 else 0,
            activation=activation,
        ),
    )
    D = _construct(Discriminator, kwargs, net.name, source)
    v = _Variables(net, source)
    state: dict[str, np.ndarray] = {}
    for res in D.block_resolutions:
        block, scope = getattr(D, f"b{res}"), f"{res}x{res}"
        if hasattr(block, "fromrgb"):
            state[f"b{res}.fromrgb.weight"] = v.conv(f"{scope}/FromRGB/weight")
            state[f"b{res}.fromrgb.bias"] = v.take(f"{scope}/FromRGB/bias")
        for name, tf_name in (("conv0", "Conv0"), ("conv1", "Conv1_down")):
            state[f"b{res}.{name}.weight"] = v.conv(f"{scope}/{tf_name}/weight")
            state[f"b{res}.{name}.bias"] = v.take(f"{scope}/{tf_name}/bias")
        if hasattr(block, "skip"):
            state[f"b{res}.skip.weight"] = v.conv(f"{scope}/Skip/weight")
    if hasattr(D.b4, "fromrgb"):
        state["b4.fromrgb.weight"] = v.conv("4x4/FromRGB/weight")
        state["b4.fromrgb.bias"] = v.take("4x4/FromRGB/bias")
    state["b4.conv.weight"] = v.conv("4x4/Conv/weight")
    state["b4.conv.bias"] = v.take("4x4/Conv/bias")
    state.update(v.dense("b4.fc", "4x4/Dense0"))
    state.update(v.dense("b4.out", "Output"))
    return _load(D, state, v, source)


_V1_MAPPING_KWARGS = {
    "mapping_layers": "num_layers", "mapping_fmaps": "layer_features", "mapping_lrmul": "lr_multiplier",
    "mapping_nonlinearity": "activation", "normalize_latents": "normalize_latents",
    "use_wscale": "use_wscale",
}
_V1_COMMON_KWARGS = {
    "fmap_base": "fmap_base", "fmap_decay": "fmap_decay", "fmap_max": "fmap_max",
    "nonlinearity": "activation", "use_wscale": "use_wscale", "fused_scale": "fused_scale",
    "blur_filter": "blur_filter",
}
_V1_SYNTHESIS_KWARGS = {
    **_V1_COMMON_KWARGS, "use_noise": "use_noise", "use_pixel_norm": "use_pixel_norm",
    "use_instance_norm": "use_instance_norm",
}
_V1_D_KWARGS = {**_V1_COMMON_KWARGS, "mbstd_group_size": "mbstd_group_size",
                "mbstd_num_features": "mbstd_num_features"}
"""StyleGAN (v1) TF kwarg -> ganforge kwarg, where the names differ or the value is passed on as is."""


def convert_stylegan_generator(net: TFNetwork, source: str) -> stylegan.Generator:
    """G_style with G_mapping and G_synthesis -> `stylegan.Generator` (lod and noise buffers included)."""
    mapping = _component(net, "mapping", "G_mapping", source)
    synthesis = _component(net, "synthesis", "G_synthesis", source)
    mk, sk = mapping.kwargs, synthesis.kwargs
    for flag in ("use_styles", "const_input_layer"):
        if not sk.get(flag, True):
            raise NetworkFileError(f"{source}: TF generator {net.name!r}: {flag}=False is unsupported")
    mixing = net.kwargs.get("style_mixing_prob", 0.9)
    beta = net.kwargs.get("dlatent_avg_beta", 0.995)
    kwargs = dict(
        z_dim=mk.get("latent_size", 512), c_dim=mk.get("label_size", 0), w_dim=mk.get("dlatent_size", 512),
        img_resolution=sk.get("resolution", 1024), img_channels=sk.get("num_channels", 3),
        mapping_kwargs={**_pick(mk, _V1_MAPPING_KWARGS), "w_avg_beta": beta},
        synthesis_kwargs={**_pick(sk, _V1_SYNTHESIS_KWARGS), "structure": _structure(sk)},
        style_mixing_prob=0.0 if mixing is None else mixing,
    )
    G = _construct(stylegan.Generator, kwargs, net.name, source)
    # G_synthesis/lod is assigned from G's own 'lod' on every call; ganforge keeps one (synthesis.lod).
    return _load_by_tf_names(G, net, source, ignored=("G_synthesis/lod",))


def convert_stylegan_discriminator(net: TFNetwork, source: str) -> stylegan.Discriminator:
    """D_basic -> `stylegan.Discriminator`."""
    k = net.kwargs
    kwargs = dict(
        c_dim=k.get("label_size", 0), img_resolution=k.get("resolution", 32),
        img_channels=k.get("num_channels", 1),
        **_pick(k, _V1_D_KWARGS), structure=_structure(k),
    )
    D = _construct(stylegan.Discriminator, kwargs, net.name, source)
    return _load_by_tf_names(D, net, source)


def _pick(kwargs: dict[str, Any], names: dict[str, str]) -> dict[str, Any]:
    return {ours: kwargs[theirs] for theirs, ours in names.items() if theirs in kwargs}


def _structure(kwargs: dict[str, Any]) -> str:
    """TF 'auto', 'linear' and 'recursive' compute the same function (and hold the same variables)."""
    return "fixed" if kwargs.get("structure", "auto") == "fixed" else "linear"


def _load_by_tf_names(network: nn.Module, net: TFNetwork, source: str, ignored: tuple[str, ...] = ()) -> Any:
    """Load a StyleGAN (v1) network from TF variables named by `tf_variable_names`, transposing
    dense ([in, out]) and conv ([kh, kw, in, out]) weights; everything else keeps its layout."""
    v = _Variables(net, source, by_name=True)
    for name in ignored:
        v.take(name)
    state = {}
    for tf_name, key in stylegan.tf_variable_names(network).items():
        value = v.take(tf_name)
        if key.endswith(".weight") and value.ndim in (2, 4):
            value = value.T if value.ndim == 2 else value.transpose(3, 2, 0, 1)
        state[key] = value
    return _load(network, state, v, source)


def _component(net: TFNetwork, key: str, func: str, source: str) -> TFNetwork:
    component = net.components.get(key)
    if component is None or component.func != func:
        found = "none" if component is None else repr(component.func)
        raise NetworkFileError(
            f"{source}: TF generator {net.name!r} needs a {key} network built by {func!r} (found {found}); "
            f"supported: {SUPPORTED}"
        )
    return component


def _refuse_labels(kwargs: dict[str, Any], name: str, source: str) -> None:
    if kwargs.get("label_size", 0):
        raise NetworkFileError(
            f"{source}: TF network {name!r} is conditional (label_size={kwargs['label_size']}); its label "
            "layers have no exact ganforge counterpart, so only unconditional TF pickles are converted"
        )


def _channel_base(kwargs: dict[str, Any], resolution: int, name: str, source: str) -> int:
    """ganforge's channel_base for TF's nf(stage) = clip(fmap_base / 2**(stage * fmap_decay), min, max).

    ganforge has min(channel_base // res, channel_max) at resolution res = 2**(stage + 1), so
    channel_base = 2 * fmap_base when fmap_decay is 1 and fmap_min clips no layer.
    """
    base, decay = kwargs.get("fmap_base", 16 << 10), kwargs.get("fmap_decay", 1.0)
    low, high = kwargs.get("fmap_min", 1), kwargs.get("fmap_max", 512)
    for stage in range(1, int(math.log2(resolution))):
        tf_channels = int(np.clip(int(base / 2.0 ** (stage * decay)), low, high))
        if tf_channels != min(int(2 * base) // 2 ** (stage + 1), high):
            raise NetworkFileError(
                f"{source}: TF network {name!r} sets fmap_base={base}, fmap_decay={decay}, fmap_min={low}, "
                "which give channel counts ganforge's channel_base/channel_max cannot express"
            )
    return int(2 * base)


def _resample_filter(kwargs: dict[str, Any]) -> list[float]:
    """TF's resample_kernel; None there means its resampling default [1] * factor."""
    kernel = kwargs.get("resample_kernel", [1, 3, 3, 1])
    return [1, 1] if kernel is None else [float(x) for x in kernel]


def _construct(cls: type[nn.Module], kwargs: dict[str, Any], name: str, source: str) -> Any:
    try:
        return cls(**kwargs)
    except (ValueError, TypeError) as exc:
        message = f"{source}: cannot build TF network {name!r} as a {cls.__name__}: {exc}"
        raise NetworkFileError(message) from exc


def _load(network: nn.Module, state: dict[str, np.ndarray], v: _Variables, source: str) -> Any:
    """Load the converted `state` strictly (resample filters come from the arguments); eval mode."""
    if v.unused:
        raise NetworkFileError(
            f"{source}: TF network {v.network!r} has variables ganforge does not know how to convert: "
            f"{', '.join(sorted(v.unused))}"
        )
    tensors = {key: torch.from_numpy(np.array(value, dtype=np.float32)) for key, value in state.items()}
    tensors.update((key, t) for key, t in network.state_dict().items() if key.endswith("resample_filter"))
    try:
        network.load_state_dict(tensors, strict=True)
    except RuntimeError as exc:
        problem = " ".join(str(exc).split())
        message = f"{source}: TF network {v.network!r} does not fit its arguments: {problem}"
        raise NetworkFileError(message) from exc
    return network.eval().requires_grad_(False)
