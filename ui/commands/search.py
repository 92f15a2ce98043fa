"""foley search: cross-modal search by text, audio file, video file or clip id."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from ui.commands.common import add_home, add_json, print_json, print_results

HELP = "cross-modal search (--text | --audio FILE | --video FILE | --clip ID | --batch FILE)"


def register(parser: argparse.ArgumentParser) -> None:
    add_home(parser)
    add_json(parser)
    group = parser.add_mutually_exclusive_group(required=True)
    group.add_argument("--text", help="a text query")
    group.add_argument("--audio", type=Path, help="an audio (or video) file whose sound to match")
    group.add_argument("--video", type=Path, help="a video file whose picture to match")
    group.add_argument("--clip", help="an indexed clip id (find clips like it)")
    group.add_argument("--batch", type=Path, help="JSONL file, one query object per line")
    parser.add_argument("--target", choices=["audio", "video", "text"], default="audio")
    parser.add_argument("-k", type=int, default=10, help="number of results")
    parser.add_argument("--where", help='filter on catalog columns, e.g. "start > 10"')
    parser.add_argument(
        "--rerank",
        nargs="?",
        const=True,
        type=int,
        metavar="N",
        help="re-rank the top N (default 10) by DenseAV: sound queries (--audio, --clip) "
        "with --target video",
    )
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from searchd.engine import Engine, Query

    engine = Engine(args.home)
    if args.batch is not None:
        answers = run_batch(engine, args.batch, args.target, args.k, args.where, args.rerank)
        document = {"queries": answers}
        print_json(document) if args.json else _print_batch(document)
        return 0
    query = Query(text=args.text, audio=args.audio, video=args.video, clip=args.clip)
    results = engine.search(
        query, target=args.target, k=args.k, where=args.where, rerank=args.rerank
    )
    rows = [r.to_json() for r in results]
    print_json({"results": rows}) if args.json else print_results(rows)
    return 0


def run_batch(
    engine: Any,
    path: Path,
    target: str,
    k: int,
    where: str | None,
    rerank: bool | int | None = None,
) -> list[dict[str, Any]]:
    """Answer every query line of a JSONL file with the models loaded once."""
    from indexer.media import MediaError
    from searchd.engine import Query

    if not path.is_file():
        raise FileNotFoundError(f"no such batch file: {path}")
    answers = []
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        if not line.strip():
            continue
        try:
            spec = json.loads(line)
        except json.JSONDecodeError as exc:
            raise ValueError(f"{path} line {number}: invalid JSON: {exc.msg}") from exc
        if not isinstance(spec, dict):
            raise ValueError(f"{path} line {number}: expected a JSON object")

        answer: dict[str, Any] = {"id": spec.get("id", str(number)), "results": []}

        def relative(name: str, spec: dict = spec) -> Path | None:
            value = spec.get(name)
            return None if value is None else (path.parent / value)

        try:
            query = Query(
                text=spec.get("text"),
                audio=relative("audio"),
                video=relative("video"),
                clip=spec.get("clip"),
            )
            results = engine.search(
                query,
                target=spec.get("target", target),
                k=int(spec.get("k", k)),
                where=spec.get("where", where),
                rerank=spec.get("rerank", rerank),
            )
            answer["results"] = [r.to_json() for r in results]
        except (ValueError, OSError, MediaError) as exc:  # one bad line spoils no other answer
            answer["error"] = str(exc)
        answers.append(answer)
    return answers


def _print_batch(document: dict[str, Any]) -> None:
    for answer in document["queries"]:
        print(f"== {answer['id']}")
        print_results(answer["results"])
