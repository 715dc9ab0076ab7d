"""InfiniteSampler: an endless, seeded, rank-sharded stream of dataset indices.

All ranks walk the same global stream and rank `r` keeps the positions `p` with
`p % num_replicas == r`, so ranks never see the same item at the same time and together cover
the data. The stream is a seeded permutation (`np.random.RandomState(seed)`), walked position by
position; after each position, the item there is swapped with a random earlier position of the
same pass within `window_size * len(dataset)` (official-style windowed reshuffling, so
consecutive passes differ). Unlike the official sampler the swap never reaches past the start
of the pass, so every pass of `len(dataset)` global positions is an exact permutation: one
epoch really covers each item once.

Resuming: pass `start_index` = the number of items already drawn by all ranks together (the
training loop's image counter). The sampler replays the swaps of the skipped positions (cheap: about
a second per ten million positions) and continues exactly where the first run stopped.
"""

from __future__ import annotations

from collections.abc import Iterator, Sized

import numpy as np
import torch


class InfiniteSampler(torch.utils.data.Sampler[int]):
    """Yield this rank's dataset indices forever; see the module docstring for the order."""

    def __init__(
        self,
        dataset: Sized,
        rank: int = 0,
        num_replicas: int = 1,
        shuffle: bool = True,
        seed: int = 0,
        window_size: float = 0.5,
        start_index: int = 0,
    ) -> None:
        super().__init__()
        if len(dataset) == 0:
            raise ValueError("InfiniteSampler needs a non-empty dataset")
        if num_replicas < 1 or not 0 <= rank < num_replicas:
            raise ValueError(f"need 0 <= rank < num_replicas, got rank={rank}, num_replicas={num_replicas}")
        if not 0 <= window_size <= 1:
            raise ValueError(f"window_size must be in [0, 1], got {window_size}")
        if start_index < 0:
            raise ValueError(f"start_index must be >= 0, got {start_index}")
        self.size = len(dataset)
        self.rank = rank
        self.num_replicas = num_replicas
        self.shuffle = shuffle
        self.seed = seed
        self.window_size = window_size
        self.start_index = start_index

    def __iter__(self) -> Iterator[int]:
        size = self.size
        rnd = np.random.RandomState(self.seed)
        order = rnd.permutation(size).tolist() if self.shuffle else list(range(size))
        window = int(np.rint(size * self.window_size)) if self.shuffle else 0
        first = 0  # global position of order[0] in the current pass
        while True:
            partners = _swap_partners(rnd, size, window)
            if first + size <= self.start_index:  # a pass before the resume point: swaps only
                if partners is not None:
                    for i, j in enumerate(partners):
                        order[i], order[j] = order[j], order[i]
            else:
                for i in range(size):
                    position = first + i
                    if position >= self.start_index and position % self.num_replicas == self.rank:
                        yield order[i]
                    if partners is not None:
                        j = partners[i]
                        order[i], order[j] = order[j], order[i]
            first += size


def _swap_partners(rnd: np.random.RandomState, size: int, window: int) -> list[int] | None:
    """For each position i of one pass, a uniform partner in [max(0, i - window + 1), i]."""
    if window < 2:
        return None
    positions = np.arange(size)
    reach = np.minimum(window, positions + 1)
    return (positions - (rnd.random_sample(size) * reach).astype(np.int64)).tolist()
