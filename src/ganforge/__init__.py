"""ganforge: the StyleGAN family of GANs (DCGAN, StyleGAN, StyleGAN2-ADA) in pure PyTorch."""

from typing import Any

__version__ = "0.1.0"


def __getattr__(name: str) -> Any:
    """`from ganforge import from_pretrained` (a Hugging Face Hub model), imported on first use."""
    if name == "from_pretrained":
        from ganforge.compat.hub import from_pretrained

        return from_pretrained
    raise AttributeError(f"module 'ganforge' has no attribute {name!r}")
