"""records_init_args: every constructor argument by name, defaults included, in JSON's shapes;
keeps_init_args: the named ones as attributes."""

from __future__ import annotations

import json
from typing import Any

import pytest
from torch import nn

from ganforge.ops.init_args import keeps_init_args, records_init_args


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


@records_init_args
@keeps_init_args("width", "taps")
class _Kept(nn.Module):
    def __init__(self, width: int, taps: tuple[int, ...] = (1, 3), scale: float = 1.0) -> None:
        super().__init__()
        self.doubled = 2 * self.width
        self.layer = nn.Linear(width, width)


def test_kept_arguments_are_attributes_as_given_before_the_body_runs() -> None:
    net = _Kept(3, scale=2.0)
    assert (net.width, net.taps, net.doubled) == (3, (1, 3), 6)
    assert not hasattr(net, "scale")
    assert net.init_kwargs == {"width": 3, "taps": [1, 3], "scale": 2.0}
    assert list(net.state_dict()) == ["layer.weight", "layer.bias"]


def test_keeping_an_argument_the_constructor_lacks_is_refused_at_definition() -> None:
    with pytest.raises(TypeError, match=r"_Bad.__init__ has no arguments \['widht'\]"):

        @keeps_init_args("widht")
        class _Bad(nn.Module):
            def __init__(self, width: int) -> None:
                super().__init__()


def test_a_call_that_does_not_fit_names_the_class() -> None:
    with pytest.raises(TypeError, match=r"_Kept.__init__\(\) got an unexpected keyword argument 'depth'"):
        _Kept(3, depth=2)
    with pytest.raises(TypeError, match=r"_Kept.__init__\(\) missing 1 required positional argument"):
        _Kept()
