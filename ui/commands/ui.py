"""foley ui: the Gradio web app, talking to a running `foley serve` over HTTP."""

from __future__ import annotations

import argparse
import os
import sys

HELP = "the web app (Gradio) for a running `foley serve`"
DEFAULT_API = "http://127.0.0.1:8000"


def register(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--api",
        default=os.environ.get("FOLEY_API_URL", DEFAULT_API),
        help=f"searchd's URL (default: $FOLEY_API_URL or {DEFAULT_API})",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    parser.add_argument("--port", type=int, default=7860, help="port to listen on")
    parser.add_argument(
        "--api-key",
        default=os.environ.get("FOLEY_API_KEY"),
        help="bearer key searchd requires (default: $FOLEY_API_KEY)",
    )
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    serve_ui(args.api, args.host, args.port, args.api_key)
    return 0


def serve_ui(api: str, host: str, port: int, api_key: str | None) -> None:
    """Serve the web app until interrupted."""
    import uvicorn

    from ui.app import create_server
    from ui.client import SearchClient

    client = SearchClient(api, api_key=api_key)
    try:
        app = create_server(client)
        print(f"Foley web app: http://{host}:{port}/ (searchd at {client.base_url}; Ctrl-C stops)")
        sys.stdout.flush()
        uvicorn.run(app, host=host, port=port, log_level="warning")
    finally:
        client.close()
