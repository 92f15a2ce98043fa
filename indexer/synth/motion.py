"""How each action moves, and when it makes its sound: one source of timing for both.

A ``Motion`` is one instance of a motion kind (its own speed, amplitude and random onsets).
``pose(t)`` says where the tool (or the hand) is at times ``t`` (seconds since the action
started); ``onsets`` are the instants of contact (a chop's down-stroke, a bell's swing
extreme, a knock) and ``activity(t)`` the strength of continuous sound (pouring, sawing);
``picture.py`` draws the first, ``sound.py`` sounds the other two, so they stay in sync.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

TAU = 2 * np.pi


@dataclass(frozen=True)
class Pose:
    """Per-time offsets of the moving part, each an array shaped like ``t``."""

    dx: np.ndarray  # pixels
    dy: np.ndarray  # pixels (down is positive)
    angle: np.ndarray  # degrees, counter-clockwise
    scale: np.ndarray  # relative size


@dataclass(frozen=True)
class Motion:
    kind: str
    duration: float  # seconds
    period: float  # seconds per stroke / swing / revolution
    amplitude: float  # pixels or degrees, per kind
    onsets: tuple[float, ...]  # contact instants, seconds since the action started
    spans: tuple[tuple[float, float], ...] = ()  # sustained intervals (blasts, tilts)

    def pose(self, t: np.ndarray) -> Pose:
        t = np.asarray(t, dtype=np.float64)
        zero = np.zeros_like(t)
        parts = _POSES[self.kind](self, t)
        return Pose(
            parts.get("dx", zero),
            parts.get("dy", zero),
            parts.get("angle", zero),
            parts.get("scale", zero + 1.0),
        )

    def activity(self, t: np.ndarray) -> np.ndarray:
        """Strength of continuous sound in [0, 1] at times ``t``; zero outside the action."""
        t = np.asarray(t, dtype=np.float64)
        inside = (t >= 0) & (t < self.duration)
        phase = TAU * t / self.period
        if self.kind in ("saw", "sweep"):
            value = np.abs(np.cos(phase))
        elif self.kind == "zip":
            value = np.abs(np.sin(phase))
        elif self.kind == "stir":
            value = 0.6 + 0.4 * np.abs(np.sin(phase))
        elif self.kind in ("pour", "blow"):
            value = _spans_envelope(t, self.spans, ramp=0.04)
        else:
            value = np.zeros_like(t)
        return np.where(inside, value, 0.0)

    def sound_starts(self) -> tuple[float, ...]:
        """Sorted instants (s since the action started) at which a sound begins: each contact
        onset, and each time ``activity`` rises through half strength (a stroke speeding up, a
        pour or a blast beginning; t = 0 when the action starts sounding), unless too late to
        be heard before the action ends."""
        t = np.arange(0.0, self.duration - 0.08, 0.001)
        strong = self.activity(t) >= 0.5
        rises = t[strong & ~np.concatenate([[False], strong[:-1]])]
        return tuple(sorted({round(float(o), 4) for o in (*self.onsets, *rises)}))


def make_motion(kind: str, duration: float, rng: np.random.Generator) -> Motion:
    """Draw one instance of ``kind``: its speed, amplitude and (for random kinds) onsets."""
    period_range, amp_range = _RANGES[kind]
    period = float(rng.uniform(*period_range))
    amplitude = float(rng.uniform(*amp_range))
    onsets: list[float] = []
    spans: list[tuple[float, float]] = []
    end = duration - 0.08
    if kind in ("chop", "hammer"):
        onsets = _periodic(0.5 * period, period, end)
    elif kind in ("swing", "shake"):
        onsets = _periodic(0.25 * period, 0.5 * period, end)
    elif kind == "stir":
        onsets = _periodic(0.25 * period, period, end)
    elif kind == "hoot":
        onsets = _periodic(0.15, period, duration - 0.4)
    elif kind == "knock":  # groups of 3-4 knocks with a pause between
        onsets = _groups(
            rng, end, start=(0.2, 0.5), step=(period, period), count=(3, 5), pause=(0.4, 0.7)
        )
    elif kind == "type":
        onsets = _poisson(rng, rate=rng.uniform(6, 10), start=0.1, end=end)
    elif kind == "crumple":
        onsets = _poisson(rng, rate=rng.uniform(20, 35), start=0.1, end=0.85 * duration)
    elif kind == "chirp":  # trills of 3-6 chirps
        onsets = _groups(
            rng, end, start=(0.1, 0.3), step=(0.09, 0.13), count=(3, 7), pause=(0.25, 0.5)
        )
    elif kind == "pour":
        spans = [(0.25 * duration, 0.85 * duration)]
    elif kind == "blow":
        t = float(rng.uniform(0.2, 0.4))
        while t + 0.3 < duration - 0.1:
            length = min(float(rng.uniform(0.3, 0.7)), duration - 0.1 - t)
            spans.append((t, t + length))
            t += length + float(rng.uniform(0.2, 0.4))
    return Motion(
        kind,
        duration,
        period,
        amplitude,
        tuple(round(o, 4) for o in onsets),
        tuple((round(a, 4), round(b, 4)) for a, b in spans),
    )


def _periodic(first: float, step: float, end: float) -> list[float]:
    return [float(o) for o in np.arange(first, end, step)]


def _groups(rng: np.random.Generator, end: float, start, step, count, pause) -> list[float]:
    """Bursts of evenly spaced onsets (``count`` of them, ``step`` apart) with pauses between."""
    onsets: list[float] = []
    t = float(rng.uniform(*start))
    while t < end:
        gap = float(rng.uniform(*step))
        for _ in range(int(rng.integers(*count))):
            if t < end:
                onsets.append(t)
            t += gap
        t += float(rng.uniform(*pause))
    return onsets


def _poisson(rng: np.random.Generator, rate: float, start: float, end: float) -> list[float]:
    gaps = rng.exponential(1.0 / rate, size=int(rate * (end - start) * 2) + 8)
    times = start + np.cumsum(gaps)
    return [float(o) for o in times[times < end]]


def _spans_envelope(t: np.ndarray, spans, ramp: float) -> np.ndarray:
    env = np.zeros_like(t)
    for a, b in spans:
        env = np.maximum(env, np.clip(np.minimum(t - a, b - t) / ramp, 0.0, 1.0))
    return env


def _pulses(t: np.ndarray, onsets, width: float) -> np.ndarray:
    """Sum of Gaussian bumps of ``width`` seconds at ``onsets`` (visual emphasis of a hit)."""
    if not onsets:
        return np.zeros_like(t)
    o = np.asarray(onsets)[None, :]
    return np.exp(-(((t[:, None] - o) / width) ** 2)).sum(axis=1)


def _lift(m: Motion, t: np.ndarray) -> np.ndarray:
    """1 when raised, 0 at the moment of impact ((k + 1/2) periods)."""
    return 0.5 * (1 + np.cos(TAU * t / m.period))


def _smoothstep(x: np.ndarray) -> np.ndarray:
    x = np.clip(x, 0.0, 1.0)
    return x * x * (3 - 2 * x)


def _pour(m: Motion, t):
    d = m.duration
    tilt = _smoothstep(t / (0.25 * d)) * (1 - _smoothstep((t - 0.85 * d) / (0.15 * d)))
    return {"angle": -m.amplitude * tilt, "dx": 4 * tilt}


def _knock(m: Motion, t):
    near = np.zeros_like(t)
    for o in m.onsets:
        near = np.maximum(near, np.clip(1 - np.abs(t - o) / (0.5 * m.period), 0, 1))
    lift = 1 - near
    return {"dy": m.amplitude * lift, "scale": 1 + 0.25 * lift}


def _point(m: Motion, t):
    reach = _smoothstep(t / 0.45)
    return {
        "dx": -12 * (1 - reach) + 0.8 * np.sin(TAU * t / 1.7),
        "dy": 45 * (1 - reach) + 0.8 * np.sin(TAU * t / 1.3),
    }


_POSES: dict[str, Callable[[Motion, np.ndarray], dict[str, np.ndarray]]] = {
    "chop": lambda m, t: {"dy": -m.amplitude * _lift(m, t), "angle": -12 * _lift(m, t)},
    "hammer": lambda m, t: {"angle": -m.amplitude * _lift(m, t)},
    "saw": lambda m, t: {"dx": m.amplitude * np.sin(TAU * t / m.period)},
    "pour": _pour,
    "swing": lambda m, t: {"angle": m.amplitude * np.sin(TAU * t / m.period)},
    "stir": lambda m, t: {
        "dx": m.amplitude * np.cos(TAU * t / m.period),
        "dy": 0.4 * m.amplitude * np.sin(TAU * t / m.period),
    },
    "shake": lambda m, t: {
        "dx": m.amplitude * np.sin(TAU * t / m.period),
        "dy": 0.4 * m.amplitude * np.sin(2 * TAU * t / m.period),
        "angle": 8 * np.sin(TAU * t / m.period),
    },
    "type": lambda m, t: {
        "dx": -16 + 32 * t / m.duration + 3 * np.sin(TAU * t * 3.1),
        "dy": 2.5 * np.minimum(_pulses(t, m.onsets, 0.03), 1.0),
    },
    "zip": lambda m, t: {"dx": m.amplitude * (1 - np.cos(TAU * t / m.period))},
    "blow": lambda m, t: {
        "dy": -6 * _spans_envelope(t, m.spans, 0.08),
        "scale": 1 + 0.15 * _spans_envelope(t, m.spans, 0.08),
    },
    "crumple": lambda m, t: {
        "scale": 1 - 0.35 * np.clip(t / (0.85 * m.duration), 0, 1) + 0.04 * np.sin(TAU * 7 * t),
        "angle": 10 * np.sin(TAU * 1.3 * t),
    },
    "chirp": lambda m, t: {
        "dy": -2.0 * np.minimum(_pulses(t, m.onsets, 0.04), 1.0),
        "angle": 8 * np.minimum(_pulses(t, m.onsets, 0.05), 1.0),
    },
    "hoot": lambda m, t: {"scale": 1 + 0.14 * np.minimum(_pulses(t, m.onsets, 0.15), 1.0)},
    "knock": _knock,
    "sweep": lambda m, t: {
        "angle": m.amplitude * np.sin(TAU * t / m.period),
        "dx": 6 * np.sin(TAU * t / m.period),
    },
    "hold": lambda m, t: {
        "dx": 2 * np.sin(TAU * t / 3.3 + m.period),
        "dy": 1.5 * np.sin(TAU * t / 2.7),
        "angle": 3 * np.sin(TAU * t / 2.1),
    },
    "sway": lambda m, t: {"angle": m.amplitude * np.sin(TAU * t / m.period)},
    "point": _point,
    "raise": lambda m, t: {
        "dy": 30 * (1 - _smoothstep(t / 0.5)),
        "angle": 3 * np.sin(TAU * t / m.period),
    },
}

# kind -> ((period range s), (amplitude range: pixels, or degrees for rotating kinds))
_RANGES: dict[str, tuple[tuple[float, float], tuple[float, float]]] = {
    "chop": ((0.35, 0.55), (8, 13)),
    "hammer": ((0.45, 0.7), (40, 60)),
    "saw": ((0.45, 0.7), (8, 12)),
    "pour": ((1.0, 1.0), (55, 80)),
    "swing": ((0.5, 0.8), (20, 35)),
    "stir": ((0.6, 0.9), (7, 10)),
    "shake": ((0.16, 0.24), (4, 7)),
    "type": ((1.0, 1.0), (0, 0)),
    "zip": ((0.9, 1.4), (8, 11)),
    "blow": ((1.0, 1.0), (0, 0)),
    "crumple": ((1.0, 1.0), (0, 0)),
    "chirp": ((1.0, 1.0), (0, 0)),
    "hoot": ((0.7, 1.0), (0, 0)),
    "knock": ((0.22, 0.32), (6, 9)),
    "sweep": ((0.6, 0.9), (20, 30)),
    "hold": ((0.0, 6.28), (0, 0)),
    "sway": ((0.9, 1.4), (10, 18)),
    "point": ((1.0, 1.0), (0, 0)),
    "raise": ((1.5, 2.5), (0, 0)),
}
MOTIONS = tuple(_POSES)
