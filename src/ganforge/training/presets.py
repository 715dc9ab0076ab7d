"""Training configurations: the base configs of each model family (plus small CPU ones) as one dataclass.

`resolve_config(cfg, resolution, num_gpus, overrides)` starts from a named preset of the model
family (`overrides['model']`, default stylegan2), fills in the `auto` heuristics of the StyleGAN2-ADA
release for StyleGAN2 (batch, gamma, EMA and width from the resolution and GPU count), applies the
user's overrides and checks the result, so that a bad value is reported by option name before any
network is built. `build_networks` turns a StyleGAN2 config into G and D; the other families build
theirs in `ganforge.training.families`.
"""

from __future__ import annotations

import dataclasses
import typing
from dataclasses import dataclass, field
from typing import Any

from ganforge.augment.pipeline import AUGMENT_PRESETS
from ganforge.errors import OptionError
from ganforge.losses.dcgan import DCGANConfig
from ganforge.models.stylegan2 import Discriminator, Generator

ADAM_BETAS = (0.0, 0.99)
ADAM_EPS = 1e-8
AUG_MODES = ("ada", "noaug", "fixed")
D_ARCHITECTURES = ("orig", "skip", "resnet")
MODELS = ("stylegan2", "stylegan", "dcgan")
STYLEGAN_LOSSES = ("logistic-r1", "wgangp")


@dataclass
class TrainingConfig:
    """Every knob of a training run (names follow the official train.py options).

    Most fields are StyleGAN2-ADA's; `model` picks the family, and the fields marked DCGAN or
    StyleGAN apply to that family only (`MODEL_UNUSED` lists what each family ignores).
    """

    cfg: str = "auto"  # the preset this config was resolved from
    model: str = "stylegan2"  # model family: 'stylegan2', 'stylegan' (2019) or 'dcgan'
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
    g_steps: int = 2  # DCGAN: generator updates after each discriminator update
    gf_dim: int = 64  # DCGAN: generator width (channels of its last deconvolution)
    df_dim: int = 64  # DCGAN: discriminator width (channels of its first convolution)
    gfc_dim: int = 1024  # DCGAN: conditional generator's fully connected width
    dfc_dim: int = 1024  # DCGAN: conditional discriminator's fully connected width
    loss: str = "logistic-r1"  # StyleGAN: 'logistic-r1' (non-saturating + R1 of --gamma) or 'wgangp'
    lod_initial_resolution: int = 8  # StyleGAN: resolution at the start of progressive growing
    lod_training_kimg: float = 600  # StyleGAN: kimg at each resolution before fading in the next
    lod_transition_kimg: float = 600  # StyleGAN: kimg of each fade-in
    batch_dict: dict[int, int] = field(default_factory=dict)  # StyleGAN: batch per resolution
    lr_dict: dict[int, float] = field(default_factory=dict)  # StyleGAN: G and D learning rate per resolution

    def __post_init__(self) -> None:
        # JSON (training_options.json) turns the resolution keys into strings.
        self.batch_dict = {int(res): int(v) for res, v in self.batch_dict.items()}
        self.lr_dict = {int(res): float(v) for res, v in self.lr_dict.items()}

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


_TRAIN_FIELDS = (
    "cfg", "model", "kimg", "snap", "resume", "cond", "mirror", "gamma", "batch", "batch_gpu", "glr", "dlr",
    "map", "cbase", "cmax", "mbstd_group", "seed", "aug", "p", "target", "augpipe", "freezed", "workers",
    "g_steps", "gf_dim", "df_dim", "loss", "lod_initial_resolution", "lod_training_kimg",
    "lod_transition_kimg",
)
TRAIN_OPTIONS: dict[str, str] = {
    **{name: "--" + name.replace("_", "-") for name in _TRAIN_FIELDS}, "kimg_per_tick": "--tick",
}
"""The `ganforge train` option of each config field it exposes; the other fields come from presets."""

PROCESSES = "torchrun --nproc_per_node"
"""How a user sets the number of training processes (`num_gpus`)."""


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
    # Small enough for a 2-core CPU (about 20 s/kimg at 32 x 32, bench_train cpu32): a narrow network,
    # batch 16 for more steps per kimg, and no path length regularisation (its double backward
    # costs about a quarter of the G step), as the cifar config does. A strong R1 (gamma 30) keeps
    # such a small G from collapsing on the 1,797 digits: with the auto-like gamma 0.05 (or 1), the
    # official code and ganforge alike collapse after 4-6 kimg (measured; see README).
    "cpu": dict(kimg=50, batch=16, batch_gpu=16, mbstd_group=4, cbase=1024, cmax=64, z_dim=128, w_dim=128,
                glr=0.0025, dlr=0.0025, gamma=30.0, ema_kimg=1.0, ema_rampup=0.05, map=2, pl_weight=0.0,
                fp32=True, aug="noaug", kimg_per_tick=1, snap=10, workers=1),
}


# DCGAN (Radford et al. 2015 and carpedm20/DCGAN-tensorflow): batch 64, z 100, widths 64, Adam 2e-4 /
# beta1 0.5 (from DCGANConfig), no EMA (G_ema is a copy of G), no augmentation. `auto` runs about 25
# epochs of CelebA (202,599 images); `cpu` is narrow enough for 32 x 32 digits on two cores.
_DCGAN_BASE = dict(batch=64, batch_gpu=64, z_dim=100, glr=DCGANConfig.lr, dlr=DCGANConfig.lr, ema_kimg=0.0,
                   ema_rampup=None, aug="noaug", g_steps=DCGANConfig.g_steps)
DCGAN_PRESETS: dict[str, dict[str, Any]] = {
    "auto": dict(_DCGAN_BASE, kimg=5000, kimg_per_tick=4, snap=50),
    "cpu": dict(_DCGAN_BASE, kimg=50, gf_dim=32, df_dim=32, gfc_dim=256, dfc_dim=256, kimg_per_tick=1,
                snap=10, workers=1),
}

# StyleGAN (2019), the official FFHQ config for one GPU: batch per resolution (4 at 1024), learning
# rate 0.001 raised from 128 px on, progressive growing from 8 x 8 with 600 + 600 kimg per level,
# logistic loss with R1 (gamma 10), G_ema half-life 10 kimg, style mixing 0.9, no augmentation.
_STYLEGAN_BASE = dict(batch=4, batch_gpu=4, mbstd_group=4, z_dim=512, w_dim=512, map=8, cbase=16384, cmax=512,
                      glr=0.001, dlr=0.001, gamma=10.0, ema_kimg=10.0, ema_rampup=None, style_mixing=0.9,
                      aug="noaug", loss="logistic-r1", lod_initial_resolution=8, lod_training_kimg=600,
                      lod_transition_kimg=600)
STYLEGAN_PRESETS: dict[str, dict[str, Any]] = {
    "auto": dict(_STYLEGAN_BASE, kimg=25000, batch_dict={4: 128, 8: 128, 16: 128, 32: 64, 64: 32, 128: 16,
                                                          256: 8, 512: 4},
                 lr_dict={128: 0.0015, 256: 0.002, 512: 0.003, 1024: 0.003}),
    # Narrow, 16 images a step and 2 + 2 kimg per level: 32 x 32 digits reach full resolution at 8 kimg.
    # R1 gamma 30 and learning rate 0.0025 as in the StyleGAN2 cpu preset (gamma 30 chosen there, see the
    # README): with so few steps per level, conditional runs on the digits at gamma 30 reached fid_digits
    # 46 at 12 kimg with the original's lr 0.001 and 21 with lr 0.0025.
    "cpu": dict(_STYLEGAN_BASE, kimg=50, batch=16, batch_gpu=16, cbase=1024, cmax=64, z_dim=128, w_dim=128,
                map=2, glr=0.0025, dlr=0.0025, gamma=30.0, ema_kimg=1.0, lod_training_kimg=2,
                lod_transition_kimg=2, kimg_per_tick=1, snap=10, workers=1),
}

MODEL_PRESETS: dict[str, dict[str, dict[str, Any]]] = {
    "stylegan2": PRESETS, "stylegan": STYLEGAN_PRESETS, "dcgan": DCGAN_PRESETS,
}
"""The presets of each model family (`--cfg` names)."""

_FAMILY_ONLY = {
    "dcgan": {"g_steps", "gf_dim", "df_dim", "gfc_dim", "dfc_dim"},
    "stylegan": {"loss", "lod_initial_resolution", "lod_training_kimg", "lod_transition_kimg", "batch_dict",
                 "lr_dict"},
}
MODEL_UNUSED: dict[str, frozenset[str]] = {
    "stylegan2": frozenset(_FAMILY_ONLY["dcgan"] | _FAMILY_ONLY["stylegan"]),
    "stylegan": frozenset(_FAMILY_ONLY["dcgan"] | {"pl_weight", "d_architecture", "G_reg_interval",
                                                   "D_reg_interval", "fp32", "freezed"}),
    "dcgan": frozenset(_FAMILY_ONLY["stylegan"] | {
        "gamma", "pl_weight", "style_mixing", "map", "cbase", "cmax", "w_dim", "mbstd_group", "fp32",
        "d_architecture", "G_reg_interval", "D_reg_interval", "freezed", "ema_rampup",
    }),
}
"""Config fields each model family ignores; setting one of them is an error."""


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
    """The `cfg` preset for a dataset of `resolution` on `num_gpus` processes, with `overrides` applied.

    Overrides are TrainingConfig field names; every given value is applied as is (leave out the
    options a user did not set). Unless given, the images per process and round (`batch_gpu`)
    follow the number of processes: the preset's value, or each process's share of the batch when
    that is smaller (or a `batch` override was given, as officially). `resume` makes ADA react
    faster (ada_kimg=100) and turns the EMA ramp-up off, as in the official script. Raises
    `OptionError` naming the offending option.
    """
    overrides = dict(overrides or {})
    model = overrides.get("model", "stylegan2")
    if model not in MODELS:
        raise OptionError(f"--model: unknown model family {model!r}; choose one of {', '.join(MODELS)}")
    presets = MODEL_PRESETS[model]
    if cfg not in presets:
        choices = ", ".join(presets)
        raise OptionError(f"--cfg: unknown config {cfg!r} for --model {model}; choose one of {choices}")
    if isinstance(num_gpus, bool) or not isinstance(num_gpus, int) or num_gpus < 1:
        raise OptionError(f"the number of processes ({PROCESSES}) must be at least 1, got {num_gpus!r}")
    check_overrides(overrides)
    unused = sorted(set(overrides) & MODEL_UNUSED[model])
    if unused:
        raise OptionError(f"{option_name(unused[0])} does not apply to --model {model}; leave it out")

    values: dict[str, Any] = {"cfg": cfg, "num_gpus": num_gpus}
    if cfg == "auto" and model == "stylegan2":
        values.update(auto_values(resolution, num_gpus))
    values.update(presets[cfg])
    if "batch" in overrides:
        values["batch_dict"] = {}  # an explicit batch holds at every resolution
    if overrides.get("resume") is not None:
        values.update(ada_kimg=100, ema_rampup=None)
    values.update(overrides)
    if "batch_gpu" not in overrides and not values.get("batch_dict"):
        share = max(values["batch"] // num_gpus, 1)  # each process's part of a step
        values["batch_gpu"] = share if "batch" in overrides else min(values["batch_gpu"], share)
    config = TrainingConfig(**values)
    _validate(config, overrides, resolution)
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


def round_size(config: TrainingConfig, batch: int) -> int:
    """Images per GPU per round for a step of `batch` images: batch_gpu, or less for a smaller batch."""
    return max(min(config.batch_gpu, batch // config.num_gpus), 1)


_FIELD_TYPES = typing.get_type_hints(TrainingConfig)


def option_name(name: str) -> str:
    """How messages name config field `name`: its `ganforge train` option (batch_gpu -> --batch-gpu,
    kimg_per_tick -> --tick), or the field name itself for the fields train has no option for."""
    return TRAIN_OPTIONS.get(name, name)


def check_overrides(overrides: dict[str, Any]) -> None:
    """Refuse unknown field names and values of the wrong type, before anything is computed from them."""
    names = [f.name for f in dataclasses.fields(TrainingConfig) if f.name not in ("cfg", "num_gpus")]
    for name, value in overrides.items():
        if name not in names:
            raise OptionError(f"unknown training option {name!r}; known options: {', '.join(names)}")
        expected = _FIELD_TYPES[name]
        if expected in (float, float | None) and isinstance(value, int):
            expected = int | None if expected == float | None else int  # an int is a fine float
        if isinstance(value, bool) != (expected is bool) or not isinstance(value, expected):
            raise OptionError(f"{option_name(name)} must be {_FIELD_TYPES[name]}, got {value!r}")


def _require(ok: bool, message: str) -> None:
    if not ok:
        raise OptionError(message)


def check_config(config: TrainingConfig, resolution: int) -> None:
    """Check the values of a config (one read back to continue a run, with changes), naming the option."""
    _validate(config, {}, resolution, given=False)


def _validate(c: TrainingConfig, overrides: dict[str, Any], resolution: int, given: bool = True) -> None:
    """The official option checks, in order, each naming the option to fix. With `given` also the
    checks of which options were set together (`overrides` are those the user set)."""
    _require(c.kimg >= 1, "--kimg must be at least 1")
    _check_batches(c, overrides, resolution)
    _require(c.mbstd_group >= 1 and c.batch_gpu % min(c.mbstd_group, c.batch_gpu) == 0,
             f"{option_name('mbstd_group')} ({c.mbstd_group}) must be at least 1 and divide the images per "
             f"process and round ({c.batch_gpu}, --batch-gpu) or exceed them")
    _require(c.gamma >= 0, "--gamma must be non-negative")
    _require(c.snap >= 1, "--snap must be at least 1")
    _require(c.kimg_per_tick > 0, "--tick must be positive")
    _require(c.freezed >= 0, "--freezed must be non-negative")
    for name in ("map", "z_dim", "w_dim", "cbase", "cmax"):
        _require(getattr(c, name) >= 1, f"{option_name(name)} must be at least 1")
    _require(c.d_architecture in D_ARCHITECTURES,
             f"{option_name('d_architecture')} must be one of {', '.join(D_ARCHITECTURES)}, "
             f"got {c.d_architecture!r}")
    _require(c.aug in AUG_MODES, f"--aug must be one of {', '.join(AUG_MODES)}, got {c.aug!r}")
    _require(not given or c.aug != "fixed" or "p" in overrides, "--aug=fixed requires specifying --p")
    _require(0 <= c.p <= 1, "--p must be between 0 and 1")
    _require(0 <= c.target <= 1, "--target must be between 0 and 1")
    _require(not given or c.aug == "ada" or "target" not in overrides,
             _augment_message(c, overrides, "--target", "--target can only be specified with --aug=ada"))
    _require(not given or c.aug != "noaug" or "augpipe" not in overrides,
             _augment_message(c, overrides, "--augpipe", "--augpipe cannot be specified with --aug=noaug"))
    _require(c.augpipe in AUGMENT_PRESETS,
             f"--augpipe must be one of {', '.join(AUGMENT_PRESETS)}, got {c.augpipe!r}")
    _require(c.workers >= 0, "--workers must be non-negative")
    _require(c.g_steps >= 1, "--g-steps must be at least 1")
    for name in ("gf_dim", "df_dim", "gfc_dim", "dfc_dim"):
        _require(getattr(c, name) >= 1, f"{option_name(name)} must be at least 1")
    _require(c.loss in STYLEGAN_LOSSES, f"--loss must be one of {', '.join(STYLEGAN_LOSSES)}, got {c.loss!r}")
    initial = c.lod_initial_resolution
    _require(initial >= 4 and initial & (initial - 1) == 0,
             f"--lod-initial-resolution must be a power of two >= 4, got {initial}")
    _require(c.lod_training_kimg >= 0 and c.lod_transition_kimg >= 0,
             "--lod-training-kimg and --lod-transition-kimg must be non-negative")


def _augment_message(c: TrainingConfig, overrides: dict[str, Any], option: str, given: str) -> str:
    """Why `option` is refused with this aug mode: `given` if the user set --aug, else that the preset
    turned ADA off (the user never typed --aug)."""
    if "aug" in overrides:
        return given
    model = f" of --model {c.model}" if c.model != "stylegan2" else ""
    return (f"{option} needs --aug ada, and --cfg {c.cfg}{model} turns ADA off (its aug is {c.aug}); "
            f"add --aug ada or leave {option} out")


def _check_batches(c: TrainingConfig, overrides: dict[str, Any], resolution: int) -> None:
    """Every batch the run steps with must split evenly over the processes, then into rounds."""
    _require(c.batch >= 1, "--batch must be at least 1")
    _require(c.batch_gpu >= 1, "--batch-gpu must be at least 1")
    for batch, what, fix in _step_batches(c, overrides, resolution):
        _require(batch % c.num_gpus == 0,
                 f"{what} cannot be shared by {c.num_gpus} processes; {fix}, or start a number of processes "
                 f"({PROCESSES}) that divides {batch}")
        per_process = batch // c.num_gpus
        _require(per_process % round_size(c, batch) == 0,
                 f"--batch-gpu {c.batch_gpu} must divide the {per_process} images per process of {what} "
                 f"over {c.num_gpus} process(es)")


def _step_batches(
    c: TrainingConfig, overrides: dict[str, Any], resolution: int
) -> list[tuple[int, str, str]]:
    """(batch, how messages name it, how to change it) for each step batch of the run: the one batch,
    or for StyleGAN's schedule the batch of each resolution it trains at."""
    if c.model == "stylegan" and c.batch_dict:
        start = min(c.lod_initial_resolution, resolution)
        sizes = [2**k for k in range(2, 31) if start <= 2**k <= resolution]
        return [(c.batch_dict.get(res, c.batch), f"the {res} px batch of --cfg {c.cfg} "
                 f"({c.batch_dict.get(res, c.batch)})", "give --batch for one batch at every resolution")
                for res in sizes]
    what = f"--batch {c.batch}" if "batch" in overrides else f"the batch of --cfg {c.cfg} ({c.batch})"
    return [(c.batch, what, f"give --batch as a multiple of {c.num_gpus}")]
