"""``foley eval``'s generation part: AV-LDM on held-out clips, against its baselines.

Cases are the labelled clips of the videos the generator never trained on (its pipeline
records them). Every system makes each case's 2 s of sound from the clip's frames alone:

- ``joint`` (the main figures): ambient retrieved from *other* videos (a user's new video is
  never in the index); ``action`` mode the same with the quietest clip as the ambient;
- ``unconditioned``: no ambient; ``retrieval_only``: the real audio of the clip whose sound
  is nearest the frames (MC3 video->audio), other videos only; ``griffin_lim``: the joint
  spectrograms through Griffin-Lim instead of the learned vocoder;
- ``resynthesis``: the real clips' own spectrograms through each vocoder (no diffusion).

Figures, on MC3 audio embeddings (the current model) of each output: ``class_accuracy`` of
a linear probe trained on real embeddings of the training videos' sounding clips, over the
sounding visible cases; ``frechet`` distance to the real cases' embeddings; ``ambient_match``
of the output's background with the joint mode's ambient clip (the scene's ambience); and
``onset_sync``, the share of sounding cases whose detected onsets match the labelled ones.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from tqdm import tqdm

from indexer.cache import ClipCache
from indexer.catalog import ClipRow
from indexer.onsets import onset_times
from searchd.engine import Engine
from searchd.generate import GenerationUnavailable, Generator
from searchd.generation_metrics import (
    LinearProbe,
    accuracy,
    ambient_match,
    frechet_distance,
    onset_sync,
    per_class_accuracy,
)

if TYPE_CHECKING:  # evaluate imports this module
    from searchd.evaluate import GroundTruth

KEYS = ("class_accuracy", "frechet", "ambient_match", "onset_sync")


@dataclass
class Case:
    row: ClipRow
    action: str
    sounding: bool  # a visible sounding action: counts for class accuracy and onsets
    onsets: list[float]  # labelled onsets, seconds from the clip's start
    frames: np.ndarray  # (F, S, S, 3) the window's conditioning frames
    audio: np.ndarray  # (samples,) the real sound


def _cases(
    rows: Sequence[ClipRow], truth: GroundTruth, held: set[str], cache: ClipCache, gen: Generator
) -> list[Case]:
    config = gen.pipeline.config
    seconds, count = config.mel.seconds, config.denoiser.video_frames
    cases = []
    for row, label in zip(rows, truth.labels, strict=True):
        if label is None or row.video_uid not in held:
            continue
        video = cache.read(row.cache_key)
        start = row.start
        onsets = [o - start for o in label.get("onsets", []) if 0.0 <= o - start < seconds]
        sounding = bool(label.get("sounding")) and not label.get("offscreen")
        cases.append(
            Case(
                row=row,
                action=label["action"],
                sounding=sounding,
                onsets=onsets,
                frames=video.clip_frames(start, start + seconds, count),
                audio=video.clip_audio(start, start + seconds),
            )
        )
    return cases


class GenerationEval:
    def __init__(self, engine: Engine, truth: GroundTruth, rows: Sequence[ClipRow]):
        self.engine, self.truth, self.rows = engine, truth, list(rows)
        self.model = engine.model
        self.rate = engine.model.config.clip.sample_rate

    @torch.no_grad()
    def embed(self, waves: np.ndarray) -> np.ndarray:
        """(N, samples) -> (N, D) MC3 audio embeddings."""
        out = [
            self.model.encode_audio(torch.from_numpy(waves[i : i + 64].astype(np.float32)))
            for i in range(0, len(waves), 64)
        ]
        return torch.cat(out).numpy()

    def probe(self, held: set[str]) -> LinearProbe | None:
        """The class probe on real audio embeddings of the training videos' sounding clips."""
        keys, actions = [], []
        for row, label in zip(self.rows, self.truth.labels, strict=True):
            sounding = bool(label and label.get("sounding") and not label.get("offscreen"))
            if sounding and row.video_uid not in held:
                keys.append(row.key)
                actions.append(label["action"])
        if len(set(actions)) < 2:
            return None
        stored_keys, vectors = self.engine.store.read(self.engine.version, "audio", keys)
        by_key = dict(zip(stored_keys.tolist(), vectors, strict=True))
        pairs = [(by_key[k], a) for k, a in zip(keys, actions, strict=True) if k in by_key]
        return LinearProbe().fit(np.stack([v for v, _ in pairs]), [a for _, a in pairs])

    def score(
        self,
        cases: list[Case],
        outputs: np.ndarray,
        real: np.ndarray,
        reference: np.ndarray,
        probe: LinearProbe | None,
    ) -> dict[str, Any]:
        """The four figures of one system's outputs (N, samples)."""
        embedded = self.embed(outputs)
        sounding = [i for i, c in enumerate(cases) if c.sounding]
        class_acc, per_class = None, None
        if probe is not None and sounding:
            predicted = probe.predict(embedded[sounding])
            true = [cases[i].action for i in sounding]
            class_acc, per_class = accuracy(true, predicted), per_class_accuracy(true, predicted)
        onsets = [(onset_times(outputs[i], self.rate), cases[i].onsets) for i in sounding]
        matches = [ambient_match(o, r, self.rate) for o, r in zip(outputs, reference, strict=True)]
        return {
            "class_accuracy": _round(class_acc),
            "frechet": _round(frechet_distance(embedded, real)) if len(cases) > 1 else None,
            "ambient_match": _round(float(np.mean(matches))),
            "onset_sync": _round(onset_sync(onsets)),
            "per_class": {k: _round(v) for k, v in sorted((per_class or {}).items())},
        }


def evaluate_generation(
    engine: Engine, truth: GroundTruth, rows: Sequence[ClipRow], progress: bool = False
) -> tuple[dict[str, Any] | None, dict[str, Any]]:
    """(the generation report or None without AV-LDM, {baseline name: figures or None})."""
    names = ("unconditioned", "retrieval_only", "griffin_lim")
    try:
        generator = Generator(engine)
    except GenerationUnavailable:
        return None, dict.fromkeys(names)
    held = set(generator.pipeline.info.get("holdout_videos", []))
    cases = _cases(rows, truth, held, generator.cache, generator)
    if len(cases) < 2:
        return None, dict.fromkeys(names)
    evaluation = GenerationEval(engine, truth, rows)
    probe = evaluation.probe(held)
    frames = np.stack([c.frames for c in cases])
    real = np.stack([c.audio for c in cases])
    real_embedded = evaluation.embed(real)
    fps = generator.pipeline.config.denoiser.video_frames / generator.pipeline.config.mel.seconds

    def ambient(mode: str) -> list[Any]:
        return [
            generator.ambient_for(mode, c.frames, fps, exclude_videos={c.row.video_uid})
            for c in tqdm(cases, desc=f"ambient ({mode})", disable=not progress)
        ]

    joint_choice, action_choice = ambient("joint"), ambient("action")
    joint_audio = np.stack([generator.ambient_audio(a) for a in joint_choice])
    action_audio = np.stack([generator.ambient_audio(a) for a in action_choice])
    sampling = generator.pipeline.config.sampling

    def render(ambient_audio: np.ndarray | None):
        return generator.render(frames, ambient_audio, sampling.steps, sampling.guidance, seed=0)

    joint_mel, joint_wave = render(joint_audio)
    outputs = {
        "joint": joint_wave,
        "action": render(action_audio)[1],
        "unconditioned": render(None)[1],
        "retrieval_only": np.stack([_nearest_audio(generator, c, fps) for c in cases]),
    }
    griffin = generator.griffin_lim()
    outputs["griffin_lim"] = generator.vocode(joint_mel, griffin)
    real_mel = generator.pipeline.log_mel(torch.from_numpy(real))
    resynthesis = {
        "vocoder": generator.vocode(real_mel),
        "griffin_lim": generator.vocode(real_mel, griffin),
    }
    figures = {
        name: evaluation.score(cases, out, real_embedded, joint_audio, probe)
        for name, out in {
            **outputs,
            **{f"resynthesis {k}": v for k, v in resynthesis.items()},
        }.items()
    }
    real_figures = evaluation.score(cases, real, real_embedded, joint_audio, probe)
    main = figures["joint"]
    report = {key: main[key] for key in KEYS}
    report.update(
        {
            "per_class": main["per_class"],
            "action_mode": _four(figures["action"]),
            "resynthesis": {
                "vocoder": _four(figures["resynthesis vocoder"]),
                "griffin_lim": _four(figures["resynthesis griffin_lim"]),
            },
            "real_audio": {**_four(real_figures), "per_class": real_figures["per_class"]},
            "cases": len(cases),
            "sounding_cases": sum(c.sounding for c in cases),
            "held_out_videos": len(held),
            "steps": sampling.steps,
            "guidance": sampling.guidance,
            "model_version": generator.version,
        }
    )
    baselines = {name: {"generation": _four(figures[name])} for name in names}
    return report, baselines


def _nearest_audio(generator: Generator, case: Case, fps: float) -> np.ndarray:
    """The real sound of the clip whose audio best fits the case's frames (other videos)."""
    rows = {r.key: r for r in generator.engine.catalog.clips() if r.video_uid != case.row.video_uid}
    row = rows[generator.sound_fits(case.frames, fps, rows)[0]]
    seconds = generator.pipeline.config.mel.seconds
    return generator.cache.read(row.cache_key).clip_audio(row.start, row.start + seconds)


def _four(figures: dict[str, Any]) -> dict[str, Any]:
    return {key: figures[key] for key in KEYS}


def _round(value: float | None) -> float | None:
    return None if value is None else round(float(value), 4)
