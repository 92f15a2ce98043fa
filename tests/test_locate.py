"""`foley locate`: heat maps of where the sound is, for files and indexed clips; bad input."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
from toy_world import COLOURS, SILENT_GREY, TINY, TONES

from indexer.catalog import Catalog, ModelVersion
from indexer.config import FoleyConfig
from indexer.media import write_wav
from models.checkpoint import save_model
from models.config import to_dict

SCALE, SR = 5, 16000  # the video is a toy-world picture drawn at 32 x 32, 5x larger
WIDTH = HEIGHT = 32 * SCALE
SOUNDING_BOX = (20, 80, 60, 120)  # where the blue square is (x0, y0, x1, y1)
SILENT_BOX = (100, 20, 140, 60)


def foley(*args: str, home: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "FOLEY_HOME": str(home)}
    env.pop("FOLEY_DEBUG", None)
    return subprocess.run(
        [sys.executable, "-m", "ui.cli", *args], capture_output=True, text=True, env=env
    )


def picture() -> np.ndarray:
    """A toy-world scene at video size: a blue (sounding) square and a grey (silent) one on
    the noisy dark background, each toy pixel a SCALE x SCALE block."""
    frame = np.random.default_rng(0).integers(20, 50, (32, 32, 3)).astype(np.uint8)
    for box, paint in ((SOUNDING_BOX, COLOURS[1]), (SILENT_BOX, SILENT_GREY)):
        x0, y0, x1, y1 = (v // SCALE for v in box)
        frame[y0:y1, x0:x1] = paint
    return frame.repeat(SCALE, axis=0).repeat(SCALE, axis=1)


def tone(seconds: float, rate: int = SR) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    return (0.3 * np.sin(2 * np.pi * TONES[1] * t)).astype(np.float32)


def write_scene_video(path: Path, seconds: float = 2.0, audio: bool = True) -> Path:
    with av.open(str(path), "w") as container:
        video = container.add_stream("libx264", rate=15)
        video.width, video.height, video.pix_fmt = WIDTH, HEIGHT, "yuv420p"
        sound = container.add_stream("aac", rate=SR, layout="mono") if audio else None
        for _ in range(int(seconds * 15)):
            frame = av.VideoFrame.from_ndarray(picture(), format="rgb24")
            container.mux(video.encode(frame))
        container.mux(video.encode())
        if sound is not None:
            wave = tone(seconds)
            for start in range(0, len(wave), 1024):
                chunk = av.AudioFrame.from_ndarray(
                    wave[None, start : start + 1024], format="fltp", layout="mono"
                )
                chunk.rate, chunk.pts, chunk.time_base = SR, start, Fraction(1, SR)
                container.mux(sound.encode(chunk))
            container.mux(sound.encode())
    return path


@pytest.fixture(scope="module")
def toy_home(tmp_path_factory: pytest.TempPathFactory, toy_model) -> Path:
    """A home whose DenseAV is the toy model (knows which square sounds)."""
    home = tmp_path_factory.mktemp("toy-home")
    config = FoleyConfig.for_home(home)
    model = toy_model
    version = save_model(model, config.models_dir / "toy")
    record = ModelVersion(
        version=version,
        name="toy",
        kind="denseav",
        path=str(config.models_dir / "toy"),
        config=json.dumps(to_dict(model.config)),
        steps=300,
        train_seconds=1.0,
    )
    Catalog(config.catalog_url).add_model_version(record, make_current=True)
    return home


@pytest.fixture(scope="module")
def media(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("media")
    image = folder / "scene.png"
    with av.open(str(image), "w", format="image2") as container:
        stream = container.add_stream("png", rate=1)
        stream.width, stream.height, stream.pix_fmt = WIDTH, HEIGHT, "rgb24"
        container.mux(stream.encode(av.VideoFrame.from_ndarray(picture(), format="rgb24")))
        container.mux(stream.encode())
    return {
        "video": write_scene_video(folder / "scene.mp4"),
        "silent_video": write_scene_video(folder / "silent.mp4", audio=False),
        "tone": write_wav(folder / "tone.wav", tone(2.0), SR),
        "short": write_wav(folder / "short.wav", tone(0.3), SR),
        "cd_rate": write_wav(folder / "cd.wav", tone(2.0, 44100), 44100),
        "image": image,
    }


def located(done: subprocess.CompletedProcess) -> dict:
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def assert_found_the_blue_square(document: dict) -> None:
    """The strongest head's peak and the moment's peak (the top-level one) are on the
    sounding square, to within an eighth of the frame (4 toy pixels, SCALE * 4 video
    pixels; two feature cells), far from the silent one."""
    strongest = next(h for h in document["heads"] if h["name"] == document["strongest_head"])
    cell = 4 * SCALE
    x0, y0, x1, y1 = SOUNDING_BOX
    sx0, sy0, sx1, sy1 = SILENT_BOX
    for x, y in (strongest["peak"], document["peak"]):
        assert x0 - cell <= x < x1 + cell and y0 - cell <= y < y1 + cell, (x, y)
        assert not (sx0 - cell <= x < sx1 + cell and sy0 - cell <= y < sy1 + cell)


def test_locate_a_video_finds_the_sounding_object_and_draws_it(toy_home, media, tmp_path):
    out = tmp_path / "where.png"
    document = located(
        foley("locate", "--video", str(media["video"]), "--out", str(out), "--json", home=toy_home)
    )
    assert_found_the_blue_square(document)
    assert len(document["heads"]) == 2 and document["frame_size"] == [WIDTH, HEIGHT]
    for head in document["heads"]:
        assert set(head) >= {"name", "activation", "peak", "box", "strip"}
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and document["out"] == str(out)


@pytest.mark.parametrize(
    ("video", "audio"),
    [("silent_video", "tone"), ("video", "cd_rate"), ("image", "tone"), ("video", "short")],
)
def test_the_sound_can_come_from_another_file(toy_home, media, tmp_path, video, audio):
    """A silent video or a still image with --audio; 44.1 kHz and too-short audio work too."""
    done = foley(
        "locate", "--video", str(media[video]), "--audio", str(media[audio]),
        "--out", str(tmp_path / "x.png"), "--json", home=toy_home,
    )  # fmt: skip
    document = located(done)
    assert_found_the_blue_square(document)
    assert document["padded"] is (audio == "short")
    # the maps keep to the sound given, not the silence it was padded with
    assert document["span"] == ([0.0, 0.3] if audio == "short" else None)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--video", "silent_video"), "no audio track; give the sound with --audio"),
        (("--video", "missing"), "file not found"),
        (("--clip", "nope@1.00"), "no clip 'nope@1.00'"),
        (("--video", "video", "--at", "30"), "outside the audio"),
        (("--video", "video", "--span", "1.5", "3"), "not a stretch of the audio"),
        (("--video", "video", "--span", "0.4", "0.2"), "not a stretch of the audio"),
        (("--video", "video", "--at", "1", "--span", "0.2", "0.4"), "not a stretch of the window"),
    ],
)
def test_bad_requests_get_one_clear_line(toy_home, media, tmp_path, args, message):
    resolved = [str(media.get(a, tmp_path / "missing.mp4")) if a in media or a == "missing"
                else a for a in args]  # fmt: skip
    done = foley("locate", *resolved, "--out", str(tmp_path / "x.png"), home=toy_home)
    assert done.returncode != 0
    assert message in done.stderr and len(done.stderr.strip().splitlines()) == 1, done.stderr


def test_a_span_keeps_the_maps_to_that_moment(toy_home, media, tmp_path):
    """A word's time (say): the window is centred on it where the audio allows, the maps
    average over it only, and the frame comes from its middle."""
    video = str(media["video"])  # 2 s, longer than the toy model's clips
    document = located(
        foley("locate", "--video", video, "--span", "0.5", "0.9", "--out",
              str(tmp_path / "x.png"), "--json", home=toy_home)
    )  # fmt: skip
    start, seconds = document["start"], document["end"] - document["start"]
    assert start == pytest.approx(0.7 - seconds / 2) and not document["padded"]
    assert document["span"] == pytest.approx([0.5 - start, 0.9 - start])
    assert_found_the_blue_square(document)
    later = located(
        foley("locate", "--video", video, "--at", "0.5", "--span", "0.6", "1.0", "--out",
              str(tmp_path / "y.png"), "--json", home=toy_home)
    )  # fmt: skip
    assert later["start"] == 0.5 and later["span"] == pytest.approx([0.1, 0.5])


def test_unwritable_output_and_wrong_suffix(toy_home, media, tmp_path):
    video = str(media["video"])
    done = foley("locate", "--video", video, "--out", str(tmp_path / "x.jpg"), home=toy_home)
    assert done.returncode != 0 and ".png" in done.stderr
    blocked = tmp_path / "file"
    blocked.write_text("")
    done = foley("locate", "--video", video, "--out", str(blocked / "x.png"), home=toy_home)
    assert done.returncode != 0 and len(done.stderr.strip().splitlines()) == 1


def test_a_home_without_denseav_says_how_to_get_one(tmp_path, media):
    args = ("locate", "--video", str(media["video"]), "--out", str(tmp_path / "x.png"))
    done = foley(*args, home=tmp_path / "nowhere")
    assert done.returncode != 0 and "no Foley home" in done.stderr
    (tmp_path / "empty").mkdir()
    done = foley(*args, home=tmp_path / "empty")
    assert done.returncode != 0 and "no DenseAV model" in done.stderr


def test_locate_an_indexed_clip(tiny_home: Path, tmp_path: Path):
    clip_id = Catalog(FoleyConfig.for_home(tiny_home).catalog_url).clips()[3].clip_id
    out = tmp_path / "clip.png"
    document = located(
        foley("locate", "--clip", clip_id, "--out", str(out), "--json", home=tiny_home)
    )
    assert document["clip_id"] == clip_id and out.exists()
    assert {h["name"] for h in document["heads"]} <= {"sound", "speech", "head 0", "head 1"}
    start = document["start"]  # a moment of the clip, in its video's time
    span = [f"{start + 0.25:.3f}", f"{start + 0.75:.3f}"]
    moment = located(
        foley("locate", "--clip", clip_id, "--span", *span, "--out", str(out), "--json",
              home=tiny_home)
    )  # fmt: skip
    assert moment["span"] == pytest.approx([0.25, 0.75], abs=2e-3)
    assert moment["heads"][0]["activation"] != document["heads"][0]["activation"]
    early = [f"{start - 1:.3f}", f"{start + 0.5:.3f}"]
    done = foley("locate", "--clip", clip_id, "--span", *early, "--out", str(out), home=tiny_home)
    assert done.returncode != 0 and f"not a stretch of clip {clip_id}" in done.stderr


def test_heads_named_in_heads_json_are_used_and_scored(tmp_path):
    """A speech gate names the heads; a user can rename them in heads.json; eval then
    scores which head fires."""
    from models.denseav import DenseAV
    from searchd.localization_eval import SOUND, SPEECH, Case, Scores, summarise
    from searchd.locate import HEAD_NAMES_FILE, head_names

    ungated = DenseAV(dataclasses.replace(TINY, speech_gate=False))
    gated = DenseAV(dataclasses.replace(TINY, speech_gate=True))
    three = DenseAV(dataclasses.replace(TINY, speech_gate=True, heads=3, dim=24))
    assert head_names(tmp_path, ungated) == ["head 0", "head 1"]
    assert head_names(tmp_path, gated) == ["sound", "speech"]
    assert head_names(tmp_path, three) == ["sound 1", "sound 2", "speech"]
    (tmp_path / HEAD_NAMES_FILE).write_text(json.dumps({"names": ["left", "right"]}))
    assert head_names(tmp_path, ungated) == ["left", "right"]
    assert head_names(tmp_path, three) == ["sound 1", "sound 2", "speech"]  # for another model
    case = Case(SOUND, "k", 0.0, 0.5, (0, 0, 1, 1), None)
    word = Case(SPEECH, "k", 0.0, 0.5, (0, 0, 1, 1), (0.2, 0.4))
    scores = [Scores(0.5, 0.6, "sound"), Scores(0.1, 0.2, "speech"), Scores(0.3, 0.4, "sound")]
    document = summarise([case, word, word], scores, named=True)
    assert document["sound"] == {"mIoU": 0.5, "AP": 0.6, "cases": 1}
    assert document["speech"]["mIoU"] == pytest.approx(0.2)
    assert document["speech_head_agreement"] == pytest.approx((1.0 + 0.5) / 2)
    assert summarise([case, word], scores[:2], named=False)["speech_head_agreement"] is None


def test_mean_pool_baseline_is_the_current_model_trained_with_mean_pooling(
    tiny_home: Path, tiny_corpus: Path, tmp_path: Path
):
    """`eval --ablations` trains the baseline from the current DenseAV's own config with
    only the aggregation changed, and reuses it on the next run (not a stale older model)."""
    import shutil

    from searchd.localization_eval import evaluate_localization

    home = tmp_path / "home"
    shutil.copytree(tiny_home, home)
    config = FoleyConfig.for_home(home, progress=False)
    catalog = Catalog(config.catalog_url)
    current = json.loads(catalog.current_model("denseav").config)
    labels = tiny_corpus / "labels.json"
    _, baselines = evaluate_localization(config, catalog, labels, ablations=True, steps=2)
    assert baselines["mean_pool"]["localization"]["sound"]["cases"] > 0
    trained = [json.loads(r.config) for r in catalog.model_versions()]
    assert trained.count({**current, "aggregation": "mean"}) == 1
    evaluate_localization(config, catalog, labels, ablations=True, steps=2)
    assert len(catalog.model_versions()) == len(trained)
