"""Run a generator over many inputs in minibatches: latents from seeds, labels, uint8 output.

The counterpart of the original TF `Network.run`: inputs are split into batches, each batch runs
under `torch.no_grad` in eval mode on one device, and the outputs are gathered on the CPU.
Latents from seeds follow the official tools (`np.random.RandomState(seed).randn(1, z_dim)`), so a
seed names the same image here as there.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Iterator, Sequence

import numpy as np
import torch

from ganforge.errors import OptionError
from ganforge.progress import progress as progress_bar

logger = logging.getLogger(__name__)

NOISE_MODES = ("const", "random", "none")
DEVICE_KINDS = ("cpu", "cuda", "mps")
DEVICE_HELP = "auto (cuda, else mps, else cpu), cpu, cuda, cuda:N or mps"

OutputTransform = Callable[[torch.Tensor], torch.Tensor]


def is_device_name(name: str) -> bool:
    """Whether `name` spells a device ganforge runs on (see DEVICE_HELP); it need not exist here."""
    kind, colon, index = name.partition(":")
    return name == "auto" or (kind in DEVICE_KINDS and not colon) or (kind == "cuda" and index.isdigit())


def pick_device(name: str | None = "auto") -> torch.device:
    """The device `name` (checked to exist here); 'auto' or None: the best available, cuda > mps > cpu."""
    if name is None or name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if not is_device_name(name):
        raise OptionError(f"{name!r} is not a device; use {DEVICE_HELP}", param="device")
    kind, _, index = name.partition(":")
    if kind == "cuda" and not torch.cuda.is_available():
        raise OptionError("CUDA is not available on this machine; use cpu", param="device")
    if kind == "cuda" and index and int(index) >= torch.cuda.device_count():
        last = torch.cuda.device_count() - 1
        raise OptionError(
            f"{name} does not exist; this machine's CUDA devices are cuda:0 to cuda:{last}", param="device"
        )
    if kind == "mps" and not torch.backends.mps.is_available():
        raise OptionError("MPS is not available on this machine; use cpu", param="device")
    return torch.device(name)


def seed_latents(seeds: Sequence[int], z_dim: int) -> torch.Tensor:
    """Latents [len(seeds), z_dim] float32, row i = `RandomState(seeds[i]).randn(1, z_dim)`."""
    rows = [np.random.RandomState(seed).randn(1, z_dim) for seed in seeds]
    return torch.from_numpy(np.concatenate(rows) if rows else np.zeros([0, z_dim])).float()


def class_labels(c_dim: int, class_idx: int | None, n: int) -> torch.Tensor:
    """One-hot labels [n, c_dim] for `class_idx` ([n, 0] for an unconditional network).

    As the official tools: a conditional network needs a class; a class given to an unconditional
    network is ignored with a warning.
    """
    labels = torch.zeros([n, c_dim])
    if c_dim == 0:
        if class_idx is not None:
            logger.warning("Class %d ignored: the network is unconditional", class_idx)
        return labels
    check_class(c_dim, class_idx)
    labels[:, class_idx] = 1
    return labels


def check_class(c_dim: int, class_idx: int | None) -> None:
    """Refuse a missing or out-of-range class for a conditional network (OptionError naming `class_idx`)."""
    if c_dim == 0:
        return
    if class_idx is None:
        raise OptionError(
            f"the network is conditional ({c_dim} classes); give a class 0..{c_dim - 1}", param="class_idx"
        )
    if not 0 <= class_idx < c_dim:
        raise OptionError(
            f"{class_idx} is out of range; the network has classes 0..{c_dim - 1}", param="class_idx"
        )


def to_uint8(img: torch.Tensor) -> torch.Tensor:
    """Map NCHW images in [-1, 1] to uint8 NHWC as the official tools do (x * 127.5 + 128, clamped)."""
    return (img.permute(0, 2, 3, 1) * 127.5 + 128).clamp(0, 255).to(torch.uint8)


def module_device(module: torch.nn.Module) -> torch.device:
    """The device of a module's first parameter or buffer (CPU for an empty module)."""
    for tensor in module.parameters():
        return tensor.device
    for tensor in module.buffers():
        return tensor.device
    return torch.device("cpu")


@contextlib.contextmanager
def eval_mode(module: torch.nn.Module) -> Iterator[torch.nn.Module]:
    """Put `module` in eval mode (so e.g. the mapping's w_avg is not updated) and restore it after."""
    was_training = module.training
    module.eval()
    try:
        yield module
    finally:
        module.train(was_training)


def run_batched(
    fn: Callable[..., torch.Tensor],
    inputs: Sequence[torch.Tensor],
    *,
    batch_size: int,
    device: torch.device,
    progress: bool | None = None,
    desc: str | None = None,
) -> torch.Tensor:
    """Apply `fn` to aligned minibatches of `inputs` on `device` without grad; concatenate on the CPU.

    All inputs must have the same first dimension; `fn` receives one slice of each.
    """
    if batch_size < 1:
        raise OptionError(f"must be at least 1, not {batch_size}", param="batch_size")
    n = len(inputs[0])
    if any(len(x) != n for x in inputs):
        raise ValueError(f"run_batched: inputs differ in length: {[len(x) for x in inputs]}")
    starts = range(0, n, batch_size)
    outputs = []
    with torch.no_grad():
        for start in progress_bar(starts, total=len(starts), desc=desc, enabled=progress):
            batch = [x[start : start + batch_size].to(device) for x in inputs]
            outputs.append(fn(*batch).cpu())
    if not outputs:
        raise ValueError("run_batched: no inputs to run")
    return torch.cat(outputs)


def _run_network(
    G: torch.nn.Module,
    step: Callable[..., torch.Tensor],
    inputs: Sequence[torch.Tensor],
    *,
    batch_size: int,
    device: str | torch.device | None,
    progress: bool | None,
    desc: str,
) -> torch.Tensor:
    """`run_batched` of `step` with G in eval mode on `device` (None: where G is; else G moves there)."""
    if device is None:
        run_device = module_device(G)
    else:
        run_device = torch.device(device)
        G.to(run_device)
    with eval_mode(G):
        return run_batched(
            step, inputs, batch_size=batch_size, device=run_device, progress=progress, desc=desc
        )


def _check_noise_mode(noise_mode: str) -> None:
    if noise_mode not in NOISE_MODES:
        raise OptionError(f"{noise_mode!r} is not one of {', '.join(NOISE_MODES)}", param="noise_mode")


def run_generator(
    G: torch.nn.Module,
    z: torch.Tensor | None = None,
    c: torch.Tensor | None = None,
    *,
    seeds: Sequence[int] | None = None,
    class_idx: int | None = None,
    batch_size: int = 16,
    truncation_psi: float = 1.0,
    truncation_cutoff: int | None = None,
    noise_mode: str = "const",
    device: str | torch.device | None = None,
    progress: bool | None = None,
    output_transform: OutputTransform | None = to_uint8,
) -> torch.Tensor:
    """Images of `G` for latents `z` (or `seeds`) and labels `c` (or `class_idx`), on the CPU.

    Give exactly one of `z` [N, z_dim] and `seeds`. Labels: `c` [N, c_dim] if given, else the
    one-hot of `class_idx` (see `class_labels`). `device=None` runs where G is; otherwise G is
    moved to `device`. The default `output_transform` returns uint8 NHWC; None returns the raw
    float NCHW images.
    """
    if (z is None) == (seeds is None):
        raise ValueError("run_generator: give exactly one of z and seeds")
    _check_noise_mode(noise_mode)
    if z is None:
        z = seed_latents(seeds, G.z_dim)
    if c is None:
        c = class_labels(G.c_dim, class_idx, len(z))
    transform = output_transform or (lambda img: img)

    def step(z_batch: torch.Tensor, c_batch: torch.Tensor) -> torch.Tensor:
        img = G(
            z_batch,
            c_batch,
            truncation_psi=truncation_psi,
            truncation_cutoff=truncation_cutoff,
            noise_mode=noise_mode,
        )
        return transform(img)

    return _run_network(
        G, step, [z, c], batch_size=batch_size, device=device, progress=progress, desc="generate"
    )


def run_mapping(
    G: torch.nn.Module,
    z: torch.Tensor,
    c: torch.Tensor,
    *,
    batch_size: int = 64,
    truncation_psi: float = 1.0,
    truncation_cutoff: int | None = None,
    device: str | torch.device | None = None,
    progress: bool | None = None,
) -> torch.Tensor:
    """Intermediate latents ws [N, num_ws, w_dim] of G's mapping network for `z` and `c`, on the CPU."""

    def step(z_batch: torch.Tensor, c_batch: torch.Tensor) -> torch.Tensor:
        return G.mapping(z_batch, c_batch, truncation_psi=truncation_psi, truncation_cutoff=truncation_cutoff)

    return _run_network(
        G, step, [z, c], batch_size=batch_size, device=device, progress=progress, desc="mapping"
    )


def run_synthesis(
    G: torch.nn.Module,
    ws: torch.Tensor,
    *,
    batch_size: int = 16,
    noise_mode: str = "const",
    device: str | torch.device | None = None,
    progress: bool | None = None,
    output_transform: OutputTransform | None = to_uint8,
) -> torch.Tensor:
    """Images of G's synthesis network for ws [N, num_ws, w_dim], on the CPU (uint8 NHWC by default)."""
    _check_noise_mode(noise_mode)
    transform = output_transform or (lambda img: img)

    def step(ws_batch: torch.Tensor) -> torch.Tensor:
        return transform(G.synthesis(ws_batch, noise_mode=noise_mode))

    return _run_network(
        G, step, [ws], batch_size=batch_size, device=device, progress=progress, desc="synthesis"
    )
