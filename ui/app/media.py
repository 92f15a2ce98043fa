"""The UI server's media proxy: clip audio, video, thumbnails and spectrograms for the page.

The browser cannot hold searchd's API key, so the page asks the UI server, which fetches the
media with the key and relays it — Range requests included, so a video can seek to a match
without downloading the whole file.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack
from functools import lru_cache

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse

from ui.app.spectrogram import spectrogram_png
from ui.client import ApiError, MediaKind, SearchClient

# upstream headers a media element needs to play and seek
RELAYED_HEADERS = (
    "content-type",
    "content-length",
    "content-range",
    "accept-ranges",
    "etag",
    "last-modified",
)
SPECTROGRAM_CACHE = 512


def media_router(client: SearchClient) -> APIRouter:
    """Routes under ``/media`` that serve searchd's clip media through `client`."""
    router = APIRouter(prefix="/media")

    @lru_cache(maxsize=SPECTROGRAM_CACHE)
    def spectrogram(clip_id: str) -> bytes:
        return spectrogram_png(client.clip_audio(clip_id))

    @router.get("/clips/{clip_id}/spectrogram.png")
    def clip_spectrogram(clip_id: str) -> Response:
        try:
            png = spectrogram(clip_id)
        except ApiError as exc:
            return _error_response(exc)
        return Response(png, media_type="image/png", headers={"Cache-Control": "max-age=3600"})

    @router.get("/clips/{clip_id}/{kind}")
    def clip_media(clip_id: str, kind: MediaKind, request: Request) -> Response:
        return _relay(client, clip_id, kind, request.headers.get("range"))

    return router


def _relay(
    client: SearchClient, clip_id: str, kind: MediaKind, range_header: str | None
) -> Response:
    """Stream searchd's answer for one clip medium back unchanged (status, range, type)."""
    stack = ExitStack()
    try:
        upstream = stack.enter_context(client.stream_media(clip_id, kind, range_header))
    except ApiError as exc:
        stack.close()
        return _error_response(exc)

    def body() -> Iterator[bytes]:
        with stack:
            yield from upstream.iter_raw()

    headers = {name: upstream.headers[name] for name in RELAYED_HEADERS if name in upstream.headers}
    return StreamingResponse(body(), status_code=upstream.status_code, headers=headers)


def _error_response(error: ApiError) -> JSONResponse:
    return JSONResponse({"error": error.message}, status_code=error.status or 502)
