"""The searchd HTTP service (`foley serve`): every route, its errors, auth, limits, hot reload."""

from __future__ import annotations

import base64
import io
import json
import logging
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
import wave
from collections.abc import Iterator
from pathlib import Path

import av
import httpx
import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from PIL import Image
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from sqlalchemy import delete

from indexer.build import build
from indexer.catalog import Catalog, ModelVersion
from indexer.config import FoleyConfig
from searchd.engine import Engine, Query
from searchd.service import create_app
from searchd.settings import ServiceSettings
from ui.cli import main as foley

KEY = "s3cret-key"


@pytest.fixture(scope="module")
def app(tiny_home: Path):
    return create_app(ServiceSettings(home=tiny_home))


@pytest.fixture(scope="module")
def client(app) -> Iterator[TestClient]:
    with TestClient(app) as test_client:
        yield test_client


@pytest.fixture(scope="module")
def clip(tiny_home: Path) -> dict:
    """A narrated clip of the tiny home, as the catalog has it."""
    rows = Catalog(FoleyConfig.for_home(tiny_home).catalog_url).clips()
    row = next(r for r in rows if r.narration)
    return {"clip_id": row.clip_id, "video": row.video, "start": row.start, "end": row.end}


def served(home: Path, **options) -> TestClient:
    return TestClient(create_app(ServiceSettings(home=home, **options)))


def assert_error(response: httpx.Response, status: int, words: str = "") -> None:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"} and body["error"], body
    assert words.lower() in body["error"].lower()


# --- service routes -------------------------------------------------------------------------
def test_health_names_the_served_model_and_counts_clips(client, tiny_home):
    catalog = Catalog(FoleyConfig.for_home(tiny_home).catalog_url)
    answer = client.get("/health")
    assert answer.status_code == 200
    assert answer.json() == {
        "status": "ok",
        "model_version": catalog.current_model().version,
        "clips": catalog.count_clips(),
    }


def test_status_is_the_same_document_as_the_cli(client, tiny_home, capsys):
    assert foley(["status", "--home", str(tiny_home), "--json"]) == 0
    assert client.get("/status").json() == json.loads(capsys.readouterr().out)


def test_openapi_documents_every_route_and_the_error_body(client):
    schema = client.get("/openapi.json").json()
    for path in ("/health", "/status", "/search", "/discover", "/locate", "/generate"):
        assert path in schema["paths"]
    for kind in ("", "/audio", "/video", "/thumbnail"):
        assert f"/clips/{{clip_id}}{kind}" in schema["paths"]
    search = schema["paths"]["/search"]["post"]
    assert set(search["requestBody"]["content"]) == {"application/json", "multipart/form-data"}
    assert search["responses"]["422"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/ErrorBody"
    }
    assert client.get("/docs").status_code == 200


# --- search ---------------------------------------------------------------------------------
def test_text_search_answers_what_the_engine_answers(client, tiny_home):
    answer = client.post("/search", json={"text": "chopping", "target": "audio", "k": 5})
    assert answer.status_code == 200
    expected = Engine(tiny_home).search(Query(text="chopping"), target="audio", k=5)
    assert answer.json() == {"results": [r.to_json() for r in expected]}


def test_clip_search_finds_other_clips(client, clip):
    answer = client.post("/search", json={"clip": clip["clip_id"], "target": "video", "k": 3})
    assert answer.status_code == 200
    ids = [r["clip_id"] for r in answer.json()["results"]]
    assert len(ids) == 3 and clip["clip_id"] not in ids


def test_where_filters_results(client):
    answer = client.post("/search", json={"text": "a sound", "k": 50, "where": "start >= 8"})
    assert answer.status_code == 200
    results = answer.json()["results"]
    assert results and all(r["start"] >= 8 for r in results)


def test_discover_ranks_by_sounding_score(client):
    answer = client.post("/discover", json={"k": 5})
    assert answer.status_code == 200
    scores = [r["sounding"] for r in answer.json()["results"]]
    assert len(scores) == 5 and scores == sorted(scores, reverse=True)
    assert len(client.post("/discover").json()["results"]) == 20  # no body: the defaults


def test_an_uploaded_clip_sound_finds_that_clip(client, clip):
    wav = client.get(f"/clips/{clip['clip_id']}/audio").content
    answer = client.post(
        "/search",
        files={"file": ("query.wav", wav, "audio/wav")},
        data={"target": "audio", "k": "3"},
    )
    assert answer.status_code == 200, answer.text
    assert clip["clip_id"] in [r["clip_id"] for r in answer.json()["results"]]


def test_an_uploaded_video_is_matched_by_its_picture(client, clip):
    with open(clip["video"], "rb") as video:
        answer = client.post(
            "/search", files={"file": ("v.mp4", video, "video/mp4")}, data={"target": "video"}
        )
    assert answer.status_code == 200, answer.text
    assert len(answer.json()["results"]) == 10


@pytest.mark.parametrize(
    ("body", "status", "words"),
    [
        (b'{"text": "chop"', 400, "malformed JSON"),
        (b'{"text": 5}', 422, "text"),
        (b'{"text": "chop", "k": "10"}', 422, "k"),
        (b'{"text": "chop", "k": 0}', 422, "k"),
        (b'{"text": "chop", "k": 1001}', 422, "k"),
        (b'{"text": "chop", "target": "smell"}', 422, "target"),
        (b'{"txt": "chop"}', 422, "txt"),
        (b'{"text": "chop", "clip": "v000@0.00"}', 422, "exactly one"),
        (b"{}", 422, "exactly one"),
        (b"[1, 2]", 422, ""),
        (b'{"text": "   "}', 400, "empty"),
        (b'{"text": "chop", "where": "start >"}', 400, "--where"),
        (b'{"text": "chop", "where": "colour = 1"}', 400, "unknown column"),
        (b'{"text": "chop", "where": "start > 99999999999999999999999"}', 400, "out of range"),
        (b'{"clip": "no-such-clip@1.00"}', 404, "no clip"),
        (b'{"text": "chop\\u0000"}', 422, "NUL"),
    ],
)
def test_bad_search_requests_get_a_4xx_error(client, body, status, words):
    answer = client.post("/search", content=body, headers={"content-type": "application/json"})
    assert_error(answer, status, words)


def test_unknown_routes_and_methods_get_a_4xx_error(client):
    assert_error(client.get("/nowhere"), 404, "not found")
    assert_error(client.get("/search"), 405, "not allowed")


def test_bad_uploads_get_a_4xx_error(client):
    text = b"this is not a sound, just words\n" * 40
    assert_error(
        client.post("/search", files={"file": ("a.wav", text, "audio/wav")}),
        415,
        "not a media file",
    )
    assert_error(
        client.post("/search", files={"file": ("a.txt", text, "text/plain")}), 415, "text/plain"
    )
    fields_only = b'--x\r\nContent-Disposition: form-data; name="k"\r\n\r\n3\r\n--x--\r\n'
    no_file = client.post(
        "/search", content=fields_only, headers={"content-type": "multipart/form-data; boundary=x"}
    )
    assert_error(no_file, 422, "file: a file upload is required")
    assert_error(
        client.post("/search", content=b"text=chop", headers={"content-type": "text/plain"}),
        415,
        "application/json or multipart",
    )


# --- clips and their media ------------------------------------------------------------------
def test_clip_info_links_its_media(client, clip):
    answer = client.get(f"/clips/{clip['clip_id']}")
    assert answer.status_code == 200
    info = answer.json()
    assert {k: info[k] for k in clip} == clip and info["score"] is None
    assert isinstance(info["sounding"], float)
    for kind, link in info["media"].items():
        assert link == f"/clips/{clip['clip_id']}/{kind}"
        assert client.get(link).status_code == 200


def test_clip_audio_is_the_clip_as_16khz_mono_wav(client, clip):
    answer = client.get(f"/clips/{clip['clip_id']}/audio")
    assert answer.status_code == 200 and answer.headers["content-type"] == "audio/wav"
    with wave.open(io.BytesIO(answer.content)) as wav:
        assert (wav.getnchannels(), wav.getframerate(), wav.getsampwidth()) == (1, 16000, 2)
        assert wav.getnframes() == round((clip["end"] - clip["start"]) * 16000)


def test_clip_thumbnail_is_an_enlarged_png(client, clip):
    answer = client.get(f"/clips/{clip['clip_id']}/thumbnail")
    assert answer.status_code == 200 and answer.headers["content-type"] == "image/png"
    image = Image.open(io.BytesIO(answer.content))
    assert image.format == "PNG" and image.width >= 150 and image.mode == "RGB"


def test_clip_video_serves_the_file_and_byte_ranges(client, clip):
    data = Path(clip["video"]).read_bytes()
    whole = client.get(f"/clips/{clip['clip_id']}/video")
    assert whole.status_code == 200 and whole.content == data
    assert whole.headers["content-type"] == "video/mp4"
    assert whole.headers["accept-ranges"] == "bytes"
    part = client.get(f"/clips/{clip['clip_id']}/video", headers={"Range": "bytes=100-1099"})
    assert part.status_code == 206
    assert part.content == data[100:1100]
    assert part.headers["content-range"] == f"bytes 100-1099/{len(data)}"


@pytest.mark.parametrize("kind", ["", "/audio", "/video", "/thumbnail"])
def test_unknown_clips_are_404(client, kind):
    assert_error(client.get(f"/clips/v999@1.00{kind}"), 404, "no clip")


@pytest.mark.parametrize(
    "path",
    [
        "/clips/..%2F..%2F..%2Fetc%2Fpasswd/video",
        "/clips/%2e%2e%2f%2e%2e%2fetc%2fpasswd/video",
        "/clips/%2Fetc%2Fpasswd/video",
        "/clips//etc/passwd/video",
        "/clips/../../../etc/passwd",
        "/clips/..%5c..%5cetc%5cpasswd/audio",
        "/clips/%2e%2e/thumbnail",
        "/clips/v000@0.00%00/video",
    ],
)
def test_path_traversal_never_reaches_a_file(client, path):
    answer = client.get(path)
    assert answer.status_code in (400, 404)
    assert "root:" not in answer.text and set(answer.json()) == {"error"}


# --- models still being built ---------------------------------------------------------------
def assert_heat_maps(answer) -> dict:
    assert answer.status_code == 200, answer.text
    document = answer.json()
    assert len(document["heads"]) == 2 and document["strongest_head"]
    assert {"activation", "peak", "box"} <= set(document["heads"][0])
    assert base64.b64decode(document["image_png_base64"])[:4] == b"\x89PNG"
    return document


def test_locate_a_clip_or_an_upload_and_reject_bad_input(client, clip):
    assert_error(client.post("/locate", json={"clip": "v999@1.00"}), 404, "no clip")
    assert_error(client.post("/locate", json={}), 422, "clip")
    assert assert_heat_maps(client.post("/locate", json={"clip": clip["clip_id"]}))["clip_id"]
    text = ("a.mp4", b"not a video at all" * 10, "video/mp4")
    assert_error(client.post("/locate", files={"video": text}), 415, "not a media file")
    assert_error(client.post("/locate", files={"audio": text}), 422, "video")
    with open(clip["video"], "rb") as video:
        upload = {"video": ("v.mp4", video, "video/mp4")}
        assert_heat_maps(client.post("/locate", files=upload))


def test_locate_a_moment_of_a_clip_or_an_upload(client, clip):
    """`span` (video time) keeps the maps to one moment, e.g. a spoken word; uploads also
    take the window start `at`; spans outside the clip, window or audio get a clear 422."""
    start = clip["start"]
    whole = assert_heat_maps(client.post("/locate", json={"clip": clip["clip_id"]}))
    answer = client.post(
        "/locate", json={"clip": clip["clip_id"], "span": [start + 0.25, start + 0.75]}
    )
    moment = assert_heat_maps(answer)
    assert moment["span"] == pytest.approx([0.25, 0.75], abs=2e-3)
    assert moment["heads"][0]["activation"] != whole["heads"][0]["activation"]
    early = {"clip": clip["clip_id"], "span": [max(0.0, start - 1), start + 0.5]}
    assert_error(client.post("/locate", json=early), 422, "not a stretch of clip")
    for bad in ([1.0], [1.0, "x"], "1 2", [-1.0, 0.5]):
        assert_error(
            client.post("/locate", json={"clip": clip["clip_id"], "span": bad}), 422, "span"
        )
    with open(clip["video"], "rb") as video:
        upload = {"video": ("v.mp4", video.read(), "video/mp4")}
    form = {"at": "1.0", "span": "1.25 1.75"}
    placed = assert_heat_maps(client.post("/locate", files=upload, data=form))
    assert placed["start"] == pytest.approx(1.0) and placed["span"] == pytest.approx([0.25, 0.75])
    for form, problem in (
        ({"at": "1.0", "span": "0.2 0.4"}, "not a stretch of the window"),
        ({"span": "0.4 0.2"}, "not a stretch of the audio"),
        ({"at": "100000"}, "outside the audio"),
        ({"span": "1 2 3"}, "span"),
        ({"at": "soon"}, "at"),
    ):
        assert_error(client.post("/locate", files=upload, data=form), 422, problem)


def test_locate_without_a_denseav_model_says_how_to_get_one(tmp_path, tiny_home):
    home = tmp_path / "home"
    shutil.copytree(tiny_home, home)
    config = FoleyConfig.for_home(home)
    with Catalog(config.catalog_url).session() as session, session.begin():
        session.execute(delete(ModelVersion).where(ModelVersion.kind == "denseav"))
    with TestClient(create_app(ServiceSettings(home=home))) as fresh:
        clip_id = Catalog(config.catalog_url).clips()[0].clip_id
        assert_error(fresh.post("/locate", json={"clip": clip_id}), 409, "DenseAV")


def test_generate_validates_its_input(client, clip):
    video = Path(clip["video"]).read_bytes()
    upload = {"video": ("v.mp4", video, "video/mp4")}
    assert_error(client.post("/generate", files=upload, data={"mode": "loud"}), 422, "mode")
    assert_error(client.post("/generate", files=upload, data={"steps": "0"}), 422, "steps")
    no_samples = client.post("/generate", files=upload, data={"candidates": "0"})
    assert_error(no_samples, 422, "candidates")
    assert_error(client.post("/generate", files=upload, data={"format": "gif"}), 422, "format")
    assert_error(client.post("/generate", files=upload, data={"ambient": "v9@1"}), 404, "no clip")
    assert_error(client.post("/generate", json={"mode": "action"}), 415, "multipart")
    text = {"video": ("a.mp4", b"not a video at all" * 10, "video/mp4")}
    assert_error(client.post("/generate", files=text), 415, "not a media file")


def test_generate_returns_the_video_with_its_new_sound_or_a_wav(client, clip, tmp_path):
    upload = {"video": ("v.mp4", Path(clip["video"]).read_bytes(), "video/mp4")}
    form = {"mode": "joint", "ambient": clip["clip_id"], "steps": "2", "seed": "3"}
    answer = client.post("/generate", files=upload, data=form)
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"] == "video/mp4"
    info = json.loads(answer.headers["x-foley-generation"])
    assert info["ambient"]["clip_id"] == clip["clip_id"] and info["steps"] == 2
    out = tmp_path / "scored.mp4"
    out.write_bytes(answer.content)
    with av.open(str(out)) as container:
        assert container.streams.video and container.streams.audio
    form = {"mode": "action", "steps": "1", "format": "wav", "candidates": "2"}
    wav = client.post("/generate", files=upload, data=form)
    assert wav.status_code == 200 and wav.headers["content-type"] == "audio/wav"
    info = json.loads(wav.headers["x-foley-generation"])
    assert info["mode"] == "action" and info["candidates"] == 2
    assert wav.content[:4] == b"RIFF"


def test_generate_without_an_avldm_model_says_how_to_get_one(tmp_path, tiny_home, clip):
    home = tmp_path / "home"
    shutil.copytree(tiny_home, home)
    config = FoleyConfig.for_home(home)
    with Catalog(config.catalog_url).session() as session, session.begin():
        session.execute(delete(ModelVersion).where(ModelVersion.kind == "avldm"))
    upload = {"video": ("v.mp4", Path(clip["video"]).read_bytes(), "video/mp4")}
    with TestClient(create_app(ServiceSettings(home=home))) as fresh:
        assert_error(fresh.post("/generate", files=upload), 409, "AV-LDM")


# --- auth, limits, timeouts, logs -----------------------------------------------------------
def test_api_key_guards_every_route_but_health(tiny_home, clip):
    with served(tiny_home, api_key=KEY) as locked:
        assert locked.get("/health").status_code == 200
        for method, path in [("GET", "/status"), ("GET", f"/clips/{clip['clip_id']}/audio")]:
            missing = locked.request(method, path)
            assert_error(missing, 401, "API key")
            assert missing.headers["www-authenticate"] == "Bearer"
            wrong = locked.request(method, path, headers={"Authorization": f"Bearer {KEY}x"})
            assert_error(wrong, 401, "API key")
            right = locked.request(method, path, headers={"Authorization": f"Bearer {KEY}"})
            assert right.status_code == 200
        search = locked.post("/search", json={"text": "chop"})
        assert_error(search, 401, "API key")


def test_bodies_over_the_limit_get_413_however_they_are_sent(tiny_home, clip):
    video = Path(clip["video"]).read_bytes()  # ~190 KB against a ~10 KB limit
    with served(tiny_home, max_upload_mb=0.01) as small:
        declared = small.post("/search", files={"file": ("v.mp4", video, "video/mp4")})
        assert_error(declared, 413, "larger than")

        def chunks() -> Iterator[bytes]:  # no Content-Length: counted as it streams
            for start in range(0, len(video), 4096):
                yield video[start : start + 4096]

        streamed = small.post(
            "/search", content=chunks(), headers={"content-type": "multipart/form-data; boundary=x"}
        )
        assert_error(streamed, 413, "larger than")
        lying = small.post(
            "/search",
            content=b'{"text": "' + b"a" * 20000 + b'"}',
            headers={"content-type": "application/json", "content-length": "100"},
        )
        assert_error(lying, 413, "larger than 0.01 MB")  # counted, not taken on its word
        assert small.post("/search", json={"text": "chop"}).status_code == 200


def test_slow_requests_time_out_with_408(tiny_home, monkeypatch):
    search = Engine.search
    release = threading.Event()

    def stuck_search(self, *args, **kwargs):
        release.wait(30)
        return search(self, *args, **kwargs)

    monkeypatch.setattr(Engine, "search", stuck_search)
    with served(tiny_home, request_timeout_s=1) as impatient:
        assert_error(impatient.post("/search", json={"text": "chop"}), 408, "longer than 1 s")
        monkeypatch.setattr(Engine, "search", search)
        release.set()  # the abandoned search ends; the service answers again
        assert impatient.post("/search", json={"text": "chop"}).status_code == 200


def test_every_request_is_logged_as_one_json_line(client, caplog):
    with caplog.at_level(logging.INFO, logger="foley.searchd.requests"):
        client.get("/clips/v999@1.00")
    entry = json.loads(caplog.records[-1].getMessage())
    assert entry["method"] == "GET" and entry["path"] == "/clips/v999@1.00"
    assert entry["status"] == 404 and entry["duration_ms"] >= 0
    assert entry["client"] == "testclient:50000"


# --- homes that are not built, and homes rebuilt while served -------------------------------
@pytest.mark.parametrize("exists", [True, False])
def test_an_unbuilt_home_still_serves_health(tmp_path, exists):
    home = tmp_path / "home"
    if exists:
        home.mkdir()
    with served(home) as empty:
        assert empty.get("/health").json() == {"status": "ok", "model_version": None, "clips": 0}
        assert_error(empty.post("/search", json={"text": "chop"}), 409, "foley build")
        assert_error(empty.post("/discover", json={}), 409, "foley build")
        assert_error(empty.get("/clips/v000@0.00"), 404, "no clip")
        assert empty.get("/status").status_code == (200 if exists else 409)


def test_a_rebuilt_index_is_picked_up_whole(tiny_home, tiny_corpus, tmp_path):
    home = tmp_path / "home"
    shutil.copytree(tiny_home, home)
    with served(home) as live:
        before = live.get("/health").json()["model_version"]
        answers: list[int] = []
        done = threading.Event()

        def keep_searching() -> None:
            while not done.is_set():
                response = live.post("/search", json={"text": "knife", "k": 5})
                answers.append(response.status_code if response.json()["results"] else 0)

        searcher = threading.Thread(target=keep_searching)
        searcher.start()
        try:
            config = FoleyConfig.for_home(home, progress=False)
            report = build(
                tiny_corpus / "videos", tiny_corpus / "narrations.json", config, train=True, steps=5
            )
        finally:
            done.set()
            searcher.join()
        after = live.get("/health").json()["model_version"]
        assert after == report.model_version != before
        assert len(answers) >= 2 and set(answers) == {200}
        rebuilt = Engine(home).search(Query(text="knife"), k=5)
        assert live.post("/search", json={"text": "knife", "k": 5}).json() == {
            "results": [r.to_json() for r in rebuilt]
        }


# --- the command and the fuzzer -------------------------------------------------------------
def test_foley_serve_runs_uvicorn_and_prints_its_url(tiny_home):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    command = [
        sys.executable,
        "-m",
        "ui.cli",
        "serve",
        "--home",
        str(tiny_home),
        "--port",
        str(port),
    ]
    env = {**os.environ, "FOLEY_API_KEY": KEY}
    server = subprocess.Popen(command, stderr=subprocess.PIPE, text=True, env=env)
    try:
        url = f"http://127.0.0.1:{port}"
        for _ in range(300):
            try:
                health = httpx.get(f"{url}/health", timeout=1)
                break
            except httpx.TransportError:
                time.sleep(0.1)
        assert health.json()["clips"] > 0
        assert httpx.get(f"{url}/status").status_code == 401  # FOLEY_API_KEY was read
    finally:
        server.terminate()
        _, stderr = server.communicate(timeout=30)
    assert f"{url}/" in stderr
    assert any('"path": "/health"' in line for line in stderr.splitlines())


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_fuzzed_requests_never_get_a_server_error(app, mode):
    """Schemathesis requests (valid ones, then schema-violating ones) to every operation.

    Hypothesis strategies per operation rather than schemathesis' pytest loader, whose
    fixture support does not run under pytest 9.
    """
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) == 10
    if mode == GenerationMode.NEGATIVE:  # a body can break its schema; a path string cannot
        operations = [op for op in operations if "requestBody" in op.definition.raw]
    for operation in operations:

        @given(case=operation.as_strategy(generation_mode=mode))
        @settings(
            max_examples=25,
            derandomize=True,
            database=None,
            deadline=None,
            suppress_health_check=list(HealthCheck),
        )
        def no_server_error(case: schemathesis.Case) -> None:
            case.call_and_validate(checks=[not_a_server_error])

        no_server_error()
