"""The network behind `ganforge serve`: one loaded generator and what the page asks of it, as uint8 images.

Free of any web library so that tests and scripts can call it directly. Every image comes from the
batched runner along the code paths of the command-line tools (`generate`, `style-mix`, `video`,
`project`), so a seed names the same image on the page as in `ganforge generate`.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import PIL.Image
import torch

from ganforge.errors import OptionError
from ganforge.inference.runner import (
    check_class,
    class_labels,
    module_device,
    run_generator,
    run_mapping,
    run_synthesis,
    seed_latents,
)
from ganforge.serve.about import parameter_count
from ganforge.serve.uploads import read_upload
from ganforge.tools.generate import image_size, load_networks, prepare_generator
from ganforge.tools.project import (
    Distance,
    Projection,
    ProjectionConfig,
    fit_target,
    load_distance,
    project,
    save_projection,
)
from ganforge.tools.seeds import parse_int_list
from ganforge.tools.style_mix import check_styles, mix_styles
from ganforge.tools.video import LATENT_KINDS, catmull_rom_loop, tile_grid, write_video

MAX_IMAGES = 64
"""The most images one request may ask for (seeds, or style-mixing cells): the page stays responsive."""

LAYER_RANGES: dict[str, tuple[int, int | None]] = {"coarse": (0, 4), "middle": (4, 8), "fine": (8, None)}
"""Style layers [start, stop) of the official style-mixing figure: 4-8 px, 16-32 px, 64 px and up."""

Endpoint = int | torch.Tensor
"""One end of an interpolation: a seed, or a projection's ws [num_ws, w_dim]."""


@dataclass
class Projected:
    """A projection made on the page: the target (uint8 HWC at G's resolution), the projector's result
    and the final rendering."""

    target: np.ndarray
    result: Projection
    image: np.ndarray

    @property
    def w(self) -> torch.Tensor:
        """The projected ws [num_ws, w_dim], an interpolation endpoint."""
        return self.result.w[0]


class Explorer:
    """One network file, loaded once, and the images the page asks of it (all uint8 HWC numpy)."""

    def __init__(self, network_path: str | os.PathLike[str], device: str | None = None, batch_size: int = 16):
        nets = load_networks(network_path)
        self.network_path = str(network_path)
        self.G = prepare_generator(nets, network_path, device)
        # Of the file's other networks only their sizes are kept; its other data (e.g. an official
        # snapshot's training_set_kwargs) is kept for the About tab.
        modules = {key: value for key, value in nets.items() if isinstance(value, torch.nn.Module)}
        self.parameter_counts = {key: parameter_count(module) for key, module in modules.items()}
        self.records = {key: value for key, value in nets.items() if key not in modules}
        self.batch_size = batch_size
        self._distances: dict[str, Distance] = {}

    @property
    def has_mapping(self) -> bool:
        """Whether the generator has a mapping network (style mixing, interpolation, projection need one)."""
        return hasattr(self.G, "mapping") and hasattr(self.G, "synthesis")

    @property
    def num_classes(self) -> int:
        """The number of classes of a conditional network (0: unconditional)."""
        return int(self.G.c_dim)

    def parse_seeds(self, text: str, what: str = "seeds") -> list[int]:
        """Seeds such as '0-7,42' (repeats dropped), at most MAX_IMAGES of them; `what` names the field."""
        seeds = list(dict.fromkeys(parse_int_list(text, param=what)))
        if len(seeds) > MAX_IMAGES:
            raise OptionError(
                f"{what}: {text!r} asks for {len(seeds)} seeds; the page shows at most {MAX_IMAGES} at a time"
            )
        return seeds

    def _class(self, class_idx: int | None) -> int | None:
        """The class to draw (None for an unconditional network), checked against the network."""
        if self.num_classes == 0:
            return None
        check_class(self.num_classes, class_idx)
        return class_idx

    def _images(self, images: torch.Tensor | np.ndarray) -> list[np.ndarray]:
        """uint8 NHWC images -> list of HWC arrays (grayscale as H x W, as image viewers take it)."""
        return [viewable(image) for image in np.asarray(images)]

    def seeds(
        self, seeds: Sequence[int], truncation_psi: float = 1.0, class_idx: int | None = None,
        noise_mode: str = "const",
    ) -> list[np.ndarray]:
        """The image of each seed, exactly as `ganforge generate` writes them."""
        images = run_generator(
            self.G, seeds=list(seeds), class_idx=self._class(class_idx), batch_size=self.batch_size,
            truncation_psi=truncation_psi, noise_mode=noise_mode, progress=False,
        )
        return self._images(images)

    def _ws(self, keys: Sequence[Endpoint], truncation_psi: float, class_idx: int | None) -> torch.Tensor:
        """The ws [N, num_ws, w_dim] of seeds and projections: the seeds mapped (and truncated) together,
        as `style-mix` and `video` map them; a projection's ws as they are."""
        seeds = [key for key in keys if isinstance(key, int)]
        mapped: Iterator[torch.Tensor] = iter([])
        if seeds:
            z = seed_latents(seeds, self.G.z_dim)
            labels = class_labels(self.G.c_dim, self._class(class_idx), len(z))
            ws = run_mapping(self.G, z, labels, truncation_psi=truncation_psi, batch_size=self.batch_size)
            mapped = iter(ws)
        return torch.stack([next(mapped) if isinstance(key, int) else key for key in keys])

    def style_layers(self, ranges: Sequence[str]) -> list[int]:
        """The style layer indices of the named LAYER_RANGES, those this network has."""
        if not ranges:
            raise OptionError(f"layers: choose at least one of {', '.join(LAYER_RANGES)}")
        layers = [i for name in ranges for i in range(self.G.num_ws)[slice(*LAYER_RANGES[name])]]
        if not layers:
            raise OptionError(
                f"layers: this network has {self.G.num_ws} style layers, none of them {' or '.join(ranges)} "
                f"(coarse: 0-3, middle: 4-7, fine: 8 and up)"
            )
        check_styles(layers, self.G.num_ws)
        return layers

    def style_mix(
        self, rows: Sequence[Endpoint], cols: Sequence[Endpoint], ranges: Sequence[str],
        truncation_psi: float = 1.0, class_idx: int | None = None, noise_mode: str = "const",
    ) -> np.ndarray:
        """The official style-mixing figure of row and column seeds (or projections): first row the
        columns, first column the rows, and cell (row, col) the row's ws with the chosen layers from the
        column's (for seeds: `ganforge style-mix`'s grid.png)."""
        if len(rows) * len(cols) > MAX_IMAGES:
            raise OptionError(
                f"rows x cols: {len(rows)} x {len(cols)} cells; the page shows at most {MAX_IMAGES}"
            )
        layers = self.style_layers(ranges)
        row_ws = self._ws(rows, truncation_psi, class_idx)
        col_ws = self._ws(cols, truncation_psi, class_idx)
        ws = torch.cat([col_ws, row_ws, mix_styles(row_ws, col_ws, layers)])
        images = run_synthesis(self.G, ws, noise_mode=noise_mode, batch_size=self.batch_size, progress=False)
        images = images.numpy()
        num_cols, num_rows = len(cols), len(rows)
        col_images, row_images = images[:num_cols], images[num_cols : num_cols + num_rows]
        mixed = images[num_cols + num_rows :]
        cells = [np.zeros_like(images[0]), *col_images]
        for r in range(num_rows):
            cells += [row_images[r], *mixed[r * num_cols : (r + 1) * num_cols]]
        return viewable(tile_grid(np.stack(cells), num_cols + 1, num_rows + 1))

    def _keys(
        self, a: Endpoint, b: Endpoint, kind: str, truncation_psi: float, class_idx: int | None
    ) -> torch.Tensor:
        """The two keyframes of an interpolation: z [2, z_dim], or ws [2, num_ws, w_dim]."""
        if kind not in LATENT_KINDS:
            raise OptionError(f"kind: {kind!r} is not one of {', '.join(LATENT_KINDS)}")
        if kind == "z":
            if not (isinstance(a, int) and isinstance(b, int)):
                raise OptionError("kind: a projection is a W latent; interpolate in W (or two seeds in Z)")
            return seed_latents([a, b], self.G.z_dim)
        return self._ws([a, b], truncation_psi, class_idx)

    def _frame(
        self, keys: torch.Tensor, t: float, kind: str, truncation_psi: float, class_idx: int | None,
        noise_mode: str,
    ) -> np.ndarray:
        """The uint8 HWC image at time `t` of the closed spline through `keys` (key k at t = k), as
        `ganforge video` draws it."""
        latent = catmull_rom_loop(keys, torch.tensor([t]))
        if kind == "z":
            labels = class_labels(self.G.c_dim, self._class(class_idx), 1)
            ws = run_mapping(self.G, latent, labels, truncation_psi=truncation_psi)
        else:
            ws = latent
        return run_synthesis(self.G, ws, noise_mode=noise_mode, progress=False)[0].numpy()

    def interpolate(
        self, a: Endpoint, b: Endpoint, t: float, kind: str = "w", truncation_psi: float = 1.0,
        class_idx: int | None = None, noise_mode: str = "const",
    ) -> np.ndarray:
        """The image a fraction `t` (0: a, 1: b) of the way along the path `ganforge video` takes."""
        keys = self._keys(a, b, kind, truncation_psi, class_idx)
        return viewable(self._frame(keys, float(t), kind, truncation_psi, class_idx, noise_mode))

    def interpolation_frames(
        self, a: Endpoint, b: Endpoint, frames_per_seed: int, kind: str = "w", truncation_psi: float = 1.0,
        class_idx: int | None = None, noise_mode: str = "const",
    ) -> Iterator[np.ndarray]:
        """The uint8 HWC frames of the looping video a -> b -> a (of two seeds: `ganforge video`'s)."""
        if frames_per_seed < 1:
            raise OptionError(f"frames per seed: must be at least 1, not {frames_per_seed}")
        keys = self._keys(a, b, kind, truncation_psi, class_idx)
        for frame in range(2 * frames_per_seed):
            yield self._frame(keys, frame / frames_per_seed, kind, truncation_psi, class_idx, noise_mode)

    def interpolation_video(
        self, a: Endpoint, b: Endpoint, path: str | os.PathLike[str], frames_per_seed: int = 30,
        fps: float = 30, **kwargs: Any,
    ) -> Path:
        """Write the looping video of `interpolation_frames` as MP4 with `ganforge video`'s encoder."""
        frames = self.interpolation_frames(a, b, frames_per_seed, **kwargs)
        write_video(frames, path, fps=fps, total=2 * frames_per_seed, progress=False)
        return Path(path)

    def distance(self, kind: str) -> Distance:
        """The projector's distance `kind` (see `load_distance`), loaded once and kept on G's device."""
        if kind not in self._distances:
            fn, _ = load_distance(kind)
            if isinstance(fn, torch.nn.Module):
                fn.to(module_device(self.G))
            self._distances[kind] = fn
        return self._distances[kind]

    def project(
        self, upload: str | os.PathLike[str], num_steps: int, distance: str = "auto",
        class_idx: int | None = None, seed: int = 303, on_step: Callable[[int, float], None] | None = None,
    ) -> Projected:
        """Project an uploaded image file with `ganforge project`'s projector (W, its default settings)."""
        config = ProjectionConfig(num_steps=int(num_steps))
        if config.num_steps < 1:
            raise OptionError(f"steps: must be at least 1, not {num_steps}")
        picture = read_upload(upload)
        target = fit_target(PIL.Image.fromarray(picture if picture.shape[2] != 1 else picture[:, :, 0]),
                            image_size(self.G), self.G.img_channels)
        result = project(
            self.G, torch.from_numpy(target.transpose(2, 0, 1).copy()), self.distance(distance), config,
            seed=seed, class_idx=self._class(class_idx), progress=False, on_step=on_step,
        )
        image = run_synthesis(self.G, result.w, noise_mode="const", progress=False)[0].numpy()
        return Projected(target, result, image)

    def save_projection(self, projected: Projected, folder: str | os.PathLike[str]) -> list[Path]:
        """Write what `ganforge project` writes for it: target.png, proj.png and projected_w.npz."""
        return save_projection(self.G, projected.target, projected.result, folder)


def viewable(image: np.ndarray) -> np.ndarray:
    """A uint8 HWC image as image viewers take it: grayscale as H x W."""
    return image[:, :, 0] if image.shape[2] == 1 else image
