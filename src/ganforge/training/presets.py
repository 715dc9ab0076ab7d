"""Training configurations: the StyleGAN2-ADA base configs (plus a small CPU one) as one dataclass.

`resolve_config(cfg, resolution, num_gpus, overrides)` starts from a named preset, fills in the
`auto` heuristics of the StyleGAN2-ADA release (batch, gamma, EMA and width from the resolution
and GPU count), applies the user's overrides and checks the result, so that a bad value is
reported by option name before any network is built. `build_networks` turns a config into G and D.
"""

from __future__ import annotations

import dataclasses
import typing
from dataclasses import dataclass
from typing import Any

from ganforge.augment.pipeline import AUGMENT_PRESETS
from ganforge.errors import OptionError
from ganforge.models.stylegan2 import Discriminator, Generator

ADAM_BETAS = (0.0, 0.99)
ADAM_EPS = 1e-8
AUG_MODES = ("ada", "noaug", "fixed")
D_ARCHITECTURES = ("orig", "skip", "resnet")


@dataclass
class TrainingConfig:
    """Every knob of a StyleGAN2-ADA training run (names follow the official train.py options)."""

    cfg: str = "auto"  # the preset this config was resolved from
    num_gpus: int = 1
    kimg: int = 25000  # training length in thousands of real images shown to D
    batch: int = 32  # total batch size over all GPUs
    batch_gpu: int = 4  # images per GPU per round; batch / (batch_gpu * num_gpus) rounds per step
    gamma: float = 10.0  # R1 regularisation weight
    ema_kimg: float = 10.0  # half-life of the generator EMA, in kimg
    ema_rampup: float | None = None  # EMA half-life limited to rampup * images seen; None = off
    glr: float = 0.002  # generator learning rate
    dlr: float = 0.002  # discriminator learning rate
    map: int = 8  # mapping network depth
    cbase: int = 32768  # channel base: a block at resolution r has min(cbase // r, cmax) channels
    cmax: int = 512
    mbstd_group: int = 4  # minibatch standard deviation group size
    z_dim: int = 512
    w_dim: int = 512
    fp32: bool = False  # False: the 4 highest resolutions in float16 (CUDA only), clamped at 256
    d_architecture: str = "resnet"
    style_mixing: float = 0.9  # style mixing probability
    pl_weight: float = 2.0  # path length regularisation weight; 0 = off
    G_reg_interval: int | None = 4  # lazy regularisation interval; None = regularise every step
    D_reg_interval: int | None = 16
    aug: str = "ada"  # 'ada' (adaptive p), 'noaug', or 'fixed' (constant p)
    p: float = 0.0  # initial (or, with 'fixed', constant) augmentation probability
    target: float = 0.6  # ADA target for the sign of D's real scores
    ada_kimg: float = 500  # kimg for ADA to move p by one unit
    ada_interval: int = 4  # steps between ADA adjustments
    augpipe: str = "bgc"  # augmentation preset name
    freezed: int = 0  # Freeze-D: number of D layers kept fixed
    mirror: bool = False  # add x-flipped copies of the dataset
    cond: bool = False  # condition on the dataset labels
    resume: str | None = None  # network file to start from; None = from scratch
    kimg_per_tick: float = 4  # progress report interval
    snap: int = 50  # snapshot interval in ticks
    seed: int = 0
    workers: int = 3  # data loader processes

    def loss_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for `ganforge.losses.StyleGAN2Loss`."""
        return {"r1_gamma": self.gamma, "style_mixing_prob": self.style_mixing, "pl_weight": self.pl_weight}

    def adam_kwargs(self, network: str) -> dict[str, Any]:
        """`torch.optim.Adam` arguments for network 'G' or 'D'.

        With lazy regularisation every `interval` steps, the main and the regulariser updates share
        one optimiser; its learning rate and betas are rescaled by interval / (interval + 1) so
        that the combined updates behave like the unregularised schedule.
        """
        lr, interval = {"G": (self.glr, self.G_reg_interval), "D": (self.dlr, self.D_reg_interval)}[network]
        ratio = 1.0 if interval is None else interval / (interval + 1)
        return {"lr": lr * ratio, "betas": tuple(beta**ratio for beta in ADAM_BETAS), "eps": ADAM_EPS}


# Base configs of the StyleGAN2-ADA release, as TrainingConfig fields (batch_gpu = batch over the
# GPU count the config was tuned on). `auto` is completed by `auto_values` from the resolution.
PRESETS: dict[str, dict[str, Any]] = {
    "auto": dict(kimg=25000, ema_rampup=0.05, map=2),
    "stylegan2": dict(kimg=25000, batch=32, batch_gpu=4, mbstd_group=4, cbase=32768, glr=0.002, dlr=0.002,
                      gamma=10.0, ema_kimg=10.0, ema_rampup=None, map=8),
    "paper256": dict(kimg=25000, batch=64, batch_gpu=8, mbstd_group=8, cbase=16384, glr=0.0025, dlr=0.0025,
                     gamma=1.0, ema_kimg=20.0, ema_rampup=None, map=8),
    "paper512": dict(kimg=25000, batch=64, batch_gpu=8, mbstd_group=8, cbase=32768, glr=0.0025, dlr=0.0025,
                     gamma=0.5, ema_kimg=20.0, ema_rampup=None, map=8),
    "paper1024": dict(kimg=25000, batch=32, batch_gpu=4, mbstd_group=4, cbase=32768, glr=0.002, dlr=0.002,
                      gamma=2.0, ema_kimg=10.0, ema_rampup=None, map=8),
    "cifar": dict(kimg=100000, batch=64, batch_gpu=32, mbstd_group=32, cbase=32768, glr=0.0025, dlr=0.0025,
                  gamma=0.01, ema_kimg=500.0, ema_rampup=0.05, map=2, pl_weight=0.0, style_mixing=0.0,
                  d_architecture="orig"),
    # Small enough for a 2-core CPU (about 9 s/kimg on 32 x 32 digits, measured): a narrow network,
    # batch 16 for more steps per kimg, and no path length regularisation (its double backward
    # costs about a quarter of the G step), as the cifar config does.
    "cpu": dict(kimg=50, batch=16, batch_gpu=16, mbstd_group=4, cbase=1024, cmax=64, z_dim=128, w_dim=128,
                glr=0.0025, dlr=0.0025, gamma=0.05, ema_kimg=1.0, ema_rampup=0.05, map=2, pl_weight=0.0,
                fp32=True, aug="noaug", kimg_per_tick=1, snap=10, workers=1),
}


def auto_values(resolution: int, num_gpus: int) -> dict[str, Any]:
    """The `auto` heuristics: batch, mbstd group, width, learning rate, gamma and EMA."""
    batch = max(min(num_gpus * min(4096 // resolution, 32), 64), num_gpus)
    lrate = 0.002 if resolution >= 1024 else 0.0025
    return {
        "batch": batch,
        "batch_gpu": batch // num_gpus,
        "mbstd_group": min(batch // num_gpus, 4),
        "cbase": int((1 if resolution >= 512 else 0.5) * 32768),
        "cmax": 512,
        "glr": lrate,
        "dlr": lrate,
        "gamma": 0.0002 * resolution**2 / batch,
        "ema_kimg": batch * 10 / 32,
    }


def resolve_config(
    cfg: str, resolution: int, num_gpus: int = 1, overrides: dict[str, Any] | None = None
) -> TrainingConfig:
    """The `cfg` preset for a dataset of `resolution` on `num_gpus`, with `overrides` applied.

    Overrides are TrainingConfig field names; every given value is applied as is (leave out the
    options a user did not set). A `batch` override without `batch_gpu` spreads the batch evenly
    over the GPUs, and `resume` makes ADA react faster (ada_kimg=100) and turns the EMA ramp-up
    off, as in the official script. Raises `OptionError` naming the offending option.
    """
    if cfg not in PRESETS:
        raise OptionError(f"--cfg: unknown config {cfg!r}; choose one of {', '.join(PRESETS)}")
    if not isinstance(num_gpus, int) or num_gpus < 1 or num_gpus & (num_gpus - 1):
        raise OptionError(f"--gpus must be a power of two, got {num_gpus}")
    overrides = dict(overrides or {})
    _check_overrides(overrides)

    values: dict[str, Any] = {"cfg": cfg, "num_gpus": num_gpus}
    if cfg == "auto":
        values.update(auto_values(resolution, num_gpus))
    values.update(PRESETS[cfg])
    if "batch" in overrides and "batch_gpu" not in overrides:
        overrides["batch_gpu"] = overrides["batch"] // num_gpus
    if overrides.get("resume") is not None:
        values.update(ada_kimg=100, ema_rampup=None)
    values.update(overrides)
    config = TrainingConfig(**values)
    _validate(config, overrides)
    return config


def build_networks(
    config: TrainingConfig, dataset_resolution: int, channels: int, c_dim: int
) -> tuple[Generator, Discriminator]:
    """A fresh StyleGAN2 generator and discriminator for images of the given size and label width."""
    num_fp16_res = 0 if config.fp32 else 4
    conv_clamp = None if config.fp32 else 256
    common = dict(channel_base=config.cbase, channel_max=config.cmax, num_fp16_res=num_fp16_res,
                  conv_clamp=conv_clamp)
    G = Generator(
        z_dim=config.z_dim, c_dim=c_dim, w_dim=config.w_dim, img_resolution=dataset_resolution,
        img_channels=channels, mapping_kwargs={"num_layers": config.map}, synthesis_kwargs=common,
    )
    D = Discriminator(
        c_dim=c_dim, img_resolution=dataset_resolution, img_channels=channels,
        architecture=config.d_architecture, block_kwargs={"freeze_layers": config.freezed},
        epilogue_kwargs={"mbstd_group_size": config.mbstd_group}, **common,
    )
    return G, D


_FIELD_TYPES = typing.get_type_hints(TrainingConfig)


def _option(name: str) -> str:
    """How the command line spells a config field: batch_gpu -> --batch-gpu."""
    return "--" + name.replace("_", "-")


def _check_overrides(overrides: dict[str, Any]) -> None:
    """Unknown names and values of the wrong type, before anything is computed from them."""
    names = [f.name for f in dataclasses.fields(TrainingConfig) if f.name not in ("cfg", "num_gpus")]
    for name, value in overrides.items():
        if name not in names:
            raise OptionError(f"unknown training option {name!r}; known options: {', '.join(names)}")
        expected = _FIELD_TYPES[name]
        if expected in (float, float | None) and isinstance(value, int):
            expected = int | None if expected == float | None else int  # an int is a fine float
        if isinstance(value, bool) != (expected is bool) or not isinstance(value, expected):
            raise OptionError(f"{_option(name)} must be {_FIELD_TYPES[name]}, got {value!r}")


def _require(ok: bool, message: str) -> None:
    if not ok:
        raise OptionError(message)


def _validate(c: TrainingConfig, overrides: dict[str, Any]) -> None:
    """The official option checks, in order, each naming the option to fix."""
    _require(c.kimg >= 1, "--kimg must be at least 1")
    _require(c.batch >= 1 and c.batch % c.num_gpus == 0, "--batch must be at least 1 and divisible by --gpus")
    _require(c.batch_gpu >= 1 and c.batch % (c.batch_gpu * c.num_gpus) == 0,
             f"--batch-gpu must be at least 1 and --batch ({c.batch}) divisible by batch_gpu * gpus")
    _require(c.mbstd_group >= 1 and c.batch_gpu % min(c.mbstd_group, c.batch_gpu) == 0,
             f"--mbstd-group must be at least 1 and divide --batch-gpu ({c.batch_gpu}) or exceed it")
    _require(c.gamma >= 0, "--gamma must be non-negative")
    _require(c.snap >= 1, "--snap must be at least 1")
    _require(c.kimg_per_tick > 0, "--kimg-per-tick must be positive")
    _require(c.freezed >= 0, "--freezed must be non-negative")
    for name in ("map", "z_dim", "w_dim", "cbase", "cmax"):
        _require(getattr(c, name) >= 1, f"{_option(name)} must be at least 1")
    _require(c.d_architecture in D_ARCHITECTURES,
             f"--d-architecture must be one of {', '.join(D_ARCHITECTURES)}, got {c.d_architecture!r}")
    _require(c.aug in AUG_MODES, f"--aug must be one of {', '.join(AUG_MODES)}, got {c.aug!r}")
    _require(c.aug != "fixed" or "p" in overrides, "--aug=fixed requires specifying --p")
    _require(0 <= c.p <= 1, "--p must be between 0 and 1")
    _require(0 <= c.target <= 1, "--target must be between 0 and 1")
    _require(c.aug == "ada" or "target" not in overrides, "--target can only be specified with --aug=ada")
    _require(c.aug != "noaug" or "augpipe" not in overrides, "--augpipe cannot be specified with --aug=noaug")
    _require(c.augpipe in AUGMENT_PRESETS,
             f"--augpipe must be one of {', '.join(AUGMENT_PRESETS)}, got {c.augpipe!r}")
    _require(c.workers >= 0, "--workers must be non-negative")
