"""The page of `ganforge serve`: Gradio tabs over an `Explorer` (seeds, style mixing, interpolation,
projection, about). Needs the `serve` extra; `ganforge.serve.server` checks for it first."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from functools import wraps
from pathlib import Path
from typing import Any

import gradio as gr
import numpy as np

from ganforge.errors import GanforgeError, OptionError
from ganforge.inference.runner import NOISE_MODES
from ganforge.serve.about import describe, family_name, shown_name
from ganforge.serve.explorer import LAYER_RANGES, MAX_IMAGES, Endpoint, Explorer, Projected, viewable
from ganforge.tools.project import DISTANCES
from ganforge.tools.seeds import MAX_SEED
from ganforge.tools.video import LATENT_KINDS

SOURCES = ("seed", "projection")
"""Where an interpolation endpoint comes from."""

IMAGE_HEIGHT = 320
"""Pixels of height for the single-image views; small networks' images are scaled up without smoothing."""

PROGRESS_SECONDS = 0.25
"""The projection's progress bar moves at most this often."""

CACHE_SECONDS = 3600
"""Seconds after which Gradio's cache drops the images and files the page made (a server may run for days)."""

CSS = """
.scaled img { width: 100%; height: 100%; object-fit: contain; image-rendering: pixelated; }
#gallery .grid-wrap { min-height: 0; }
#gallery img { image-rendering: pixelated; }
"""


def _handler(fn: Callable[..., tuple[Any, ...]], num_outputs: int) -> Callable[..., tuple[Any, ...]]:
    """`fn` for an event with `num_outputs` outputs, the last a status line: a user error becomes its
    message there, the other outputs stay as they were, and the server keeps serving."""

    @wraps(fn)
    def handler(*args: Any, **kwargs: Any) -> tuple[Any, ...]:
        try:
            return fn(*args, **kwargs)
        except GanforgeError as e:
            return (*[gr.skip()] * (num_outputs - 1), f"**Error:** {e}")

    return handler


def _seconds(start: float) -> str:
    return f"{time.perf_counter() - start:.2f} s"


def _class_idx(value: Any) -> int | None:
    return None if value in (None, "") else int(value)


def build_app(explorer: Explorer, workdir: str | Path) -> gr.Blocks:
    """The page for `explorer`'s network; files offered for download are written under `workdir`."""
    workdir = Path(workdir)
    G = explorer.G
    has_mapping = explorer.has_mapping

    def new_folder() -> Path:
        folder = workdir / uuid.uuid4().hex
        folder.mkdir(parents=True)
        return folder

    name = shown_name(explorer.network_path)
    with gr.Blocks(title=f"ganforge serve: {name}", analytics_enabled=False,
                   delete_cache=(CACHE_SECONDS, CACHE_SECONDS)) as app:
        gr.Markdown(
            f"## ganforge serve\n`{name}`: {family_name(G)}, "
            f"{G.img_resolution} x {G.img_resolution}"
            + ("" if has_mapping else
               f"\n\nStyle mixing, interpolation and projection need a mapping network; a {family_name(G)} "
               "generator has none.")
        )
        with gr.Row():
            psi = gr.Slider(0, 2, value=1, step=0.05, label="Truncation psi", visible=has_mapping,
                            elem_id="psi")
            classes = [str(k) for k in range(explorer.num_classes)]
            class_pick = gr.Dropdown(classes, value=classes[0] if classes else None, label="Class",
                                     visible=bool(classes), elem_id="class")
            noise = gr.Radio(list(NOISE_MODES), value="const", label="Noise mode", visible=has_mapping,
                             elem_id="noise")
        projection_state = gr.State(None)

        with gr.Tabs():
            _seeds_tab(explorer, psi, class_pick, noise, app)
            if has_mapping:
                _style_mixing_tab(explorer, psi, class_pick, noise, projection_state)
                _interpolation_tab(explorer, psi, class_pick, noise, projection_state, new_folder)
                _projection_tab(explorer, class_pick, projection_state, new_folder)

            with gr.Tab("About", id="about"):
                about = describe(explorer.network_path, G, explorer.parameter_counts, explorer.records)
                gr.Markdown(about, elem_id="about")
    return app


def _seeds_tab(
    explorer: Explorer, psi: gr.Slider, class_pick: gr.Dropdown, noise: gr.Radio, app: gr.Blocks
) -> None:
    """The seed grid, drawn again whenever a control changes and when the page opens."""
    with gr.Tab("Seeds", id="seeds"):
        with gr.Row():
            seeds_text = gr.Textbox("0-7", label="Seeds", info=f"e.g. 0-7,42; at most {MAX_IMAGES}",
                                    elem_id="seeds")
            seeds_button = gr.Button("Generate", variant="primary", elem_id="generate")
        gallery = gr.Gallery(label="Samples (click one to enlarge)", columns=8, format="png",
                             object_fit="contain", elem_id="gallery")
        seeds_status = gr.Markdown(elem_id="seeds-status")

        def on_seeds(text: str, psi_value: float, class_value: Any,
                     noise_mode: str) -> tuple[Any, Any]:
            start = time.perf_counter()
            seeds = explorer.parse_seeds(text, "seeds")
            images = explorer.seeds(seeds, psi_value, _class_idx(class_value), noise_mode)
            items = [(image, f"seed {seed}") for seed, image in zip(seeds, images, strict=True)]
            return items, f"{len(images)} image(s) in {_seconds(start)}"

        seeds_inputs = [seeds_text, psi, class_pick, noise]
        seeds_fn = _handler(on_seeds, 2)
        events = (seeds_button.click, seeds_text.submit, psi.release, class_pick.change, noise.change,
                  app.load)
        for event in events:
            event(seeds_fn, seeds_inputs, [gallery, seeds_status], concurrency_id="seeds")


def _style_mixing_tab(
    explorer: Explorer, psi: gr.Slider, class_pick: gr.Dropdown, noise: gr.Radio, projection_state: gr.State
) -> None:
    """Rows x columns of seeds (and the projection) mixed at the chosen layer ranges."""
    with gr.Tab("Style mixing", id="style-mixing"):
        with gr.Row():
            rows = gr.Textbox("85,100,75", label="Row seeds", info="they keep the other layers",
                              elem_id="mix-rows")
            cols = gr.Textbox("55,821,1789", label="Column seeds", info="they give the chosen layers",
                              elem_id="mix-cols")
            layers = gr.CheckboxGroup(list(LAYER_RANGES), value=["coarse"], label="Layers from the columns",
                                      info="coarse 4-8 px, middle 16-32 px, fine 64 px and up",
                                      elem_id="mix-layers")
            with gr.Column():
                with_projection = gr.Checkbox(label="The projection as the last row",
                                              elem_id="mix-projection")
                button = gr.Button("Mix", variant="primary", elem_id="mix")
        grid = _image_view("Style mixing", "mix-grid")
        status = gr.Markdown(elem_id="mix-status")

        def on_mix(row_text: str, col_text: str, ranges: list[str], add_projection: bool,
                   projected: Projected | None, psi_value: float, class_value: Any,
                   noise_mode: str) -> tuple[Any, ...]:
            start = time.perf_counter()
            row_keys: list[Endpoint] = list(explorer.parse_seeds(row_text, "row seeds"))
            if add_projection:
                row_keys.append(_endpoint("projection", None, projected, "rows"))
            col_keys = explorer.parse_seeds(col_text, "column seeds")
            image = explorer.style_mix(row_keys, col_keys, ranges, psi_value, _class_idx(class_value),
                                       noise_mode)
            return image, f"{len(row_keys)} x {len(col_keys)} mixes in {_seconds(start)}"

        inputs = [rows, cols, layers, with_projection, projection_state, psi, class_pick, noise]
        button.click(_handler(on_mix, 2), inputs, [grid, status], concurrency_id="style-mixing")


def _endpoint(source: str, seed: float | None, projected: Projected | None, name: str) -> Endpoint:
    """An interpolation endpoint from the page's controls: a seed, or the session's last projection."""
    if source == "projection":
        if projected is None:
            raise OptionError(f"{name}: there is no projection yet; run one in the Projection tab")
        return projected.w
    if seed is None or not 0 <= seed <= MAX_SEED or seed != int(seed):
        raise OptionError(f"{name}: give a seed, a whole number from 0 to {MAX_SEED}")
    return int(seed)


def _interpolation_tab(
    explorer: Explorer, psi: gr.Slider, class_pick: gr.Dropdown, noise: gr.Radio, projection_state: gr.State,
    new_folder: Callable[[], Path],
) -> None:
    """A slider between two seeds or the projection, and the looping video for download."""
    with gr.Tab("Interpolation", id="interpolation"):
        with gr.Row():
            with gr.Column():
                source_a = gr.Radio(list(SOURCES), value="seed", label="From", elem_id="from-source")
                seed_a = gr.Number(0, label="Seed A", precision=0, elem_id="seed-a")
            with gr.Column():
                source_b = gr.Radio(list(SOURCES), value="seed", label="To", elem_id="to-source")
                seed_b = gr.Number(1, label="Seed B", precision=0, elem_id="seed-b")
            kind = gr.Radio(list(LATENT_KINDS), value="w", label="Interpolate in", elem_id="kind")
        t = gr.Slider(0, 1, value=0.5, step=0.01, label="A -> B", elem_id="t")
        image = _image_view("Interpolation", "lerp-image")
        with gr.Row():
            frames = gr.Slider(1, 120, value=30, step=1, label="Frames per seed (video)", elem_id="frames")
            video_button = gr.Button("Export video", elem_id="export-video")
            video = gr.File(label="Looping video A -> B -> A (MP4)", elem_id="video")
        status = gr.Markdown(elem_id="lerp-status")
        common = [source_a, seed_a, source_b, seed_b, kind, psi, class_pick, noise, projection_state]

        def path_between(source_a: str, seed_a: float, source_b: str, seed_b: float, kind: str,
                         psi_value: float, class_value: Any, noise_mode: str,
                         projected: Projected | None) -> dict[str, Any]:
            """The path the slider and the video both follow, as the explorer's keyword arguments."""
            return {
                "a": _endpoint(source_a, seed_a, projected, "from"),
                "b": _endpoint(source_b, seed_b, projected, "to"),
                "kind": kind, "truncation_psi": psi_value, "class_idx": _class_idx(class_value),
                "noise_mode": noise_mode,
            }

        def on_move(t_value: float, *controls: Any) -> tuple[Any, ...]:
            start = time.perf_counter()
            frame = explorer.interpolate(t=t_value, **path_between(*controls))
            return frame, f"t = {t_value:.2f} in {_seconds(start)}"

        def on_video(frames_per_seed: float, *controls: Any) -> tuple[Any, ...]:
            start = time.perf_counter()
            between = path_between(*controls)  # checked before a folder is made for the video
            path = explorer.interpolation_video(
                path=new_folder() / "lerp.mp4", frames_per_seed=int(frames_per_seed), **between
            )
            return str(path), f"{2 * int(frames_per_seed)} frames written in {_seconds(start)}"

        move = _handler(on_move, 2)
        for event in (t.release, kind.change, source_a.change, source_b.change, seed_a.submit, seed_b.submit):
            event(move, [t, *common], [image, status], concurrency_id="interpolation")
        video_button.click(_handler(on_video, 2), [frames, *common], [video, status], concurrency_id="video")


def _projection_tab(
    explorer: Explorer, class_pick: gr.Dropdown, projection_state: gr.State, new_folder: Callable[[], Path]
) -> None:
    """Upload, project with a progress bar, show the result and its distance curve, offer the npz."""
    with gr.Tab("Projection", id="projection"):
        with gr.Row():
            upload = gr.File(label="Image to project", type="filepath", elem_id="upload")
            with gr.Column():
                steps = gr.Slider(1, 1000, value=100, step=1, label="Steps", elem_id="steps")
                distance = gr.Radio(list(DISTANCES), value="auto", label="Distance",
                                    info="auto: LPIPS when its weights are at hand, else pixels",
                                    elem_id="distance")
                button = gr.Button("Project", variant="primary", elem_id="project")
        with gr.Row():
            pair = _image_view("Target | projection", "projection-pair")
            curve = gr.LinePlot(x="step", y="distance", label="Distance per step", elem_id="curve")
        download = gr.File(label="projected_w.npz (also in the Interpolation and Style mixing tabs)",
                           elem_id="projected-w")
        status = gr.Markdown(elem_id="projection-status")

        def on_project(path: str | None, num_steps: float, distance_kind: str, class_value: Any,
                       progress: gr.Progress = gr.Progress()) -> tuple[Any, ...]:  # noqa: B008 (Gradio's way)
            if path is None:
                raise OptionError("image: upload an image to project first")
            start = time.perf_counter()
            total = int(num_steps)
            progress((0, total), desc="projecting")
            projected = explorer.project(
                path, total, distance_kind, _class_idx(class_value), on_step=_progress_steps(progress, total),
            )
            files = explorer.save_projection(projected, new_folder())
            shown = viewable(np.concatenate([projected.target, projected.image], axis=1))
            dists = projected.result.distances
            message = f"{total} steps in {_seconds(start)}; final distance {dists[-1]:.4f}"
            npz = next(str(f) for f in files if f.suffix == ".npz")
            return shown, _distance_table(dists), npz, projected, message

        button.click(_handler(on_project, 5), [upload, steps, distance, class_pick],
                     [pair, curve, download, projection_state, status], concurrency_id="projection")


def _progress_steps(progress: gr.Progress, total: int) -> Callable[[int, float], None]:
    """The projector's `on_step(done, distance)` moving `progress` at most once per PROGRESS_SECONDS: a
    message per step would flood the page and the server's event loop, holding up the other tabs."""
    last = -PROGRESS_SECONDS

    def on_step(done: int, _distance: float) -> None:
        nonlocal last
        if time.perf_counter() - last >= PROGRESS_SECONDS or done == total:
            last = time.perf_counter()
            progress((done, total), desc="projecting")

    return on_step


def _image_view(label: str, elem_id: str) -> gr.Image:
    """An output image shown as PNG (lossless: exactly the network's pixels), scaled to the view."""
    return gr.Image(label=label, format="png", type="numpy", interactive=False, height=IMAGE_HEIGHT,
                    buttons=["download", "fullscreen"], elem_id=elem_id, elem_classes="scaled")


def _distance_table(distances: list[float]) -> Any:
    """The distance per step as the DataFrame Gradio's plots take."""
    import pandas as pd  # Gradio's own dependency

    return pd.DataFrame({"step": range(1, len(distances) + 1), "distance": distances})
