"""records_init_args: every constructor argument by name, defaults included, in JSON's shapes."""

from __future__ import annotations

import json
from typing import Any

from torch import nn

from ganforge.ops.init_args import records_init_args


@records_init_args
class _Net(nn.Module):
    def __init__(
        self, width: int, taps: tuple[int, ...] = (1, 3), block_kwargs: dict[str, Any] | None = None
    ) -> None:
        super().__init__()
        self.seen = dict(self.init_kwargs)


def test_arguments_and_defaults_are_recorded_before_init_runs() -> None:
    net = _Net(4, block_kwargs={"f": (1, 2)})
    assert net.init_kwargs == {"width": 4, "taps": [1, 3], "block_kwargs": {"f": [1, 2]}}
    assert net.seen == net.init_kwargs
    assert _Net(**json.loads(json.dumps(net.init_kwargs))).init_kwargs == net.init_kwargs


def test_none_kwargs_dict_is_recorded_empty() -> None:
    assert _Net(width=2).init_kwargs["block_kwargs"] == {}
