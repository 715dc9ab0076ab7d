"""Parse lists of integers such as seeds or style layers: "0-7,42" -> [0, 1, ..., 7, 42]."""

from __future__ import annotations

import re

from ganforge.errors import OptionError

_ITEM = re.compile(r"^(\d+)(?:-(\d+))?$")

# np.random.RandomState accepts seeds in [0, 2**32).
MAX_SEED = 2**32 - 1
# Guards against a typo like "0-4000000000" expanding into billions of values.
MAX_COUNT = 1_000_000


def parse_int_list(text: str, param: str = "seeds", maximum: int = MAX_SEED) -> list[int]:
    """Expand comma-separated non-negative integers and inclusive ranges `a-b`, keeping their order.

    `param` names the argument in error messages; values above `maximum` are refused.
    """
    items = [part.strip() for part in str(text).split(",")]
    if not text or not str(text).strip() or any(not item for item in items):
        raise OptionError(
            f"empty entry in {text!r}; give comma-separated numbers or ranges, e.g. '0-7,42'", param=param
        )
    values: list[int] = []
    for item in items:
        match = _ITEM.match(item)
        if match is None:
            raise OptionError(
                f"{item!r} is not a non-negative number or a range 'a-b' (e.g. '0-7,42')", param=param
            )
        start = int(match.group(1))
        stop = int(match.group(2)) if match.group(2) is not None else start
        if stop < start:
            raise OptionError(f"range {item!r} runs backwards; write it as '{stop}-{start}'", param=param)
        if stop > maximum:
            raise OptionError(f"{stop} is too large; values must lie in 0..{maximum}", param=param)
        if len(values) + stop - start + 1 > MAX_COUNT:
            raise OptionError(f"{text!r} expands to more than {MAX_COUNT} values", param=param)
        values.extend(range(start, stop + 1))
    return values

