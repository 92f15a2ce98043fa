"""foley serve: the searchd HTTP service (FastAPI, OpenAPI docs at /docs)."""

from __future__ import annotations

import argparse
import logging
import sys

from ui.commands.common import add_home, log

HELP = "serve search over HTTP (searchd; OpenAPI docs at /docs)"


def register(parser: argparse.ArgumentParser) -> None:
    add_home(parser)
    parser.add_argument("--host", help="address to listen on (default: 127.0.0.1)")
    parser.add_argument("--port", type=int, help="port to listen on (default: 8000)")
    parser.add_argument(
        "--api-key",
        help="require `Authorization: Bearer <key>` on every route but /health "
        "(default: $FOLEY_API_KEY; the environment keeps it out of `ps`)",
    )
    parser.add_argument("--max-upload-mb", type=float, help="largest request body (default: 64)")
    parser.add_argument(
        "--timeout", type=float, dest="request_timeout_s", help="seconds per request (default: 60)"
    )
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    import uvicorn

    from searchd.service import create_app
    from searchd.settings import ServiceSettings

    given = {
        "home": args.home,
        "host": args.host,
        "port": args.port,
        "api_key": args.api_key,
        "max_upload_mb": args.max_upload_mb,
        "request_timeout_s": args.request_timeout_s,
    }
    settings = ServiceSettings(
        **{name: value for name, value in given.items() if value is not None}
    )
    handler = logging.StreamHandler(sys.stderr)  # request log lines and errors, as they are
    handler.setFormatter(logging.Formatter("%(message)s"))
    logger = logging.getLogger("foley")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    app = create_app(settings)
    locked = " (API key required)" if settings.api_key else ""
    log(f"foley serve: http://{settings.host}:{settings.port}/ (docs at /docs){locked}")
    uvicorn.run(app, host=settings.host, port=settings.port, access_log=False, log_level="warning")
    return 0
