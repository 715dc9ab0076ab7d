"""CIFAR-10 batches that Python 3 re-pickled with protocol 2 (bytes stored as `_codecs.encode(text,
'latin1')`) are read by the dataset tool; any other use of `_codecs` is refused."""

from __future__ import annotations

import io
import pickle
import tarfile
from pathlib import Path

import numpy as np
import pytest

from ganforge.cli.main import main
from ganforge.data import ImageDataset
from ganforge.data.formats.cifar import BATCH_NAMES
from ganforge.data.sources import open_source
from ganforge.errors import DatasetError


def cifar_tarball(path: Path, batches: dict[str, bytes]) -> Path:
    with tarfile.open(path, "w:gz") as tar:
        for name, data in batches.items():
            info = tarfile.TarInfo(f"cifar-10-batches-py/{name}")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


def repickled_batch(rows: np.ndarray, labels: list[int], index: int) -> bytes:
    """A batch as `pickle.load(f, encoding='bytes')` returns the real ones, dumped again with protocol 2."""
    batch = {b"batch_label": b"training batch %d of 5" % index, b"labels": labels, b"data": rows,
             b"filenames": [b"img_%d_%d.png" % (index, i) for i in range(len(labels))]}
    return pickle.dumps(batch, protocol=2)


def test_python3_protocol_2_batches_are_read(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(10, 32, 32, 3), dtype=np.uint8)
    rows = images.transpose(0, 3, 1, 2).reshape(10, 3072)
    labels = [3, 1, 4, 1, 5, 9, 2, 6, 5, 3]
    batches = {f"data_batch_{b + 1}": repickled_batch(rows[2 * b:2 * b + 2], labels[2 * b:2 * b + 2], b + 1)
               for b in range(5)}
    assert all(b"c_codecs\nencode\n" in data for data in batches.values())  # what made them unreadable
    source = cifar_tarball(tmp_path / "cifar-10-python.tar.gz", batches)

    dest = tmp_path / "cifar.zip"
    main(["dataset", "create", "--source", str(source), "--dest", str(dest)])
    assert "Wrote 10 images" in capsys.readouterr().out
    dataset = ImageDataset(dest, use_labels=True)
    assert len(dataset) == 10
    for i in range(10):
        image, label = dataset[i]
        np.testing.assert_array_equal(image, images[i].transpose(2, 0, 1))
        assert int(np.argmax(label)) == labels[i]


class Encode:
    """Pickles as a call of `_codecs.encode` with the given arguments."""

    def __init__(self, *args: object) -> None:
        self.args = args

    def __reduce__(self) -> tuple:
        import _codecs

        return _codecs.encode, self.args


@pytest.mark.parametrize("args", [("text", "rot13"), ("text", "utf-8"), (b"\x00", "latin1")])
def test_other_codecs_calls_are_refused(tmp_path: Path, args: tuple) -> None:
    batch = pickle.dumps({b"data": Encode(*args), b"labels": []}, protocol=2)
    source = cifar_tarball(tmp_path / "cifar-10-python.tar.gz", dict.fromkeys(BATCH_NAMES, batch))
    with pytest.raises(DatasetError, match=r"data_batch_1 in .* is not a readable CIFAR-10 batch: refusing "
                                           r"_codecs\.encode of \w+ and '[\w-]+'"):
        open_source(str(source))


def test_codecs_functions_other_than_encode_are_refused(tmp_path: Path) -> None:
    batch = b"\x80\x02c_codecs\ndecode\nX\x04\x00\x00\x00textX\x05\x00\x00\x00rot13\x86R."
    source = cifar_tarball(tmp_path / "cifar-10-python.tar.gz", dict.fromkeys(BATCH_NAMES, batch))
    with pytest.raises(DatasetError, match=r"refers to _codecs\.decode, which a CIFAR-10 batch never does"):
        open_source(str(source))
