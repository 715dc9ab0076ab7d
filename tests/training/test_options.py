"""The training options table is the one definition of every knob: the click options of
`ganforge train`, their help, the per-family checks and the presets all follow it."""

from __future__ import annotations

import ast
import inspect
from pathlib import Path

import click
import pytest

import ganforge
from ganforge.cli.command import in_options
from ganforge.cli.options import INT_LIST
from ganforge.cli.train import train_command
from ganforge.errors import OptionError
from ganforge.training.config import MODEL_PRESETS, resolve_config
from ganforge.training.families import FAMILIES, make_family
from ganforge.training.families.stylegan2 import PRESETS
from ganforge.training.options import (
    FAMILY_NAMES,
    MODEL_UNUSED,
    OPTIONS,
    RESUME_LATEST_OPTIONS,
    TRAIN_OPTIONS,
    TrainingConfig,
)

SRC = Path(ganforge.__file__).parent
LOOP_PARAMS = {"data", "outdir", "device", "compile_", "grid", "metric_names"}
"""`ganforge train` options that are not training options (how to run, not what is learned)."""
CLICK_TYPES = {int: click.INT, float: click.FLOAT, str: click.STRING, str | None: click.STRING,
               list[int]: INT_LIST}


def _params() -> dict[str, click.Option]:
    return {p.name: p for p in train_command.params if isinstance(p, click.Option) and p.name is not None}


def test_every_click_option_of_train_is_a_table_row_and_every_flagged_row_an_option() -> None:
    params = _params()
    unset = train_command.make_context("train", ["--outdir", "runs"]).params
    config_params = {name for name in params if name not in LOOP_PARAMS}
    assert config_params == set(TRAIN_OPTIONS)
    for name, flag in TRAIN_OPTIONS.items():
        param, option = params[name], OPTIONS[name]
        assert param.opts == [flag], name
        assert param.help is not None and param.help.startswith(option.knob.help), name
        assert unset[name] is None, name  # an option left out takes the preset's value
        if option.type is bool:
            assert param.is_flag, name
        elif isinstance(param.type, click.Choice):
            assert option.knob.choices is None or tuple(param.type.choices) == option.knob.choices, name
        else:
            assert param.type == CLICK_TYPES[option.type], name


def test_help_shows_the_table_default_or_that_the_preset_sets_it() -> None:
    params = _params()
    assert params["target"].help.endswith(f"[default: {OPTIONS['target'].default}]")  # no preset sets it
    assert params["seed"].help.endswith(f"[default: {OPTIONS['seed'].default}]")
    assert params["gamma"].help.endswith("[default: from --cfg]")  # every preset sets it


def test_no_click_option_is_written_by_hand_for_a_training_option() -> None:
    """A flag of the table spelled out in a click.option call would be a second definition."""
    flags = set(TRAIN_OPTIONS.values())
    for node in ast.walk(ast.parse((SRC / "cli" / "train.py").read_text())):
        if isinstance(node, ast.Call) and getattr(node.func, "attr", None) == "option":
            literal = [a.value for a in node.args if isinstance(a, ast.Constant)]
            assert not flags & set(literal), literal


def test_presets_only_set_table_fields_and_every_field_has_a_knob() -> None:
    for family, presets in MODEL_PRESETS.items():
        for cfg, values in presets.items():
            assert set(values) <= set(OPTIONS), (family, cfg, set(values) - set(OPTIONS))
    assert list(OPTIONS) == list(TrainingConfig.__dataclass_fields__)
    assert {name: o.default for name, o in OPTIONS.items()} == vars(TrainingConfig())
    assert set(PRESETS) >= {"auto", "cpu"}


@pytest.mark.parametrize("family", sorted(MODEL_UNUSED))
def test_each_option_of_another_family_is_refused_by_its_name(family: str) -> None:
    for name in sorted(MODEL_UNUSED[family]):
        value = OPTIONS[name].default
        with pytest.raises(OptionError, match=f"^{name}: does not apply to `model` {family}") as info:
            resolve_config("auto", 32, 1, {"model": family, name: value})
        shown = str(in_options(train_command, info.value))
        assert shown.startswith(f"{TRAIN_OPTIONS.get(name, name)}: does not apply to --model {family}")


def test_range_messages_name_the_option_from_the_table() -> None:
    with pytest.raises(OptionError, match="^lod_training_kimg: must be non-negative$") as info:
        resolve_config("auto", 32, 1, {"model": "stylegan", "lod_training_kimg": -1.0})
    assert str(in_options(train_command, info.value)) == "--lod-training-kimg: must be non-negative"
    with pytest.raises(OptionError, match="^gfc_dim: must be at least 1$") as info:
        resolve_config("auto", 32, 1, {"model": "dcgan", "gfc_dim": 0})
    assert str(in_options(train_command, info.value)) == "gfc_dim: must be at least 1"  # no --gfc-dim


def test_one_list_of_families() -> None:
    assert tuple(FAMILIES) == FAMILY_NAMES == tuple(MODEL_PRESETS) == tuple(MODEL_UNUSED)
    assert all(FAMILIES[name].name == name for name in FAMILY_NAMES)


@pytest.mark.parametrize("model", FAMILY_NAMES)
def test_training_passes_every_loss_argument_explicitly(model: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """The loss constructors keep the official defaults for API users; training never relies on them."""
    family = make_family(resolve_config("cpu", 16, 1, {"model": model}), 16)
    G, D = family.build_networks(1, 0)
    loss_class = type(family.make_loss(G, D, None))
    init = loss_class.__init__
    calls: list[inspect.BoundArguments] = []

    def spy(self: object, *args: object, **kwargs: object) -> None:
        calls.append(inspect.signature(init).bind(self, *args, **kwargs))
        init(self, *args, **kwargs)

    monkeypatch.setattr(loss_class, "__init__", spy)
    family.make_loss(G, D, None)
    parameters = inspect.signature(init).parameters
    optional = {"G_mapping", "G_synthesis"}  # the --compile'd halves, given by make_compiled_loss
    assert set(parameters) - optional - {"self"} <= set(calls[0].arguments), loss_class.__name__


def test_the_options_resume_latest_may_change_are_named_from_the_table() -> None:
    help_text = _params()["resume"].help or ""
    flags = [TRAIN_OPTIONS[name] for name in RESUME_LATEST_OPTIONS]
    assert f"only {', '.join(flags[:-1])} and {flags[-1]} changed" in help_text
    assert all(OPTIONS[name].knob.resumable for name in RESUME_LATEST_OPTIONS) and len(flags) >= 2
