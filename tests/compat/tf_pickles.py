"""Legacy TensorFlow StyleGAN2 and StyleGAN2-ADA pickles (G, D, Gs), written without TensorFlow or dnnlib.

`TFNetwork` pickles exactly as `dnnlib.tflib.network.Network` does (the class global, then its state
dict through `__setstate__`) while `tf_modules()` registers a stand-in `dnnlib.tflib.network` module in
`sys.modules`; the stand-in is removed again so that loading cannot rely on it. The variables are
random numpy arrays with the names and TF layouts of NVlabs/stylegan2's networks_stylegan2.py
(`TinyConfig(ada=True)`: of NVlabs/stylegan2-ada's training/networks.py, conditional when `label_size`).
"""

from __future__ import annotations

import contextlib
import io
import pickle
import sys
import types
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

TF_MODULES = ("dnnlib", "dnnlib.tflib", "dnnlib.tflib.network")


def build_module_src(marker: Path | None = None) -> str:
    """Module source as the TF pickles carry it; running it would write `marker` (it must never run)."""
    if marker is None:
        return "raise SystemExit('module source from a network file must never run')\n"
    return f"open({str(marker)!r}, 'w').write('ran')\n"


class TFNetwork:
    """Pickles as `dnnlib.tflib.network.Network` with the official `__getstate__` layout."""

    def __init__(self, name: str, func: str, static_kwargs: dict[str, Any], variables: dict[str, Any],
                 components: dict[str, TFNetwork] | None = None, src: str | None = None) -> None:
        self.state = dict(version=4, name=name, static_kwargs=static_kwargs, components=components or {},
                          build_module_src=src or build_module_src(), build_func_name=func,
                          variables=list(variables.items()))

    def __getstate__(self) -> dict[str, Any]:
        return self.state

    def __setstate__(self, state: dict[str, Any]) -> None:
        raise AssertionError("the test's Network stand-in is only for writing pickles")


TFNetwork.__module__, TFNetwork.__qualname__ = "dnnlib.tflib.network", "Network"


@contextlib.contextmanager
def tf_modules() -> Iterator[None]:
    """Make `dnnlib.tflib.network.Network` resolvable for pickling, then remove it again."""
    assert not any(name in sys.modules for name in TF_MODULES)
    network = types.ModuleType("dnnlib.tflib.network")
    network.Network = TFNetwork  # type: ignore[attr-defined]
    modules = {"dnnlib": types.ModuleType("dnnlib"), "dnnlib.tflib": types.ModuleType("dnnlib.tflib"),
               "dnnlib.tflib.network": network}
    sys.modules.update(modules)
    try:
        yield
    finally:
        for name in modules:
            del sys.modules[name]


def dumps(obj: Any, protocol: int = 3) -> bytes:
    """Pickle `obj` as the TF training code did (`pickle.dump`, Python 3's default protocol 3)."""
    with tf_modules():
        buffer = io.BytesIO()
        pickle.dump(obj, buffer, protocol=protocol)
    return buffer.getvalue()


@dataclass
class TinyConfig:
    """A tiny StyleGAN2 configuration in the TF kwargs' terms (config-f shape, few channels).

    `ada` switches to StyleGAN2-ADA's build functions (G_main with G_mapping and G_synthesis, D_main),
    whose kwargs add labels (`label_size`), activation clamping and the D's label mapping.
    """

    resolution: int = 16
    num_channels: int = 3
    latent_size: int = 8
    dlatent_size: int = 8
    mapping_layers: int = 2
    mapping_fmaps: int | None = 12
    fmap_base: int = 32
    fmap_max: int = 8
    g_architecture: str = "skip"
    d_architecture: str = "resnet"
    mbstd_group_size: int | None = 2
    mbstd_num_features: int = 1
    ada: bool = False
    label_size: int = 0
    label_fmaps: int | None = None  # G's label embedding; TF's None: latent_size
    conv_clamp: float | None = None
    num_fp16_res: int = 0
    d_mapping_layers: int = 0
    d_mapping_fmaps: int | None = None  # D's label embedding; TF's None: nf(0)

    @property
    def log2(self) -> int:
        return int(np.log2(self.resolution))

    @property
    def embed(self) -> int:
        """Features of G's label embedding (LabelEmbed)."""
        return self.latent_size if self.label_fmaps is None else self.label_fmaps

    @property
    def cmap(self) -> int:
        """Features of D's label embedding, which its output is projected on."""
        return self.nf(0) if self.d_mapping_fmaps is None else self.d_mapping_fmaps

    def nf(self, stage: int) -> int:
        """TF's channel count of a stage: fmap_base / 2**stage clipped to fmap_max."""
        return min(int(self.fmap_base / 2.0**stage), self.fmap_max)

    def common_kwargs(self) -> dict[str, Any]:
        """StyleGAN2's kwargs as its run_training passes them; StyleGAN2-ADA's as its train.py does."""
        common = dict(num_channels=self.num_channels, resolution=self.resolution, label_size=self.label_size,
                      fmap_base=self.fmap_base, fmap_max=self.fmap_max)
        if self.ada:
            return dict(**common, num_fp16_res=self.num_fp16_res, conv_clamp=self.conv_clamp)
        return dict(**common, resample_kernel=[1, 3, 3, 1])

    def g_kwargs(self) -> dict[str, Any]:
        kwargs = dict(**self.common_kwargs(), latent_size=self.latent_size, dlatent_size=self.dlatent_size,
                      mapping_layers=self.mapping_layers, mapping_fmaps=self.mapping_fmaps,
                      architecture=self.g_architecture)
        if self.label_fmaps is not None:
            kwargs["label_fmaps"] = self.label_fmaps
        return kwargs if self.ada else dict(**kwargs, dtype="float32")

    def d_kwargs(self) -> dict[str, Any]:
        kwargs = dict(**self.common_kwargs(), architecture=self.d_architecture,
                      mbstd_group_size=self.mbstd_group_size, mbstd_num_features=self.mbstd_num_features)
        if self.ada:
            kwargs["mapping_layers"] = self.d_mapping_layers
            if self.d_mapping_fmaps is not None:
                kwargs["mapping_fmaps"] = self.d_mapping_fmaps
        return kwargs


def _normal(rng: np.random.Generator, *shape: int, scale: float = 1.0) -> np.ndarray:
    return (rng.standard_normal(shape) * scale).astype(np.float32)


def _modulated(rng: np.random.Generator, v: dict[str, np.ndarray], scope: str, k: int, fin: int, fout: int,
               w_dim: int) -> None:
    v[f"{scope}/weight"] = _normal(rng, k, k, fin, fout)
    v[f"{scope}/mod_weight"] = _normal(rng, w_dim, fin)
    v[f"{scope}/mod_bias"] = _normal(rng, fin, scale=0.3)
    v[f"{scope}/bias"] = _normal(rng, fout, scale=0.2)


def generator_variables(cfg: TinyConfig, seed: int) -> dict[str, np.ndarray]:
    """Every variable of a TF G_main (mapping/..., synthesis/..., own) by full name, in TF layouts."""
    rng = np.random.default_rng(seed)
    v: dict[str, np.ndarray] = {"dlatent_avg": _normal(rng, cfg.dlatent_size)}
    if not cfg.ada:
        v["lod"] = np.float32(0)
    fmaps = cfg.dlatent_size if cfg.mapping_fmaps is None else cfg.mapping_fmaps  # TF's None: dlatent_size
    features = [cfg.latent_size] + [fmaps] * (cfg.mapping_layers - 1) + [cfg.dlatent_size]
    if cfg.label_size:
        v["mapping/LabelEmbed/weight"] = _normal(rng, cfg.label_size, cfg.embed)
        v["mapping/LabelEmbed/bias"] = _normal(rng, cfg.embed, scale=0.5)
        features[0] += cfg.embed
    for i in range(cfg.mapping_layers):
        v[f"mapping/Dense{i}/weight"] = _normal(rng, features[i], features[i + 1], scale=100.0)  # 1/lrmul
        v[f"mapping/Dense{i}/bias"] = _normal(rng, features[i + 1], scale=5.0)
    num_layers = 2 * cfg.log2 - 2
    for i in range(num_layers - 1):
        r = 2 ** ((i + 5) // 2)
        v[f"synthesis/noise{i}"] = _normal(rng, 1, 1, r, r)
    w, c = cfg.dlatent_size, cfg.num_channels
    v["synthesis/4x4/Const/const"] = _normal(rng, 1, cfg.nf(1), 4, 4)
    _modulated(rng, v, "synthesis/4x4/Conv", 3, cfg.nf(1), cfg.nf(1), w)
    v["synthesis/4x4/Conv/noise_strength"] = _normal(rng, scale=0.5)
    if cfg.g_architecture == "skip":
        _modulated(rng, v, "synthesis/4x4/ToRGB", 1, cfg.nf(1), c, w)
    for res in range(3, cfg.log2 + 1):
        scope, fin, fout = f"synthesis/{2**res}x{2**res}", cfg.nf(res - 2), cfg.nf(res - 1)
        _modulated(rng, v, f"{scope}/Conv0_up", 3, fin, fout, w)
        _modulated(rng, v, f"{scope}/Conv1", 3, fout, fout, w)
        for name in ("Conv0_up", "Conv1"):
            v[f"{scope}/{name}/noise_strength"] = _normal(rng, scale=0.5)
        if cfg.g_architecture == "resnet":
            v[f"{scope}/Skip/weight"] = _normal(rng, 1, 1, fin, fout)
        if cfg.g_architecture == "skip" or res == cfg.log2:
            _modulated(rng, v, f"{scope}/ToRGB", 1, fout, c, w)
    return v


def discriminator_variables(cfg: TinyConfig, seed: int) -> dict[str, np.ndarray]:
    """Every variable of a TF D_stylegan2 (`cfg.ada`: D_main) by name, in TF layouts."""
    rng = np.random.default_rng(seed)
    v: dict[str, np.ndarray] = {}

    def conv(scope: str, k: int, fin: int, fout: int, bias: bool = True) -> None:
        v[f"{scope}/weight"] = _normal(rng, k, k, fin, fout)
        if bias:
            v[f"{scope}/bias"] = _normal(rng, fout, scale=0.2)

    for res in range(cfg.log2, 2, -1):
        scope = f"{2**res}x{2**res}"
        if cfg.d_architecture == "skip" or res == cfg.log2:
            conv(f"{scope}/FromRGB", 1, cfg.num_channels, cfg.nf(res - 1))
        conv(f"{scope}/Conv0", 3, cfg.nf(res - 1), cfg.nf(res - 1))
        conv(f"{scope}/Conv1_down", 3, cfg.nf(res - 1), cfg.nf(res - 2))
        if cfg.d_architecture == "resnet":
            conv(f"{scope}/Skip", 1, cfg.nf(res - 1), cfg.nf(res - 2), bias=False)
    if cfg.d_architecture == "skip":
        conv("4x4/FromRGB", 1, cfg.num_channels, cfg.nf(1))
    has_mbstd = cfg.ada or (cfg.mbstd_group_size or 0) > 1  # D_main: group None is the whole minibatch
    extra = cfg.mbstd_num_features if has_mbstd else 0
    conv("4x4/Conv", 3, cfg.nf(1) + extra, cfg.nf(1))
    v["4x4/Dense0/weight"] = _normal(rng, cfg.nf(1) * 16, cfg.nf(0))
    v["4x4/Dense0/bias"] = _normal(rng, cfg.nf(0), scale=0.2)
    out = cfg.cmap if cfg.label_size else 1
    v["Output/weight"] = _normal(rng, cfg.nf(0), out)
    v["Output/bias"] = _normal(rng, out, scale=0.2)
    if cfg.label_size:
        v["LabelEmbed/weight"] = _normal(rng, cfg.label_size, cfg.cmap)
        v["LabelEmbed/bias"] = _normal(rng, cfg.cmap, scale=0.5)
        for i in range(cfg.d_mapping_layers):
            v[f"Mapping{i}/weight"] = _normal(rng, cfg.cmap, cfg.cmap, scale=10.0)  # 1/lrmul
            v[f"Mapping{i}/bias"] = _normal(rng, cfg.cmap, scale=2.0)
    return v


def generator_network(cfg: TinyConfig, variables: dict[str, np.ndarray], name: str = "G",
                      src: str | None = None) -> TFNetwork:
    """The TF G_main Network (with mapping and synthesis components) holding `variables`."""
    own = {k: val for k, val in variables.items() if "/" not in k}
    part = {p: {k.split("/", 1)[1]: val for k, val in variables.items() if k.startswith(p + "/")}
            for p in ("mapping", "synthesis")}
    kwargs = cfg.g_kwargs()
    mapping = TFNetwork("G_mapping", "G_mapping", {**kwargs, "dlatent_broadcast": 2 * cfg.log2 - 2},
                        part["mapping"], src=src)
    func = "G_synthesis" if cfg.ada else "G_synthesis_stylegan2"
    synthesis = TFNetwork("G_synthesis", func, kwargs, part["synthesis"], src=src)
    return TFNetwork(name, "G_main", {**kwargs, "truncation_psi": 0.5}, own,
                     components={"synthesis": synthesis, "mapping": mapping}, src=src)


def discriminator_network(cfg: TinyConfig, variables: dict[str, np.ndarray]) -> TFNetwork:
    return TFNetwork("D", "D_main" if cfg.ada else "D_stylegan2", cfg.d_kwargs(), variables)


@dataclass
class TFPickle:
    """A written TF pickle and the variables it holds (for independent reference computations)."""

    path: Path
    cfg: TinyConfig
    G: dict[str, np.ndarray]
    D: dict[str, np.ndarray]
    Gs: dict[str, np.ndarray]


def write_tf_pickle(path: Path, cfg: TinyConfig | None = None, seed: int = 0) -> TFPickle:
    """Write a (G, D, Gs) TF pickle of `cfg` with random variables (G and Gs differ) to `path`."""
    cfg = cfg or TinyConfig()
    G, D, Gs = generator_variables(cfg, seed), discriminator_variables(cfg, seed + 1), generator_variables(
        cfg, seed + 2)
    nets = (generator_network(cfg, G), discriminator_network(cfg, D), generator_network(cfg, Gs, name="Gs"))
    path.write_bytes(dumps(nets))
    return TFPickle(path, cfg, G, D, Gs)


@dataclass
class TinyV1Config:
    """A tiny StyleGAN (v1) configuration in the TF kwargs' terms: 8x8, conditional, 8 then 4 channels."""

    resolution: int = 8
    num_channels: int = 3
    label_size: int = 2
    latent_size: int = 8
    dlatent_size: int = 8
    mapping_layers: int = 2
    mapping_fmaps: int | None = 12
    fmap_base: int = 16
    fmap_max: int = 8
    mbstd_group_size: int = 2

    @property
    def log2(self) -> int:
        return int(np.log2(self.resolution))

    def nf(self, stage: int) -> int:
        return min(int(self.fmap_base / 2.0**stage), self.fmap_max)

    def kwargs(self) -> dict[str, Any]:
        return dict(num_channels=self.num_channels, resolution=self.resolution, label_size=self.label_size,
                    fmap_base=self.fmap_base, fmap_max=self.fmap_max, latent_size=self.latent_size,
                    dlatent_size=self.dlatent_size, mapping_layers=self.mapping_layers,
                    mapping_fmaps=self.mapping_fmaps, mbstd_group_size=self.mbstd_group_size)


def v1_generator_variables(cfg: TinyV1Config, seed: int) -> dict[str, np.ndarray]:
    """Every variable of a TF G_style as TF's `Network.vars` names them ('G_synthesis/4x4/Conv/weight')."""
    rng = np.random.default_rng(seed)
    v: dict[str, np.ndarray] = {"lod": np.float32(0), "dlatent_avg": _normal(rng, cfg.dlatent_size)}
    if cfg.label_size:
        v["G_mapping/LabelConcat/weight"] = _normal(rng, cfg.label_size, cfg.latent_size)
    features = [cfg.latent_size * (2 if cfg.label_size else 1)] + [cfg.mapping_fmaps] * (
        cfg.mapping_layers - 1) + [cfg.dlatent_size]
    for i in range(cfg.mapping_layers):
        v[f"G_mapping/Dense{i}/weight"] = _normal(rng, features[i], features[i + 1], scale=100.0)
        v[f"G_mapping/Dense{i}/bias"] = _normal(rng, features[i + 1], scale=5.0)
    s = "G_synthesis"
    v[f"{s}/lod"] = np.float32(0)
    for i in range(2 * cfg.log2 - 2):
        r = 2 ** (i // 2 + 2)
        v[f"{s}/noise{i}"] = _normal(rng, 1, 1, r, r)
    v[f"{s}/4x4/Const/const"] = _normal(rng, 1, cfg.nf(1), 4, 4)
    layers = [("4x4/Const", 0, cfg.nf(1)), ("4x4/Conv", cfg.nf(1), cfg.nf(1))]
    for res in range(3, cfg.log2 + 1):
        scope = f"{2**res}x{2**res}"
        layers += [(f"{scope}/Conv0_up", cfg.nf(res - 2), cfg.nf(res - 1)),
                   (f"{scope}/Conv1", cfg.nf(res - 1), cfg.nf(res - 1))]
    for scope, fin, fout in layers:
        if fin:
            v[f"{s}/{scope}/weight"] = _normal(rng, 3, 3, fin, fout)
        v[f"{s}/{scope}/Noise/weight"] = _normal(rng, fout, scale=0.5)
        v[f"{s}/{scope}/bias"] = _normal(rng, fout, scale=0.2)
        v[f"{s}/{scope}/StyleMod/weight"] = _normal(rng, cfg.dlatent_size, 2 * fout)
        v[f"{s}/{scope}/StyleMod/bias"] = _normal(rng, 2 * fout, scale=0.2)
    for res in range(2, cfg.log2 + 1):
        lod = cfg.log2 - res
        v[f"{s}/ToRGB_lod{lod}/weight"] = _normal(rng, 1, 1, cfg.nf(res - 1), cfg.num_channels)
        v[f"{s}/ToRGB_lod{lod}/bias"] = _normal(rng, cfg.num_channels, scale=0.2)
    return v


def v1_discriminator_variables(cfg: TinyV1Config, seed: int) -> dict[str, np.ndarray]:
    """Every variable of a TF D_basic by name."""
    rng = np.random.default_rng(seed)
    v: dict[str, np.ndarray] = {"lod": np.float32(0)}
    for res in range(2, cfg.log2 + 1):
        lod = cfg.log2 - res
        v[f"FromRGB_lod{lod}/weight"] = _normal(rng, 1, 1, cfg.num_channels, cfg.nf(res - 1))
        v[f"FromRGB_lod{lod}/bias"] = _normal(rng, cfg.nf(res - 1), scale=0.2)
    shapes = {}
    for res in range(cfg.log2, 2, -1):
        scope = f"{2**res}x{2**res}"
        shapes[f"{scope}/Conv0"] = (3, 3, cfg.nf(res - 1), cfg.nf(res - 1))
        shapes[f"{scope}/Conv1_down"] = (3, 3, cfg.nf(res - 1), cfg.nf(res - 2))
    shapes["4x4/Conv"] = (3, 3, cfg.nf(1) + 1, cfg.nf(1))
    shapes["4x4/Dense0"] = (cfg.nf(1) * 16, cfg.nf(0))
    shapes["4x4/Dense1"] = (cfg.nf(0), max(cfg.label_size, 1))
    for scope, shape in shapes.items():
        v[f"{scope}/weight"] = _normal(rng, *shape)
        v[f"{scope}/bias"] = _normal(rng, shape[-1], scale=0.2)
    return v


def v1_networks(cfg: TinyV1Config, g: dict[str, np.ndarray], d: dict[str, np.ndarray]) -> tuple:
    """(G, D, Gs) TF Networks of StyleGAN (v1) holding `g` (as G and Gs) and `d`."""
    def part(prefix: str) -> dict[str, np.ndarray]:
        return {k.split("/", 1)[1]: val for k, val in g.items() if k.startswith(prefix + "/")}

    kwargs = cfg.kwargs()
    mapping = TFNetwork("G_mapping", "G_mapping", {**kwargs, "dlatent_broadcast": 2 * cfg.log2 - 2},
                        part("G_mapping"))
    synthesis = TFNetwork("G_synthesis", "G_synthesis", kwargs, part("G_synthesis"))
    own = {k: val for k, val in g.items() if "/" not in k}
    G = TFNetwork("G", "G_style", kwargs, own, components={"synthesis": synthesis, "mapping": mapping})
    return G, TFNetwork("D", "D_basic", kwargs, d), G
