"""Mix one video's soundtrack from its plan: ambient bed + action sounds + off-screen + speech.

Levels are set against the bed's RMS: an action sound is ``snr_db`` above it over the
action's window, so every sounding action is measurably louder than the scene around it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .ambience import ambient_bed, offscreen_sound
from .sound import SR, action_sound
from .speech import spoken_word
from .timeline import VideoPlan


@dataclass(frozen=True)
class SpokenWord:
    event: int  # index in plan.events
    word: str
    start: float  # seconds in the video
    end: float


def soundtrack(plan: VideoPlan) -> tuple[np.ndarray, list[SpokenWord]]:
    """The video's mono 16 kHz float32 track (peak <= 0.95) and where each word was said."""
    rng = np.random.default_rng([plan.seed, plan.index, 2])
    n = int(round(plan.seconds * SR))
    level = 10 ** (plan.ambience_dbfs / 20)
    track = ambient_bed(plan.scene, rng, n) * level
    words: list[SpokenWord] = []
    for i, event in enumerate(plan.events):
        visible = event.visible
        if visible is not None and visible.action.sound is not None:
            wave = action_sound(visible.action.sound, visible.motion, visible.pitch, rng)
            _add(track, wave * level * 10 ** (visible.snr_db / 20), event.start)
        if event.offscreen is not None and event.offscreen_span is not None:
            a, b = event.offscreen_span
            wave = offscreen_sound(event.offscreen, rng, b - a)
            _add(track, wave * level * 10 ** (event.offscreen_snr_db / 20), a)
        if event.speech_word is not None and event.speech_at is not None:
            voice = spoken_word(event.speech_word)
            at = max(event.start, min(event.speech_at, event.end - len(voice) / SR - 0.05))
            _add(track, voice * level * 10 ** (event.speech_snr_db / 20), at)
            words.append(
                SpokenWord(i, event.speech_word, round(at, 3), round(at + len(voice) / SR, 3))
            )
    peak = float(np.abs(track).max())
    if peak > 0.95:
        track *= 0.95 / peak
    return track.astype(np.float32), words


def _add(track: np.ndarray, wave: np.ndarray, at_seconds: float) -> None:
    at = int(round(at_seconds * SR))
    wave = wave[: max(0, len(track) - at)]
    track[at : at + len(wave)] += wave
