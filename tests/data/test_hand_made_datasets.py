"""Datasets zipped by hand, not by `ganforge dataset create`: what no model family can train, and
broken files, are refused with one line naming the file - also from inside DataLoader workers."""

from __future__ import annotations

import io
import itertools
import zipfile
from pathlib import Path

import numpy as np
import PIL.Image
import pytest

from ganforge.cli.main import main
from ganforge.data.dataset import ImageDataset
from ganforge.data.loader import make_loader
from ganforge.errors import DatasetError


def png(size: int, seed: int = 0) -> bytes:
    buffer = io.BytesIO()
    pixels = np.random.RandomState(seed).randint(0, 256, (size, size, 3), dtype=np.uint8)
    PIL.Image.fromarray(pixels).save(buffer, format="PNG")
    return buffer.getvalue()


def hand_made_zip(path: Path, members: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return path


@pytest.mark.parametrize(("size", "advice"), [(30, "--resolution 16 or 32"), (48, "--resolution 32 or 64"),
                                              (2, "--resolution 4")])
def test_sizes_no_family_trains_are_refused_naming_the_file(tmp_path: Path, size: int, advice: str) -> None:
    path = hand_made_zip(tmp_path / "hand.zip", {f"img{i}.png": png(size, i) for i in range(3)})
    with pytest.raises(DatasetError) as info:
        ImageDataset(path)
    message = str(info.value)
    assert f"'img0.png' in dataset '{path}' is {size}x{size}" in message
    assert "power of two of at least 4" in message and advice in message
    assert "\n" not in message


@pytest.mark.parametrize("size", [4, 8, 64])
def test_every_power_of_two_from_4_is_read(tmp_path: Path, size: int) -> None:
    path = hand_made_zip(tmp_path / "hand.zip", {"a.png": png(size)})
    assert ImageDataset(path).resolution == size


def test_a_mixed_size_image_read_in_a_worker_is_one_line(tmp_path: Path) -> None:
    members = {f"img{i:02d}.png": png(8, i) for i in range(7)}
    members["img07.png"] = png(16, 7)
    path = hand_made_zip(tmp_path / "mixed.zip", members)
    batches = make_loader(ImageDataset(path), 4, num_workers=1)
    with pytest.raises(DatasetError) as info:
        list(itertools.islice(batches, 8))
    message = str(info.value)
    assert message.startswith(f"'img07.png' in dataset '{path}' is 16x16 with 3 channel(s) but 'img00.png'")
    assert "\n" not in message and "Traceback" not in message and "worker" not in message


def test_an_unreadable_member_is_named_without_python_internals(tmp_path: Path) -> None:
    path = hand_made_zip(tmp_path / "hand.zip", {"a.png": png(8), "b.png": b"not an image"})
    dataset = ImageDataset(path)
    with pytest.raises(DatasetError) as info:
        dataset[1]
    assert str(info.value) == (
        f"'b.png' in dataset '{path}' is not an image file Pillow can read; "
        "recreate it with `ganforge dataset create`."
    )


def test_dataset_create_names_an_unreadable_source_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = tmp_path / "src"
    source.mkdir()
    (source / "a.png").write_bytes(png(8))
    (source / "b.png").write_bytes(b"not an image")
    with pytest.raises(SystemExit) as exit_info:
        main(["dataset", "create", "--source", str(source), "--dest", str(tmp_path / "out.zip")])
    assert exit_info.value.code == 1
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err == (
        f"Error: Cannot decode image {source / 'b.png'}: not an image file Pillow can read. "
        "Replace or remove the file."
    )
