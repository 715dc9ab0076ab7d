"""InfiniteSampler: seeded order, epochs that are permutations, rank sharding, resuming."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from ganforge.data.sampler import InfiniteSampler


def take(sampler: InfiniteSampler, n: int) -> list[int]:
    return list(itertools.islice(iter(sampler), n))


def test_deterministic_per_seed() -> None:
    data = range(50)
    assert take(InfiniteSampler(data, seed=3), 200) == take(InfiniteSampler(data, seed=3), 200)
    assert take(InfiniteSampler(data, seed=3), 200) != take(InfiniteSampler(data, seed=4), 200)
    sampler = InfiniteSampler(data, seed=3)
    assert take(sampler, 200) == take(sampler, 200)  # each iter() starts over
    assert all(type(i) is int for i in take(sampler, 10))


def test_first_pass_is_the_seeded_permutation() -> None:
    expected = np.random.RandomState(5).permutation(30).tolist()
    assert take(InfiniteSampler(range(30), seed=5), 30) == expected


@pytest.mark.parametrize("size", [1, 2, 7, 64])
def test_every_epoch_is_a_permutation_and_epochs_differ(size: int) -> None:
    stream = take(InfiniteSampler(range(size), seed=1), size * 6)
    epochs = [stream[k * size : (k + 1) * size] for k in range(6)]
    for epoch in epochs:
        assert sorted(epoch) == list(range(size))
    if size == 64:
        assert len({tuple(e) for e in epochs}) == 6  # the window reshuffles between passes


def test_without_shuffle_or_window_order_is_fixed() -> None:
    assert take(InfiniteSampler(range(5), shuffle=False), 12) == [0, 1, 2, 3, 4, 0, 1, 2, 3, 4, 0, 1]
    stream = take(InfiniteSampler(range(20), seed=2, window_size=0), 60)
    assert stream[:20] == stream[20:40] == stream[40:]


def test_iterates_forever() -> None:
    assert len(take(InfiniteSampler(range(3), num_replicas=2, rank=1), 1000)) == 1000


@pytest.mark.parametrize("num_replicas", [1, 2, 3])
def test_ranks_are_disjoint_and_cover_each_epoch(num_replicas: int) -> None:
    size, epochs = 10, 4
    single = take(InfiniteSampler(range(size), seed=9), size * epochs)
    streams = [
        take(InfiniteSampler(range(size), rank=r, num_replicas=num_replicas, seed=9), size * epochs)
        for r in range(num_replicas)
    ]
    for r, stream in enumerate(streams):  # rank r takes every num_replicas-th item of the global stream
        assert stream[: len(single[r::num_replicas])] == single[r::num_replicas]
    # First epoch: the first ceil((size - r) / num_replicas) items of each rank.
    shares = [streams[r][: len(range(r, size, num_replicas))] for r in range(num_replicas)]
    union = [i for share in shares for i in share]
    assert len(union) == len(set(union)) == size
    for a, b in itertools.combinations(shares, 2):
        assert not set(a) & set(b)


@pytest.mark.parametrize(("num_replicas", "start"), [(1, 0), (1, 13), (1, 37), (2, 26), (3, 51), (2, 2)])
def test_resume_continues_the_same_order(num_replicas: int, start: int) -> None:
    size = 12
    for rank in range(num_replicas):
        full = take(InfiniteSampler(range(size), rank=rank, num_replicas=num_replicas, seed=4), 100)
        resumed = InfiniteSampler(
            range(size), rank=rank, num_replicas=num_replicas, seed=4, start_index=start
        )
        consumed = len(range(rank, start, num_replicas))  # items this rank drew before `start`
        assert take(resumed, 30) == full[consumed : consumed + 30]


@pytest.mark.parametrize(
    "kwargs",
    [
        {"rank": 2, "num_replicas": 2},
        {"rank": -1},
        {"num_replicas": 0},
        {"window_size": 1.5},
        {"start_index": -1},
    ],
)
def test_rejects_bad_arguments(kwargs: dict) -> None:
    with pytest.raises(ValueError):
        InfiniteSampler(range(4), **kwargs)
    with pytest.raises(ValueError, match="non-empty"):
        InfiniteSampler([])
