"""AdaController: the official p update rule, its bounds, state round trip and all-reduce."""

from __future__ import annotations

import pytest
import torch
import torch.distributed as dist

from ganforge.augment import AdaController, AugmentPipe
from ganforge.training.distributed import shutdown


def controller(p: float = 0.0, **kwargs: float) -> AdaController:
    pipe = AugmentPipe(xflip=1)
    pipe.p.fill_(p)
    return AdaController(pipe, **kwargs)


def test_p_rises_when_d_overfits() -> None:
    ada = controller(p=0.0)
    ada.accumulate(torch.full([16, 1], 2.5))
    ada.accumulate(torch.full([16, 1], 0.1))
    new_p = ada.update(batch_size=32)
    step = 32 * 4 / (500 * 1000)  # batch * interval / (ada_kimg * 1000)
    assert ada.rt == 1.0
    assert new_p == pytest.approx(step, rel=1e-6)
    assert float(ada.augment_pipe.p) == pytest.approx(step, rel=1e-6)
    ada.accumulate(torch.ones(8))
    assert ada.update(batch_size=32) == pytest.approx(2 * step, rel=1e-6)


def test_p_falls_but_never_below_zero() -> None:
    ada = controller(p=0.5, ada_kimg=100, interval=2)
    ada.accumulate(-torch.ones(10))
    step = 64 * 2 / (100 * 1000)
    assert ada.update(batch_size=64) == pytest.approx(0.5 - step, rel=1e-6)
    assert ada.rt == -1.0
    ada = controller(p=0.0)
    ada.accumulate(-torch.ones(10))
    assert ada.update(batch_size=64) == 0.0


def test_threshold_and_mixed_signs() -> None:
    ada = controller(p=0.2, target=0.6)
    ada.accumulate(torch.tensor([1.0, 1.0, 1.0, 1.0, -1.0]))  # mean sign exactly 0.6: no change
    assert ada.update(batch_size=32) == pytest.approx(0.2)
    ada.accumulate(torch.tensor([1.0, 1.0, 1.0, -1.0]))  # 0.5 < 0.6: falls
    assert ada.update(batch_size=32) < 0.2
    assert ada.rt == 0.5


def test_update_without_signs_keeps_p_and_accumulators_reset() -> None:
    ada = controller(p=0.3)
    assert ada.update(batch_size=32) == pytest.approx(0.3)
    assert ada.rt is None
    ada.accumulate(torch.ones(4))
    ada.update(batch_size=32)
    p = float(ada.augment_pipe.p)
    assert ada.update(batch_size=32) == p  # the earlier signs were used up


def test_state_dict_round_trip() -> None:
    ada = controller(p=0.1)
    ada.accumulate(torch.ones(6))
    ada.update(batch_size=16)
    ada.accumulate(torch.tensor([1.0, -1.0, -1.0]))  # pending when the snapshot is taken
    state = ada.state_dict()
    restored = controller(p=float(ada.augment_pipe.p))
    restored.load_state_dict(state)
    assert restored.rt == ada.rt == 1.0
    assert restored.update(batch_size=16) == ada.update(batch_size=16)
    assert restored.rt == ada.rt == pytest.approx(-1 / 3)


def test_invalid_settings() -> None:
    with pytest.raises(ValueError, match="ada_kimg"):
        controller(ada_kimg=0)


def test_update_all_reduces_across_ranks(tmp_path) -> None:
    """In a (single-rank) gloo group, update goes through all_reduce and gives the same result."""
    dist.init_process_group("gloo", init_method=f"file://{tmp_path / 'store'}", rank=0, world_size=1)
    try:
        ada = controller(p=0.0)
        ada.accumulate(torch.ones(5))
        assert ada.update(batch_size=8) == pytest.approx(8 * 4 / 500_000, rel=1e-6)
        assert ada.update(batch_size=8) == pytest.approx(8 * 4 / 500_000, rel=1e-6)  # nothing gathered
    finally:
        dist.destroy_process_group()


def _two_rank_worker(rank: int, store: str, out_dir: str) -> None:
    dist.init_process_group("gloo", init_method=f"file://{store}", rank=rank, world_size=2)
    finished = False
    try:
        ada = controller(p=0.0)
        ada.accumulate(torch.ones(10) if rank == 0 else -torch.ones(2))
        p = ada.update(batch_size=8)
        torch.save({"p": p, "rt": ada.rt}, f"{out_dir}/rank{rank}.pt")
        finished = True
    finally:
        shutdown(finished)  # a rank leaving gloo while a peer still uses it may abort the process


def test_update_sums_signs_over_two_ranks(tmp_path) -> None:
    torch.multiprocessing.spawn(_two_rank_worker, args=(str(tmp_path / "store"), str(tmp_path)), nprocs=2)
    results = [torch.load(tmp_path / f"rank{rank}.pt") for rank in range(2)]
    for result in results:  # (10 - 2) / 12 > 0.6 on both ranks, though rank 1 alone saw only -1
        assert result["rt"] == pytest.approx(8 / 12)
        assert result["p"] == pytest.approx(8 * 4 / 500_000, rel=1e-6)
