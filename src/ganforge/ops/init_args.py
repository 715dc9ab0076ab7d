"""Constructor arguments written once: recorded as `init_kwargs` so that a network can be rebuilt,
and kept as same-named attributes where the official classes expose them.

Checkpoints store `init_kwargs` (JSON) next to the weights; the class decorators fill it and the
attributes from the call, so no class lists its arguments a second time.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T", bound=type)


def _plain(value: Any) -> Any:
    """`value` with tuples as lists and mappings as fresh dicts, all the way down (JSON's shapes)."""
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(item) for item in value]
    return value


def _before_init(cls: T, prepare: Callable[[Any, dict[str, Any]], None]) -> T:
    """Wrap `cls.__init__` so that `prepare(self, arguments)` runs first, with every argument by name
    (defaults included)."""
    init = cls.__init__
    signature = inspect.signature(init)

    @functools.wraps(init)
    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        try:
            bound = signature.bind(self, *args, **kwargs)
        except TypeError:
            init(self, *args, **kwargs)  # raises Python's own message, which names the class
            raise
        bound.apply_defaults()
        prepare(self, dict(list(bound.arguments.items())[1:]))
        init(self, *args, **kwargs)

    cls.__init__ = __init__  # type: ignore[misc]
    return cls


def records_init_args(cls: T) -> T:
    """Class decorator: each instance gets `init_kwargs`, every `__init__` argument by name, defaults
    included, in JSON's shapes; an argument named `*_kwargs` that is None is recorded as {}."""

    def record(self: Any, arguments: dict[str, Any]) -> None:
        self.init_kwargs = {
            name: {} if value is None and name.endswith("_kwargs") else _plain(value)
            for name, value in arguments.items()
        }

    return _before_init(cls, record)


def keeps_init_args(*names: str) -> Callable[[T], T]:
    """Class decorator: the `__init__` arguments `names` become attributes of the same name (as
    given, defaults included) before the constructor's body runs, which may read them."""

    def decorate(cls: T) -> T:
        unknown = set(names) - set(inspect.signature(cls.__init__).parameters)
        if unknown:
            raise TypeError(f"{cls.__name__}.__init__ has no arguments {sorted(unknown)}")

        def keep(self: Any, arguments: dict[str, Any]) -> None:
            for name in names:
                setattr(self, name, arguments[name])

        return _before_init(cls, keep)

    return decorate
