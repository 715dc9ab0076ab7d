"""Training presets: official cfg_specs, the `auto` heuristics, overrides and their checks."""

from __future__ import annotations

import re

import pytest
import torch

from ganforge.cli.command import in_options, spelling
from ganforge.cli.train import train_command
from ganforge.errors import OptionError
from ganforge.losses import StyleGAN2Loss
from ganforge.training.config import MODEL_PRESETS, resolve_config, round_size
from ganforge.training.families import StyleGAN2Family
from ganforge.training.families.stylegan2 import PRESETS
from ganforge.training.options import TRAIN_OPTIONS, TrainingConfig

TRAIN_FLAGS = {opt for param in train_command.params for opt in param.opts}


def shown(exc: pytest.ExceptionInfo[OptionError]) -> str:
    """The message as `ganforge train` prints it (the library names fields; train names its options)."""
    return str(in_options(train_command, exc.value))


@pytest.mark.parametrize(
    "res, gpus, batch, batch_gpu, mbstd, cbase, lr, gamma, ema",
    [
        # hand-computed from the StyleGAN2-ADA train.py formulas
        (32, 1, 32, 32, 4, 16384, 0.0025, 0.0064, 10.0),
        (256, 1, 16, 16, 4, 16384, 0.0025, 0.8192, 5.0),
        (128, 8, 64, 8, 4, 16384, 0.0025, 0.0512, 20.0),
        (512, 4, 32, 8, 4, 32768, 0.0025, 1.6384, 10.0),
        (1024, 8, 32, 4, 4, 32768, 0.002, 6.5536, 10.0),
        (1024, 1, 4, 4, 4, 32768, 0.002, 52.4288, 1.25),
    ],
)
def test_auto_matches_official_formulas(res, gpus, batch, batch_gpu, mbstd, cbase, lr, gamma, ema) -> None:
    c = resolve_config("auto", res, gpus)
    assert (c.batch, c.batch_gpu, c.mbstd_group, c.cbase, c.cmax) == (batch, batch_gpu, mbstd, cbase, 512)
    assert c.glr == c.dlr == lr
    assert c.gamma == pytest.approx(gamma) and c.ema_kimg == pytest.approx(ema)
    assert (c.map, c.ema_rampup, c.kimg, c.num_gpus) == (2, 0.05, 25000, gpus)


def test_fixed_configs_follow_cfg_specs() -> None:
    c = resolve_config("paper256", 256, 1)
    assert (c.batch, c.batch_gpu, c.mbstd_group, c.cbase, c.glr, c.gamma, c.ema_kimg, c.map) == (
        64, 8, 8, 16384, 0.0025, 1.0, 20.0, 8)
    assert c.ema_rampup is None
    c = resolve_config("stylegan2", 1024, 8)
    assert (c.batch, c.batch_gpu, c.cbase, c.glr, c.gamma, c.ema_kimg) == (32, 4, 32768, 0.002, 10.0, 10.0)
    c = resolve_config("cifar", 32, 2)
    assert (c.kimg, c.batch, c.batch_gpu, c.mbstd_group) == (100000, 64, 32, 32)
    assert (c.gamma, c.ema_kimg, c.ema_rampup) == (0.01, 500.0, 0.05)
    assert (c.pl_weight, c.style_mixing, c.d_architecture) == (0.0, 0.0, "orig")
    loss_kwargs = StyleGAN2Family(c, 32).loss_kwargs()
    assert loss_kwargs == {"r1_gamma": 0.01, "style_mixing_prob": 0.0, "pl_weight": 0.0}
    assert set(PRESETS) == {"auto", "stylegan2", "paper256", "paper512", "paper1024", "cifar", "cpu"}


def test_overrides_apply() -> None:
    c = resolve_config("auto", 64, 2, {"batch": 8, "gamma": 2, "kimg": 10, "mirror": True, "aug": "noaug"})
    assert (c.batch, c.batch_gpu, c.gamma, c.kimg, c.mirror, c.aug) == (8, 4, 2, 10, True, "noaug")
    assert c.ema_kimg == resolve_config("auto", 64, 2).ema_kimg  # as officially: not recomputed
    c = resolve_config("paper256", 256, 1, {"batch": 16, "batch_gpu": 4})
    assert (c.batch, c.batch_gpu) == (16, 4)
    c = resolve_config("auto", 64, 1, {"resume": "net.pt"})
    assert (c.ada_kimg, c.ema_rampup) == (100, None)
    c = resolve_config("auto", 64, 1, {"resume": "net.pt", "ema_rampup": 0.1})
    assert c.ema_rampup == 0.1
    assert resolve_config("auto", 64, 1, {"aug": "fixed", "p": 0.3}).p == 0.3
    assert resolve_config("auto", 64, 1, {"G_reg_interval": None}).G_reg_interval is None


@pytest.mark.parametrize(
    "cfg, gpus, overrides, named",
    [
        ("stylegan3", 1, {}, "--cfg"),
        ("auto", 3, {}, "cannot be shared by 3 processes"),
        ("auto", 1, {"gama": 1.0}, "'gama'"),
        ("auto", 1, {"num_gpus": 2}, "'num_gpus'"),
        ("auto", 1, {"batch": "32"}, "--batch"),
        ("auto", 1, {"kimg": 1.5}, "--kimg"),
        ("auto", 1, {"mirror": 1}, "--mirror"),
        ("auto", 1, {"batch": True}, "--batch"),
        ("auto", 2, {"batch": 9}, "--batch"),
        ("auto", 1, {"batch": 32, "batch_gpu": 5}, "--batch-gpu"),
        ("auto", 1, {"batch": 12, "batch_gpu": 6, "mbstd_group": 4}, "--mbstd-group"),
        ("auto", 1, {"gamma": -1.0}, "--gamma"),
        ("auto", 1, {"kimg": 0}, "--kimg"),
        ("auto", 1, {"aug": "always"}, "--aug"),
        ("auto", 1, {"aug": "fixed"}, "--p"),
        ("auto", 1, {"p": 1.5}, "--p"),
        ("auto", 1, {"aug": "noaug", "target": 0.5}, "--target"),
        ("auto", 1, {"aug": "noaug", "augpipe": "bgc"}, "--augpipe"),
        ("auto", 1, {"augpipe": "bgz"}, "--augpipe"),
        ("auto", 1, {"d_architecture": "dense"}, "^d_architecture: must be one of"),
    ],
)
def test_bad_config_or_option_raises_option_error_naming_it(cfg, gpus, overrides, named) -> None:
    with pytest.raises(OptionError) as info:
        resolve_config(cfg, 64, gpus, overrides)
    assert re.search(named, shown(info)), shown(info)


def test_adam_kwargs_rescale_for_lazy_regularisation() -> None:
    c = resolve_config("auto", 64, 1, {"G_reg_interval": 4, "D_reg_interval": None})
    g, d = StyleGAN2Family(c, 64).adam_kwargs("G"), StyleGAN2Family(c, 64).adam_kwargs("D")
    assert g["lr"] == pytest.approx(0.0025 * 4 / 5) and g["betas"] == pytest.approx((0.0, 0.99**0.8))
    assert d == {"lr": 0.0025, "betas": (0.0, 0.99), "eps": 1e-8}


@pytest.mark.parametrize("cfg, res, channels, c_dim", [("cpu", 32, 1, 0), ("cifar", 32, 3, 10)])
def test_build_networks_gives_the_configured_shapes(cfg, res, channels, c_dim) -> None:
    overrides = {"cbase": 512, "cmax": 32, "z_dim": 24, "w_dim": 20, "map": 3, "fp32": True, "batch": 4}
    c = resolve_config(cfg, res, 1, {**overrides, "batch_gpu": 4, "mbstd_group": 2, "freezed": 1})
    G, D = StyleGAN2Family(c, res).build_networks(channels, c_dim)
    assert (G.z_dim, G.w_dim, G.c_dim, G.img_resolution, G.img_channels) == (24, 20, c_dim, res, channels)
    assert G.mapping.num_layers == 3 and G.synthesis.b32.conv1.weight.shape[0] == min(512 // 32, 32)
    assert G.synthesis.b4.conv1.weight.shape[0] == 32 and D.b4.conv.weight.shape[0] == 32
    assert D.init_kwargs["architecture"] == c.d_architecture
    assert D.b4.mbstd.group_size == 2
    assert not D.b32.fromrgb.weight.requires_grad  # Freeze-D froze the first layer
    assert D.init_kwargs["num_fp16_res"] == 0 and D.init_kwargs["conv_clamp"] is None
    z, lab = torch.randn([4, 24]), torch.eye(max(c_dim, 1))[:4, :c_dim]
    img = G(z, lab)
    assert img.shape == (4, channels, res, res) and D(img, lab).shape == (4, 1)
    StyleGAN2Loss(G, D, **StyleGAN2Family(c, res).loss_kwargs())  # the loss takes the family's arguments


def test_defaults_match_the_official_training_loop() -> None:
    c = TrainingConfig()
    assert (c.G_reg_interval, c.D_reg_interval, c.ada_interval, c.ada_kimg, c.target) == (4, 16, 4, 500, 0.6)
    assert (c.style_mixing, c.pl_weight, c.augpipe, c.aug) == (0.9, 2.0, "bgc", "ada")
    assert (c.snap, c.kimg_per_tick, c.seed) == (50, 4, 0)
    G, D = StyleGAN2Family(resolve_config("auto", 32, 1, {"cbase": 256, "cmax": 16}), 32).build_networks(3, 0)
    assert G.init_kwargs["synthesis_kwargs"]["num_fp16_res"] == D.init_kwargs["num_fp16_res"] == 4
    assert G.init_kwargs["synthesis_kwargs"]["conv_clamp"] == D.init_kwargs["conv_clamp"] == 256
    assert resolve_config("cpu", 32, 1).fp32  # float16 is CUDA-only


@pytest.mark.parametrize("processes", [1, 2, 3, 4, 8])
@pytest.mark.parametrize("model, cfg", [(m, c) for m, presets in MODEL_PRESETS.items() for c in presets])
def test_every_preset_resolves_for_1_to_8_processes_or_says_why(model: str, cfg: str, processes: int) -> None:
    """torchrun with a preset and no batch options works, or fails in one line naming real options."""
    for resolution in (32, 256):
        try:
            c = resolve_config(cfg, resolution, processes, {"model": model})
        except OptionError as exc:
            message = str(in_options(train_command, exc))
            assert processes == 3 and "\n" not in message, message  # presets' batches are powers of two
            assert f"{processes} processes" in message and "torchrun --nproc_per_node" in message
            named = {word.strip("(),;:") for word in message.split() if word.startswith("--")}
            assert named and named <= TRAIN_FLAGS | {"--nproc_per_node"}, message
            continue
        assert c.num_gpus == processes
        assert c.batch_gpu <= MODEL_PRESETS[model][cfg].get("batch_gpu", c.batch_gpu)
        sizes = [2**k for k in range(3, resolution.bit_length())]  # the StyleGAN schedule's resolutions
        for batch in {c.batch_dict.get(size, c.batch) for size in sizes} if c.batch_dict else {c.batch}:
            assert batch % processes == 0 and (batch // processes) % round_size(c, batch) == 0


def test_per_process_batch_follows_the_process_count_unless_given() -> None:
    assert [resolve_config("cpu", 32, n).batch_gpu for n in (1, 2, 4, 8)] == [16, 8, 4, 2]
    assert [resolve_config("stylegan2", 256, n).batch_gpu for n in (1, 8)] == [4, 4]  # the preset's limit
    assert resolve_config("cpu", 32, 2, {"batch_gpu": 4}).batch_gpu == 4
    assert resolve_config("cpu", 32, 2, {"batch": 32}).batch_gpu == 16  # officially batch / GPUs
    with pytest.raises(OptionError, match="^batch_gpu: 6 must divide the 8 images per process") as info:
        resolve_config("cpu", 32, 2, {"batch_gpu": 6})
    assert shown(info).startswith("--batch-gpu: 6 must divide the 8 images per process")


def test_an_option_the_preset_set_is_named_as_such() -> None:
    with pytest.raises(OptionError, match=r"^target: needs `aug` ada, and `cfg` cpu turns ADA off") as info:
        resolve_config("cpu", 32, 1, {"target": 0.7})
    assert shown(info) == ("--target: needs --aug ada, and --cfg cpu turns ADA off (its aug is noaug); add "
                           "--aug ada or leave --target out")
    with pytest.raises(OptionError) as info:
        resolve_config("auto", 32, 1, {"model": "dcgan", "augpipe": "bg"})
    assert "--cfg auto of --model dcgan turns ADA off" in shown(info)
    with pytest.raises(OptionError) as info:
        resolve_config("auto", 32, 1, {"aug": "noaug", "target": 0.7})
    assert shown(info) == "--target: can only be specified with --aug=ada"
    assert resolve_config("cpu", 32, 1, {"aug": "ada", "target": 0.7}).target == 0.7


def test_messages_name_options_train_has() -> None:
    """Every field train exposes is spelled as its option; the others by their field name."""
    assert set(TRAIN_OPTIONS.values()) <= TRAIN_FLAGS
    for field in TrainingConfig.__dataclass_fields__:
        assert spelling(train_command, field) == TRAIN_OPTIONS.get(field), field
    with pytest.raises(OptionError, match="^kimg_per_tick: must be positive") as info:
        resolve_config("auto", 32, 1, {"kimg_per_tick": 0.0})
    assert shown(info) == "--tick: must be positive"
    with pytest.raises(OptionError) as info:
        resolve_config("auto", 32, 1, {"ema_kimg": "x"})
    assert shown(info).startswith("ema_kimg: must be")  # train has no option for it
