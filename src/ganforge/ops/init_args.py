"""Record a network's constructor arguments once, as `init_kwargs`, so that it can be rebuilt.

Checkpoints store `init_kwargs` (JSON) next to the weights; the class decorator fills it from the
call, so no class lists its arguments a second time.
"""

from __future__ import annotations

import functools
import inspect
from typing import Any, TypeVar

T = TypeVar("T", bound=type)


def _plain(value: Any) -> Any:
    """`value` with tuples as lists and mappings as fresh dicts, all the way down (JSON's shapes)."""
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(item) for item in value]
    return value


def records_init_args(cls: T) -> T:
    """Class decorator: each instance gets `init_kwargs`, every `__init__` argument by name, defaults
    included, in JSON's shapes; an argument named `*_kwargs` that is None is recorded as {}."""
    init = cls.__init__
    signature = inspect.signature(init)

    @functools.wraps(init)
    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        bound = signature.bind(self, *args, **kwargs)
        bound.apply_defaults()
        recorded = {}
        for name, value in list(bound.arguments.items())[1:]:
            recorded[name] = {} if value is None and name.endswith("_kwargs") else _plain(value)
        self.init_kwargs = recorded
        init(self, *args, **kwargs)

    cls.__init__ = __init__  # type: ignore[misc]
    return cls
