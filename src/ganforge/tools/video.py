"""Looping latent-interpolation videos: each grid cell walks its own seeds and returns to the first.

Keyframes are the latents of the seeds (z, or w after mapping and truncation); between them the
path is a closed uniform Catmull-Rom spline, which passes through every keyframe with a continuous
velocity, so the loop has no visible seam. Cell i of a `cols x rows` grid (row-major) walks seeds
`seeds[i*K:(i+1)*K]`, K = len(seeds) / (cols*rows), as the official video tool lays them out.
"""

from __future__ import annotations

import contextlib
import errno
import itertools
import logging
import os
import subprocess
import tempfile
from collections.abc import Iterable, Iterator, Sequence
from fractions import Fraction
from pathlib import Path

import numpy as np
import torch

from ganforge.data.grid import on_checkerboard
from ganforge.errors import OptionError, OutputError
from ganforge.fileio import atomic_path, output_error
from ganforge.inference.runner import class_labels, run_mapping, run_synthesis, seed_latents
from ganforge.progress import progress as progress_bar
from ganforge.tools.generate import load_generator_and_labels, require_mapping
from ganforge.tools.labels import check_class_allowed, label_rows

logger = logging.getLogger(__name__)

LATENT_KINDS = ("z", "w")


def parse_grid(text: str) -> tuple[int, int]:
    """Parse "COLSxROWS" (e.g. "4x2") into (cols, rows), both at least 1."""
    parts = str(text).lower().split("x")
    if len(parts) != 2 or not all(p.strip().isdigit() for p in parts):
        raise OptionError(f"{text!r} is not COLSxROWS, e.g. '4x2'", param="grid")
    cols, rows = (int(p) for p in parts)
    if cols < 1 or rows < 1:
        raise OptionError(f"{text!r} needs at least one column and one row", param="grid")
    return cols, rows


def catmull_rom_loop(keys: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """Closed uniform Catmull-Rom spline through `keys` [K, ...] at times `t` [T] (key k at t = k).

    Times wrap modulo K, so the curve returns to keys[0] at t = K with the velocity it left with.
    """
    num_keys = len(keys)
    t = torch.remainder(t.to(torch.float64), num_keys)
    i = torch.floor(t).long()
    u = (t - i).to(keys.dtype).reshape(-1, *([1] * (keys.ndim - 1)))
    p0, p1, p2, p3 = (keys[(i + k) % num_keys] for k in (-1, 0, 1, 2))
    return 0.5 * (
        2 * p1 + (p2 - p0) * u + (2 * p0 - 5 * p1 + 4 * p2 - p3) * u**2 + (3 * p1 - p0 - 3 * p2 + p3) * u**3
    )


def tile_grid(images: np.ndarray, cols: int, rows: int) -> np.ndarray:
    """Lay uint8 NHWC images (N = cols*rows, row-major) out as one [rows*H, cols*W, C] frame."""
    _, height, width, channels = images.shape
    return images.reshape(rows, cols, height, width, channels).transpose(0, 2, 1, 3, 4).reshape(
        rows * height, cols * width, channels
    )


def check_layout(num_seeds: int, grid: tuple[int, int], frames_per_seed: int, kind: str) -> int:
    """Check the video options against each other; return the number of seeds each cell walks."""
    cols, rows = grid
    cells = cols * rows
    if kind not in LATENT_KINDS:
        raise OptionError(f"{kind!r} is not one of {', '.join(LATENT_KINDS)}", param="kind")
    if frames_per_seed < 1:
        raise OptionError(f"must be at least 1, not {frames_per_seed}", param="frames_per_seed")
    if num_seeds < cells:
        raise OptionError(
            f"a {cols}x{rows} grid has {cells} cells but `seeds` gives only {num_seeds} seeds; "
            f"give at least {cells} seeds (a multiple of {cells}) or a smaller grid", param="grid"
        )
    if num_seeds % cells:
        raise OptionError(
            f"{num_seeds} seeds do not split evenly over the {cells} cells of a {cols}x{rows} grid; "
            f"give a multiple of {cells} seeds", param="seeds"
        )
    return num_seeds // cells


def per_cell_labels(
    c_dim: int, class_idx: int | Sequence[int] | None, cells: int, per_cell: int,
    label: Sequence[float] | None = None,
) -> torch.Tensor:
    """Labels [cells * per_cell, c_dim], cell by cell: `class_idx` for all, or a sequence of one per
    cell; or the label vector `label` for all."""
    if label is not None:
        return torch.tensor([list(label)] * (cells * per_cell)).float()
    if not isinstance(class_idx, Sequence):
        return class_labels(c_dim, class_idx, cells * per_cell)
    if c_dim == 0:
        raise OptionError(
            "the network is unconditional; it has no classes to give the cells", param="class_idx"
        )
    if len(class_idx) not in (1, cells):
        raise OptionError(
            f"{len(class_idx)} classes for {cells} grid cells; give one class for all cells "
            f"or one per cell ({cells})", param="class_idx"
        )
    classes = list(class_idx) * (cells // len(class_idx))
    return torch.cat([class_labels(c_dim, k, per_cell) for k in classes])


def interpolation_frames(
    G: torch.nn.Module,
    seeds: Sequence[int],
    grid: tuple[int, int],
    frames_per_seed: int,
    kind: str = "w",
    truncation_psi: float = 1.0,
    noise_mode: str = "const",
    class_idx: int | Sequence[int] | None = None,
    batch_size: int = 16,
    label: Sequence[float] | None = None,
) -> Iterator[np.ndarray]:
    """Yield the uint8 [rows*H, cols*W, C] frames of the looping interpolation video.

    There are len(seeds) / (cols*rows) * frames_per_seed frames; frame j * frames_per_seed shows
    the j-th seed of every cell exactly. `kind` "z" interpolates latents z and maps each frame,
    "w" interpolates the mapped (and truncated) w. `class_idx`: one class for every cell, or a
    sequence of one class per cell; or `label`, a label vector for every cell.
    """
    cols, rows = grid
    num_keys = check_layout(len(seeds), grid, frames_per_seed, kind)
    cells = cols * rows
    z = seed_latents(list(seeds), G.z_dim)
    labels = per_cell_labels(G.c_dim, class_idx, cells, num_keys, label)
    if kind == "w":
        keys = run_mapping(G, z, labels, truncation_psi=truncation_psi, batch_size=batch_size)[:, 0]
    else:
        keys = z
    keys = keys.reshape(cells, num_keys, -1)
    cell_labels = labels[::num_keys]
    for frame in range(num_keys * frames_per_seed):
        t = torch.tensor([frame / frames_per_seed])
        latents = torch.cat([catmull_rom_loop(cell_keys, t) for cell_keys in keys])
        if kind == "z":
            ws = run_mapping(G, latents, cell_labels, truncation_psi=truncation_psi, batch_size=batch_size)
        else:
            ws = latents[:, None].repeat(1, G.num_ws, 1)
        images = run_synthesis(G, ws, noise_mode=noise_mode, batch_size=batch_size, progress=False).numpy()
        yield tile_grid(images, cols, rows)


def write_video(
    frames: Iterable[np.ndarray],
    path: str | os.PathLike[str],
    fps: float = 30,
    total: int | None = None,
    progress: bool | None = None,
) -> int:
    """Encode uint8 [H, W, 1, 3 or 4] frames as an H.264 MP4 at `path`, atomically; return the frame count.

    Grayscale frames are written as RGB, RGBA ones over a checkerboard (as the preview grids show
    alpha); H and W must be even (yuv420p). ffmpeg failing (full disk,
    read-only folder...) raises OutputError with its cause.
    """
    if fps <= 0:
        raise OptionError(f"must be positive, not {fps}", param="fps")
    stream = iter(progress_bar(frames, total=total, desc="video", enabled=progress))
    first = next(stream, None)
    if first is None:
        raise ValueError("write_video: no frames to write")
    height, width = first.shape[:2]
    count = 0
    with atomic_path(path) as tmp, tempfile.TemporaryFile() as log:
        ffmpeg = subprocess.Popen(_ffmpeg_command(width, height, fps, tmp), stdin=subprocess.PIPE, stderr=log)
        try:
            for frame in itertools.chain([first], stream):
                ffmpeg.stdin.write(_rgb_bytes(frame, height, width))
                count += 1
        except BrokenPipeError:
            pass  # ffmpeg stopped early: its exit status says why
        except BaseException:
            ffmpeg.kill()
            raise
        finally:
            with contextlib.suppress(BrokenPipeError):
                ffmpeg.stdin.close()
            ffmpeg.wait()
        if ffmpeg.returncode != 0:
            log.seek(0)
            raise _ffmpeg_failure(path, ffmpeg.returncode, log.read())
    return count


def _rgb_bytes(frame: np.ndarray, height: int, width: int) -> bytes:
    """The raw RGB bytes of a uint8 [height, width, 1, 3 or 4] frame (gray repeated, RGBA over a checker)."""
    if frame.ndim != 3 or frame.shape[:2] != (height, width) or frame.shape[2] not in (1, 3, 4):
        raise ValueError(f"write_video: a frame of shape {frame.shape}, not ({height}, {width}, 1, 3 or 4)")
    if frame.shape[2] == 4:
        frame = on_checkerboard(frame.transpose(2, 0, 1)[None])[0].transpose(1, 2, 0)
    rgb = np.repeat(frame, 3, axis=2) if frame.shape[2] == 1 else frame
    return np.ascontiguousarray(rgb, dtype=np.uint8).tobytes()


def _ffmpeg_command(width: int, height: int, fps: float, dest: Path) -> list[str]:
    """ffmpeg reading raw RGB frames on stdin and writing H.264 (yuv420p, 16 Mbit/s) MP4 to `dest`."""
    import imageio_ffmpeg  # deferred: only the video commands need ffmpeg

    rate = str(Fraction(fps).limit_denominator())
    return [
        imageio_ffmpeg.get_ffmpeg_exe(), "-y", "-v", "error",
        "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{width}x{height}", "-r", rate, "-i", "-",
        "-an", "-c:v", "libx264", "-pix_fmt", "yuv420p", "-b:v", "16M", "-f", "mp4", str(dest),
    ]  # fmt: skip


def _ffmpeg_failure(dest: str | os.PathLike[str], returncode: int, log: bytes) -> OutputError:
    """Why ffmpeg failed: it exits with the low byte of -errno for system errors (228: ENOSPC)."""
    code = 256 - returncode
    if returncode > 0 and code in errno.errorcode:
        return output_error(dest, OSError(code, os.strerror(code)))
    lines = log.decode(errors="replace").strip().splitlines()
    cause = lines[-1].strip() if lines else f"exit status {returncode}"
    return OutputError(f"cannot write '{dest}': ffmpeg failed ({cause})")


def make_interpolation_video(
    network_path: str | os.PathLike[str],
    seeds: Sequence[int],
    output: str | os.PathLike[str],
    grid: tuple[int, int] = (1, 1),
    frames_per_seed: int = 60,
    kind: str = "w",
    truncation_psi: float = 1.0,
    noise_mode: str = "const",
    class_idx: int | Sequence[int] | None = None,
    fps: float = 30,
    batch_size: int = 16,
    device: str | None = None,
    progress: bool | None = None,
    label: Sequence[float] | None = None,
) -> int:
    """Write the looping interpolation video of `seeds` (see `interpolation_frames`) to `output`.

    `label` is the label vector of a network trained on multi-hot or continuous labels (see
    generate). Returns the number of frames written.
    """
    seeds = list(seeds)
    num_keys = check_layout(len(seeds), grid, frames_per_seed, kind)
    output = Path(output)
    if output.suffix.lower() != ".mp4":
        raise OptionError(f"{output} must end in .mp4", param="output")
    if num_keys == 1:
        logger.warning("Each grid cell has one seed only: the video shows still images")
    G, record = load_generator_and_labels(network_path, device)
    require_mapping(G, network_path, "video")
    if isinstance(class_idx, Sequence):
        if label is not None:
            raise OptionError("label: give a label vector or classes (class_idx), not both")
        if G.c_dim > 0:
            check_class_allowed(record, G.c_dim)
    else:
        label_rows(G.c_dim, record, class_idx, label, 1)  # checks the class or label vector
    total = num_keys * frames_per_seed
    logger.info("Writing %d frames of a %dx%d grid to %s", total, *grid, output)
    frames = interpolation_frames(
        G, seeds, grid, frames_per_seed, kind, truncation_psi, noise_mode, class_idx, batch_size, label
    )
    return write_video(frames, output, fps=fps, total=total, progress=progress)
