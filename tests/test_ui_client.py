"""The web app's HTTP side without a browser: the searchd client, the media proxy, and the
HTML it renders. searchd is faked with httpx.MockTransport."""

from __future__ import annotations

import base64
import io
import json
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from PIL import Image

from ui.app import render
from ui.app.media import media_router
from ui.app.tabs.locate import heat_maps, parse_moment
from ui.client import ApiError, ClipResult, Media, SearchClient

ROW = {
    "clip_id": "v001@3.07",
    "video": "/data/videos/v001.mp4",
    "start": 3.07,
    "end": 5.07,
    "score": 0.37,
    "narration": "#C C cuts <b>the</b> carrot",
    "sounding": 0.61,
}

Handler = Callable[[httpx.Request], httpx.Response]


def client_for(handler: Handler, api_key: str | None = None) -> SearchClient:
    return SearchClient("http://searchd", api_key=api_key, transport=httpx.MockTransport(handler))


def test_text_search_sends_json_with_the_key_and_reads_results() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"results": [ROW]})

    results = client_for(handler, api_key="k3y").search(text="chopping", target="audio", k=4)

    assert results == [ClipResult.from_json(ROW)]
    request = seen[0]
    assert (request.method, request.url.path) == ("POST", "/search")
    assert request.headers["authorization"] == "Bearer k3y"
    assert json.loads(request.content) == {"text": "chopping", "target": "audio", "k": 4}


def test_file_search_uploads_the_file_with_its_options(tmp_path: Path) -> None:
    sound = tmp_path / "knock.wav"
    sound.write_bytes(b"RIFF-fake-wav")
    seen: list[bytes] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.read())
        return httpx.Response(200, json={"results": []})

    client_for(handler).search(file=sound, target="video", k=3, where="start > 2")

    body = seen[0]
    assert b'name="file"; filename="knock.wav"' in body and b"RIFF-fake-wav" in body
    for field, value in (("target", b"video"), ("k", b"3"), ("where", b"start > 2")):
        assert f'name="{field}"'.encode() in body and value in body


def test_refusals_become_readable_api_errors() -> None:
    def not_built(request: httpx.Request) -> httpx.Response:
        return httpx.Response(409, json={"error": "generation is not built yet"})

    with pytest.raises(ApiError) as refused:
        client_for(not_built).discover()
    assert refused.value.not_built and refused.value.message == "generation is not built yet"

    def locked(request: httpx.Request) -> httpx.Response:
        return httpx.Response(401, json={"error": "missing or wrong API key"})

    with pytest.raises(ApiError, match="missing or wrong API key.*--api-key") as denied:
        client_for(locked).status()
    assert denied.value.status == 401

    def down(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    with pytest.raises(ApiError, match="cannot reach searchd at http://searchd") as away:
        client_for(down).health()
    assert away.value.status == 0


def test_generate_returns_media_and_locate_returns_json(tmp_path: Path) -> None:
    video = tmp_path / "silent.mp4"
    video.write_bytes(b"not-really-mp4")

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/generate":
            assert b'name="mode"' in request.read() and b"joint" in request.content
            return httpx.Response(200, content=b"WAVE", headers={"content-type": "audio/wav"})
        sent.append(request.read())
        return httpx.Response(200, json={"heads": []})

    sent: list[bytes] = []
    client = client_for(handler)
    assert client.generate(video, mode="joint") == Media(b"WAVE", "audio/wav")
    assert client.locate(clip="v001@3.07") == {"heads": []}
    assert json.loads(sent[-1]) == {"clip": "v001@3.07"}
    assert client.locate(clip="v001@3.07", span=(3.5, 3.9)) == {"heads": []}
    assert json.loads(sent[-1]) == {"clip": "v001@3.07", "span": [3.5, 3.9]}
    assert client.locate(video=video, at=1.0, span=(1.5, 2.0)) == {"heads": []}
    assert b'name="at"' in sent[-1] and b"1.5 2.0" in sent[-1] and b'name="video"' in sent[-1]


def test_heat_maps_are_found_anywhere_in_a_locate_answer() -> None:
    png = io.BytesIO()
    Image.new("RGB", (4, 3), "red").save(png, format="PNG")
    encoded = base64.b64encode(png.getvalue()).decode()
    answer = {
        "heads": [
            {"head": 0, "name": "sound", "image_png_base64": encoded},
            {"head": 1, "image_png_base64": f"data:image/png;base64,{encoded}"},
            {"head": 2, "note": "no image"},
        ]
    }

    found = heat_maps(answer)

    assert [(image.size, caption) for image, caption in found] == [
        ((4, 3), "sound"),
        ((4, 3), "head 1"),
    ]
    assert heat_maps({"error": "none here"}) == []
    assert len(heat_maps(Media(png.getvalue(), "image/png"))) == 1


def test_media_proxy_relays_range_requests_with_the_key() -> None:
    video = bytes(range(256)) * 4
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if request.url.path != "/clips/v001@3.07/video":
            return httpx.Response(404, json={"error": "no clip 'nope'"})
        first, last = 100, 199
        return httpx.Response(
            206,
            stream=httpx.ByteStream(video[first : last + 1]),  # as a network would
            headers={
                "content-type": "video/mp4",
                "content-range": f"bytes {first}-{last}/{len(video)}",
                "accept-ranges": "bytes",
            },
        )

    app = FastAPI()
    app.include_router(media_router(client_for(handler, api_key="k3y")))
    browser = TestClient(app)

    answer = browser.get("/media/clips/v001%403.07/video", headers={"Range": "bytes=100-199"})

    assert answer.status_code == 206
    assert answer.content == video[100:200]
    assert answer.headers["content-range"] == "bytes 100-199/1024"
    assert answer.headers["content-type"] == "video/mp4"
    assert seen[0].headers["range"] == "bytes=100-199"
    assert seen[0].headers["authorization"] == "Bearer k3y"

    missing = browser.get("/media/clips/nope/audio")
    assert (missing.status_code, missing.json()) == (404, {"error": "no clip 'nope'"})


def test_cards_start_players_at_the_match_and_escape_text() -> None:
    result = ClipResult.from_json(ROW)

    cards = render.video_cards([result])
    assert 'src="media/clips/v001%403.07/video#t=3.07,5.07"' in cards
    assert "&lt;b&gt;the&lt;/b&gt;" in cards and "<b>the</b>" not in cards
    assert "sounding 0.61" in cards
    assert 'src="media/clips/v001%403.07/audio"' in render.sound_cards([result])
    assert "not built yet" in render.api_alert(ApiError(409, "DenseAV is not built yet"))


def test_a_typed_moment_is_two_times_in_order() -> None:
    assert parse_moment("") is None and parse_moment(None) is None
    assert parse_moment(" 4.2  4.6 ") == (4.2, 4.6) and parse_moment("4.2,4.6") == (4.2, 4.6)
    for bad in ("4.2", "4.2 4.6 5", "soon later", "4.6 4.2", "-1 2"):
        with pytest.raises(ValueError, match="moment"):
            parse_moment(bad)
