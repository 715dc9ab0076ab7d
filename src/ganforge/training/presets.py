"""Training presets: the base configs of each model family (plus small CPU ones), as plain data over
the options of `ganforge.training.options`, and resolving a run's config from one of them.

`resolve_config(cfg, resolution, num_gpus, overrides)` starts from a named preset of the model
family (`overrides['model']`, default stylegan2), fills in the `auto` heuristics of the StyleGAN2-ADA
release for StyleGAN2 (batch, gamma, EMA and width from the resolution and GPU count), applies the
user's overrides and checks the result, so that a bad value is reported by option name before any
network is built. Each family builds its networks, loss and optimisers in `ganforge.training.families`.
"""

from __future__ import annotations

import types
from typing import Any

from ganforge.errors import OptionError
from ganforge.training.options import (
    FAMILY_NAMES,
    FROM_PRESET,
    MODEL_UNUSED,
    OPTIONS,
    TrainingConfig,
    option_name,
    range_problem,
)

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
    # Narrow, batch 16, no path length regularisation: fast on a 2-core CPU. R1 gamma 30 keeps the
    # small G from collapsing on the digits (the measurements behind both: docs/presets.md).
    "cpu": dict(kimg=50, batch=16, batch_gpu=16, mbstd_group=4, cbase=1024, cmax=64, z_dim=128, w_dim=128,
                glr=0.0025, dlr=0.0025, gamma=30.0, ema_kimg=1.0, ema_rampup=0.05, map=2, pl_weight=0.0,
                fp32=True, aug="noaug", kimg_per_tick=1, snap=10, workers=1),
}


# DCGAN (Radford et al. 2015 and carpedm20/DCGAN-tensorflow): batch 64, z 100, widths 64, Adam 2e-4
# (beta1 0.5, in the DCGAN family), two G updates per D update, no EMA (G_ema is a copy of G), no
# augmentation. `auto` runs about 25 epochs of CelebA (202,599 images); `cpu` is narrow enough for
# 32 x 32 digits on two cores.
_DCGAN_BASE = dict(batch=64, batch_gpu=64, z_dim=100, glr=2e-4, dlr=2e-4, ema_kimg=0.0,
                   ema_rampup=None, aug="noaug", g_steps=2)
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
    # R1 gamma 30 and lr 0.0025 as the StyleGAN2 cpu preset (the measurements: docs/presets.md).
    "cpu": dict(_STYLEGAN_BASE, kimg=50, batch=16, batch_gpu=16, cbase=1024, cmax=64, z_dim=128, w_dim=128,
                map=2, glr=0.0025, dlr=0.0025, gamma=30.0, ema_kimg=1.0, lod_training_kimg=2,
                lod_transition_kimg=2, kimg_per_tick=1, snap=10, workers=1),
}

# R3GAN's published configs (brownvc/R3GAN train.py and README): widths, cardinalities and blocks
# per stage from 4 x 4 up, bf16 stages, the batch of the README's command over its GPU count, and
# the cosine schedules (base -> final over decay_kimg): lr 2e-4 -> 5e-5, beta2 0.9 -> 0.99, gamma,
# EMA 0 -> ema_kimg, augment p 0 -> p with R3GAN's pipe. The script trains until stopped.
_R3GAN_BASE = dict(kimg=10_000_000, z_dim=64, expansion=2, glr=2e-4, dlr=2e-4, lr_final=5e-5, beta2=0.9,
                   beta2_final=0.99, ema_rampup=None, D_reg_interval=None, aug="cosine", augpipe="r3gan",
                   decay_kimg=20000, mirror=True)


def _r3gan(width: int, groups: int, tops: list[int], **values: Any) -> dict[str, Any]:
    """An R3GAN preset: `width` channels and `groups` groups, divided by `tops` per stage from 4 x 4 up."""
    return dict(_R3GAN_BASE, widths=[width // t for t in tops], cardinalities=[groups // t for t in tops],
                blocks=[2] * len(tops), **values)


R3GAN_PRESETS: dict[str, dict[str, Any]] = {
    "CIFAR10": _r3gan(768, 96, [1, 1, 1, 1], bf16_stages=3, batch=512, batch_gpu=64, ema_kimg=5000, p=0.55,
                      gamma=0.05, gamma_final=0.005),
    "FFHQ-64": _r3gan(768, 96, [1, 1, 1, 1, 2], bf16_stages=4, batch=256, batch_gpu=32, ema_kimg=500, p=0.3,
                      gamma=2.0, gamma_final=0.2),
    "FFHQ-256": _r3gan(768, 96, [1, 1, 1, 1, 2, 4, 8], bf16_stages=4, batch=256, batch_gpu=32, ema_kimg=500,
                       p=0.3, gamma=150.0, gamma_final=15.0),
    "ImageNet-32": _r3gan(1536, 96, [1, 1, 1, 1], bf16_stages=3, batch=4096, batch_gpu=128, ema_kimg=50000,
                          p=0.5, gamma=0.5, gamma_final=0.05, decay_kimg=200000),
    "ImageNet-64": _r3gan(1536, 96, [1, 1, 1, 1, 1], bf16_stages=4, batch=4096, batch_gpu=64, ema_kimg=50000,
                          p=0.4, gamma=1.0, gamma_final=0.1, decay_kimg=200000),
    # Narrow, one block per stage, batch 16, no augmentation: 32 x 32 digits on a 2-core CPU.
    "auto": {},  # the preset of the resolution: R3GAN_AUTO
    "cpu": dict(_R3GAN_BASE, kimg=50, widths=[64, 64, 32, 16], cardinalities=[4, 4, 2, 1],
                blocks=[1, 1, 1, 1], batch=16, batch_gpu=16, glr=1e-3, dlr=1e-3, lr_final=2e-4, gamma=0.1,
                gamma_final=0.01, ema_kimg=1.0, decay_kimg=50, aug="noaug", mirror=False, kimg_per_tick=1,
                snap=10, workers=1),
}

R3GAN_AUTO = {32: "CIFAR10", 64: "FFHQ-64", 256: "FFHQ-256"}
"""The published R3GAN preset that `--cfg auto` of --model r3gan picks for a resolution."""

MODEL_PRESETS: dict[str, dict[str, dict[str, Any]]] = {
    "stylegan2": PRESETS, "stylegan": STYLEGAN_PRESETS, "dcgan": DCGAN_PRESETS, "r3gan": R3GAN_PRESETS,
}
"""The presets of each model family (`--cfg` names)."""

CFG_NAMES = tuple(dict.fromkeys(name for presets in MODEL_PRESETS.values() for name in presets))
"""Every `--cfg` name, of any family."""


def shown_default(name: str) -> str:
    """What `ganforge train --help` says of option `name`'s default: the table's text, 'from --cfg'
    when a preset (or the auto heuristics) sets it, nothing for flags, else the table's default."""
    option = OPTIONS[name]
    text = option.knob.default_text
    if text is None:
        presets = [preset for family in MODEL_PRESETS.values() for preset in family.values()]
        preset_fields = set(auto_values(256, 1)).union(*presets)
        text = "" if option.type is bool else FROM_PRESET if name in preset_fields else f"{option.default}"
    return f"  [default: {text}]" if text else ""

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


def r3gan_auto(resolution: int) -> dict[str, Any]:
    """--cfg auto of --model r3gan: the published preset of the resolution (`R3GAN_AUTO`)."""
    if resolution not in R3GAN_AUTO:
        sizes = ", ".join(f"{size} px ({name})" for size, name in R3GAN_AUTO.items())
        raise OptionError(f"--cfg auto of --model r3gan has presets for {sizes}, not {resolution} px; "
                          f"give --cfg {' or '.join(name for name in R3GAN_PRESETS if name != 'auto')}")
    return R3GAN_PRESETS[R3GAN_AUTO[resolution]]


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
    if model not in FAMILY_NAMES:
        raise OptionError(f"--model: unknown model family {model!r}; choose one of {', '.join(FAMILY_NAMES)}")
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
    values.update(presets[cfg] if cfg != "auto" or model != "r3gan" else r3gan_auto(resolution))
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


def round_size(config: TrainingConfig, batch: int) -> int:
    """Images per GPU per round for a step of `batch` images: batch_gpu, or less for a smaller batch."""
    return max(min(config.batch_gpu, batch // config.num_gpus), 1)


def check_overrides(overrides: dict[str, Any]) -> None:
    """Refuse unknown field names and values of the wrong type, before anything is computed from them."""
    names = [name for name in OPTIONS if name not in ("cfg", "num_gpus")]
    for name, value in overrides.items():
        if name not in names:
            raise OptionError(f"unknown training option {name!r}; known options: {', '.join(names)}")
        expected = OPTIONS[name].type
        if isinstance(expected, types.GenericAlias):  # dict[int, int]: a dict
            expected = expected.__origin__
        if expected in (float, float | None) and isinstance(value, int):
            expected = int | None if expected == float | None else int  # an int is a fine float
        if isinstance(value, bool) != (expected is bool) or not isinstance(value, expected):
            raise OptionError(f"{option_name(name)} must be {OPTIONS[name].type}, got {value!r}")


def _require(ok: bool, message: str) -> None:
    if not ok:
        raise OptionError(message)


def check_config(config: TrainingConfig, resolution: int) -> None:
    """Check the values of a config (one read back to continue a run, with changes), naming the option."""
    _validate(config, {}, resolution, given=False)


def _validate(c: TrainingConfig, overrides: dict[str, Any], resolution: int, given: bool = True) -> None:
    """The options' own checks (choices and bounds, from the table), then those of options together,
    each naming the option to fix. With `given` also the checks of which options were set together
    (`overrides` are those the user set)."""
    for name in OPTIONS:
        problem = range_problem(name, getattr(c, name))
        _require(problem is None, problem or "")
    o = option_name
    _check_batches(c, overrides, resolution)
    _require(c.mbstd_group >= 1 and c.batch_gpu % min(c.mbstd_group, c.batch_gpu) == 0,
             f"{o('mbstd_group')} ({c.mbstd_group}) must be at least 1 and divide the images per "
             f"process and round ({c.batch_gpu}, {o('batch_gpu')}) or exceed them")
    _require(not given or c.aug != "fixed" or "p" in overrides,
             f"{o('aug')}=fixed requires specifying {o('p')}")
    _require(not given or c.aug == "ada" or "target" not in overrides,
             _augment_message(c, overrides, o("target"),
                              f"{o('target')} can only be specified with {o('aug')}=ada"))
    _require(not given or c.aug != "noaug" or "augpipe" not in overrides,
             _augment_message(c, overrides, o("augpipe"),
                              f"{o('augpipe')} cannot be specified with {o('aug')}=noaug"))
    _require(c.aug != "cosine" or c.model == "r3gan",
             f"{o('aug')}=cosine (a scheduled p) is for --model r3gan only; use ada, fixed or noaug")
    initial = c.lod_initial_resolution
    _require(initial >= 4 and initial & (initial - 1) == 0,
             f"{o('lod_initial_resolution')} must be a power of two >= 4, got {initial}")


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
    for batch, what, fix in _step_batches(c, overrides, resolution):
        _require(batch % c.num_gpus == 0,
                 f"{what} cannot be shared by {c.num_gpus} processes; {fix}, or start a number of processes "
                 f"({PROCESSES}) that divides {batch}")
        per_process = batch // c.num_gpus
        _require(per_process % round_size(c, batch) == 0,
                 f"{option_name('batch_gpu')} {c.batch_gpu} must divide the {per_process} images per process "
                 f"of {what} over {c.num_gpus} process(es)")


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
