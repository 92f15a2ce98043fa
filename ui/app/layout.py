"""The web app's page: a header with searchd's URL and health, then one tab per task."""

from __future__ import annotations

import gradio as gr

from ui.app import render
from ui.app.tabs import by_sound, by_words, discover, index, locate, soundtrack
from ui.client import ApiError, SearchClient

HEALTH_EVERY_S = 15.0


def build_blocks(client: SearchClient) -> gr.Blocks:
    """All tabs wired to `client`; nothing here talks to searchd except through it."""
    # uploads and results in Gradio's cache are removed hourly once a day old
    with gr.Blocks(title="Foley", analytics_enabled=False, delete_cache=(3600, 86400)) as blocks:
        checking = render.header(client.base_url, "checking searchd…", healthy=None)
        header = gr.HTML(checking, elem_id="foley-header")
        with gr.Tabs():
            with gr.Tab("Find video by sound", id="by-sound"):
                by_sound.build(client)
            with gr.Tab("Find sounds by words", id="by-words"):
                by_words.build(client)
            with gr.Tab("Soundtrack", id="soundtrack"):
                soundtrack.build(client)
            with gr.Tab("Discover sounding actions", id="discover") as discover_tab:
                discover.build(client, discover_tab)
            with gr.Tab("Where is the sound", id="locate"):
                locate.build(client)
            with gr.Tab("Index", id="index") as index_tab:
                index.build(client, index_tab)
        timer = gr.Timer(HEALTH_EVERY_S)
        for event in (blocks.load, timer.tick):
            event(lambda: health_header(client), None, header, show_progress="hidden")
    return blocks


def health_header(client: SearchClient) -> str:
    """The header, with searchd's health as it is now."""
    try:
        health = client.health()
    except ApiError as exc:
        return render.header(client.base_url, exc.message, healthy=False)
    version = health.get("model_version") or "no model"
    clips = health.get("clips", 0)
    line = f"searchd {health.get('status', '?')} · model {version[:12]} · {clips} clips"
    return render.header(client.base_url, line, healthy=health.get("status") == "ok")
