"""`ganforge serve` in a real browser: Debian's headless chromium driven by Playwright's Python client.

The page must show exactly the images `ganforge generate` and `ganforge style-mix` write, follow the
class picker, run a projection from an upload, say what is wrong with bad input while it keeps
serving, and never hold the seeds tab up behind a projection. Screenshots of every tab go to the test's
tmp_path; GANFORGE_DOCS_SCREENSHOTS=1 also refreshes docs/images/serve-seeds.png (the README's).
Skipped when chromium, Playwright or Gradio is missing, except under CI=true, where that fails.
"""

from __future__ import annotations

import importlib.util
import io
import os
import re
import shutil
import socket
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import PIL.Image
import pytest
from tests.conftest import REPO, in_ci, save_tiny_stylegan2

from ganforge.cli.main import main
from ganforge.serve.uploads import MAX_UPLOAD_BYTES

pytestmark = [
    pytest.mark.browser,
    pytest.mark.filterwarnings("ignore:::gradio"),  # Gradio's own deprecation notices (of pandas calls)
]

CHROMIUM = Path("/usr/bin/chromium")
DOCS_SCREENSHOT = REPO / "docs" / "images" / "serve-seeds.png"
TIMEOUT_MS = 30_000


def missing() -> str | None:
    """Why the browser tests cannot run here, or None."""
    if importlib.util.find_spec("playwright") is None:
        return "Playwright's Python client is not installed (pip install 'ganforge[test]')"
    if importlib.util.find_spec("gradio") is None:
        return "Gradio is not installed (pip install 'ganforge[serve]')"
    if not CHROMIUM.is_file():
        return f"Debian's chromium is not installed at {CHROMIUM} (apt-get install chromium)"
    return None


@pytest.fixture(scope="module")
def network(tmp_path_factory: pytest.TempPathFactory) -> str:
    reason = missing()
    if reason is not None:
        if in_ci():
            pytest.fail(f"CI=true but the browser tests cannot run: {reason}")
        pytest.skip(reason)
    return save_tiny_stylegan2(tmp_path_factory.mktemp("net") / "cond.pt", c_dim=3)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def url(network: str) -> Iterator[str]:
    from ganforge.serve.server import start

    app = start(network, port=free_port(), device="cpu", block=False)
    assert app.local_url.startswith("http://127.0.0.1:")  # the default host: this machine only
    try:
        yield app.local_url.rstrip("/")
    finally:
        app.close()


@pytest.fixture(scope="module")
def browser(url: str) -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def page(browser: Any, url: str) -> Iterator[Any]:
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.set_default_timeout(TIMEOUT_MS)
    page.goto(url)
    page.wait_for_selector("#gallery img")  # the seeds of the first load
    yield page
    page.close()


def wait_until(condition: Callable[[], Any], what: str, timeout: float = TIMEOUT_MS / 1000) -> Any:
    """Poll `condition` until it returns something truthy; fail naming `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.1)
    pytest.fail(f"timed out waiting for {what}")


def gallery(page: Any) -> list[tuple[str, str]]:
    """(caption, image URL) of each image the seeds gallery shows."""
    return page.eval_on_selector_all(
        "#gallery .gallery-item", "els => els.map(e => [e.innerText.trim(), e.querySelector('img').src])"
    )


def fetch_png(page: Any, url: str) -> np.ndarray:
    response = page.request.get(url)
    assert response.ok, url
    return np.asarray(PIL.Image.open(io.BytesIO(response.body())))


def set_number(page: Any, selector: str, value: str) -> None:
    """Type into a slider's or number's box and leave it (Gradio reads it on Enter and blur)."""
    box = page.locator(f"{selector} input[type=number]")
    box.fill(value)
    box.press("Enter")


def upload(page: Any, path: Path) -> None:
    """Put `path` in the projection tab's upload box, replacing what is there."""
    clear = page.locator("#upload button[aria-label='Clear']")
    if clear.count():
        clear.click()
    page.set_input_files("#upload input[type=file]", path)


def status(page: Any, name: str) -> str:
    return page.inner_text(f"#{name}-status")


def show_seeds(page: Any, seeds: list[int], psi: str | None = None) -> list[tuple[str, str]]:
    """Ask for `seeds` (and psi) and wait for the gallery to show them."""
    if psi is not None:
        set_number(page, "#psi", psi)
    page.fill("#seeds input, #seeds textarea", ",".join(map(str, seeds)))
    page.click("#generate")
    captions = [f"seed {seed}" for seed in seeds]
    return wait_until(lambda: (g := gallery(page)) and [c for c, _ in g] == captions and g, f"seeds {seeds}")


def assert_generate_writes(page: Any, shown: list[tuple[str, str]], network: str, class_idx: int,
                           out: Path) -> None:
    """The page shows seeds 3-6 at psi 0.7 of class `class_idx` exactly as `ganforge generate` writes them."""
    main(["generate", "--network", network, "--seeds", "3-6", "--trunc", "0.7", "--class", str(class_idx),
          "--outdir", str(out)])
    for (caption, src), seed in zip(shown, range(3, 7), strict=True):
        assert caption == f"seed {seed}"
        assert np.array_equal(fetch_png(page, src), np.asarray(PIL.Image.open(out / f"seed{seed:04d}.png")))


def test_seeds_tab_shows_what_generate_writes(page: Any, network: str, tmp_path: Path) -> None:
    shown = show_seeds(page, [3, 4, 5, 6], psi="0.7")
    assert "4 image(s) in" in status(page, "seeds")
    assert_generate_writes(page, shown, network, 0, tmp_path / "class0")
    page.click("#class input")
    page.get_by_role("option", name="2", exact=True).click()
    shown = wait_until(lambda: (g := gallery(page)) != shown and g, "the images of class 2")
    assert_generate_writes(page, shown, network, 2, tmp_path / "class2")
    page.screenshot(path=tmp_path / "seeds.png", full_page=True)
    if os.environ.get("GANFORGE_DOCS_SCREENSHOTS") == "1":
        DOCS_SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(tmp_path / "seeds.png", DOCS_SCREENSHOT)


def test_style_mixing_and_about_tabs(page: Any, network: str, tmp_path: Path) -> None:
    page.get_by_role("tab", name="Style mixing").click()
    page.click("#mix")
    page.wait_for_selector("#mix-grid img")
    main(["style-mix", "--network", network, "--rows", "85,100,75", "--cols", "55,821,1789",
          "--styles", "0-3", "--class", "0", "--outdir", str(tmp_path / "mixed")])
    grid = fetch_png(page, page.get_attribute("#mix-grid img", "src"))
    assert np.array_equal(grid, np.asarray(PIL.Image.open(tmp_path / "mixed" / "grid.png")))
    assert "3 x 3 mixes in" in status(page, "mix")
    page.screenshot(path=tmp_path / "style-mixing.png", full_page=True)
    page.get_by_role("tab", name="About").click()
    about = page.inner_text("#about")
    assert "StyleGAN2" in about and "8 x 8" in about and "Parameters of G_ema" in about
    page.screenshot(path=tmp_path / "about.png", full_page=True)


def test_projection_feeds_the_interpolation_tab(page: Any, network: str, tmp_path: Path) -> None:
    target = tmp_path / "target.png"
    PIL.Image.fromarray(np.random.RandomState(1).randint(0, 256, (24, 32, 3), dtype=np.uint8)).save(target)
    page.get_by_role("tab", name="Projection").click()
    upload(page, target)
    set_number(page, "#steps", "5")
    page.click("#distance label:has-text('pixel')")
    page.click("#project")
    page.wait_for_selector("#projection-status :text('5 steps in')")
    pair = fetch_png(page, page.get_attribute("#projection-pair img", "src"))
    assert pair.shape == (8, 16, 3)  # target | projection, at the network's 8 px
    npz = page.request.get(page.get_attribute("#projected-w a[download]", "href"))
    with np.load(io.BytesIO(npz.body())) as data:
        assert data["w"].shape == (1, 4, 8)
    page.screenshot(path=tmp_path / "projection.png", full_page=True)

    page.get_by_role("tab", name="Interpolation").click()
    page.click("#from-source label:has-text('projection')")
    page.wait_for_selector("#lerp-status :text('t = 0.50')")
    assert fetch_png(page, page.get_attribute("#lerp-image img", "src")).shape == (8, 8, 3)
    page.click("#kind label:has-text('z')")
    page.wait_for_selector("#lerp-status :text('projection is a W latent')")
    page.click("#kind label:has-text('w')")
    set_number(page, "#frames", "2")
    page.click("#export-video")
    video = page.request.get(page.wait_for_selector("#video a[download]").get_attribute("href"))
    assert video.body()[4:8] == b"ftyp"  # an MP4
    page.screenshot(path=tmp_path / "interpolation.png", full_page=True)

    page.get_by_role("tab", name="Style mixing").click()
    page.click("#mix-projection label")
    page.click("#mix")
    page.wait_for_selector("#mix-status :text('4 x 3 mixes in')")
    assert fetch_png(page, page.get_attribute("#mix-grid img", "src")).shape == (5 * 8, 4 * 8, 3)


def test_bad_input_gets_a_message_and_the_server_keeps_serving(
    page: Any, network: str, url: str, tmp_path: Path
) -> None:
    before = gallery(page)
    page.fill("#seeds input, #seeds textarea", "0-999999")
    page.click("#generate")
    page.wait_for_selector("#seeds-status :text('asks for 1000000 seeds')")
    assert "Error:" in status(page, "seeds") and gallery(page) == before
    assert len(show_seeds(page, [11])) == 1

    page.get_by_role("tab", name="Projection").click()
    junk = tmp_path / "junk.png"
    junk.write_bytes(b"this is not an image")
    huge = tmp_path / "huge.png"
    PIL.Image.new("L", (8000, 6000)).save(huge)  # 48 million pixels, a few kB
    for path, message in ((junk, "junk.png is not an image ganforge can read"),
                            (huge, "huge.png has 48 million pixels")):
        upload(page, path)
        page.click("#project")
        page.wait_for_selector(f"#projection-status :text('{message}')")
    heavy = tmp_path / "heavy.png"
    heavy.write_bytes(os.urandom(MAX_UPLOAD_BYTES + 1))
    upload(page, heavy)  # refused by the upload box itself, before any of ganforge's code
    page.get_by_text(re.compile(r'exceed the maximum allowed size .*"heavy.png"')).wait_for()
    # The page offers no file browsing: the network file itself cannot be fetched.
    assert page.request.get(f"{url}/gradio_api/file={Path(network).resolve()}").status in (403, 404)


def test_a_long_projection_does_not_block_the_seeds_tab(page: Any, tmp_path: Path) -> None:
    target = tmp_path / "target.png"
    PIL.Image.new("RGB", (8, 8), (200, 30, 30)).save(target)
    page.get_by_role("tab", name="Projection").click()
    upload(page, target)
    set_number(page, "#steps", "400")
    page.click("#distance label:has-text('pixel')")
    page.click("#project")
    page.wait_for_selector("#projection-status :text-matches('[1-9][0-9]*/400 steps')")  # its progress bar
    page.get_by_role("tab", name="Seeds").click()
    show_seeds(page, [20, 21])
    running = page.text_content("#projection-status")  # the projection tab is hidden, not gone
    assert re.search(r"\d+/400 steps", running), f"the seeds waited for the projection: {running!r}"
    page.get_by_role("tab", name="Projection").click()
    page.wait_for_selector("#projection-status :text('400 steps in')", timeout=4 * TIMEOUT_MS)  # a busy CPU
