"""The speech-activity tracks DenseAV's speech gate learns from: a spoken word is speech,
a tone, a knock and noise are not; a clip window reads its part of a video's track."""

from __future__ import annotations

import numpy as np
import pytest

from indexer import training
from indexer.cache import ClipCache
from indexer.speech_activity import HOP_SECONDS, SAMPLE_RATE, SpeechActivity, window_track
from indexer.synth.speech import ESPEAK, speech_engine, spoken_word
from indexer.training import speech_tracks


@pytest.fixture(scope="module")
def detector() -> SpeechActivity:
    return SpeechActivity()


def test_a_spoken_word_is_speech_and_other_sounds_are_not(detector):
    if speech_engine() != ESPEAK:
        pytest.skip("needs espeak-ng (make system-deps) for a real voice")
    rng = np.random.default_rng(0)
    word = 0.3 * spoken_word("onion")
    t = np.arange(SAMPLE_RATE) / SAMPLE_RATE
    tone = 0.3 * np.sin(2 * np.pi * 700 * t)
    knocks = np.zeros(SAMPLE_RATE)
    knocks[:: SAMPLE_RATE // 4] = 0.9
    noise = 0.05 * rng.standard_normal(SAMPLE_RATE)
    track = detector.track(np.concatenate([noise, word, noise]).astype(np.float32))
    assert len(track) == -(-(2 * SAMPLE_RATE + len(word)) // 512)
    assert track.max() > 0.8
    for other in (tone, knocks, noise):
        assert detector.track(other.astype(np.float32)).max() < 0.3
    with pytest.raises(ValueError, match="16000 Hz"):
        detector.track(tone.astype(np.float32), 44100)


def test_a_window_reads_its_stretch_of_the_track():
    track = np.zeros(100, np.float32)
    track[50:60] = 1.0  # speech from 1.6 s to 1.92 s
    window = window_track(track, 1.5, 0.64, 20)  # 32 ms steps, as the detector's hops
    assert window.shape == (20,) and round(HOP_SECONDS, 3) == 0.032
    assert window.tolist() == [0.0] * 3 + [1.0] * 10 + [0.0] * 7
    assert window_track(track, 3.0, 1.0, 10).tolist() == [0.0] * 10  # past the end: silence


def test_tracks_are_worked_out_once_per_cached_video(tmp_path, monkeypatch):
    """Training reads a video's track from the clip cache after the first time; a
    re-ingested video (rewritten entry) gets a fresh one."""
    cache = ClipCache(tmp_path / "cache")
    rng = np.random.default_rng(0)
    frames = np.zeros((4, 8, 8, 3), np.uint8)
    cache.write("v0", frames, 2.0, 0.1 * rng.standard_normal(SAMPLE_RATE), SAMPLE_RATE)
    first = speech_tracks(cache, ["v0"], progress=False)["v0"]
    assert first.shape == (-(-SAMPLE_RATE // 512),)

    class NoDetector(SpeechActivity):
        def __init__(self) -> None:
            raise AssertionError("the detector ran again")

    monkeypatch.setattr(training, "SpeechActivity", NoDetector)
    np.testing.assert_array_equal(speech_tracks(cache, ["v0"], progress=False)["v0"], first)
    cache.write("v0", frames, 2.0, np.zeros(SAMPLE_RATE // 2), SAMPLE_RATE)
    with pytest.raises(AssertionError, match="ran again"):
        speech_tracks(cache, ["v0"], progress=False)
    cache.write("v1", frames, 2.0, np.zeros(SAMPLE_RATE), 8000)
    with pytest.raises(ValueError, match="v1: the speech gate needs 16000 Hz"):
        speech_tracks(cache, ["v1"], progress=False)
