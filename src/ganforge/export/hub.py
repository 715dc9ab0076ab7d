"""Upload an exported model folder to the Hugging Face Hub with `huggingface_hub.HfApi`."""

from __future__ import annotations

import os

from ganforge.compat.hub import INSTALL_HINT, parse_repo
from ganforge.errors import OutputError


def push_to_hub(folder: str | os.PathLike[str], repo_id: str, private: bool | None = None) -> str:
    """Create model repository `repo_id` ('user/name') if needed and upload `folder` to it as one commit.

    The token is huggingface_hub's (HF_TOKEN or `huggingface-cli login`). Returns the commit's URL.
    """
    repo_id, revision = parse_repo(repo_id)
    try:
        from huggingface_hub import HfApi
        from huggingface_hub.errors import HfHubHTTPError, LocalTokenNotFoundError
    except ImportError:
        raise OutputError(
            f"uploading to the Hugging Face Hub needs huggingface_hub: {INSTALL_HINT}"
        ) from None
    api = HfApi(library_name="ganforge")
    try:
        api.create_repo(repo_id, repo_type="model", private=private, exist_ok=True)
        info = api.upload_folder(
            repo_id=repo_id,
            folder_path=folder,
            repo_type="model",
            revision=revision,
            commit_message="Upload ganforge model",
        )
    except LocalTokenNotFoundError:
        raise OutputError(
            f"cannot upload to {repo_id}: not logged in to the Hugging Face Hub; run "
            "`huggingface-cli login` or set HF_TOKEN"
        ) from None
    except (HfHubHTTPError, OSError) as exc:
        raise OutputError(
            f"cannot upload to {repo_id} on the Hugging Face Hub: {str(exc).splitlines()[0]}"
        ) from exc
    return str(getattr(info, "commit_url", info))
