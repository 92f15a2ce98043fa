"""End to end: synth -> build -> search/discover/status/eval, bad input, resume after kill -9."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from conftest import write_video

STEPS = "30"


def foley(*args: str, home: Path, check: bool = True) -> subprocess.CompletedProcess:
    """Run the real `foley` command line in a subprocess."""
    env = {**os.environ, "FOLEY_HOME": str(home)}
    env.pop("FOLEY_DEBUG", None)
    done = subprocess.run(
        [sys.executable, "-m", "ui.cli", *args], capture_output=True, text=True, env=env
    )
    if check and done.returncode != 0:
        raise AssertionError(f"foley {' '.join(args)} failed:\n{done.stderr}")
    return done


def build_args(corpus: Path, *extra: str) -> list[str]:
    """`foley build` arguments for the test corpus."""
    return [
        "build",
        str(corpus / "videos"),
        "--narrations",
        str(corpus / "narrations.json"),
        *extra,
    ]


def _children(pid: int) -> list[int]:
    """Process ids whose parent is ``pid`` (Linux /proc)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


def status(home: Path) -> dict:
    return json.loads(foley("status", "--json", home=home).stdout)


@pytest.fixture(scope="module")
def corpus(tiny_corpus: Path) -> Path:
    """The shared small synthetic corpus (read only here)."""
    return tiny_corpus


@pytest.fixture(scope="module")
def home(corpus: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    home = tmp_path_factory.mktemp("home")
    foley(
        *build_args(corpus),
        "--steps",
        STEPS,
        home=home,
    )
    return home


def test_status_reports_what_the_home_holds(home: Path):
    doc = status(home)
    assert set(doc) >= {"videos", "clips", "vectors", "models", "index", "errors"}
    assert doc["videos"] == 3
    assert doc["clips"] > 10
    assert doc["vectors"]["audio"] == doc["vectors"]["video"] == doc["clips"]
    assert 0 < doc["vectors"]["text"] < doc["clips"]  # stride clips have no narration
    assert doc["errors"] == []
    current = {m["kind"]: m for m in doc["models"] if m["current"]}
    assert set(current) == {"mc3", "denseav", "avldm"}  # search, localiser, generator
    assert current["mc3"]["steps"] == current["denseav"]["steps"] == int(STEPS)
    assert doc["index"]["model_version"] == current["mc3"]["version"]


def test_search_json_has_the_contract_shape(home: Path, corpus: Path):
    doc = json.loads(foley("search", "--text", "chopping", "-k", "5", "--json", home=home).stdout)
    assert len(doc["results"]) == 5
    for result in doc["results"]:
        assert set(result) == {"clip_id", "video", "start", "end", "score", "narration", "sounding"}
        assert Path(result["video"]).exists()
        assert 0 <= result["start"] < result["end"]
    scores = [r["score"] for r in doc["results"]]
    assert scores == sorted(scores, reverse=True)


def test_an_exact_narration_word_is_never_missed(home: Path, corpus: Path):
    narrations = json.loads((corpus / "narrations.json").read_text())
    text = next(iter(narrations.values()))["narration_pass_1"]["narrations"][0]["narration_text"]
    word = max(text.replace("#C", "").split(), key=len)
    doc = json.loads(foley("search", "--text", word, "-k", "5", "--json", home=home).stdout)
    assert any(word.lower() in (r["narration"] or "").lower() for r in doc["results"])


def test_search_by_clip_audio_file_and_video_file(home: Path, corpus: Path):
    first = json.loads(foley("search", "--text", "a", "-k", "1", "--json", home=home).stdout)
    clip_id = first["results"][0]["clip_id"]
    by_clip = json.loads(foley("search", "--clip", clip_id, "-k", "3", "--json", home=home).stdout)
    assert clip_id not in [r["clip_id"] for r in by_clip["results"]]
    video = sorted((corpus / "videos").glob("*.mp4"))[0]
    for flag, target in (("--audio", "video"), ("--video", "audio")):
        doc = json.loads(
            foley("search", flag, str(video), "--target", target, "--json", home=home).stdout
        )
        assert len(doc["results"]) == 10


def test_where_filters_and_rejects_bad_columns(home: Path):
    doc = json.loads(
        foley("search", "--text", "knock", "--where", "start >= 8", "--json", home=home).stdout
    )
    assert doc["results"] and all(r["start"] >= 8 for r in doc["results"])
    for bad in ("colour = 1", "start > 1; DROP TABLE clips", "1 = 1"):
        done = foley("search", "--text", "x", "--where", bad, "--json", home=home, check=False)
        assert done.returncode != 0 and done.stdout == ""
        assert len(done.stderr.strip().splitlines()) == 1 and "--where" in done.stderr
    assert status(home)["clips"] > 10  # nothing harmed


def test_batch_queries_load_models_once_and_resolve_relative_paths(home: Path, corpus: Path):
    video = sorted((corpus / "videos").glob("*.mp4"))[0]
    batch = corpus / "queries.jsonl"
    lines = [
        {"id": "q1", "text": "chopping", "target": "audio", "k": 3},
        {"id": "q2", "audio": f"videos/{video.name}", "target": "video", "k": 2},
        {"id": "q3", "audio": "videos/missing.wav"},
        {"id": "q4", "text": "knock", "where": "colour = 'red'"},
    ]
    batch.write_text("\n".join(json.dumps(line) for line in lines) + "\n")
    doc = json.loads(foley("search", "--batch", str(batch), "--json", home=home).stdout)
    assert [q["id"] for q in doc["queries"]] == ["q1", "q2", "q3", "q4"]
    assert [len(q["results"]) for q in doc["queries"]] == [3, 2, 0, 0]
    assert "missing.wav" in doc["queries"][2]["error"]
    assert "unknown column" in doc["queries"][3]["error"]


def test_discover_ranks_by_consensus(home: Path):
    doc = json.loads(foley("discover", "-k", "8", "--json", home=home).stdout)
    sounding = [r["sounding"] for r in doc["results"]]
    assert len(sounding) == 8 and sounding == sorted(sounding, reverse=True)
    assert [r["score"] for r in doc["results"]] == sounding


def test_eval_reports_every_part_with_baselines(home: Path, corpus: Path):
    done = foley("eval", "--labels", str(corpus / "labels.json"), "--json", home=home)
    doc = json.loads(done.stdout)
    for task in ("text->audio", "text->audio unseen", "audio->video", "video->audio"):
        assert set(doc["retrieval"][task]) >= {"mAP", "R@1", "R@5", "R@10"}
        assert 0 <= doc["retrieval"][task]["mAP"] <= 1
    reranked = doc["retrieval"]["audio->video reranked"]  # by the home's DenseAV, as --rerank
    assert reranked["queries"] == doc["retrieval"]["audio->video"]["queries"]
    assert 0 <= reranked["mAP"] <= 1 and reranked["depth"] == 10
    assert 0 <= doc["discovery"]["AP"] <= 1
    for kind in ("sound", "speech"):  # the home's DenseAV, briefly trained, and the centre prior
        for part in (doc["localization"][kind], doc["baselines"]["center"]["localization"][kind]):
            assert 0 <= part["mIoU"] <= 1 and 0 <= part["AP"] <= 1 and part["cases"] > 0
    assert doc["baselines"]["mean_pool"] is None  # not trained unless --ablations
    baselines = doc["baselines"]
    assert {"random", "pairwise", "text_only", "embedding_only", "scratch_text"} <= set(baselines)
    assert baselines["pairwise"] is None  # not trained unless --ablations
    assert baselines["random"]["retrieval"]["text->audio"]["mAP"] < 0.5


def test_second_build_adds_nothing(home: Path, corpus: Path):
    before = status(home)
    done = foley(
        *build_args(corpus),
        "--json",
        home=home,
    )
    report = json.loads(done.stdout)
    assert report["ingest"]["added"] == 0 and report["trained"] is False
    assert report["device"] == ("cuda" if torch.cuda.is_available() else "cpu")  # --device auto
    assert report["embedded"]["audio"] == 0
    after = status(home)
    assert (after["videos"], after["clips"], after["vectors"]) == (
        before["videos"],
        before["clips"],
        before["vectors"],
    )


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU")
def test_asking_for_a_gpu_that_is_not_there_fails_before_touching_the_home(
    home: Path, corpus: Path
):
    before = status(home)
    done = foley(*build_args(corpus), "--device", "cuda", "--train", home=home, check=False)
    assert done.returncode == 1
    assert "no CUDA GPU" in done.stderr and "Traceback" not in done.stderr
    assert status(home) == before


def test_bad_input_is_recorded_and_the_rest_builds(corpus: Path, tmp_path: Path):
    videos = tmp_path / "videos"
    videos.mkdir()
    good = sorted((corpus / "videos").glob("*.mp4"))
    shutil.copy(good[0], videos / good[0].name)
    data = good[1].read_bytes()
    (videos / "truncated.mp4").write_bytes(data[: len(data) // 2])
    (videos / "notes.mp4").write_text("this is not a video\n")
    (videos / "empty.mp4").write_bytes(b"")
    write_video(videos / "silent.mp4", seconds=3.0, audio=False)
    narrations = tmp_path / "narrations.json"
    uid = good[0].stem
    narrations.write_text(
        json.dumps(
            {
                uid: {
                    "narration_pass_1": {
                        "narrations": [
                            {"timestamp_sec": 4.0, "narration_text": "#C C knocks on the door"},
                            {"timestamp_sec": 999.0, "narration_text": "#C C too late"},
                            {"timestamp_sec": "soon", "narration_text": "#C C bad time"},
                        ]
                    }
                }
            }
        )
    )
    home = tmp_path / "home"
    mc3_only = ("--models", "mc3")
    foley(
        "build", str(videos), "--narrations", str(narrations), "--steps", "5", *mc3_only, home=home
    )
    doc = status(home)
    assert doc["videos"] == 1
    errors = {Path(e["path"]).name: e["error"] for e in doc["errors"]}
    assert "truncated" in errors["truncated.mp4"]
    assert "not a media file" in errors["notes.mp4"]
    assert "empty" in errors["empty.mp4"]
    assert "no audio" in errors["silent.mp4"]
    assert "past the video's end" in errors[good[0].name]
    assert "narrations.json" in errors
    assert all("\n" not in e for e in errors.values())
    # a second build duplicates nothing and keeps what was indexed
    foley("build", str(videos), "--narrations", str(narrations), *mc3_only, home=home)
    again = status(home)
    assert (again["videos"], again["clips"], again["vectors"]) == (
        doc["videos"],
        doc["clips"],
        doc["vectors"],
    )
    # adding a video processes only the new one
    shutil.copy(good[1], videos / good[1].name)
    report = json.loads(foley("build", str(videos), "--json", *mc3_only, home=home).stdout)
    assert report["ingest"]["added"] == 1 and report["ingest"]["skipped"] == 5


@pytest.mark.parametrize("stage", ["ingest", "train"])
def test_kill_9_then_build_again_leaves_no_duplicate_or_gap(
    corpus: Path, home: Path, tmp_path: Path, stage: str
):
    interrupted = tmp_path / "home"
    args = [
        sys.executable,
        "-m",
        "ui.cli",
        "build",
        str(corpus / "videos"),
        "--narrations",
        str(corpus / "narrations.json"),
        "--steps",
        STEPS,
        "--models",
        "mc3",
    ]
    env = {**os.environ, "FOLEY_HOME": str(interrupted)}
    process = subprocess.Popen(args, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    cache = interrupted / "cache"
    wanted = 1 if stage == "ingest" else 3  # one video cached, or all of them (training)
    deadline = time.time() + 120
    while time.time() < deadline and process.poll() is None:
        cached = (
            [p for p in cache.iterdir() if not p.name.startswith(".")] if cache.exists() else []
        )
        if len(cached) >= wanted:
            break
        time.sleep(0.02)
    assert process.poll() is None, "build finished before it could be interrupted"
    workers = _children(process.pid)
    process.send_signal(signal.SIGKILL)
    process.wait()
    deadline = time.time() + 10
    while time.time() < deadline and any(Path(f"/proc/{pid}").exists() for pid in workers):
        time.sleep(0.1)
    assert not any(Path(f"/proc/{pid}").exists() for pid in workers), "orphaned workers"
    foley(*build_args(corpus), "--steps", STEPS, "--models", "mc3", home=interrupted)
    resumed, reference = status(interrupted), status(home)
    assert resumed["videos"] == reference["videos"]
    assert resumed["clips"] == reference["clips"]
    assert resumed["vectors"] == reference["vectors"]
    assert resumed["errors"] == []
