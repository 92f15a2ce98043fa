"""The web app in a real browser: `foley serve` and `foley ui` run as processes, searchd behind
an API key the browser never sees, and Playwright drives Debian's headless Chromium.

Chromium comes from the system (`make system-deps` installs it); no browser is downloaded.
A full-page screenshot of each search lands in tests/artifacts/.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import write_video
from playwright.sync_api import Page, sync_playwright

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).parent / "artifacts"
REPO = Path(__file__).parent.parent
API_KEY = "browser-test-key"
START_TIMEOUT_S = 90.0
WAIT_MS = 30_000


@dataclass(frozen=True)
class Stack:
    """A running searchd and web app."""

    api: httpx.Client  # searchd, with the API key
    app_url: str


@pytest.fixture(scope="module")
def stack(tiny_home: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """`foley serve` on the tiny home (key required) and `foley ui` pointed at it."""
    logs = tmp_path_factory.mktemp("browser-logs")
    api_port, app_port = _free_port(), _free_port()
    api_url, app_url = f"http://127.0.0.1:{api_port}", f"http://127.0.0.1:{app_port}/"
    env = {**os.environ, "FOLEY_API_KEY": API_KEY, "GRADIO_ANALYTICS_ENABLED": "False"}
    env.pop("FOLEY_HOME", None)
    serve = _start(
        ["serve", "--home", str(tiny_home), "--port", str(api_port)], env, logs / "serve.log"
    )
    ui_env = {k: v for k, v in env.items() if k != "FOLEY_API_KEY"}
    app = _start(
        ["ui", "--api", api_url, "--port", str(app_port), "--api-key", API_KEY],
        ui_env,
        logs / "ui.log",
    )
    try:
        _wait_until_up(serve, f"{api_url}/health", logs / "serve.log")
        _wait_until_up(app, app_url, logs / "ui.log")
        headers = {"Authorization": f"Bearer {API_KEY}"}
        with httpx.Client(base_url=api_url, headers=headers, timeout=60) as api:
            yield Stack(api, app_url)
    finally:
        for process in (app, serve):
            _stop(process)


@pytest.fixture(scope="module")
def page(stack: Stack) -> Iterator[Page]:
    """The app's page in headless Chromium, loaded and showing searchd as healthy."""
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: run `make system-deps` (apt-get install chromium)")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM),
            headless=True,
            args=["--autoplay-policy=no-user-gesture-required"],
        )
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.set_default_timeout(WAIT_MS)
            page.goto(stack.app_url)
            page.wait_for_selector(".foley-dot-ok")  # the header's health check passed
            yield page
        finally:
            browser.close()


def test_text_search_lists_sounds_that_play(page: Page) -> None:
    _open_tab(page, "Find sounds by words")
    page.locator("#words-query textarea").fill("chopping vegetables")
    page.locator("#words-search").click()
    first = page.locator("#words-results .foley-sound").first
    first.wait_for()
    assert page.locator("#words-results .foley-sound").count() >= 3

    spectrogram = first.locator("img.foley-spectrogram")
    page.wait_for_function(
        "img => img.complete && img.naturalWidth > 0", arg=spectrogram.element_handle()
    )
    audio = first.locator("audio").element_handle()
    page.evaluate("audio => audio.play()", audio)
    page.wait_for_function("audio => audio.currentTime > 0.2 && !audio.paused", arg=audio)
    assert page.evaluate("audio => audio.error", audio) is None
    _screenshot(page, "find-sounds-by-words.png")


def test_sound_upload_finds_its_clip_and_plays_the_match(
    page: Page, stack: Stack, tmp_path: Path
) -> None:
    clip, start = _self_retrievable_clip(stack.api)
    wav = tmp_path / "query.wav"
    wav.write_bytes(_ok(stack.api.get(f"/clips/{clip}/audio")).content)

    _open_tab(page, "Find video by sound")
    page.locator("#sound-query input[type=file]").set_input_files(str(wav))
    page.locator("#sound-search").click()
    cards = page.locator("#sound-results .foley-card")
    cards.first.wait_for()
    top3 = [cards.nth(i).get_attribute("data-clip-id") for i in range(min(3, cards.count()))]
    assert clip in top3, f"uploaded the sound of {clip}, the page's top 3 are {top3}"

    # the matched card's player opens at the clip's start and plays from there
    video = page.locator(f'#sound-results .foley-card[data-clip-id="{clip}"] video')
    handle = video.element_handle()
    page.wait_for_function("video => video.readyState >= 1", arg=handle)
    assert abs(page.evaluate("video => video.currentTime", handle) - start) < 0.5
    page.evaluate("video => video.play()", handle)
    page.wait_for_function(f"video => video.currentTime > {start + 0.2}", arg=handle)
    assert page.evaluate("video => video.error", handle) is None
    page.evaluate("video => video.pause()", handle)
    _screenshot(page, "find-video-by-sound.png")


def test_locate_shows_searchds_answer_in_the_page(page: Page, stack: Stack) -> None:
    """Heat maps when DenseAV is built; until then searchd's own "not built yet" message."""
    clip = _ok(stack.api.post("/discover", json={"k": 1})).json()["results"][0]["clip_id"]
    answer = stack.api.post("/locate", json={"clip": clip})

    _open_tab(page, "Where is the sound")
    page.locator("#locate-clip textarea").fill(clip)
    page.locator("#locate-run").click()
    outcome = page.locator("#locate-outcome .foley-alert")
    outcome.wait_for()
    if answer.status_code == 409:
        assert answer.json()["error"] in outcome.inner_text()
        assert page.locator(".foley-alert-notice").count() == 1
    else:
        assert answer.status_code == 200, answer.text
        page.locator("#locate-maps img").first.wait_for()


def test_soundtrack_tab_generates_a_playable_video(page: Page, tmp_path: Path) -> None:
    """A silent clip uploaded in the Soundtrack tab comes back from AV-LDM with sound."""
    silent = write_video(tmp_path / "silent.mp4", seconds=2.0, audio=False)
    _open_tab(page, "Soundtrack")
    page.locator("#soundtrack-video input[type=file]").set_input_files(str(silent))
    page.locator("#soundtrack-video video").wait_for()
    page.locator("#generate").click()
    page.locator("#generate-outcome .foley-alert").wait_for(timeout=120_000)
    said = page.locator("#generate-outcome").inner_text()
    assert "Soundtrack generated" in said and "ambience from" in said
    video = page.locator("#generated-video video")
    video.wait_for()
    handle = video.element_handle()
    page.wait_for_function("video => video.readyState >= 1", arg=handle)
    assert page.evaluate("video => video.duration", handle) == pytest.approx(2.0, abs=0.15)
    page.evaluate("video => { video.muted = true; return video.play(); }", handle)
    page.wait_for_function("video => video.currentTime > 0.2", arg=handle)
    assert page.evaluate("video => video.error", handle) is None
    _screenshot(page, "soundtrack-generated.png")


def test_index_tab_shows_what_searchd_holds(page: Page, stack: Stack) -> None:
    status = _ok(stack.api.get("/status")).json()
    _open_tab(page, "Index")
    tiles = page.locator("#index-stats .foley-stat")
    tiles.first.wait_for()
    shown = dict(
        zip(
            tiles.locator("span").all_inner_texts(),
            tiles.locator("strong").all_inner_texts(),
            strict=True,
        )
    )
    assert shown["videos"] == str(status["videos"])
    assert shown["clips"] == str(status["clips"])


# --- helpers ------------------------------------------------------------------------------
def _self_retrievable_clip(api: httpx.Client) -> tuple[str, float]:
    """A sounding clip whose own sound finds it among searchd's top 3 videos.

    Retrieval quality is the eval tests' business; this test checks the browser path (upload,
    search, cards) brings that clip back as the API does.
    """
    for row in _ok(api.post("/discover", json={"k": 10})).json()["results"]:
        wav = _ok(api.get(f"/clips/{row['clip_id']}/audio")).content
        found = _ok(
            api.post(
                "/search",
                data={"target": "video", "k": "3"},
                files={"file": ("query.wav", wav, "audio/wav")},
            )
        ).json()["results"]
        if row["clip_id"] in [r["clip_id"] for r in found]:
            return row["clip_id"], float(row["start"])
    pytest.fail("no sounding clip of the tiny home finds itself by sound in searchd's top 3")


def _open_tab(page: Page, name: str) -> None:
    page.get_by_role("tab", name=name, exact=True).click()


def _screenshot(page: Page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / name), full_page=True)


def _ok(response: httpx.Response) -> httpx.Response:
    assert response.status_code == 200, f"{response.request.url}: {response.text}"
    return response


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _start(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[Any]:
    with log.open("wb") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "ui.cli", *args],
            cwd=REPO,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )


def _wait_until_up(process: subprocess.Popen[Any], url: str, log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"{url} exited with {process.returncode}:\n{log.read_text()[-2000:]}")
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    pytest.fail(f"{url} did not come up in {START_TIMEOUT_S:g} s:\n{log.read_text()[-2000:]}")


def _stop(process: subprocess.Popen[Any]) -> None:
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
