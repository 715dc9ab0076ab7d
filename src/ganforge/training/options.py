"""Every training option, defined once: name, type, default, help, the families that use it, checks.

`TrainingConfig` is the table: each field is one knob, with its default and a `knob(...)` that says
what the user sees of it. The `ganforge train` options and their --help, the "does not apply to
this model" check, the range and choice checks with their messages (which name the field as the
error's `param`; the CLI shows its flag), and `training_options.json` (the dataclass as JSON) are all
derived from it. Names follow the official train.py options.
"""

from __future__ import annotations

import dataclasses
import typing
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from typing import Any

from ganforge.augment.pipeline import AUGMENT_PRESETS
from ganforge.ops.precision import PRECISIONS
from ganforge.training.families import FAMILIES

FAMILY_NAMES = tuple(FAMILIES)
"""The model families (`--model`), in the order messages list them (the families' registry order)."""
_ALL = frozenset(FAMILY_NAMES)
_STYLE = frozenset({"stylegan2", "stylegan"})
_SG2 = frozenset({"stylegan2"})
_SG1 = frozenset({"stylegan"})
_DCGAN = frozenset({"dcgan"})
_R3 = frozenset({"r3gan"})
FROM_PRESET = "from --cfg"
"""How --help names a default that the preset sets."""


@dataclass(frozen=True)
class Knob:
    """What a user sees of one TrainingConfig field (see `knob`)."""

    help: str
    flag: str | None  # its `ganforge train` option; None: set by presets only
    families: frozenset[str]  # the model families that use it; setting it for another is an error
    choices: tuple[str, ...] | None = None  # the allowed values
    at_least: float | None = None  # smallest allowed value
    above: float | None = None  # the value must be larger than this
    at_most: float | None = None  # largest allowed value
    metavar: str | None = None  # how --help shows the value
    default_text: str | None = None  # what --help says of the default; None: derived
    resumable: bool = False  # may change when a run continues (`--resume latest`)
    describe: Describe | None = None  # its part of the run folder's name (see `run_description`)


Describe = str | Callable[["TrainingConfig"], str | None]
"""A knob's part of the run folder's name: a format of its value, used when the user set the option
(a flag's text when it is on), or a function of the whole config that decides for itself."""


def knob(
    default: Any,
    help: str,
    *,
    flag: str | bool = True,
    families: frozenset[str] = _ALL,
    choices: tuple[str, ...] | None = None,
    at_least: float | None = None,
    above: float | None = None,
    at_most: float | None = None,
    metavar: str | None = None,
    default_text: str | None = None,
    resumable: bool = False,
    describe: Describe | None = None,
) -> Any:
    """A TrainingConfig field: `default` plus its `Knob` (flag True: ``--name-with-dashes``; a help
    text's ``{resumable}`` becomes the list of the options that `--resume latest` may change)."""
    info = {"help": help, "flag": flag, "families": families, "choices": choices, "at_least": at_least,
            "above": above, "at_most": at_most, "metavar": metavar, "default_text": default_text,
            "resumable": resumable, "describe": describe}
    if callable(default):
        return field(default_factory=default, metadata={"knob": info})
    return field(default=default, metadata={"knob": info})


@dataclass
class TrainingConfig:
    """Every knob of a training run; `model` picks the family, and each knob says the families it
    applies to (`MODEL_UNUSED` lists what each family ignores)."""

    model: str = knob("stylegan2", "Model family: stylegan2, stylegan (2019, progressive growing), dcgan or "
                      "r3gan.",
                      choices=FAMILY_NAMES, default_text="stylegan2",
                      describe=lambda c: None if c.model == "stylegan2" else c.model)
    cond: bool = knob(False, "Condition on the dataset labels.", describe="cond")
    mirror: bool = knob(False, "Add x-flipped copies of the dataset.", describe="mirror")
    cfg: str = knob("auto", "Base configuration of the model family (stylegan and dcgan: auto or cpu).",
                    default_text="auto",
                    describe=lambda c: f"auto{c.num_gpus:d}" if c.cfg == "auto" else c.cfg)
    num_gpus: int = knob(1, "Number of training processes (torchrun --nproc_per_node).", flag=False)
    gamma: float = knob(10.0, "R1 regularisation weight (r3gan: of R1 + R2, at the start).",
                        families=_STYLE | _R3, at_least=0, describe="gamma{:g}")
    kimg: int = knob(25000, "Training length in thousands of real images.", at_least=1, resumable=True,
                     describe="kimg{:g}")
    batch: int = knob(32, "Images per training step, in total over all processes (GPUs).", at_least=1,
                      describe="batch{}")
    batch_gpu: int = knob(4, "Images per process (GPU) per round.", at_least=1,
                          default_text=f"{FROM_PRESET}, at most batch / processes")
    aug: str = knob("ada", "Augmentation mode (cosine: r3gan's p rising from 0 to --p over --decay-kimg).",
                    choices=("ada", "noaug", "fixed", "cosine"), describe="{}")
    p: float = knob(0.0, "Augmentation probability (required with --aug fixed; the final one with cosine).",
                    at_least=0, at_most=1, default_text="", describe="p{:g}")
    target: float = knob(0.6, "ADA target for the sign of D's real scores.", at_least=0, at_most=1,
                         describe="target{:g}")
    augpipe: str = knob("bgc", "Augmentation pipeline.", choices=tuple(AUGMENT_PRESETS), describe="{}")
    resume: str | None = knob(
        None, "'latest' continues the newest run in --outdir (same data; options may be repeated, only "
        "{resumable} changed); a network file starts a new run from it.",
        metavar="PKL|latest", default_text="",
        describe=lambda c: None if c.resume is None else "resumecustom")
    freezed: int = knob(0, "Freeze-D: number of frozen discriminator layers.", families=_SG2, at_least=0,
                        describe="freezed{:d}")
    ema_kimg: float = knob(10.0, "Half-life of the generator EMA, in kimg (r3gan: the final one, from 0).",
                           flag=False)
    ema_rampup: float | None = knob(None, "EMA half-life limited to rampup * images seen; None = off.",
                                    flag=False, families=_STYLE)
    glr: float = knob(0.002, "Generator learning rate.", above=0)
    dlr: float = knob(0.002, "Discriminator learning rate.", above=0)
    map: int = knob(8, "Mapping network depth.", families=_STYLE, at_least=1)
    cbase: int = knob(32768, "Channel base: the width of the networks.", families=_STYLE, at_least=1)
    cmax: int = knob(512, "Maximum channels per layer.", families=_STYLE, at_least=1)
    mbstd_group: int = knob(4, "Minibatch standard deviation group size.", families=_STYLE)
    z_dim: int = knob(512, "Latent (z) width.", flag=False, at_least=1)
    w_dim: int = knob(512, "Intermediate latent (w) width.", flag=False, families=_STYLE, at_least=1)
    precision: str = knob(
        "auto", "Arithmetic of the 4 highest resolutions: auto (float16 on CUDA, float32 on a CPU, as "
        "officially), fp32 (float32, no clamps, as official train.py with fp32 set), fp16 or bf16 on any "
        "device (bf16 keeps R1 and path length in float32).", families=_SG2, choices=PRECISIONS)
    d_architecture: str = knob("resnet", "Discriminator architecture.", flag=False, families=_SG2,
                               choices=("orig", "skip", "resnet"))
    style_mixing: float = knob(0.9, "Style mixing probability.", flag=False, families=_STYLE)
    pl_weight: float = knob(2.0, "Path length regularisation weight; 0 = off.", flag=False, families=_SG2)
    G_reg_interval: int | None = knob(4, "Lazy regularisation interval of G; None = every step.", flag=False,
                                      families=_SG2)
    D_reg_interval: int | None = knob(16, "Lazy regularisation interval of D; None = every step.", flag=False,
                                      families=_SG2 | _R3)
    ada_kimg: float = knob(500, "Kimg for ADA to move p by one unit.", flag=False)
    ada_interval: int = knob(4, "Steps between ADA adjustments.", flag=False)
    snap: int = knob(50, "Snapshot (network and image grid) interval in ticks.", at_least=1, resumable=True)
    kimg_per_tick: float = knob(4, "Progress interval in kimg (fractions allowed).", flag="--tick", above=0,
                                resumable=True)
    seed: int = knob(0, "Random seed.")
    workers: int = knob(3, "Data loader processes.", at_least=0, resumable=True)
    g_steps: int = knob(2, "DCGAN: generator updates per discriminator update.", families=_DCGAN, at_least=1)
    gf_dim: int = knob(64, "DCGAN: generator width.", families=_DCGAN, at_least=1)
    df_dim: int = knob(64, "DCGAN: discriminator width.", families=_DCGAN, at_least=1)
    gfc_dim: int = knob(1024, "DCGAN: conditional generator's fully connected width.", flag=False,
                        families=_DCGAN, at_least=1)
    dfc_dim: int = knob(1024, "DCGAN: conditional discriminator's fully connected width.", flag=False,
                        families=_DCGAN, at_least=1)
    loss: str = knob("logistic-r1", "StyleGAN: logistic-r1 (non-saturating, R1 of --gamma) or wgangp.",
                     families=_SG1, choices=("logistic-r1", "wgangp"))
    lod_initial_resolution: int = knob(8, "StyleGAN: resolution progressive growing starts from.",
                                       families=_SG1)
    lod_training_kimg: float = knob(600, "StyleGAN: kimg at each resolution before the next.", families=_SG1,
                                    at_least=0)
    lod_transition_kimg: float = knob(600, "StyleGAN: kimg of each fade-in.", families=_SG1, at_least=0)
    batch_dict: dict[int, int] = knob(dict, "StyleGAN: batch per resolution.", flag=False, families=_SG1)
    lr_dict: dict[int, float] = knob(dict, "StyleGAN: G and D learning rate per resolution.", flag=False,
                                     families=_SG1)

    widths: list[int] = knob(list, "R3GAN: channels per stage, from 4 x 4 up (D mirrors them), e.g. 64,32.",
                             families=_R3, metavar="LIST")
    cardinalities: list[int] = knob(list, "R3GAN: groups of the blocks' 3x3 convolutions per stage.",
                                    families=_R3, metavar="LIST")
    blocks: list[int] = knob(list, "R3GAN: residual blocks per stage.", families=_R3, metavar="LIST")
    expansion: int = knob(2, "R3GAN: channel expansion inside a residual block.", flag=False, families=_R3,
                          at_least=1)
    bf16_stages: int = knob(0, "R3GAN: the largest stages computed in bfloat16 (G's last, D's first).",
                            flag=False, families=_R3, at_least=0)
    decay_kimg: float = knob(20000, "R3GAN: kimg over which lr, beta2, gamma, EMA and p reach their final "
                             "values along a cosine.", families=_R3, above=0)
    lr_final: float = knob(5e-5, "R3GAN: learning rate at the end of the decay.", flag=False, families=_R3,
                           above=0)
    beta2: float = knob(0.9, "R3GAN: Adam beta2 at the start.", flag=False, families=_R3, at_least=0,
                        at_most=1)
    beta2_final: float = knob(0.99, "R3GAN: Adam beta2 at the end of the decay.", flag=False, families=_R3,
                              at_least=0, at_most=1)
    gamma_final: float = knob(0.005, "R3GAN: R1 + R2 weight at the end of the decay.", families=_R3,
                              at_least=0)

    def __post_init__(self) -> None:
        # JSON (training_options.json) turns the resolution keys into strings.
        self.batch_dict = {int(res): int(v) for res, v in self.batch_dict.items()}
        self.lr_dict = {int(res): float(v) for res, v in self.lr_dict.items()}


@dataclass(frozen=True)
class Option:
    """One row of the table: a TrainingConfig field with its type, default and `Knob`."""

    name: str
    type: Any
    default: Any
    knob: Knob


def _flag(name: str, flag: str | bool) -> str | None:
    return "--" + name.replace("_", "-") if flag is True else (flag or None)


def _options() -> dict[str, Option]:
    hints = typing.get_type_hints(TrainingConfig)
    fields = dataclasses.fields(TrainingConfig)
    resumable = [_flag(f.name, f.metadata["knob"]["flag"]) for f in fields if f.metadata["knob"]["resumable"]]
    rows = {}
    for f in fields:
        info = dict(f.metadata["knob"])
        flag = _flag(f.name, info.pop("flag"))
        info["help"] = info["help"].replace("{resumable}", f"{', '.join(resumable[:-1])} and {resumable[-1]}")
        default = f.default_factory() if f.default is dataclasses.MISSING else f.default  # type: ignore[misc]
        rows[f.name] = Option(f.name, hints[f.name], default, Knob(flag=flag, **info))
    return rows


OPTIONS: dict[str, Option] = _options()
"""The training options by TrainingConfig field name, in the table's order."""

TRAIN_OPTIONS: dict[str, str] = {name: o.knob.flag for name, o in OPTIONS.items() if o.knob.flag is not None}
"""The `ganforge train` option of each config field it exposes; the other fields come from presets."""

RESUME_LATEST_OPTIONS = tuple(name for name, o in OPTIONS.items() if o.knob.resumable)
"""Config fields that may change when a run continues with ``--resume latest``."""

MODEL_UNUSED: dict[str, frozenset[str]] = {
    family: frozenset(name for name, o in OPTIONS.items() if family not in o.knob.families)
    for family in FAMILY_NAMES
}
"""Config fields each model family ignores; setting one of them is an error."""


def range_problem(name: str, value: Any) -> str | None:
    """What is wrong with `value` for option `name` by the table's choices and bounds ("must be
    positive"; errors name the option as their `param`), or None."""
    k = OPTIONS[name].knob
    if k.choices is not None and value not in k.choices:
        return f"must be one of {', '.join(k.choices)}, got {value!r}"
    if value is None or isinstance(value, (str, dict)):
        return None
    if k.at_least is not None and k.at_most is not None and not k.at_least <= value <= k.at_most:
        return f"must be between {k.at_least:g} and {k.at_most:g}"
    if k.at_least is not None and value < k.at_least:
        return "must be non-negative" if k.at_least == 0 else f"must be at least {k.at_least:g}"
    if k.above is not None and value <= k.above:
        return "must be positive" if k.above == 0 else f"must be above {k.above:g}"
    return None


def run_description(dataset: str, config: TrainingConfig, given: Collection[str]) -> str:
    """The run folder's description: the dataset name, then each described option's part in the
    table's order (the official train.py's order); `given` names the options the user set."""
    parts = [dataset]
    for name, option in OPTIONS.items():
        describe, value = option.knob.describe, getattr(config, name)
        if describe is None:
            continue
        if callable(describe):
            part = describe(config)
        elif option.type is bool:
            part = describe if value else None
        else:
            part = describe.format(value) if name in given else None
        parts += [part] if part else []
    return "-".join(parts)
