"""The Gradio web app: talks to searchd over HTTP only (see ``ui.client``)."""

from ui.app.server import create_server

__all__ = ["create_server"]
