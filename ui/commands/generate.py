"""foley generate: AV-LDM soundtrack for a (silent) video, as a WAV or muxed onto the video."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from ui.commands.common import add_home, add_json, log, print_json

HELP = "generate the sound of a silent video (AV-LDM); .wav, or .mp4 with the sound muxed in"
OUT_SUFFIXES = (".wav", ".mp4")


def register(parser: argparse.ArgumentParser) -> None:
    add_home(parser)
    add_json(parser)
    parser.add_argument("--video", type=Path, required=True, help="the video to score")
    parser.add_argument(
        "--mode",
        choices=("joint", "action"),
        default="joint",
        help="joint: the action over a similar scene's ambience from the index (default); "
        "action: the action alone (a near-silent ambient clip)",
    )
    parser.add_argument("--ambient", metavar="CLIP_ID", help="take the ambience from this clip")
    parser.add_argument("--steps", type=int, help="sampling steps (default 25)")
    parser.add_argument(
        "--guidance",
        type=float,
        help="classifier-free guidance scale: how closely to follow the video",
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--candidates",
        type=int,
        help="samples drawn per window, the one most in time with the picture kept "
        "(default 6; 1 is fastest)",
    )
    parser.add_argument("--out", type=Path, required=True, help="OUT.wav or OUT.mp4")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from indexer.media import MediaError, mux_audio, write_wav
    from searchd.engine import Engine
    from searchd.generate import Generator

    suffix = args.out.suffix.lower()
    if suffix not in OUT_SUFFIXES:
        raise ValueError(f"--out must end in .wav or .mp4, not {args.out.name}")
    if not args.video.is_file():
        raise MediaError(f"no such file: {args.video}")
    if not args.out.parent.is_dir():
        raise ValueError(f"cannot write {args.out}: no folder {args.out.parent}")
    if args.out.is_dir() or not os.access(args.out.parent, os.W_OK):
        raise ValueError(f"cannot write {args.out}: a folder, or no permission")
    generator = Generator(Engine(args.home))
    track = generator.generate_file(
        args.video, args.mode, args.ambient, args.steps, args.guidance, args.seed, args.candidates
    )
    try:
        if suffix == ".wav":
            write_wav(args.out, track.wave, track.sample_rate)
        else:
            mux_audio(args.video, track.wave, track.sample_rate, args.out)
    except OSError as exc:
        raise OSError(f"cannot write {args.out}: {exc.strerror or exc}") from exc
    document = {**track.to_json(), "video": str(args.video), "out": str(args.out)}
    if args.json:
        print_json(document)
    else:
        ambient = track.ambient
        log(f"ambient: {ambient.clip_id} ({ambient.reason})" if ambient else "ambient: none")
        log(
            f"generated {track.duration:.2f} s in {track.windows} window(s), "
            f"{track.steps} steps, best of {track.candidates}, in {track.seconds:.1f} s"
        )
        log(f"wrote {args.out}")
    return 0
