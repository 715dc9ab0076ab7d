"""Transforms of the dataset tool: channels, resize, crops and the LOD pyramid, on synthetic images."""

from __future__ import annotations

import numpy as np
import PIL.Image
import pytest

from ganforge.data.transforms import (
    apply_transform,
    center_crop,
    center_crop_wide,
    convert_channels,
    lod_pyramid,
    normalize_channels,
    resize_exact,
)
from ganforge.errors import DatasetError


def _random(h: int, w: int, c: int, seed: int = 0) -> np.ndarray:
    return np.random.RandomState(seed).randint(0, 256, size=(h, w, c), dtype=np.uint8)


def test_normalize_adds_channel_axis_and_keeps_alpha() -> None:
    gray = _random(4, 4, 1)[:, :, 0]
    assert normalize_channels(gray, "g.png").shape == (4, 4, 1)
    rgba = _random(4, 4, 4)
    np.testing.assert_array_equal(normalize_channels(rgba, "a.png"), rgba)


@pytest.mark.parametrize("image", [np.zeros((4, 4, 2), np.uint8), np.zeros((4, 4, 3), np.float32)])
def test_normalize_refuses_unsupported_images(image: np.ndarray) -> None:
    with pytest.raises(DatasetError, match="odd.png"):
        normalize_channels(image, "odd.png")


def test_rgb_to_gray_uses_itu_601_luma_and_gray_to_rgb_repeats() -> None:
    rgb = np.array([[[255, 0, 0], [0, 255, 0], [0, 0, 255], [100, 100, 100]]], dtype=np.uint8)
    gray = convert_channels(rgb, 1)
    assert gray.shape == (1, 4, 1)
    # L = R * 299/1000 + G * 587/1000 + B * 114/1000, rounded
    np.testing.assert_array_equal(gray[0, :, 0], [76, 150, 29, 100])
    back = convert_channels(gray, 3)
    assert back.shape == (1, 4, 3)
    np.testing.assert_array_equal(back, np.repeat(gray, 3, axis=2))
    assert convert_channels(rgb, 3) is rgb


def test_resize_exact_square_matches_pil_lanczos_and_keeps_exact_size() -> None:
    image = _random(16, 16, 3)
    assert resize_exact(image, (16, 16), "a.png") is image
    expected = np.asarray(PIL.Image.fromarray(image).resize((8, 8), PIL.Image.LANCZOS))
    np.testing.assert_array_equal(resize_exact(image, (8, 8), "a.png"), expected)
    flat = np.full((16, 16, 1), 77, dtype=np.uint8)
    np.testing.assert_array_equal(resize_exact(flat, (4, 4), "g.png"), np.full((4, 4, 1), 77))


def test_resize_exact_square_refuses_other_aspects() -> None:
    with pytest.raises(DatasetError, match=r"'wide\.png' is 16x8.*center-crop"):
        resize_exact(_random(8, 16, 3), (8, 8), "wide.png")


@pytest.mark.parametrize("shape", [(8, 12), (12, 8)])
def test_center_crop_takes_the_centered_square(shape: tuple[int, int]) -> None:
    h, w = shape
    image = np.zeros((h, w, 1), dtype=np.uint8)
    top, left = (h - 8) // 2, (w - 8) // 2
    image[top : top + 8, left : left + 8] = _random(8, 8, 1)
    np.testing.assert_array_equal(center_crop(image, 8), image[top : top + 8, left : left + 8])
    np.testing.assert_array_equal(apply_transform(image, "center-crop", 8, "x"), center_crop(image, 8))


def test_center_crop_resizes_after_cropping() -> None:
    image = _random(8, 16, 3)
    expected = np.asarray(PIL.Image.fromarray(image[:, 4:12]).resize((4, 4), PIL.Image.LANCZOS))
    np.testing.assert_array_equal(center_crop(image, 4), expected)


def test_center_crop_wide_pads_a_centered_2_to_1_box_with_black() -> None:
    square = _random(16, 16, 3)
    out = center_crop_wide(square, 16)  # the 16x8 box is rows 4..11 and needs no resize
    np.testing.assert_array_equal(out[4:12], square[4:12])
    assert not out[:4].any() and not out[12:].any()

    wide = _random(8, 32, 3, seed=1)  # 4:1 -> box 16x8 at columns 8..23
    np.testing.assert_array_equal(center_crop_wide(wide, 16)[4:12], wide[:, 8:24])

    resized = center_crop_wide(square, 8)
    expected = np.asarray(PIL.Image.fromarray(square[4:12]).resize((8, 4), PIL.Image.LANCZOS))
    np.testing.assert_array_equal(resized[2:6], expected)
    assert resized.shape == (8, 8, 3) and not resized[:2].any() and not resized[6:].any()


def _box_reference(image: np.ndarray, levels: int) -> list[np.ndarray]:
    """Independent reference: float64 2x2 means of the unrounded previous level, rounded with np.rint."""
    current = image.astype(np.float64)
    out = []
    for _ in range(levels):
        h, w, c = current.shape
        current = current.reshape(h // 2, 2, w // 2, 2, c).mean(axis=(1, 3))
        out.append(np.rint(current).astype(np.uint8))
    return out


def test_lod_pyramid_equals_numpy_box_filter() -> None:
    image = _random(16, 16, 3, seed=3)
    levels = lod_pyramid(image, 2)
    assert [lvl.shape for lvl in levels] == [(8, 8, 3), (4, 4, 3)]
    for got, want in zip(levels, _box_reference(image, 2), strict=True):
        np.testing.assert_array_equal(got, want)


def test_lod_pyramid_rounds_half_to_even_from_unrounded_values() -> None:
    def block(low: int) -> np.ndarray:  # a 2x2 block whose mean is low + 0.5
        return np.array([[low, low], [low + 1, low + 1]], dtype=np.uint8)

    image = np.block([[block(2), block(0)], [block(4), block(6)]])[:, :, None]
    level1, level2 = lod_pyramid(image, 2)
    np.testing.assert_array_equal(level1[:, :, 0], [[2, 0], [4, 6]])  # 2.5, 0.5, 4.5, 6.5 to even
    # level 2 averages the unrounded 2.5, 0.5, 4.5, 6.5 -> 3.5 -> 4 (the rounded values would give 3)
    assert level2[0, 0, 0] == 4
