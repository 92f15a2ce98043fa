"""The synthetic corpus (`foley synth`): files, label shapes, determinism, and that it is
hard in the intended ways (queries no string match can answer, silent actions that are
really silent, sounds in sync with the motion that makes them)."""

from __future__ import annotations

import json
import re
from collections import defaultdict
from pathlib import Path

import av
import numpy as np
import pytest

from indexer.synth import CorpusSummary, write_corpus
from indexer.synth.catalogue import (
    ACTION_BY_NAME,
    ACTIONS,
    OFFSCREEN,
    QUERIES,
    SCENES,
    check_queries,
    content_words,
)
from indexer.synth.motion import MOTIONS, make_motion
from indexer.synth.sound import ACTION_SOUNDS, SR, action_sound
from indexer.synth.speech import _formant_voice, speech_engine, spoken_word

VIDEOS, SECONDS, SEED = 3, 12.0, 0


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> tuple[Path, CorpusSummary]:
    out = tmp_path_factory.mktemp("synth")
    return out, write_corpus(
        out, videos=VIDEOS, seconds=SECONDS, seed=SEED, workers=2, progress=False
    )


def _json(root: Path, name: str):
    return json.loads((root / name).read_text())


def _audio(path: Path) -> np.ndarray:
    with av.open(str(path)) as container:
        return np.concatenate([f.to_ndarray()[0] for f in container.decode(audio=0)])


def test_videos_decode_with_video_and_mono_audio_of_the_right_length(corpus):
    root, summary = corpus
    paths = sorted((root / "videos").glob("*.mp4"))
    assert [p.stem for p in paths] == [f"v{i:03d}" for i in range(VIDEOS)] and summary.videos == 3
    for path in paths:
        with av.open(str(path)) as container:
            video, audio = container.streams.video[0], container.streams.audio[0]
            assert (video.codec_context.width, video.codec_context.height) == (160, 120)
            assert (audio.codec_context.sample_rate, audio.codec_context.channels) == (SR, 1)
            frames = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
        assert abs(len(frames) / 15 - SECONDS) <= 0.2
        assert abs(len(_audio(path)) / SR - SECONDS) <= 0.2
        assert np.std(frames[len(frames) // 2]) > 5  # a textured scene, not a blank frame


def test_labels_have_the_design_shape_and_boxes_lie_in_the_frame(corpus):
    root, summary = corpus
    labels = _json(root, "labels.json")
    assert labels["frame_size"] == [160, 120]
    assert labels["speech_engine"] in ("espeak-ng", "formant-fallback")
    clips = labels["clips"]
    assert len(clips) == summary.labels > 0
    for clip in clips:
        assert (root / clip["video"]).is_file()
        assert 0 <= clip["start"] < clip["end"] <= SECONDS
        assert clip["scene"] in SCENES and isinstance(clip["sounding"], bool)
        onsets = clip["onsets"]
        assert onsets == sorted(set(onsets)) and bool(onsets) == clip["sounding"]
        assert all(clip["start"] <= o < clip["end"] and round(o, 3) == o for o in onsets)
        if clip["action"].startswith("off-screen "):
            assert clip["offscreen"] in OFFSCREEN
            assert clip["action"] == f"off-screen {clip['offscreen']}"
            assert not clip["sounding"] and clip["boxes"] == {} and clip["narration"] is None
            continue
        action = ACTION_BY_NAME[clip["action"]]
        assert clip["sounding"] == action.sounding
        assert clip["offscreen"] is None or not clip["sounding"]
        assert clip["narration"] is None or clip["narration"] in action.templates
        for said in clip["speech"]:
            assert said["word"] == action.word
            assert clip["start"] <= said["start"] < said["end"] <= clip["end"]
        frame_times = [
            k / 15 for k in range(round(SECONDS * 15)) if clip["start"] <= k / 15 < clip["end"]
        ]
        assert sorted(clip["boxes"]) == sorted(f"{t:.3f}" for t in frame_times)
        for x0, y0, x1, y1 in clip["boxes"].values():
            assert 0 <= x0 < x1 <= 160 and 0 <= y0 < y1 <= 120


def test_narrations_are_ego4d_json_for_existing_videos(corpus):
    root, summary = corpus
    narrations = _json(root, "narrations.json")
    assert sorted(narrations) == [f"v{i:03d}" for i in range(VIDEOS)]
    count = 0
    for uid, passes in narrations.items():
        assert (root / "videos" / f"{uid}.mp4").is_file()
        for item in passes["narration_pass_1"]["narrations"]:
            assert item["narration_text"].startswith("#C C ")
            assert 0 <= item["timestamp_sec"] <= SECONDS
            count += 1
    assert count == summary.narrations
    labelled = [c["narration"] for c in _json(root, "labels.json")["clips"] if c["narration"]]
    assert len(labelled) == count


def test_query_words_never_occur_in_any_narration(corpus):
    root, _ = corpus
    queries = _json(root, "queries.json")["queries"]
    assert len(queries) >= 15
    narrated = set().union(*(content_words(a) for a in _all_narration_texts(root)))
    narrated |= set().union(*(content_words(t) for a in ACTIONS for t in a.templates))
    for query in queries:
        words = set(re.split(r"[^a-z]+", query["text"].lower())) - {""}
        assert not (content_words(query["text"]) & narrated), query["text"]
        assert words - content_words(query["text"]) <= {"a", "an", "the", "at", "with"}
        assert query["actions"] and all(ACTION_BY_NAME[a].sounding for a in query["actions"])


def test_check_queries_rejects_a_narration_that_shares_a_query_word():
    check_queries(["#C C cuts the onion"])
    with pytest.raises(ValueError, match="vegetables"):
        check_queries(["#C C washes the vegetables"])


def test_same_seed_gives_identical_json_and_another_seed_does_not(corpus, tmp_path):
    root, _ = corpus
    write_corpus(
        tmp_path / "same", videos=VIDEOS, seconds=SECONDS, seed=SEED, workers=1, progress=False
    )
    write_corpus(
        tmp_path / "other", videos=VIDEOS, seconds=SECONDS, seed=SEED + 1, workers=2, progress=False
    )
    for name in ("labels.json", "narrations.json", "queries.json"):
        assert (tmp_path / "same" / name).read_bytes() == (root / name).read_bytes(), name
    for name in ("labels.json", "narrations.json"):
        assert (tmp_path / "other" / name).read_bytes() != (root / name).read_bytes(), name


def test_sounding_actions_are_louder_than_silent_ones_over_the_ambience(corpus):
    """Window energy over the video's idle ambience: sounding > +1 dB each, silent ~ 0 dB."""
    root, _ = corpus
    by_video = defaultdict(list)
    for clip in _json(root, "labels.json")["clips"]:
        by_video[clip["video"]].append(clip)
    gains: dict[str, list[float]] = {"sounding": [], "silent": []}
    for video, clips in by_video.items():
        audio = _audio(root / video)
        idle = np.ones(len(audio), bool)
        idle[: int(0.3 * SR)] = False
        for clip in clips:
            idle[max(0, int((clip["start"] - 0.3) * SR)) : int((clip["end"] + 0.6) * SR)] = False
        ambience = np.mean(audio[idle] ** 2)
        for clip in clips:
            if clip["speech"] or clip["offscreen"]:
                continue
            window = audio[int(clip["start"] * SR) : int(clip["end"] * SR)]
            kind = "sounding" if clip["sounding"] else "silent"
            gains[kind].append(10 * np.log10(np.mean(window**2) / ambience))
    assert gains["sounding"] and gains["silent"]
    assert min(gains["sounding"]) > 1.0
    assert max(gains["silent"]) < 3.0
    assert np.median(gains["sounding"]) > np.median(gains["silent"]) + 3.0


def test_chop_transients_land_on_the_knife_down_strokes():
    motion = make_motion("chop", 2.5, np.random.default_rng(0))
    assert len(motion.onsets) >= 3
    lift = -motion.pose(np.array(motion.onsets)).dy  # 0 = knife at its lowest
    assert np.all(lift < 0.05 * motion.amplitude)
    wave = action_sound("chop", motion, 170.0, np.random.default_rng(1))
    frame = int(0.01 * SR)
    energy = np.square(wave[: len(wave) // frame * frame]).reshape(-1, frame).sum(1)
    loud = np.flatnonzero(energy > 0.3 * energy.max()) * frame / SR
    for t in loud:  # every loud 10 ms frame is within 60 ms after a down-stroke
        assert min(t - o for o in motion.onsets if o <= t + 0.01) < 0.06


def test_labelled_onsets_land_on_the_impacts_of_the_written_audio(corpus):
    """Hammer, knock and chop onsets: the 30 ms after each are >= 6 dB louder than the 30 ms
    before, in the decoded mp4 (a label 0.1 s off fails this)."""
    root, _ = corpus
    clips = [
        c
        for c in _json(root, "labels.json")["clips"]
        if c["sounding"] and ACTION_BY_NAME[c["action"]].motion in ("hammer", "knock", "chop")
    ]
    assert clips
    width = int(0.03 * SR)
    for clip in clips:
        audio = _audio(root / clip["video"])
        for onset in clip["onsets"]:
            at = int(round(onset * SR))
            after, before = np.sum(audio[at : at + width] ** 2), np.sum(audio[at - width : at] ** 2)
            assert after > 4 * before, (clip["action"], onset)


@pytest.mark.parametrize("kind", ["saw", "sweep", "zip", "pour", "blow", "stir"])
def test_continuous_sounds_start_where_their_activity_rises(kind):
    """Each start that is no contact is where the sound swells: the 100 ms after it hold > 4x
    the energy of the 50 ms before."""
    action = next(a for a in ACTIONS if a.motion == kind)
    motion = make_motion(kind, 2.2, np.random.default_rng(0))
    rises = sorted(set(motion.sound_starts()) - set(motion.onsets))
    assert rises
    wave = action_sound(action.sound, motion, action.pitch, np.random.default_rng(1))
    for start in rises:
        at = int(round(start * SR))
        after = np.sum(wave[at : at + int(0.1 * SR)] ** 2)
        before = np.sum(wave[max(0, at - int(0.05 * SR)) : at] ** 2)
        assert after > 4 * before, start


def test_every_class_is_distinct_and_paraphrased():
    sounding = [a for a in ACTIONS if a.sounding]
    assert len(sounding) >= 12 and 0.1 <= 1 - len(sounding) / len(ACTIONS) <= 0.3
    assert len(SCENES) >= 4 and {a.scene for a in sounding} <= set(SCENES)
    looks = [(a.motion, a.base, a.tool) for a in ACTIONS]
    assert len(set(looks)) == len(ACTIONS)
    assert len({(a.sound, a.pitch) for a in sounding}) == len(sounding)
    for action in ACTIONS:
        assert len(set(action.templates)) >= 4
        assert action.motion in MOTIONS and (action.sound in ACTION_SOUNDS) == action.sounding
    assert not set(OFFSCREEN) & {a.name for a in ACTIONS}
    assert {q for q, _ in QUERIES} >= {"a bird"}


def test_speech_is_cached_and_the_fallback_voice_differs_per_word():
    assert speech_engine() in ("espeak-ng", "formant-fallback")
    onion = spoken_word("onion")
    assert spoken_word("onion") is onion
    assert 0.2 < len(onion) / SR < 1.5 and abs(np.sqrt(np.mean(onion**2)) - 1) < 1e-6
    a, b = _formant_voice("onion"), _formant_voice("bell")
    assert len(a) != len(b) or not np.allclose(a, b)
    assert np.abs(a).max() > 0


def _all_narration_texts(root: Path) -> list[str]:
    return [
        n["narration_text"]
        for v in _json(root, "narrations.json").values()
        for n in v["narration_pass_1"]["narrations"]
    ]
