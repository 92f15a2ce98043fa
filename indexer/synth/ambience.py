"""The world around the action: each scene's persistent ambient bed and off-screen sounds.

A scene's bed runs under its whole video and matches its look (``picture.py``), so a model
can score audio-video agreement from the scene alone: the shortcut MC3's consensus must beat.
Off-screen sounds have no visible source and belong to no action class.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from .sound import SR, band_noise, filtered, onset_envelope, partials, rms, slow_noise


def _kitchen(rng: np.random.Generator, n: int):
    hum_f = rng.uniform(95, 125)
    hum = partials(n, hum_f * np.arange(1, 5), rng.uniform(0.2, 1.0, 4))
    air = filtered(rng.standard_normal(n), 1500, "lowpass") * 0.8
    clatter_times = np.sort(rng.uniform(0, n / SR, size=int(n / SR * rng.uniform(0.2, 0.5))))
    clatter = band_noise(rng, n, 1200, 4000) * onset_envelope(
        n, clatter_times, 0.03, rng.uniform(1.0, 4.0, len(clatter_times))
    )
    return hum * 0.5 + air + clatter


def _street(rng: np.random.Generator, n: int):
    rumble = filtered(rng.standard_normal(n), 250, "lowpass", order=4) * 6
    rumble *= 0.7 + 0.3 * slow_noise(rng, n, 0.2)
    swell = np.zeros(n)
    for car in rng.uniform(0, n / SR, size=int(n / SR / rng.uniform(5, 10)) + 1):
        swell += np.exp(-(((np.arange(n) / SR - car) / 1.5) ** 2))
    cars = band_noise(rng, n, 200, 2000) * swell
    horns = np.zeros(n)
    for at in rng.uniform(0, n / SR - 1, size=int(n / SR / rng.uniform(10, 20))):
        length = int(rng.uniform(0.3, 0.6) * SR)
        a = int(at * SR)
        base = rng.uniform(380, 460)
        horn = partials(length, [base, 1.25 * base, 2 * base, 2.5 * base], [1, 1, 0.4, 0.4])
        horns[a : a + length] += horn * np.hanning(length) ** 0.3 * 1.5
    return rumble + cars + horns


def _workshop(rng: np.random.Generator, n: int):
    f0 = rng.uniform(95, 130)
    wobble = 1 + 0.004 * slow_noise(rng, n, 1.0)
    phase = 2 * np.pi * np.cumsum(f0 * wobble) / SR
    drone = sum(np.sin(k * phase) / k for k in range(1, 13))
    whirr = band_noise(rng, n, 500, 3000) * 0.4
    return drone + whirr


def _garden(rng: np.random.Generator, n: int):
    gust = 0.6 + 0.4 * slow_noise(rng, n, 0.3)
    wind = filtered(rng.standard_normal(n), 500, "lowpass", order=3) * 3 * gust
    rustle = 0.5 + 0.5 * np.clip(slow_noise(rng, n, 4.0), 0, 1)
    leaves = filtered(rng.standard_normal(n), 2000, "highpass") * gust**2 * rustle * 0.5
    return wind + leaves


def _office(rng: np.random.Generator, n: int):
    hiss = band_noise(rng, n, 1000, 6000) * 0.6
    hum = partials(n, [60.0, 120.0, 180.0], rng.uniform(0.1, 0.4, 3))
    room = filtered(rng.standard_normal(n), 300, "lowpass") * 1.5
    return hiss + hum + room


SCENE_BEDS: dict[str, Callable[[np.random.Generator, int], np.ndarray]] = {
    "kitchen": _kitchen,
    "street": _street,
    "workshop": _workshop,
    "garden": _garden,
    "office": _office,
}


def ambient_bed(scene: str, rng: np.random.Generator, n: int) -> np.ndarray:
    """``n`` samples of the scene's ambience, RMS 1."""
    bed = SCENE_BEDS[scene](rng, n)
    return bed / rms(bed)


# -- off-screen sounds: (rng, n samples) -> waveform --------------------------------------


def _dog_bark(rng: np.random.Generator, n: int):
    out = np.zeros(n)
    at = 0.0
    while at < n / SR - 0.25:
        length = int(rng.uniform(0.15, 0.25) * SR)
        f0 = rng.uniform(450, 600)
        freq = f0 * np.linspace(1.1, 0.8, length)
        phase = 2 * np.pi * np.cumsum(freq) / SR
        voice = sum(np.sin(k * phase) / k for k in range(1, 6)) + 0.4 * rng.standard_normal(length)
        env = np.minimum(np.arange(length) / (0.01 * SR), 1) * np.exp(-np.arange(length) / length)
        a = int(at * SR)
        out[a : a + length] += voice * env
        at += rng.uniform(0.3, 0.5)
    return filtered(out, [400, 2500], "bandpass")


def _siren(rng: np.random.Generator, n: int):
    t = np.arange(n) / SR
    cycle = rng.uniform(0.8, 1.4)
    freq = 700 + 450 * (2 * np.abs((t / cycle) % 1 - 0.5))
    phase = 2 * np.pi * np.cumsum(freq) / SR
    return np.sin(phase) + 0.3 * np.sin(3 * phase)


def _phone_ring(rng: np.random.Generator, n: int):
    t = np.arange(n) / SR
    ringing = ((t % 1.0) < 0.4) * (0.5 + 0.5 * np.sign(np.sin(2 * np.pi * 20 * t)))
    return partials(n, [1000.0, 1300.0], [1.0, 0.8]) * ringing


def _door_slam(rng: np.random.Generator, n: int):
    boom = partials(n, [rng.uniform(60, 90), 170.0], [1.0, 0.5]) * onset_envelope(n, [0.02], 0.15)
    crack = band_noise(rng, n, 500, 6000) * onset_envelope(n, [0.02], 0.02)
    rattle = band_noise(rng, n, 1500, 5000) * onset_envelope(n, [0.08, 0.13, 0.2], 0.02)
    return boom + crack + 0.3 * rattle


def _glass_shatter(rng: np.random.Generator, n: int):
    times = np.sort(rng.exponential(0.25, size=120))
    shower = onset_envelope(n, times, 0.003, np.exp(-times / 0.3))
    shards = filtered(rng.standard_normal(n) * shower, 3000, "highpass")
    noise = filtered(rng.standard_normal(n), 3000, "highpass") * onset_envelope(n, [0.01], 0.2)
    pings = partials(n, rng.uniform(3000, 7000, 5), np.ones(5)) * onset_envelope(
        n, rng.uniform(0, 0.3, 5), 0.05
    )
    return 2 * shards + noise + 0.3 * pings


OFFSCREEN_SOUNDS: dict[str, Callable[[np.random.Generator, int], np.ndarray]] = {
    "dog bark": _dog_bark,
    "siren": _siren,
    "phone ring": _phone_ring,
    "door slam": _door_slam,
    "glass shatter": _glass_shatter,
}


def offscreen_sound(name: str, rng: np.random.Generator, seconds: float) -> np.ndarray:
    """An off-screen sound ``seconds`` long (10 ms fades), RMS 1."""
    n = int(round(seconds * SR))
    wave = OFFSCREEN_SOUNDS[name](rng, n)
    fade = min(int(0.01 * SR), n // 2)
    wave[:fade] *= np.linspace(0, 1, fade)
    wave[n - fade :] *= np.linspace(1, 0, fade)
    return wave / max(rms(wave), 1e-9)
