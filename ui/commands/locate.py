"""foley locate: DenseAV heat maps (one per head) of where the sound is in the picture."""

from __future__ import annotations

import argparse
from pathlib import Path

from ui.commands.common import add_home, add_json, log, print_json

HELP = "show where a sound or a spoken word is in the frame (DenseAV heat maps per head)"


def register(parser: argparse.ArgumentParser) -> None:
    add_home(parser)
    add_json(parser)
    group = parser.add_mutually_exclusive_group(required=True)
    group.add_argument("--clip", help="an indexed clip id")
    group.add_argument("--video", type=Path, help="a video file or a still image")
    parser.add_argument("--audio", type=Path, help="the sound to locate (default: the video's)")
    parser.add_argument(
        "--at", type=float, help="start (s) of the clip-length window (default: the strongest)"
    )
    parser.add_argument(
        "--span",
        type=float,
        nargs=2,
        metavar=("START", "END"),
        help="the moment to locate (s, in the video's time), e.g. a spoken word",
    )
    parser.add_argument("--out", type=Path, required=True, help="the PNG to write")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from indexer.config import FoleyConfig
    from models.checkpoint import atomic_write
    from searchd.figures import localization_png
    from searchd.locate import LocateError, Locator

    if args.out.suffix.lower() != ".png":
        raise LocateError(f"--out must be a .png file, not {args.out.name}")
    if args.audio is not None and args.clip is not None:
        raise LocateError("--audio goes with --video, not --clip")
    locator = Locator(FoleyConfig.for_home(args.home))
    span = tuple(args.span) if args.span else None
    if args.clip is not None:
        located = locator.locate_clip(args.clip, span)
        title = f"{args.clip}  {located.source.get('video', '')}"
    else:
        located = locator.locate_files(args.video, args.audio, args.at, span)
        title = f"{args.video.name} @ {located.source['start']:.2f} s"
    if span:
        title += f"  (span {span[0]:g}-{span[1]:g} s)"
    atomic_write(args.out, localization_png(located.localization, title))
    document = {**located.to_json(), "out": str(args.out)}
    if args.json:
        print_json(document)
    else:
        for head in document["heads"]:
            mark = "  <- strongest" if head["name"] == document["strongest_head"] else ""
            log(
                f"{head['name']:>8} head: activation {head['activation']:.3f}, "
                f"peak {tuple(head['peak'])}, box {tuple(head['box'])}{mark}"
            )
        log(f"   where: peak {tuple(document['peak'])}, box {tuple(document['box'])}")
        log(f"wrote {args.out}")
    return 0
