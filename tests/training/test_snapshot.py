"""Training snapshots (networks + training state in one checkpoint), run folders and statistics."""

from __future__ import annotations

import contextlib
import errno
import json
import os
from pathlib import Path

import pytest
import torch
from tests.training.tiny import latest_snapshot, stylegan2_networks, tiny_config

from ganforge.augment import build_augment_pipe
from ganforge.compat import load_network
from ganforge.compat.checkpoint import save_network_checkpoint
from ganforge.errors import NetworkFileError, OptionError, OutputError
from ganforge.training.distributed import DistEnv
from ganforge.training.options import TrainingConfig, run_description
from ganforge.training.rundir import (
    new_run_dir,
    run_snapshots,
    snapshot_name,
)
from ganforge.training.snapshot import TrainingState, load_snapshot, save_snapshot
from ganforge.training.stats import Stat, StatsWriter, TickStats, drop_stats_after

SINGLE = DistEnv(rank=0, world_size=1, device=torch.device("cpu"))


def _networks(seed: int) -> dict[str, torch.nn.Module]:
    torch.manual_seed(seed)
    G, D = stylegan2_networks(tiny_config(), 16, 3, 0)
    pipe = build_augment_pipe("bgc")
    pipe.p.fill_(0.25)
    return {"G": G, "D": D, "G_ema": stylegan2_networks(tiny_config(), 16, 3, 0)[0], "augment_pipe": pipe}


def _state(G: torch.nn.Module) -> TrainingState:
    opt = torch.optim.Adam(G.parameters(), lr=0.01, betas=(0.0, 0.99), eps=1e-8)
    G(torch.randn(2, G.z_dim), None).square().mean().backward()
    opt.step()
    return TrainingState(
        cur_nimg=1234, cur_tick=7, batch_idx=99, G_opt=opt.state_dict(), D_opt=opt.state_dict(),
        loss={"pl_mean": torch.tensor(0.5)}, ada={"rt": 0.75, "signs": 3.0, "count": 4.0},
    )


def test_snapshot_round_trip_and_generate_compatibility(tmp_path: Path) -> None:
    saved = _networks(1)
    state = _state(saved["G"])
    path = tmp_path / "network-snapshot-000001.pt"
    save_snapshot(path, saved, state, {"training_set_kwargs": {"path": "x.zip"}})

    raw = torch.load(path, weights_only=True)  # plain data only
    assert raw["training_state"]["cur_nimg"] == 1234
    loaded = load_network(path)  # what `ganforge generate` uses
    assert loaded["training_set_kwargs"] == {"path": "x.zip"}
    assert "training_state" not in loaded
    assert float(loaded["augment_pipe"].p) == 0.25

    fresh = _networks(2)
    assert not torch.equal(fresh["G"].mapping.fc0.weight, saved["G"].mapping.fc0.weight)
    restored = load_snapshot(path, fresh)
    for key in saved:
        after = fresh[key].state_dict()
        for name, tensor in saved[key].state_dict().items():
            assert torch.equal(tensor, after[name]), f"{key}.{name}"
    assert (restored.cur_nimg, restored.cur_tick, restored.batch_idx) == (1234, 7, 99)
    assert restored.ada == state.ada and torch.equal(restored.loss["pl_mean"], torch.tensor(0.5))
    opt = torch.optim.Adam(fresh["G"].parameters())
    opt.load_state_dict(restored.G_opt)
    assert opt.param_groups[0]["betas"] == (0.0, 0.99)


def test_snapshot_refuses_mismatched_networks_and_missing_state(tmp_path: Path) -> None:
    saved = _networks(1)
    path = tmp_path / "snap.pt"
    save_snapshot(path, saved, _state(saved["G"]), {})
    with pytest.raises(NetworkFileError, match="augment_pipe"):
        load_snapshot(path, {**_networks(2), "augment_pipe": None})
    plain = tmp_path / "plain.pt"
    save_network_checkpoint(plain, {"G": saved["G"]})
    with pytest.raises(NetworkFileError, match="no training state"):
        load_snapshot(plain, {"G": saved["G"]})


def test_training_state_must_be_plain_data(tmp_path: Path) -> None:
    G = _networks(1)["G"]
    with pytest.raises(ValueError, match="only tensors and plain data"):
        save_network_checkpoint(tmp_path / "bad.pt", {"G": G}, training_state={"opt": object()})
    assert not (tmp_path / "bad.pt").exists()


def test_run_dirs_and_latest_snapshot(tmp_path: Path) -> None:
    with pytest.raises(OptionError, match="no run folder"):
        latest_snapshot(tmp_path)
    first = new_run_dir(tmp_path, "digits-auto1")
    second = new_run_dir(tmp_path, "digits-auto1")
    assert (first.name, second.name) == ("00000-digits-auto1", "00001-digits-auto1")
    for kimg in (8, 4):
        (first / snapshot_name(kimg * 1000)).write_bytes(b"")
    assert latest_snapshot(tmp_path) == first / "network-snapshot-000008.pt"  # the newer run has none yet
    (second / "network-snapshot-000000.pt").write_bytes(b"")
    (second / "network-snapshot-000009.pt.tmp").write_bytes(b"")  # an unfinished write
    assert latest_snapshot(tmp_path) == second / "network-snapshot-000000.pt"
    (tmp_path / "00007-notes.txt").write_text("not a run")
    assert new_run_dir(tmp_path, "x").name == "00002-x"


def test_snapshot_names_are_unique_and_sort_in_training_order(tmp_path: Path) -> None:
    """Whole-kimg names where ticks are whole kimg (the official form); exact ones otherwise."""
    assert snapshot_name(4032) == "network-snapshot-000004.pt"
    assert snapshot_name(250, exact=True) == "network-snapshot-000000.250.pt"
    assert snapshot_name(1000, exact=True) == "network-snapshot-000001.000.pt"
    nimgs = [16, 250, 500, 999, 1000, 1250, 12_345_678]
    names = [snapshot_name(nimg, exact=True) for nimg in nimgs]
    assert len(set(names)) == len(names) and sorted(names) == names
    run = new_run_dir(tmp_path, "x")
    for name in reversed(names):
        (run / name).write_bytes(b"")
    (run / "network-snapshot-000004.pt").write_bytes(b"")  # a whole-kimg tick's (nimg 4000 to 4999)
    (run / "network-snapshot-000004.200.pt").write_bytes(b"")  # a later, interrupted tick's
    assert [p.name for p in run_snapshots(run)] == [*names[:-1], "network-snapshot-000004.pt",
                                                     "network-snapshot-000004.200.pt", names[-1]]
    assert latest_snapshot(tmp_path).name == names[-1]


@pytest.mark.parametrize(
    ("blocker", "cause"),
    [
        ("file", "'{tmp}/runs' is a file, not a folder"),
        ("file-parent", "'{tmp}/runs' is a file, not a folder"),
        (errno.ENOSPC, "No space left on device; free some space"),
        (errno.EACCES, "Permission denied; choose a destination you may write to"),
        (errno.EROFS, "Read-only file system"),
    ],
)
def test_an_outdir_that_cannot_hold_a_run_is_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, blocker: object, cause: str
) -> None:
    outdir = tmp_path / "runs"
    if blocker == "file":
        outdir.write_text("not a folder")
    elif blocker == "file-parent":
        outdir.write_text("not a folder")
        outdir = outdir / "deeper"
    else:
        real_mkdir = Path.mkdir

        def mkdir(self: Path, *args: object, **kwargs: object) -> None:
            if self.parent == tmp_path / "runs":
                raise OSError(blocker, os.strerror(blocker), str(self))
            real_mkdir(self, *args, **kwargs)

        monkeypatch.setattr(Path, "mkdir", mkdir)
    with pytest.raises(OutputError) as info:
        new_run_dir(outdir, "x")
    message = str(info.value)
    assert message.startswith("outdir: cannot create folder '") and "\n" not in message
    assert cause.format(tmp=tmp_path) in message


def test_run_description_follows_official_order() -> None:
    assert run_description("ffhq", TrainingConfig(), given=()) == "ffhq-auto1"
    given = dict(cfg="paper256", num_gpus=2, cond=True, mirror=True, gamma=0.5, kimg=1000, batch=64,
                 aug="fixed", p=0.2, augpipe="bg", resume="x.pkl", freezed=4)
    desc = run_description("digits", TrainingConfig(**given), given=given)
    assert desc == "digits-cond-mirror-paper256-gamma0.5-kimg1000-batch64-fixed-p0.2-bg-resumecustom-freezed4"
    config = TrainingConfig(cfg="stylegan2", target=0.7, aug="ada", gamma=3.0)
    assert run_description("d", config, given={"target", "aug"}) == "d-stylegan2-ada-target0.7"
    config = TrainingConfig(model="dcgan", cfg="cpu", cond=True, kimg=5)
    assert run_description("d", config, given={"model", "kimg"}) == "d-dcgan-cond-cpu-kimg5"


def test_tick_stats_moments_and_jsonl(tmp_path: Path) -> None:
    stats = TickStats(torch.device("cpu"))
    stats.report("Loss/G/loss", torch.tensor([1.0, 2.0, 3.0]))
    stats.report("Loss/G/loss", torch.tensor([4.0, float("nan")]))
    stats.report("Progress/tick", 5)
    collected = stats.collect(SINGLE)
    assert collected["Loss/G/loss"].num == 4
    assert collected["Loss/G/loss"].mean == pytest.approx(2.5)
    expected_std = torch.tensor([1.0, 2, 3, 4]).std(unbiased=False).item()
    assert collected["Loss/G/loss"].std == pytest.approx(expected_std)
    assert stats.collect(SINGLE) == {}  # moments restart each tick

    writer = StatsWriter(tmp_path)
    writer.write(collected, nimg=64, timestamp=123.0, walltime=1.0)
    writer.close()
    line = json.loads((tmp_path / "stats.jsonl").read_text().splitlines()[0])
    assert line["timestamp"] == 123.0
    assert line["Progress/tick"] == {"num": 1, "mean": 5.0, "std": 0.0}
    assert list(tmp_path.glob("events.out.tfevents.*"))


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full (Linux)")
def test_a_full_disk_while_writing_stats_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "stats.jsonl").symlink_to("/dev/full")  # every write fails with ENOSPC
    writer = StatsWriter(tmp_path)
    with pytest.raises(OutputError, match=r"^cannot write '.*stats.jsonl': No space left on device; free"):
        writer.write({"Progress/tick": Stat(1, 0.0, 0.0)}, nimg=8, timestamp=0.0, walltime=0.0)
    with contextlib.suppress(OSError):
        writer.close()


def test_stats_past_a_snapshot_are_dropped(tmp_path: Path) -> None:
    lines = [{"Progress/kimg": {"num": 1, "mean": kimg, "std": 0.0}} for kimg in (0.008, 0.024, 0.04, 0.056)]
    (tmp_path / "stats.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines))
    assert drop_stats_after(tmp_path, 24) == 2
    kept = [json.loads(line) for line in (tmp_path / "stats.jsonl").read_text().splitlines()]
    assert kept == lines[:2]
    assert drop_stats_after(tmp_path, 24) == 0 and drop_stats_after(tmp_path / "none", 0) == 0
