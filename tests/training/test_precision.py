"""Training precisions (`--precision`): float16 and bfloat16 steps of every StyleGAN2 phase on the
CPU, a short `ganforge train --precision fp16` run, and the option's place in the config."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import torch
from click.testing import CliRunner
from tests.training.tiny import make_dataset, stylegan2_networks, tiny_config

from ganforge.cli.train import train_command
from ganforge.losses import StyleGAN2Loss
from ganforge.training import loop
from ganforge.training.families import StyleGAN2Family
from ganforge.training.resume import read_training_options

pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py


def _record_dtypes(G: torch.nn.Module, D: torch.nn.Module) -> list[torch.dtype]:
    """Hook the top (float16) blocks of G and D; the list fills with the dtypes they compute in."""
    seen: list[torch.dtype] = []
    for block in (G.synthesis.b16.conv1, D.b16.conv0):
        block.register_forward_hook(lambda _m, _i, out: seen.append(out.dtype))
    return seen


@pytest.mark.parametrize(("precision", "half"), [("fp16", torch.float16), ("bf16", torch.bfloat16)])
def test_every_phase_steps_with_finite_losses_and_gradients(precision: str, half: torch.dtype) -> None:
    torch.manual_seed(0)
    config = tiny_config(precision=precision, pl_weight=2.0)
    G, D = stylegan2_networks(config, 16, 3, 0)
    assert G.synthesis.b16.use_fp16 and D.b16.use_fp16 and G.synthesis.b16.conv1.conv_clamp == 256
    loss = StyleGAN2Loss(G, D, **StyleGAN2Family(config, 16).loss_kwargs())
    seen = _record_dtypes(G, D)
    real, c = torch.rand(4, 3, 16, 16) * 2 - 1, torch.zeros(4, 0)
    for phase, network in (("Gmain", G), ("Greg", G), ("Dmain", D), ("Dreg", D)):
        seen.clear()
        network.requires_grad_(True).zero_grad(set_to_none=True)
        values = loss.accumulate_gradients(phase, real, c, torch.randn(4, 16), c, gain=1.0)
        network.requires_grad_(False)
        assert values and all(torch.isfinite(v).all() for v in values.values()), phase
        grads = [p.grad for p in network.parameters() if p.grad is not None]
        assert grads and all(torch.isfinite(g).all() for g in grads), phase
        assert any(g.abs().sum() > 0 for g in grads), phase
        # fp16 regularises in float16 (as officially on a GPU); bf16 keeps R1 and path length in float32.
        regularising_dtype = torch.float32 if precision == "bf16" else half
        assert set(seen) == {regularising_dtype if phase.endswith("reg") else half}, phase


@pytest.mark.slow  # 3 s quiet, 15-40 s on busy cores: float16 convolutions take the slow path
def test_a_short_float16_run_completes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    reduce = loop.reduce_gradients_

    def overflowing(params: Any, env: Any) -> list[torch.Tensor]:
        """The reduced gradients with one float16 overflow in them, as a GPU run sees now and then."""
        grads = reduce(params, env)
        if grads:
            grads[0].view(-1)[0] = float("inf")
        return grads

    monkeypatch.setattr(loop, "reduce_gradients_", overflowing)
    data = make_dataset(tmp_path / "d.zip", count=16, resolution=8)  # 8 px: every block in float16
    args = ["--data", str(data), "--outdir", str(tmp_path / "runs"), "--cfg", "cpu", "--precision", "fp16",
            "--cbase", "128", "--cmax", "16", "--batch", "128", "--batch-gpu", "64", "--kimg", "1",
            "--tick", "0.5", "--snap", "1", "--workers", "0", "--device", "cpu", "--grid", "2x2"]
    result = CliRunner().invoke(train_command, args)
    assert result.exit_code == 0, result.output
    (run_dir,) = (tmp_path / "runs").iterdir()
    assert json.loads((run_dir / "training_options.json").read_text())["config"]["precision"] == "fp16"
    assert "tick 1 " in result.output and list(run_dir.glob("network-snapshot-*.pt"))
    # Replaced as the official loop does (+inf -> 1e5), not skipped as a diverging float32 step is.
    assert "non-finite" not in (run_dir / "log.txt").read_text()


def test_precision_is_a_checked_stylegan2_option(tmp_path: Path) -> None:
    data = make_dataset(tmp_path / "d.zip", count=4)
    dcgan = ["--model", "dcgan", "--precision", "bf16"]
    for args, message in ((["--precision", "fp8"], "'fp8' is not one of"),
                          (dcgan, "--precision: does not apply to --model dcgan")):
        result = CliRunner().invoke(train_command, ["--data", str(data), "--outdir", str(tmp_path), *args])
        assert message in result.output + str(result.exception)
    assert "--precision [auto|fp32|fp16|bf16]" in CliRunner().invoke(train_command, ["--help"]).output


@pytest.mark.parametrize(("fp32", "precision"), [(True, "fp32"), (False, "auto")])
def test_runs_recorded_before_precision_are_read(tmp_path: Path, fp32: bool, precision: str) -> None:
    config = {k: v for k, v in vars(tiny_config()).items() if k != "precision"}
    (tmp_path / "training_options.json").write_text(json.dumps({"data": "d.zip", "config": {**config,
                                                                                           "fp32": fp32}}))
    assert read_training_options(tmp_path).config.precision == precision
