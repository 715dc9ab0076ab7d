"""Legacy TensorFlow network pickles of StyleGAN2 (NVlabs/stylegan2), StyleGAN2-ADA
(NVlabs/stylegan2-ada) and StyleGAN (NVlabs/stylegan) as ganforge networks.

Such a pickle is a tuple (G, D, Gs) of `dnnlib.tflib.network.Network` objects, which `SafeUnpickler`
reads as `TFNetworkRecord`s: the name of the build function, its keyword arguments, sub-networks and
the variables as (name, numpy array) pairs. The build module's source is never run: the network is
rebuilt from the function name and arguments, and the variables are copied in by name with their
layouts changed from TensorFlow's to torch's (conv HWIO -> OIHW, dense [in, out] -> [out, in], style
bias + 1, and up-sampling kernels flipped, since TF runs them as a transposed convolution of the
flipped kernel where ganforge's transposed convolution takes the kernel as stored). StyleGAN2-ADA's
networks use StyleGAN2's names, plus LabelEmbed (and D's Mapping{i}) for conditional ones. StyleGAN
(v1) networks are named by `ganforge.models.stylegan.tf_variable_names` and need only the transposes.
The network is built only as far as the variables could fill it (`bounded_network`), so that a small
pickle claiming a huge network costs no memory.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from torch import nn

from ganforge.compat.bounded import MAX_ARGUMENT, bounded_network
from ganforge.compat.safe_unpickle import TFNetworkRecord
from ganforge.compat.tf_network import TFNetwork, TFVariables, load_converted
from ganforge.errors import NetworkFileError
from ganforge.models import stylegan
from ganforge.models.stylegan2 import Discriminator, Generator

SUPPORTED = (
    "StyleGAN2's G_main (with G_mapping and G_synthesis_stylegan2) and D_stylegan2, "
    "StyleGAN2-ADA's G_main (with G_mapping and G_synthesis) and D_main, "
    "StyleGAN's G_style (with G_mapping and G_synthesis) and D_basic"
)
NOT_YET_SUPPORTED = {
    "G_synthesis_stylegan_revised": "StyleGAN2 configs B-D (progressive growing) are not supported",
}
"""Build functions ganforge recognises but cannot convert, with the reason given to the user."""


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
    if network.func in ("D_stylegan2", "D_main"):
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
    """G_main -> `stylegan2.Generator`: StyleGAN2's (G_mapping, G_synthesis_stylegan2; unconditional)
    or StyleGAN2-ADA's (G_mapping, G_synthesis; a conditional one embeds labels by LabelEmbed)."""
    mapping = _component(net, "mapping", ("G_mapping",), source)
    synthesis = _component(net, "synthesis", ("G_synthesis_stylegan2", "G_synthesis"), source)
    ada = synthesis.func == "G_synthesis"
    kwargs = _generator_kwargs(net, mapping.kwargs, synthesis.kwargs, ada, source)
    v = TFVariables(net, source)
    G = _construct(Generator, kwargs, net, source)
    if not ada:
        v.take("lod")  # progressive-growing state, always 0 for StyleGAN2
    state = {"mapping.w_avg": v.take("dlatent_avg")}
    if G.c_dim:
        state.update(v.dense("mapping.embed", "mapping/LabelEmbed"))
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
            if getattr(block, name).use_noise:
                state[f"{prefix}.{name}.noise_strength"] = v.take(f"{scope}/{tf_name}/noise_strength")
                state[f"{prefix}.{name}.noise_const"] = v.take(f"synthesis/noise{noise_idx}")[0, 0]
        if hasattr(block, "torgb"):
            state.update(v.modulated(f"{prefix}.torgb", f"{scope}/ToRGB"))
        if hasattr(block, "skip"):
            state[f"{prefix}.skip.weight"] = v.conv(f"{scope}/Skip/weight", flip=True)
    return load_converted(G, state, v, source)


def _generator_kwargs(
    net: TFNetwork, mk: dict[str, Any], sk: dict[str, Any], ada: bool, source: str
) -> dict[str, Any]:
    """`stylegan2.Generator` arguments for a G_main with mapping kwargs `mk` and synthesis kwargs `sk`.

    The defaults are those of the TF build functions: StyleGAN2-ADA's mapping has as many features
    as w (mapping_fmaps None) and embeds labels into latent_size features (label_fmaps None).
    """
    if not ada:
        _refuse_labels(mk, net.name, source)
    if not mk.get("normalize_latents", True):
        raise NetworkFileError(f"{source}: TF generator {net.name!r}: normalize_latents=False is unsupported")
    resolution = _resolution(sk, net.name, source)
    beta = net.kwargs.get("dlatent_avg_beta", 0.995)
    label_size = mk.get("label_size", 0)
    mapping_kwargs = dict(
        num_layers=mk.get("mapping_layers", 8), layer_features=mk.get("mapping_fmaps", None if ada else 512),
        activation=mk.get("mapping_nonlinearity", "lrelu"), lr_multiplier=mk.get("mapping_lrmul", 0.01),
        w_avg_beta=1.0 if beta is None else beta,
    )
    if label_size:
        label_fmaps = mk.get("label_fmaps")
        mapping_kwargs["embed_features"] = mk.get("latent_size", 512) if label_fmaps is None else label_fmaps
    channel_base, channel_max = _channel_base(sk, resolution, net.name, source), sk.get("fmap_max", 512)
    synthesis_kwargs = dict(
        channel_base=channel_base, channel_max=channel_max, architecture=sk.get("architecture", "skip"),
        resample_filter=_resample_filter(sk), activation=sk.get("nonlinearity", "lrelu"),
    )
    if ada:
        const = sk.get("fmap_const")
        if const is not None and const != min(channel_base // 4, channel_max):
            raise NetworkFileError(
                f"{source}: TF generator {net.name!r} sets fmap_const={const}, unlike its 4x4 layers; "
                "ganforge's generator cannot represent that"
            )
        synthesis_kwargs.update(num_fp16_res=sk.get("num_fp16_res", 0), conv_clamp=sk.get("conv_clamp"),
                                use_noise=sk.get("use_noise", True))
    return dict(
        z_dim=mk.get("latent_size", 512), c_dim=label_size, w_dim=mk.get("dlatent_size", 512),
        img_resolution=resolution, img_channels=sk.get("num_channels", 3),
        mapping_kwargs=mapping_kwargs, synthesis_kwargs=synthesis_kwargs,
    )


def convert_discriminator(net: TFNetwork, source: str) -> Discriminator:
    """D_stylegan2 (StyleGAN2, unconditional) or D_main (StyleGAN2-ADA; a conditional one embeds
    labels by LabelEmbed and Mapping{i} and projects its Output on them) -> `stylegan2.Discriminator`."""
    kwargs = _discriminator_kwargs(net, source)
    v = TFVariables(net, source)
    D = _construct(Discriminator, kwargs, net, source)
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
    if D.c_dim:
        state.update(v.dense("mapping.embed", "LabelEmbed"))
        for i in range(D.mapping.num_layers):
            state.update(v.dense(f"mapping.fc{i}", f"Mapping{i}"))
    state["b4.conv.weight"] = v.conv("4x4/Conv/weight")
    state["b4.conv.bias"] = v.take("4x4/Conv/bias")
    state.update(v.dense("b4.fc", "4x4/Dense0"))
    state.update(v.dense("b4.out", "Output"))
    return load_converted(D, state, v, source)


_COMPARISON_METHODS = {"use_pagan": False, "use_spectral_norm": False, "adaptive_dropout": 0, "score_max": 1}
"""D_main's switches for the StyleGAN2-ADA paper's comparison methods, at their off values."""


def _discriminator_kwargs(net: TFNetwork, source: str) -> dict[str, Any]:
    """`stylegan2.Discriminator` arguments for a TF D_stylegan2 or D_main, with the TF defaults."""
    k, ada = net.kwargs, net.func == "D_main"
    if ada:
        for flag, off in _COMPARISON_METHODS.items():
            if k.get(flag, off) != off:
                raise NetworkFileError(
                    f"{source}: TF discriminator {net.name!r} uses the comparison method {flag}={k[flag]!r} "
                    "of the StyleGAN2-ADA paper, which ganforge does not support"
                )
    else:
        _refuse_labels(k, net.name, source)
    resolution = _resolution(k, net.name, source)
    channel_base, channel_max = _channel_base(k, resolution, net.name, source), k.get("fmap_max", 512)
    fc_features = min(k.get("fmap_base", 16 << 10), channel_max)  # TF nf(0)
    if fc_features != min(channel_base // 4, channel_max):
        raise NetworkFileError(
            f"{source}: TF discriminator {net.name!r} has a 4x4 dense layer of {fc_features} features, wider "
            "than its 4x4 convolution; ganforge's discriminator cannot represent that"
        )
    activation = k.get("nonlinearity", "lrelu")
    if ada:  # D_main: no group size means the whole minibatch
        group_size, mbstd_channels = k.get("mbstd_group_size"), k.get("mbstd_num_features", 1)
    else:  # D_stylegan2: the layer exists only for group sizes above 1
        group_size = k.get("mbstd_group_size", 4) or 0
        mbstd_channels = k.get("mbstd_num_features", 1) if group_size > 1 else 0
    kwargs: dict[str, Any] = dict(
        c_dim=k.get("label_size", 0), img_resolution=resolution, img_channels=k.get("num_channels", 3),
        architecture=k.get("architecture", "resnet"), channel_base=channel_base, channel_max=channel_max,
        block_kwargs=dict(activation=activation, resample_filter=_resample_filter(k)),
        epilogue_kwargs=dict(mbstd_group_size=group_size, mbstd_num_channels=mbstd_channels,
                             activation=activation),
    )
    if ada:
        kwargs.update(num_fp16_res=k.get("num_fp16_res", 0), conv_clamp=k.get("conv_clamp"))
        kwargs["block_kwargs"]["freeze_layers"] = k.get("freeze_layers", 0)
    if kwargs["c_dim"]:
        cmap_dim = fc_features if k.get("mapping_fmaps") is None else k["mapping_fmaps"]
        kwargs.update(cmap_dim=cmap_dim, mapping_kwargs=dict(
            num_layers=k.get("mapping_layers", 0), embed_features=cmap_dim, layer_features=cmap_dim,
            activation=activation, lr_multiplier=k.get("mapping_lrmul", 0.1),
        ))
    return kwargs


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
    mapping = _component(net, "mapping", ("G_mapping",), source)
    synthesis = _component(net, "synthesis", ("G_synthesis",), source)
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
    G = _construct(stylegan.Generator, kwargs, net, source)
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
    D = _construct(stylegan.Discriminator, kwargs, net, source)
    return _load_by_tf_names(D, net, source)


def _pick(kwargs: dict[str, Any], names: dict[str, str]) -> dict[str, Any]:
    return {ours: kwargs[theirs] for theirs, ours in names.items() if theirs in kwargs}


def _structure(kwargs: dict[str, Any]) -> str:
    """TF 'auto', 'linear' and 'recursive' compute the same function (and hold the same variables)."""
    return "fixed" if kwargs.get("structure", "auto") == "fixed" else "linear"


def _load_by_tf_names(network: nn.Module, net: TFNetwork, source: str, ignored: tuple[str, ...] = ()) -> Any:
    """Load a StyleGAN (v1) network from TF variables named by `tf_variable_names`, transposing
    dense ([in, out]) and conv ([kh, kw, in, out]) weights; everything else keeps its layout."""
    v = TFVariables(net, source, by_name=True)
    for name in ignored:
        v.take(name)
    state = {}
    for tf_name, key in stylegan.tf_variable_names(network).items():
        value = v.take(tf_name)
        if key.endswith(".weight") and value.ndim in (2, 4):
            value = value.T if value.ndim == 2 else value.transpose(3, 2, 0, 1)
        state[key] = value
    return load_converted(network, state, v, source)


def _component(net: TFNetwork, key: str, funcs: tuple[str, ...], source: str) -> TFNetwork:
    component = net.components.get(key)
    if component is None or component.func not in funcs:
        found = "none" if component is None else repr(component.func)
        raise NetworkFileError(
            f"{source}: TF generator {net.name!r} needs a {key} network built by "
            f"{' or '.join(map(repr, funcs))} (found {found}); supported: {SUPPORTED}"
        )
    return component


def _refuse_labels(kwargs: dict[str, Any], name: str, source: str) -> None:
    if kwargs.get("label_size", 0):
        raise NetworkFileError(
            f"{source}: TF network {name!r} is conditional (label_size={kwargs['label_size']}); its label "
            "layers have no exact ganforge counterpart, so only unconditional TF pickles are converted"
        )


def _resolution(kwargs: dict[str, Any], name: str, source: str) -> int:
    """The network's resolution: a power of two from 4 to `MAX_ARGUMENT`."""
    resolution = kwargs.get("resolution", 1024)
    if not (isinstance(resolution, int | np.integer) and 4 <= resolution <= MAX_ARGUMENT
            and resolution & (resolution - 1) == 0):
        raise NetworkFileError(
            f"{source}: TF network {name!r} has resolution {resolution!r}, not a power of two from 4 to "
            f"{MAX_ARGUMENT}"
        )
    return int(resolution)


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


def _construct(cls: type[nn.Module], kwargs: dict[str, Any], net: TFNetwork, source: str) -> Any:
    """`cls(**kwargs)`, built only as far as the pickle's variables could fill it (`bounded_network`)."""
    return bounded_network(cls, kwargs, net.all_variables(), f"{source}: TF network {net.name!r}")
