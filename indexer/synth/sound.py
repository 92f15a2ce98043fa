"""Action sounds, synthesised from the motion that makes them.

Each sound kind turns a ``Motion`` (its contact ``onsets`` and continuous ``activity``) and a
base pitch into a waveform, so every chop's transient lands on the knife's down-stroke and a
saw's noise swells with the blade's speed. The small DSP helpers here are shared with
``ambience.py``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
from scipy.signal import butter, sosfilt

from .motion import Motion

SR = 16000  # Hz, the corpus's audio rate
NYQUIST_SAFE = 7600.0


def band_noise(rng: np.random.Generator, n: int, lo: float, hi: float, order: int = 2):
    """White noise band-passed to [lo, hi] Hz (clamped to the audible band)."""
    lo, hi = max(lo, 20.0), min(hi, NYQUIST_SAFE)
    sos = butter(order, [lo, hi], btype="band", fs=SR, output="sos")
    return sosfilt(sos, rng.standard_normal(n))


def filtered(x: np.ndarray, cutoff: float | Sequence[float], kind: str, order: int = 2):
    """``x`` through a Butterworth filter (``kind``: lowpass, highpass or bandpass)."""
    return sosfilt(butter(order, cutoff, btype=kind, fs=SR, output="sos"), x)


def onset_envelope(n: int, onsets: Sequence[float], tau: float, amps=None) -> np.ndarray:
    """Sum of exponential decays (time constant ``tau`` s) starting at each onset (s)."""
    env = np.zeros(n)
    length = min(n, int(6 * tau * SR) + 1)
    decay = np.exp(-np.arange(length) / (tau * SR))
    for i, onset in enumerate(onsets):
        at = int(round(onset * SR))
        if 0 <= at < n:
            seg = decay[: n - at]
            env[at : at + len(seg)] += seg * (1.0 if amps is None else amps[i])
    return env


def impulses(n: int, onsets: Sequence[float], amps=None) -> np.ndarray:
    """A train of unit (or ``amps``) impulses at the onsets: the excitation of clicks."""
    out = np.zeros(n)
    at = np.round(np.asarray(onsets, dtype=float) * SR).astype(int)
    keep = (at >= 0) & (at < n)
    np.add.at(out, at[keep], 1.0 if amps is None else np.asarray(amps)[keep])
    return out


def partials(n: int, freqs: Sequence[float], amps: Sequence[float]) -> np.ndarray:
    """Sum of sines (only those below the Nyquist margin)."""
    t = np.arange(n) / SR
    out = np.zeros(n)
    for f, a in zip(freqs, amps, strict=True):
        if f < NYQUIST_SAFE:
            out += a * np.sin(2 * np.pi * f * t)
    return out


def slow_noise(rng: np.random.Generator, n: int, rate_hz: float) -> np.ndarray:
    """A smooth random curve in roughly [-1, 1], changing about ``rate_hz`` times a second."""
    knots = rng.uniform(-1, 1, size=int(n / SR * rate_hz) + 3)
    return np.interp(np.arange(n) / SR * rate_hz, np.arange(len(knots)), knots)


def sweep_tone(n: int, f_start: float, f_end: float, harmonics=(1.0,)) -> np.ndarray:
    """A sine (plus harmonics) gliding from f_start to f_end over n samples, sine-windowed."""
    freq = np.linspace(f_start, f_end, n)
    phase = 2 * np.pi * np.cumsum(freq) / SR
    out = sum(a * np.sin((k + 1) * phase) for k, a in enumerate(harmonics))
    return out * np.sin(np.pi * np.arange(n) / n)


def rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(x)))) if len(x) else 0.0


# -- action sounds: (motion, pitch Hz, rng, n samples) -> waveform ---------------------------


def _chop(m: Motion, pitch: float, rng, n: int):
    thud = partials(n, [pitch, 2.1 * pitch], [1.0, 0.3]) * onset_envelope(n, m.onsets, 0.03)
    crunch = band_noise(rng, n, 6 * pitch, 22 * pitch) * onset_envelope(n, m.onsets, 0.025)
    click = band_noise(rng, n, 3000, 7500) * onset_envelope(n, m.onsets, 0.004)
    return thud + 1.2 * crunch + 0.6 * click


def _hammer(m: Motion, pitch: float, rng, n: int):
    ring = partials(n, [pitch, 2.76 * pitch, 5.40 * pitch], [1.0, 0.6, 0.4])
    click = filtered(rng.standard_normal(n), 2500, "highpass")
    thud = partials(n, [120.0], [1.0])
    return (
        ring * onset_envelope(n, m.onsets, 0.07)
        + click * onset_envelope(n, m.onsets, 0.003)
        + 0.6 * thud * onset_envelope(n, m.onsets, 0.02)
    )


def _bell(m: Motion, pitch: float, rng, n: int):
    ring = partials(
        n, pitch * np.array([0.5, 1.0, 1.19, 1.5, 2.0, 2.51]), [0.5, 1.0, 0.6, 0.4, 0.3, 0.2]
    )
    strike = band_noise(rng, n, 2000, 7000) * onset_envelope(n, m.onsets, 0.004)
    return ring * onset_envelope(n, m.onsets, 0.45) + 0.4 * strike


def _knock(m: Motion, pitch: float, rng, n: int):
    body = partials(n, [pitch, 2.3 * pitch], [1.0, 0.4]) * onset_envelope(n, m.onsets, 0.05)
    tap = filtered(rng.standard_normal(n), 900, "lowpass") * onset_envelope(n, m.onsets, 0.012)
    return body + 0.8 * tap


def _saw(m: Motion, pitch: float, rng, n: int):
    t = np.arange(n) / SR
    teeth = 0.6 + 0.4 * np.sign(np.sin(2 * np.pi * rng.uniform(60, 90) * t))
    return band_noise(rng, n, 0.8 * pitch, 2.5 * pitch) * teeth * m.activity(t) ** 1.5


def _pour(m: Motion, pitch: float, rng, n: int):
    t = np.arange(n) / SR
    flow = m.activity(t)
    out = band_noise(rng, n, 0.6 * pitch, 4 * pitch) * flow * (0.7 + 0.3 * slow_noise(rng, n, 8))
    bubble_len = int(0.03 * SR)
    for at in np.flatnonzero(rng.random(n // bubble_len) < 0.6) * bubble_len:
        if at + bubble_len < n and flow[at] > 0.5:
            f0 = pitch * rng.uniform(0.6, 2.0)
            out[at : at + bubble_len] += 0.6 * sweep_tone(bubble_len, f0, 1.6 * f0)
    return out


def _stir(m: Motion, pitch: float, rng, n: int):
    t = np.arange(n) / SR
    scrape = band_noise(rng, n, pitch, 2.4 * pitch) * m.activity(t) * 0.5
    clink = partials(n, [1.3 * pitch, 2.9 * pitch], [1.0, 0.5])
    return scrape + clink * onset_envelope(n, m.onsets, 0.04)


def _click_cloud(m: Motion, rng, per_onset: tuple[int, int], spread: float):
    """Several tiny jittered clicks around each onset (a rattle, a crackle)."""
    times, amps = [], []
    for onset in m.onsets:
        k = int(rng.integers(*per_onset))
        times.extend(onset + rng.uniform(0, spread, size=k))
        amps.extend(rng.lognormal(0, 0.6, size=k))
    return times, amps


def _rattle(m: Motion, pitch: float, rng, n: int):
    times, amps = _click_cloud(m, rng, (6, 13), 0.035)
    return (
        filtered(
            impulses(n, times, amps), [0.7 * pitch, min(1.7 * pitch, NYQUIST_SAFE)], "bandpass"
        )
        * 12
    )


def _keys(m: Motion, pitch: float, rng, n: int):
    releases = [o + rng.uniform(0.06, 0.09) for o in m.onsets]
    excitation = impulses(n, m.onsets) + 0.5 * impulses(n, releases)
    clack = filtered(excitation, [0.8 * pitch, 3 * pitch], "bandpass") * 10
    thock = partials(n, [300.0], [1.0]) * onset_envelope(n, m.onsets, 0.01)
    return clack + 0.5 * thock


def _crackle(m: Motion, pitch: float, rng, n: int):
    times, amps = _click_cloud(m, rng, (1, 4), 0.02)
    return filtered(impulses(n, times, amps), [0.5 * pitch, NYQUIST_SAFE], "bandpass") * 10


def _zipper(m: Motion, pitch: float, rng, n: int):
    t = np.arange(n) / SR
    speed = m.activity(t)
    phase = np.cumsum(pitch * (0.3 + speed)) / SR  # teeth per second follow the slider
    teeth = np.diff(np.floor(phase), prepend=0.0) * speed
    return filtered(teeth, [2000, 6500], "bandpass") * 8


def _whistle(m: Motion, pitch: float, rng, n: int):
    t = np.arange(n) / SR
    blow = m.activity(t)
    warble = np.sin(2 * np.pi * rng.uniform(28, 40) * t)
    phase = 2 * np.pi * np.cumsum(pitch * (1 + 0.03 * warble)) / SR
    tone = np.sin(phase) * (0.75 + 0.25 * warble)
    breath = band_noise(rng, n, 0.8 * pitch, 1.3 * pitch)
    return (tone + 0.15 * breath) * blow


def _lark(m: Motion, pitch: float, rng, n: int):
    out = np.zeros(n)
    for onset in m.onsets:
        length = int(rng.uniform(0.05, 0.08) * SR)
        at = int(onset * SR)
        lo, hi = pitch * rng.uniform(0.75, 1.0), pitch * rng.uniform(1.2, 1.5)
        f0, f1 = (lo, hi) if rng.random() < 0.6 else (hi, lo)
        if at + length < n:
            out[at : at + length] += sweep_tone(length, f0, f1, harmonics=(1.0, 0.15))
    return out


def _owl(m: Motion, pitch: float, rng, n: int):
    out = np.zeros(n)
    length = int(0.35 * SR)
    x = np.linspace(0, 1, length)
    env = np.sin(np.pi * x) ** 1.5
    for onset in m.onsets:
        at = int(onset * SR)
        if at + length < n:
            hoot = sweep_tone(length, 1.05 * pitch, 0.93 * pitch, harmonics=(1.0, 0.25))
            out[at : at + length] += hoot * env
    return out + 0.05 * band_noise(rng, n, 300, 1200) * (np.abs(out) > 0.05)


def _sweep(m: Motion, pitch: float, rng, n: int):
    t = np.arange(n) / SR
    return band_noise(rng, n, 0.5 * pitch, 6000) * m.activity(t) ** 2


ACTION_SOUNDS: dict[str, Callable[[Motion, float, np.random.Generator, int], np.ndarray]] = {
    "chop": _chop,
    "hammer": _hammer,
    "bell": _bell,
    "knock": _knock,
    "saw": _saw,
    "pour": _pour,
    "stir": _stir,
    "rattle": _rattle,
    "keys": _keys,
    "crackle": _crackle,
    "zipper": _zipper,
    "whistle": _whistle,
    "lark": _lark,
    "owl": _owl,
    "sweep": _sweep,
}


def action_sound(kind: str, motion: Motion, pitch: float, rng: np.random.Generator) -> np.ndarray:
    """The sound of one action instance, ``motion.duration`` long, normalised to RMS 1."""
    n = int(round(motion.duration * SR))
    wave = ACTION_SOUNDS[kind](motion, pitch, rng, n)
    level = rms(wave)
    return wave / level if level > 0 else wave
