"""A run's TrainingConfig: a family's preset, its `auto` values and the user's options, checked.

`resolve_config(cfg, resolution, num_gpus, overrides)` starts from a named preset of the model
family (`overrides['model']`, default stylegan2; the presets are plain data in each family's module
of `ganforge.training.families`), fills in the family's `auto` heuristics (StyleGAN2: batch, gamma,
EMA and width from the resolution and GPU count), applies the user's overrides and checks the
result, so that a bad value is reported by option name before any network is built.
"""

from __future__ import annotations

import types
from typing import Any

from ganforge.errors import OptionError
from ganforge.training.families import FAMILIES
from ganforge.training.options import (
    FAMILY_NAMES,
    FROM_PRESET,
    MODEL_UNUSED,
    OPTIONS,
    TrainingConfig,
    range_problem,
)

PROCESSES = "torchrun --nproc_per_node"
"""How a user sets the number of training processes (`num_gpus`)."""

MODEL_PRESETS: dict[str, dict[str, dict[str, Any]]] = {name: fam.presets for name, fam in FAMILIES.items()}
"""The presets of each model family (`cfg` names), from the families."""

CFG_NAMES = tuple(dict.fromkeys(name for presets in MODEL_PRESETS.values() for name in presets))
"""Every `cfg` name, of any family."""


def shown_default(name: str) -> str:
    """What `ganforge train --help` says of option `name`'s default: the table's text, 'from --cfg'
    when a preset (or the auto heuristics) sets it, nothing for flags, else the table's default."""
    option = OPTIONS[name]
    text = option.knob.default_text
    if text is None:
        presets = [preset for family in MODEL_PRESETS.values() for preset in family.values()]
        preset_fields = set().union(*presets, *(f.auto_values(256, 1) for f in FAMILIES.values()))
        text = "" if option.type is bool else FROM_PRESET if name in preset_fields else f"{option.default}"
    return f"  [default: {text}]" if text else ""

def resolve_config(
    cfg: str, resolution: int, num_gpus: int = 1, overrides: dict[str, Any] | None = None
) -> TrainingConfig:
    """The `cfg` preset for a dataset of `resolution` on `num_gpus` processes, with `overrides` applied.

    Overrides are TrainingConfig field names; every given value is applied as is (leave out the
    options a user did not set). Unless given, the images per process and round (`batch_gpu`)
    follow the number of processes: the preset's value, or each process's share of the batch when
    that is smaller (or a `batch` override was given, as officially). `resume` makes ADA react
    faster (ada_kimg=100) and turns the EMA ramp-up off, as in the official script. Raises
    `OptionError` whose `param` is the offending field.
    """
    overrides = dict(overrides or {})
    model = overrides.get("model", "stylegan2")
    if model not in FAMILY_NAMES:
        choices = ", ".join(FAMILY_NAMES)
        raise OptionError(f"unknown model family {model!r}; choose one of {choices}", param="model")
    presets = MODEL_PRESETS[model]
    if cfg not in presets:
        choices = ", ".join(presets)
        raise OptionError(f"unknown config {cfg!r} for `model` {model}; choose one of {choices}", param="cfg")
    if isinstance(num_gpus, bool) or not isinstance(num_gpus, int) or num_gpus < 1:
        raise OptionError(f"the number of processes ({PROCESSES}) must be at least 1, got {num_gpus!r}",
                          param="num_gpus")
    check_overrides(overrides)
    unused = sorted(set(overrides) & MODEL_UNUSED[model])
    if unused:
        raise OptionError(f"does not apply to `model` {model}; leave it out", param=unused[0])

    values: dict[str, Any] = {"cfg": cfg, "num_gpus": num_gpus}
    if cfg == "auto":
        values.update(FAMILIES[model].auto_values(resolution, num_gpus))
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
            raise OptionError(f"must be {OPTIONS[name].type}, got {value!r}", param=name)


def _require(ok: bool, message: str, param: str) -> None:
    if not ok:
        raise OptionError(message, param=param)


def check_config(config: TrainingConfig, resolution: int) -> None:
    """Check the values of a config (one read back to continue a run, with changes), naming the option."""
    _validate(config, {}, resolution, given=False)


def _validate(c: TrainingConfig, overrides: dict[str, Any], resolution: int, given: bool = True) -> None:
    """The options' own checks (choices and bounds, from the table), then those of options together,
    each naming the option to fix as its `param`. With `given` also the checks of which options were
    set together (`overrides` are those the user set)."""
    for name in OPTIONS:
        problem = range_problem(name, getattr(c, name))
        _require(problem is None, problem or "", name)
    _check_batches(c, overrides, resolution)
    _require(c.mbstd_group >= 1 and c.batch_gpu % min(c.mbstd_group, c.batch_gpu) == 0,
             f"{c.mbstd_group} must be at least 1 and divide the images per process and round "
             f"({c.batch_gpu}, `batch_gpu`) or exceed them", "mbstd_group")
    _require(not given or c.aug != "fixed" or "p" in overrides, "required with `aug`=fixed", "p")
    _require(not given or c.aug == "ada" or "target" not in overrides,
             _augment_message(c, overrides, "target", "can only be specified with `aug`=ada"), "target")
    _require(not given or c.aug != "noaug" or "augpipe" not in overrides,
             _augment_message(c, overrides, "augpipe", "cannot be specified with `aug`=noaug"), "augpipe")
    _require(c.aug != "cosine" or c.model == "r3gan",
             "cosine (a scheduled p) is for `model` r3gan only; use ada, fixed or noaug", "aug")
    initial = c.lod_initial_resolution
    _require(initial >= 4 and initial & (initial - 1) == 0, f"must be a power of two >= 4, got {initial}",
             "lod_initial_resolution")


def _augment_message(c: TrainingConfig, overrides: dict[str, Any], name: str, given: str) -> str:
    """Why option `name` is refused with this aug mode: `given` if the user set `aug`, else that the
    preset turned ADA off (the user never set `aug`)."""
    if "aug" in overrides:
        return given
    model = f" of `model` {c.model}" if c.model != "stylegan2" else ""
    return (f"needs `aug` ada, and `cfg` {c.cfg}{model} turns ADA off (its aug is {c.aug}); "
            f"add `aug` ada or leave `{name}` out")


def _check_batches(c: TrainingConfig, overrides: dict[str, Any], resolution: int) -> None:
    """Every batch the run steps with must split evenly over the processes, then into rounds."""
    for batch, what, fix in _step_batches(c, overrides, resolution):
        _require(batch % c.num_gpus == 0,
                 f"{what} cannot be shared by {c.num_gpus} processes; {fix}, or start a number of processes "
                 f"({PROCESSES}) that divides {batch}", "batch")
        per_process = batch // c.num_gpus
        _require(per_process % round_size(c, batch) == 0,
                 f"{c.batch_gpu} must divide the {per_process} images per process of {what} over "
                 f"{c.num_gpus} process(es)", "batch_gpu")


def _step_batches(
    c: TrainingConfig, overrides: dict[str, Any], resolution: int
) -> list[tuple[int, str, str]]:
    """(batch, how messages name it, how to change it) for each step batch of the run: the one batch,
    or for StyleGAN's schedule the batch of each resolution it trains at."""
    if c.model == "stylegan" and c.batch_dict:
        start = min(c.lod_initial_resolution, resolution)
        sizes = [2**k for k in range(2, 31) if start <= 2**k <= resolution]
        return [(c.batch_dict.get(res, c.batch), f"the {res} px batch of `cfg` {c.cfg} "
                 f"({c.batch_dict.get(res, c.batch)})", "give `batch` for one batch at every resolution")
                for res in sizes]
    if "batch" in overrides:
        return [(c.batch, f"a batch of {c.batch}", f"give a multiple of {c.num_gpus}")]
    what = f"the batch of `cfg` {c.cfg} ({c.batch})"
    return [(c.batch, what, f"give `batch` as a multiple of {c.num_gpus}")]
