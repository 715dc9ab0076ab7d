"""Models on the Hugging Face Hub: `hf://user/name[@revision]` addresses and `from_pretrained`.

Downloads go through `huggingface_hub` (its cache, its token: `HF_TOKEN` or `huggingface-cli
login`, its offline mode `HF_HUB_OFFLINE=1`); the repository is a ganforge model folder
(`ganforge.compat.model_folder`), so nothing downloaded is ever unpickled.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from torch import nn

from ganforge.compat.model_folder import CARD_NAME, CONFIG_NAME, WEIGHTS_NAME, read_model_folder
from ganforge.errors import NetworkFileError

PREFIX = "hf://"
INSTALL_HINT = "pip install 'ganforge[hub]'"


def is_hub_address(source: object) -> bool:
    """Whether `source` is an `hf://user/name[@revision]` address."""
    return isinstance(source, str) and source.startswith(PREFIX)


def parse_repo(name: str) -> tuple[str, str | None]:
    """('user/name', revision or None) from 'user/name[@revision]' (with or without `hf://`)."""
    repo_id, _, revision = name.removeprefix(PREFIX).partition("@")
    if repo_id.count("/") != 1 or not all(repo_id.split("/")):
        raise NetworkFileError(f"{name!r} is not a Hub model; write it as user/name or user/name@revision")
    return repo_id, revision or None


def download_model(name: str) -> Path:
    """The local folder of Hub model `name` ('user/name[@revision]'), downloaded once into the cache."""
    repo_id, revision = parse_repo(name)
    try:
        from huggingface_hub import snapshot_download
        from huggingface_hub.errors import (
            GatedRepoError,
            HfHubHTTPError,
            LocalEntryNotFoundError,
            RepositoryNotFoundError,
            RevisionNotFoundError,
        )
    except ImportError:
        raise NetworkFileError(
            f"reading {name} from the Hugging Face Hub needs huggingface_hub: {INSTALL_HINT}"
        ) from None
    try:
        folder = snapshot_download(
            repo_id,
            revision=revision,
            allow_patterns=[CONFIG_NAME, WEIGHTS_NAME, CARD_NAME],
            library_name="ganforge",
        )
    except GatedRepoError:
        raise NetworkFileError(
            f"{repo_id} is gated on the Hugging Face Hub: accept its terms there, then log in "
            "(`huggingface-cli login` or HF_TOKEN)"
        ) from None
    except RevisionNotFoundError:
        raise NetworkFileError(f"{repo_id} on the Hugging Face Hub has no revision {revision!r}") from None
    except RepositoryNotFoundError:
        raise NetworkFileError(
            f"no model {repo_id} on the Hugging Face Hub (if it is private, log in with "
            "`huggingface-cli login` or set HF_TOKEN)"
        ) from None
    except LocalEntryNotFoundError:
        raise NetworkFileError(
            f"{repo_id} is not in the local Hugging Face cache and the Hub cannot be reached "
            "(offline?): connect once to download it"
        ) from None
    except (HfHubHTTPError, OSError) as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise NetworkFileError(f"cannot download {repo_id} from the Hugging Face Hub: {reason}") from exc
    if not (Path(folder) / CONFIG_NAME).is_file():
        raise NetworkFileError(
            f"{repo_id} on the Hugging Face Hub is not a ganforge model (it has no {CONFIG_NAME}); "
            "publish one with `ganforge export NETWORK OUT --push-to-hub user/name`"
        )
    return Path(folder)


def load_hub_model(name: str) -> dict[str, Any]:
    """`load_network` for a Hub model: its networks and extra data by key."""
    return read_model_folder(download_model(name))


def from_pretrained(name: str, network: str = "G_ema") -> nn.Module:
    """Network `network` (G_ema by default) of Hub model `name` ('user/name[@revision]'), in eval mode.

    A local model folder may be given instead of a Hub name.
    """
    nets = read_model_folder(name) if Path(name).is_dir() else load_hub_model(name)
    if not isinstance(nets.get(network), nn.Module):
        held = ", ".join(k for k, v in nets.items() if isinstance(v, nn.Module))
        raise NetworkFileError(f"{name} holds no network {network!r} (it holds {held})")
    return nets[network]
