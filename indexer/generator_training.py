"""Train AV-LDM on the clip cache and register the pipeline in the catalog.

Four networks, in order: the spectrogram autoencoder and the vocoder on random crops of the
training videos' audio, then the denoiser and the onset predictor on windows every
``window_stride`` seconds, whose latents, MC3 video features and real onsets are computed
once. A window's ambient condition is another window of the same video that does not
overlap it, one of the ``ambient_neighbours`` nearest on either side (the paper's pairing).
Videos of the catalog's validation split and a stable ``holdout_fraction`` of the others are
kept out for ``foley eval``; the pipeline records them. Each finished network is saved in
``<home>/models/training-avldm``, so a killed build resumes with the next one.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import time
from dataclasses import asdict, dataclass, replace

import numpy as np
import torch
from tqdm import tqdm

from indexer.cache import CachedVideo, ClipCache
from indexer.catalog import Catalog, ClipRow, ModelVersion
from indexer.config import FoleyConfig
from indexer.onsets import onset_times
from models.avldm.conditioning import video_condition
from models.avldm.pipeline import AVLDMPipeline, denoiser_loss
from models.avldm.train import fit
from models.avldm.vocoder import vocoder_loss
from models.mc3 import MC3

VOCODER_CROP_SECONDS = 1.0
CALIBRATION_CROPS = 256
FEATURE_BATCH = 64


def holdout_videos(rows: list[ClipRow], fraction: float) -> set[str]:
    """Video uids kept out of generator training: the validation split, and a stable
    ``fraction`` of the other videos chosen by a hash of their uid."""
    held = {r.video_uid for r in rows if r.split != "train"}
    for uid in {r.video_uid for r in rows}:
        digest = hashlib.sha1(f"avldm-holdout:{uid}".encode()).digest()
        if int.from_bytes(digest[:4], "big") / 2**32 < fraction:
            held.add(uid)
    return held


def training_videos(
    config: FoleyConfig, catalog: Catalog, holdout_fraction: float
) -> tuple[list[CachedVideo], set[str]]:
    """The cached videos to train on, and the uids of those held out."""
    rows = catalog.clips()
    if not rows:
        raise RuntimeError("no videos to train AV-LDM on: ingest some videos first")
    held = holdout_videos(rows, holdout_fraction)
    if held >= {r.video_uid for r in rows}:  # a tiny corpus: train on all, evaluate none
        held = set()
    cache = ClipCache(config.cache_dir)
    keys = sorted({r.cache_key for r in rows if r.video_uid not in held})
    return [cache.read(k) for k in keys], held


class AudioCrops:
    """Random fixed-length crops of the training videos' audio, longer videos drawn more."""

    def __init__(self, videos: list[CachedVideo], seed: int):
        self.videos = videos
        lengths = np.array([len(v.audio) for v in videos], dtype=float)
        self.weights = lengths / lengths.sum()
        self.rng = np.random.default_rng(seed)

    def __call__(self, batch: int, seconds: float) -> torch.Tensor:
        out = []
        for k in self.rng.choice(len(self.videos), size=batch, p=self.weights):
            video = self.videos[k]
            length = len(video.audio) / video.sample_rate
            start = self.rng.uniform(0.0, max(length - seconds, 0.0))
            out.append(video.clip_audio(start, start + seconds))
        return torch.from_numpy(np.stack(out))  # (batch, samples)


@dataclass
class Windows:
    """The denoiser's training set: one row per window."""

    latents: torch.Tensor  # (W, C, f, t) scaled autoencoder latents
    video: torch.Tensor  # (W, F, D) MC3 per-frame video features
    ambient: list[list[int]]  # per window: candidate ambient windows (same video, no overlap)
    onsets: torch.Tensor  # (W, t) 1 at the latent time steps where the real audio has an onset


def window_starts(seconds: float, window: float, stride: float) -> np.ndarray:
    """Start times of the windows that fit in a video of ``seconds``."""
    return np.arange(0.0, max(seconds - window, 0.0) + 1e-6, stride)


def ambient_candidates(starts: np.ndarray, window: float, neighbours: int) -> list[list[int]]:
    """Per window, the ``neighbours`` nearest non-overlapping windows on either side."""
    out = []
    for i, s in enumerate(starts):
        before = [j for j in range(i - 1, -1, -1) if starts[j] + window <= s][:neighbours]
        after = [j for j in range(i + 1, len(starts)) if starts[j] >= s + window][:neighbours]
        out.append(before + after)
    return out


def _windows(
    pipeline: AVLDMPipeline, mc3: MC3, videos: list[CachedVideo], progress: bool
) -> Windows:
    config = pipeline.config
    seconds = config.mel.seconds
    frames_per_window = config.denoiser.video_frames
    steps = config.mel.frames // 4  # latent time steps
    latents, features, ambient, onsets = [], [], [], []
    for video in tqdm(videos, desc="avldm windows", disable=not progress, dynamic_ncols=True):
        length = len(video.audio) / video.sample_rate
        starts = window_starts(length, seconds, config.train.window_stride)
        offset = len(ambient)  # windows of the earlier videos
        ambient += [
            [offset + j for j in c]
            for c in ambient_candidates(starts, seconds, config.train.ambient_neighbours)
        ]
        for first in range(0, len(starts), FEATURE_BATCH):
            chunk = starts[first : first + FEATURE_BATCH]
            frames = np.stack([video.clip_frames(s, s + seconds, frames_per_window) for s in chunk])
            audio = np.stack([video.clip_audio(s, s + seconds) for s in chunk])
            features.append(video_condition(mc3, torch.from_numpy(frames)).to(pipeline.device))
            latents.append(pipeline.encode_audio(torch.from_numpy(audio)))
            onsets += [onset_steps(wave, video.sample_rate, seconds, steps) for wave in audio]
    target = torch.from_numpy(np.stack(onsets)).to(pipeline.device)
    return Windows(torch.cat(latents), torch.cat(features), ambient, target)


def onset_steps(wave: np.ndarray, sample_rate: int, seconds: float, steps: int) -> np.ndarray:
    """(steps,) float32: 1 at the time steps (of ``steps`` over ``seconds``) holding an onset."""
    target = np.zeros(steps, np.float32)
    for onset in onset_times(wave, sample_rate):
        target[min(steps - 1, int(onset / seconds * steps))] = 1.0
    return target


def _denoiser_batches(windows: Windows, batch: int, seed: int):
    rng = np.random.default_rng(seed)

    def next_batch() -> tuple[torch.Tensor, ...]:
        index = rng.integers(0, len(windows.latents), size=batch)
        partner = [
            int(rng.choice(windows.ambient[i])) if windows.ambient[i] else int(i) for i in index
        ]
        valid = torch.tensor(
            [bool(windows.ambient[i]) for i in index], device=windows.latents.device
        )
        return windows.latents[index], windows.video[index], windows.latents[partner], valid

    return next_batch


def train_generator(
    config: FoleyConfig,
    catalog: Catalog,
    mc3: MC3,
    mc3_version: str,
    steps: int | None = None,
    make_current: bool = True,
    device: str | torch.device = "cpu",
) -> tuple[AVLDMPipeline, ModelVersion, dict[str, float]]:
    """Train the four networks on ``device`` (``steps`` overrides each one's step count;
    on a GPU the denoiser otherwise trains ``accelerated``); returns the pipeline (on the
    CPU), its catalog record and the seconds each part took."""
    generator = config.generator
    device = torch.device(device)
    if device.type == "cuda" and steps is None:
        generator = replace(generator, train=generator.train.accelerated())
    if steps is not None:
        train = replace(
            generator.train, autoencoder_steps=steps, vocoder_steps=steps, denoiser_steps=steps
        )
        generator = replace(generator, train=train, onsets=replace(generator.onsets, steps=steps))
    train = generator.train
    videos, held = training_videos(config, catalog, train.holdout_fraction)
    torch.manual_seed(train.seed)
    mc3.eval()
    probe_frames = videos[0].clip_frames(0, generator.mel.seconds, generator.denoiser.video_frames)
    video_dim = video_condition(mc3, torch.from_numpy(probe_frames)[None])
    pipeline = AVLDMPipeline.create(generator, video_dim=video_dim.shape[-1]).to(device)
    pipeline.info = {"video_model": mc3_version, "holdout_videos": sorted(held)}
    crops = AudioCrops(videos, train.seed)
    work = config.models_dir / "training-avldm"
    fingerprint = json.dumps(asdict(pipeline.config), sort_keys=True)
    if not (work / "config.json").is_file() or (work / "config.json").read_text() != fingerprint:
        shutil.rmtree(work, ignore_errors=True)
        work.mkdir(parents=True)
        (work / "config.json").write_text(fingerprint)
    seconds: dict[str, float] = {}
    mel_seconds = generator.mel.seconds
    log_mel = pipeline.log_mel

    def autoencoder_batch() -> torch.Tensor:
        return log_mel(crops(train.autoencoder_batch, train.autoencoder_crop).to(device))

    def vocoder_batch() -> torch.Tensor:
        return crops(train.vocoder_batch, VOCODER_CROP_SECONDS).to(device)

    parts = [
        (
            "autoencoder",
            pipeline.autoencoder,
            pipeline.autoencoder.loss,
            autoencoder_batch,
            train.autoencoder_steps,
            train.bf16,
        ),
        (
            "vocoder",
            pipeline.vocoder,
            lambda w: vocoder_loss(pipeline.vocoder, w),
            vocoder_batch,
            train.vocoder_steps,
            False,  # its STFT's complex numbers have no bfloat16
        ),
    ]
    for name, network, loss_fn, next_batch, n_steps, bf16 in parts:
        started = time.perf_counter()
        if (work / name / "model.safetensors").is_file():
            network.load_state_dict(type(network).from_pretrained(work / name).state_dict())
        else:
            fit(
                network,
                loss_fn,
                next_batch,
                n_steps,
                train.lr,
                f"train avldm {name}",
                config.progress,
                bf16=bf16,
            )
            if name == "autoencoder":
                with torch.no_grad():
                    network.calibrate(log_mel(crops(CALIBRATION_CROPS, mel_seconds).to(device)))
            network.save_pretrained(work / name)
        seconds[name] = time.perf_counter() - started

    started = time.perf_counter()
    windows = _windows(pipeline, mc3, videos, config.progress)
    seconds["windows"] = time.perf_counter() - started
    seconds["denoiser"] = train_denoiser(pipeline, windows, config.progress)
    seconds["onsets"] = train_onset_predictor(pipeline, windows, config.progress)
    pipeline.to("cpu")
    record = publish_generator(
        config, catalog, pipeline, train.denoiser_steps, seconds, make_current
    )
    shutil.rmtree(work, ignore_errors=True)
    return pipeline, record, seconds


def train_denoiser(pipeline: AVLDMPipeline, windows: Windows, progress: bool) -> float:
    """Train the pipeline's denoiser on the training ``windows``; returns the seconds it took."""
    train = pipeline.config.train
    started = time.perf_counter()

    def loss_fn(batch: tuple[torch.Tensor, ...]) -> tuple[torch.Tensor, dict[str, float]]:
        latent, video, ambient, valid = batch
        return denoiser_loss(
            pipeline.denoiser, pipeline.scheduler, latent, video, ambient,
            train.drop_video, train.drop_ambient, valid,
        )  # fmt: skip

    batches = _denoiser_batches(windows, train.batch_size, train.seed)
    fit(pipeline.denoiser, loss_fn, batches, train.denoiser_steps, train.denoiser_lr,
        "train avldm denoiser", progress, bf16=train.bf16)  # fmt: skip
    return time.perf_counter() - started


def train_onset_predictor(pipeline: AVLDMPipeline, windows: Windows, progress: bool) -> float:
    """Train the pipeline's onset predictor on the ``windows``' video features against their
    real onsets; returns the seconds it took."""
    config = pipeline.config.onsets
    predictor = pipeline.onsets
    if predictor is None:
        raise ValueError("this pipeline has no onset predictor to train")
    started = time.perf_counter()
    predictor.fit_normalisation(windows.video)
    rng = np.random.default_rng(pipeline.config.train.seed)

    def next_batch() -> tuple[torch.Tensor, torch.Tensor]:
        index = rng.integers(0, len(windows.video), size=config.batch_size)
        return windows.video[index], windows.onsets[index]

    fit(predictor, predictor.loss, next_batch, config.steps, config.lr, "train avldm onsets",
        progress, grad_clip=0.0, weight_decay=config.weight_decay)  # fmt: skip
    return time.perf_counter() - started


def publish_generator(
    config: FoleyConfig,
    catalog: Catalog,
    pipeline: AVLDMPipeline,
    steps: int,
    seconds: dict[str, float],
    make_current: bool = True,
) -> ModelVersion:
    """Save a trained pipeline under ``<home>/models/<version>`` and record it."""
    fingerprint = json.dumps(asdict(pipeline.config), sort_keys=True)
    incoming = config.models_dir / "incoming-avldm"
    shutil.rmtree(incoming, ignore_errors=True)
    pipeline.save_pretrained(incoming)
    weights = (incoming / "denoiser" / "model.safetensors").read_bytes()
    version = hashlib.sha256(fingerprint.encode() + weights).hexdigest()[:12]
    final = config.models_dir / version
    shutil.rmtree(final, ignore_errors=True)
    incoming.rename(final)
    record = ModelVersion(
        version=version,
        name="avldm",
        kind="avldm",
        path=str(final),
        config=fingerprint,
        steps=steps,
        train_seconds=sum(seconds.values()),
    )
    catalog.add_model_version(record, make_current=make_current)
    return record
