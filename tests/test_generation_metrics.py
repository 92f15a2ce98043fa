"""Metrics of generated sound: Frechet distance, the class probe, onset sync and ambient match
behave as their definitions say on signals whose answer is known."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.signal import butter, lfilter, sosfilt

from indexer.onsets import onset_match, onset_times
from searchd.generation_metrics import (
    LinearProbe,
    accuracy,
    ambient_match,
    frechet_distance,
    onset_sync,
    per_class_accuracy,
)

SR = 16000


def _pink(seconds: float, rng: np.random.Generator) -> np.ndarray:
    """Unit-RMS pink (1/f) noise (Kellet's filter on white noise)."""
    b = [0.049922035, -0.095993537, 0.050612699, -0.004408786]
    a = [1, -2.494956002, 2.017265875, -0.522189400]
    x = lfilter(b, a, rng.standard_normal(int(seconds * SR)))
    return x / x.std()


def _brown(seconds: float, rng: np.random.Generator) -> np.ndarray:
    """Unit-RMS brown (1/f^2) noise: integrated white noise, its DC drift removed."""
    walk = np.cumsum(rng.standard_normal(int(seconds * SR)))
    x = sosfilt(butter(1, 20, "highpass", fs=SR, output="sos"), walk)
    return x / x.std()


def _add_clicks(wave: np.ndarray, times, level: float, rng: np.random.Generator) -> np.ndarray:
    """Decaying (5 ms) noise clicks of peak ``level`` at ``times`` seconds."""
    out = wave.copy()
    n = int(0.05 * SR)
    for t in times:
        at = int(t * SR)
        out[at : at + n] += level * np.exp(-np.arange(n) / (0.005 * SR)) * rng.standard_normal(n)
    return out


def test_frechet_is_zero_for_one_set_and_grows_with_a_mean_shift():
    x = np.random.default_rng(0).normal(size=(500, 8))
    assert frechet_distance(x, x) == pytest.approx(0.0, abs=1e-6)
    distances = [frechet_distance(x, x + shift) for shift in (0.5, 1.0, 2.0)]
    assert distances == pytest.approx([8 * 0.25, 8 * 1.0, 8 * 4.0], rel=1e-6)


def test_frechet_matches_the_closed_form_for_diagonal_gaussians():
    """Between N(m1, diag s1^2) and N(m2, diag s2^2): sum (m1 - m2)^2 + (s1 - s2)^2."""
    rng = np.random.default_rng(1)
    m1, s1 = np.array([0.0, 1.0, -2.0]), np.array([1.0, 0.5, 2.0])
    m2, s2 = np.array([1.0, 1.0, 0.0]), np.array([2.0, 0.5, 1.0])
    x = m1 + s1 * rng.standard_normal((40000, 3))
    y = m2 + s2 * rng.standard_normal((40000, 3))
    expected = float(np.sum((m1 - m2) ** 2 + (s1 - s2) ** 2))  # 5 + 2 = 7
    assert frechet_distance(x, y) == pytest.approx(expected, rel=0.03)
    one_d = frechet_distance(x[:, :1], y[:, :1])  # (0 - 1)^2 + (1 - 2)^2
    assert one_d == pytest.approx(2.0, rel=0.03)


def test_frechet_works_with_fewer_embeddings_than_dimensions_and_needs_two():
    rng = np.random.default_rng(2)
    x, y = rng.normal(size=(5, 32)), rng.normal(size=(6, 32)) + 1.0
    value = frechet_distance(x, y)
    assert np.isfinite(value) and value > 16  # the mean shift alone is ~32
    with pytest.raises(ValueError):
        frechet_distance(x[:1], y)


def test_linear_probe_learns_separable_clusters_deterministically():
    rng = np.random.default_rng(3)
    centres = {
        "chop": rng.normal(0, 4, 16),
        "knock": rng.normal(0, 4, 16),
        "pour": rng.normal(0, 4, 16),
    }

    def sample(n: int) -> tuple[np.ndarray, list[str]]:
        names = [name for name in centres for _ in range(n)]
        return np.stack([centres[name] + rng.normal(size=16) for name in names]), names

    x, labels = sample(40)
    test_x, test_labels = sample(20)
    pred = LinearProbe().fit(x, labels).predict(test_x)
    assert pred == LinearProbe().fit(x, labels).predict(test_x)
    assert accuracy(test_labels, pred) >= 0.98
    assert per_class_accuracy(test_labels, pred) == pytest.approx(
        {"chop": 1.0, "knock": 1.0, "pour": 1.0}, abs=0.05
    )


def test_accuracy_helpers_count_per_true_class():
    true, pred = ["a", "a", "b", "c"], ["a", "b", "b", "a"]
    assert accuracy(true, pred) == 0.5
    assert per_class_accuracy(true, pred) == {"a": 0.5, "b": 1.0, "c": 0.0}
    with pytest.raises(ValueError):
        accuracy([], [])


def test_onsets_of_clicks_in_noise_are_found_within_20_ms():
    rng = np.random.default_rng(4)
    times = [0.5, 1.23, 1.9, 2.71, 3.3, 4.05]
    wave = _add_clicks(0.01 * _pink(5.0, rng), times, 0.2, rng)
    found = onset_times(wave, SR)
    assert len(found) == len(times)
    assert np.abs(found - times).max() < 0.02


def test_the_start_of_a_noise_burst_is_one_onset():
    rng = np.random.default_rng(5)
    wave = 0.01 * _pink(3.0, rng)
    wave[int(1.5 * SR) : int(2.5 * SR)] += 0.05 * rng.standard_normal(SR)
    found = onset_times(wave, SR)
    assert len(found) == 1 and abs(found[0] - 1.5) < 0.03


@pytest.mark.parametrize("level", [1e-5, 0.01, 0.3])
def test_stationary_noise_and_silence_have_no_onsets(level):
    rng = np.random.default_rng(6)
    assert len(onset_times(level * rng.standard_normal(5 * SR), SR)) == 0
    assert len(onset_times(level * _pink(5.0, rng), SR)) == 0
    assert len(onset_times(np.zeros(SR), SR)) == 0


def test_onset_match_is_a_one_to_one_f1_within_the_tolerance():
    assert onset_match([0.5, 1.0], [0.55, 1.1]) == 1.0
    assert onset_match([0.5, 0.52], [0.5]) == pytest.approx(2 / 3)  # one true onset, one match
    assert onset_match([0.5], [0.5, 1.0, 1.5]) == pytest.approx(0.5)
    assert onset_match([0.5], [0.8]) == 0.0
    assert onset_match([0.5], [0.8], tolerance=0.35) == 1.0
    assert onset_match([], [0.5]) == onset_match([0.5], []) == onset_match([], []) == 0.0


def test_onset_sync_is_the_share_of_clips_in_sync_among_those_with_true_onsets():
    clips = [
        ([0.5, 1.0], [0.5, 1.0]),  # F1 1: in sync
        ([0.5], [0.5, 1.0, 1.5]),  # F1 0.5: in sync
        ([2.0], [0.5, 1.0]),  # F1 0: not
        ([0.3, 0.9], []),  # no true onsets: not counted
    ]
    assert onset_sync(clips) == pytest.approx(2 / 3)
    assert onset_sync([([0.5], [])]) is None


def test_ambient_match_compares_the_colour_of_the_background_not_its_level():
    rng = np.random.default_rng(7)
    pink = 0.03 * _pink(4.0, rng)
    other_pink = 0.03 * _pink(4.0, rng)
    with_actions = _add_clicks(other_pink, rng.uniform(0.1, 3.8, 12), 0.3, rng)
    assert ambient_match(with_actions, pink, SR) > 0.9
    assert ambient_match(0.1 * other_pink, pink, SR) > 0.9
    brown = ambient_match(0.03 * _brown(4.0, rng), pink, SR)
    high_passed = ambient_match(
        sosfilt(butter(4, 1000, "highpass", fs=SR, output="sos"), other_pink), pink, SR
    )
    assert brown < 0.85 and high_passed < 0.3
    assert ambient_match(np.zeros(4 * SR), pink, SR) == 0.0
    assert ambient_match(np.zeros(4 * SR), np.zeros(4 * SR), SR) == 0.0
