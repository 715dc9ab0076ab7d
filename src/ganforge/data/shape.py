"""Image sizes and colours of the dataset tool: 'W x H' sizes with power-of-two sides, and colours.

A size is (width, height). Both sides are powers of two of at least 4 (the networks halve them
down to 4 or to a 4 x 8 start) and the longer side is at most 4 times the shorter.
"""

from __future__ import annotations

import PIL.ImageColor

from ganforge.errors import DatasetError, OptionError

MAX_ASPECT = 4
Size = tuple[int, int]


def size_text(size: Size) -> str:
    """'16x8' for (16, 8)."""
    return f"{size[0]}x{size[1]}"


def size_problem(size: Size) -> str | None:
    """Why `size` cannot be trained on, or None when it can."""
    width, height = size
    for side in (width, height):
        if side < 4 or side & (side - 1):
            return f"{side} is not a power of two of at least 4, as StyleGAN networks need"
    if max(width, height) > MAX_ASPECT * min(width, height):
        return f"{size_text(size)} is wider than {MAX_ASPECT}:1 (or taller than 1:{MAX_ASPECT})"
    return None


def nearby_sizes(size: Size) -> str:
    """Usable sizes near one whose sides are not powers of two: '16 or 32' for 30x30, '4x8' for 6x8."""
    width, height = size
    if width == height:
        below = 1 << (width.bit_length() - 1)
        return "4" if width < 4 else f"{below} or {2 * below}"
    return "x".join(str(max(4, 1 << (side.bit_length() - 1))) for side in size)


def parse_size(value: int | str | Size) -> Size:
    """(width, height) of an int N (N x N), a string 'N' or 'WxH', or a pair; OptionError if invalid."""
    if isinstance(value, str):
        parts = value.lower().replace(" ", "").split("x")
        if len(parts) not in (1, 2) or not all(p.isdigit() for p in parts):
            raise OptionError(
                f"'{value}' is neither N nor WxH; write e.g. 256 or 512x256 (width x height)",
                param="resolution",
            )
        numbers = [int(p) for p in parts]
        size = (numbers[0], numbers[-1])
    elif isinstance(value, int):
        size = (value, value)
    else:
        size = (int(value[0]), int(value[1]))
    problem = size_problem(size)
    if problem is not None:
        raise OptionError(f"{problem}; choose e.g. 64, 256 or 512x256", param="resolution")
    return size


def check_image_size(size: Size, where: str) -> None:
    """DatasetError naming `where` when an image of `size` cannot be trained on."""
    problem = size_problem(size)
    if problem is not None:
        raise DatasetError(f"{where} ({size_text(size)}): {problem}; pass `resolution` to resize it")


def parse_colour(text: str) -> tuple[int, int, int, int]:
    """RGBA of a colour name or code Pillow knows ('black', '#ffffff', '#00000000', 'rgb(1,2,3)')."""
    try:
        rgba = PIL.ImageColor.getrgb(text)
    except ValueError as exc:
        raise OptionError(
            f"'{text}' is not a colour; write a name (black, white) or a code (#808080, #00000000)",
            param="background",
        ) from exc
    return (*rgba[:3], rgba[3] if len(rgba) == 4 else 255)


def split_size(size: Size) -> tuple[int, tuple[int, int]]:
    """(the shorter side, (width, height) multipliers) of a valid size: (16, 8) -> (8, (2, 1)).

    Networks are built for the square of the shorter side, stretched by the multipliers.
    """
    side = min(size)
    return side, (size[0] // side, size[1] // side)


def size_value(size: Size) -> int | list[int]:
    """A size as records store it (and ImageDataset's `resolution` takes it): N for N x N, else [W, H]."""
    return size[0] if size[0] == size[1] else [size[0], size[1]]
