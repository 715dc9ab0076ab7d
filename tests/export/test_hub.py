"""Models on the Hugging Face Hub: `hf://user/name[@revision]`, `from_pretrained` and `--push-to-hub`,
with huggingface_hub's downloads and uploads replaced by local folders (never the network)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import huggingface_hub
import pytest
import torch
from huggingface_hub.errors import LocalEntryNotFoundError, RepositoryNotFoundError
from tests.conftest import save_tiny_stylegan2

from ganforge import from_pretrained
from ganforge.cli.main import main
from ganforge.compat import load_network
from ganforge.errors import NetworkFileError
from ganforge.export import export_network


@pytest.fixture
def hub_model(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """A model folder served by a stand-in `snapshot_download`; returns the calls it got."""
    source = save_tiny_stylegan2(tmp_path / "net.pt")
    export_network(source, tmp_path / "hub-copy")
    calls: list[dict[str, Any]] = []

    def snapshot_download(repo_id: str, **kwargs: Any) -> str:
        calls.append({"repo_id": repo_id, **kwargs})
        return str(tmp_path / "hub-copy")

    monkeypatch.setattr(huggingface_hub, "snapshot_download", snapshot_download)
    return calls


def test_hf_addresses_and_from_pretrained_read_through_huggingface_hub(
    tmp_path: Path, hub_model: list[dict[str, Any]]
) -> None:
    expected = load_network(tmp_path / "net.pt")["G_ema"].state_dict()
    G = from_pretrained("me/tiny@v1")
    assert all(torch.equal(G.state_dict()[n], t) for n, t in expected.items())
    assert hub_model[-1]["repo_id"] == "me/tiny" and hub_model[-1]["revision"] == "v1"
    main(["generate", "--network", "hf://me/tiny", "--seeds", "0-1", "--outdir", str(tmp_path / "out")])
    assert hub_model[-1]["revision"] is None
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["seed0000.png", "seed0001.png"]


def _not_found() -> Exception:
    response = httpx.Response(404, request=httpx.Request("GET", "https://huggingface.co/api/models/me/gone"))
    return RepositoryNotFoundError("404 Client Error", response=response)


@pytest.mark.parametrize(
    ("error", "words"),
    [
        (lambda: LocalEntryNotFoundError("offline"), "not in the local Hugging Face cache"),
        (_not_found, "no model me/gone on the Hugging Face Hub"),
    ],
)
def test_hub_failures_are_one_line_naming_what_is_missing(
    monkeypatch: pytest.MonkeyPatch, error: Callable[[], Exception], words: str
) -> None:
    def snapshot_download(repo_id: str, **kwargs: Any) -> str:
        raise error()

    monkeypatch.setattr(huggingface_hub, "snapshot_download", snapshot_download)
    with pytest.raises(NetworkFileError, match=words) as info:
        load_network("hf://me/gone")
    assert "\n" not in str(info.value) and "me/gone" in str(info.value)


def test_a_hub_repository_that_is_no_ganforge_model_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(huggingface_hub, "snapshot_download", lambda repo_id, **kwargs: str(tmp_path))
    with pytest.raises(NetworkFileError, match="me/other on the Hugging Face Hub is not a ganforge model"):
        from_pretrained("me/other")


def test_push_to_hub_uploads_the_exported_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    uploaded: dict[str, Any] = {}

    class FakeApi:
        def __init__(self, **kwargs: Any) -> None:
            pass

        def create_repo(self, repo_id: str, **kwargs: Any) -> None:
            uploaded["created"] = repo_id

        def upload_folder(self, *, repo_id: str, folder_path: str, **kwargs: Any) -> str:
            uploaded["files"] = sorted(p.name for p in Path(folder_path).iterdir())
            uploaded["repo_id"] = repo_id
            return "https://huggingface.co/me/tiny/commit/0"

    monkeypatch.setattr(huggingface_hub, "HfApi", FakeApi)
    source = save_tiny_stylegan2(tmp_path / "net.pt")
    main(["export", source, str(tmp_path / "model"), "--push-to-hub", "me/tiny"])
    assert 'from_pretrained("me/tiny")' in (tmp_path / "model" / "README.md").read_text()
    assert uploaded == {
        "created": "me/tiny",
        "repo_id": "me/tiny",
        "files": ["README.md", "config.json", "model.safetensors"],
    }
