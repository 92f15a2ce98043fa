"""The UI server: the Gradio page plus the media proxy, one FastAPI app for uvicorn."""

from __future__ import annotations

import gradio as gr
from fastapi import FastAPI

from ui.app.layout import build_blocks
from ui.app.media import media_router
from ui.app.theme import CSS, theme
from ui.client import SearchClient


def create_server(client: SearchClient) -> FastAPI:
    """A FastAPI app serving the page at ``/`` and clip media at ``/media``."""
    app = FastAPI(title="Foley UI", docs_url=None, redoc_url=None)
    app.include_router(media_router(client))
    return gr.mount_gradio_app(
        app, build_blocks(client), path="/", theme=theme(), css=CSS, footer_links=["gradio"]
    )
