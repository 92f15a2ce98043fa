"""The plan of one synthetic video: its scene and the timed events, drawn from one RNG.

Everything the labels say (classes, times, narrations, speech, off-screen sounds, loudness)
is decided here, before any pixel or sample exists, from
``np.random.default_rng([seed, video_index])``; so the same seed gives the same labels.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .catalogue import OFFSCREEN, SCENES, SILENT, SOUNDING, ActionClass
from .motion import Motion, make_motion

SILENT_SHARE = 0.2  # of actions
PREFERRED_SCENE_SHARE = 0.7  # of a sounding class's occurrences, roughly
UNNARRATED_SHARE = 0.15  # of actions, as in Ego4D
SPEECH_SHARE = 0.15  # of actions
GAP_OFFSCREEN_SHARE = 0.05  # of idle gaps (per action slot)
SILENT_OFFSCREEN_SHARE = 0.25  # of silent actions (0.25 * 0.2 = 5% of actions)


@dataclass(frozen=True)
class Visible:
    """One visible action instance: which class, how it moves, where and how it looks."""

    action: ActionClass
    motion: Motion
    x: float  # anchor in the 160x120 frame, pixels
    y: float
    size: float  # sprite scale
    tint: tuple[float, float, float]  # per-instance colour gain
    pitch: float  # Hz, the class pitch varied by up to +-3 semitones
    snr_db: float  # action sound over the ambience, in the action's window


@dataclass(frozen=True)
class Event:
    """A labelled stretch of time: an action (``visible`` set) or an off-screen sound alone."""

    start: float
    end: float
    action: str  # class name, or "off-screen <name>"
    visible: Visible | None
    narration: str | None = None
    narration_time: float | None = None
    offscreen: str | None = None
    offscreen_span: tuple[float, float] | None = None
    offscreen_snr_db: float = 0.0
    speech_word: str | None = None
    speech_at: float | None = None
    speech_snr_db: float = 0.0

    @property
    def sounding(self) -> bool:
        return self.visible is not None and self.visible.action.sounding


@dataclass(frozen=True)
class VideoPlan:
    uid: str  # file stem, the Ego4D video_uid
    seed: int
    index: int
    seconds: float
    scene: str
    ambience_dbfs: float  # RMS level of the ambient bed
    events: tuple[Event, ...]


def scene_of(seed: int, index: int) -> str:
    """Videos cycle through the scenes, so every corpus of >= 5 videos has all of them."""
    names = list(SCENES)
    return names[(index + seed) % len(names)]


def plan_video(seed: int, index: int, seconds: float) -> VideoPlan:
    """Actions of 1.5-3 s separated by idle gaps of 0.5-3 s, from ~0.5 s to before the end;
    now and then a gap holds an off-screen sound instead."""
    rng = np.random.default_rng([seed, index])
    scene = scene_of(seed, index)
    events: list[Event] = []
    t = float(rng.uniform(0.4, 0.6))
    while True:
        if rng.random() < GAP_OFFSCREEN_SHARE and t + 2.6 < seconds - 0.3:
            gap = float(rng.uniform(2.0, 3.0))
            events.append(_offscreen_gap(rng, t, gap))
            t += gap
        duration = float(rng.uniform(1.5, 3.0))
        if t + duration > seconds - 0.3:
            break
        events.append(_action(rng, scene, t, duration))
        t += duration + float(rng.uniform(0.5, 3.0))
    return VideoPlan(
        f"v{index:03d}", seed, index, seconds, scene, float(rng.uniform(-34, -24)), tuple(events)
    )


def _pick_class(rng: np.random.Generator, scene: str) -> ActionClass:
    if rng.random() < SILENT_SHARE:
        return SILENT[int(rng.integers(len(SILENT)))]
    home = [a for a in SOUNDING if a.scene == scene]
    away = [a for a in SOUNDING if a.scene != scene]
    pool = home if home and rng.random() < PREFERRED_SCENE_SHARE else away
    return pool[int(rng.integers(len(pool)))]


def _action(rng: np.random.Generator, scene: str, start: float, duration: float) -> Event:
    action = _pick_class(rng, scene)
    start, end = round(start, 3), round(start + duration, 3)
    visible = Visible(
        action=action,
        motion=make_motion(action.motion, end - start, rng),
        x=float(rng.uniform(55, 105)),
        y=float(rng.uniform(58, 82)) if action.hand else float(rng.uniform(40, 70)),
        size=float(rng.uniform(0.85, 1.2)),
        tint=tuple(float(g) for g in rng.uniform(0.85, 1.15, 3)),
        pitch=action.pitch * 2 ** float(rng.uniform(-0.25, 0.25)),
        snr_db=float(rng.uniform(0, 15)),
    )
    fields: dict = {}
    if rng.random() >= UNNARRATED_SHARE:
        template = action.templates[int(rng.integers(len(action.templates)))]
        fields["narration"] = template
        fields["narration_time"] = round((start + end) / 2 + float(rng.uniform(-0.3, 0.3)), 3)
    if rng.random() < SPEECH_SHARE:
        fields["speech_word"] = action.word
        fields["speech_at"] = round(start + float(rng.uniform(0.1, end - start - 0.9)), 3)
        fields["speech_snr_db"] = float(rng.uniform(6, 15))
    if not action.sounding and rng.random() < SILENT_OFFSCREEN_SHARE:
        at = start + float(rng.uniform(0.1, 0.4))
        length = min(float(rng.uniform(0.8, 1.8)), end - at - 0.05)
        fields["offscreen"] = OFFSCREEN[int(rng.integers(len(OFFSCREEN)))]
        fields["offscreen_span"] = (round(at, 3), round(at + length, 3))
        fields["offscreen_snr_db"] = float(rng.uniform(3, 15))
    return Event(start, end, action.name, visible, **fields)


def _offscreen_gap(rng: np.random.Generator, gap_start: float, gap: float) -> Event:
    """An idle gap with a sound from nowhere in it: labelled, never narrated."""
    name = OFFSCREEN[int(rng.integers(len(OFFSCREEN)))]
    at = round(gap_start + float(rng.uniform(0.2, 0.4)), 3)
    end = round(at + float(rng.uniform(0.8, gap - 0.6)), 3)
    return Event(
        at,
        end,
        f"off-screen {name}",
        None,
        offscreen=name,
        offscreen_span=(at, end),
        offscreen_snr_db=float(rng.uniform(3, 15)),
    )
