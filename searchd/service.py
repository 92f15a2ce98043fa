"""searchd over HTTP: the FastAPI app that ``foley serve`` runs (DESIGN.md, "HTTP contract").

``create_app(settings)`` builds it. The home's model and indexes load once at start (lifespan)
and are swapped whole when ``foley build`` publishes a new index (searchd.live); engine work
runs in worker threads, one call at a time, within ``request_timeout_s``. Anything a client
sends wrong is a 4xx ``{"error": "..."}``; only a bug is a 500, logged with its traceback.
"""

from __future__ import annotations

import base64
import hmac
import json
import logging
import shutil
import tempfile
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Annotated, Any, BinaryIO, TypeVar
from urllib.parse import quote

import anyio
from fastapi import APIRouter, Body, Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import ValidationError
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException

from indexer.build import home_status
from indexer.catalog import ClipRow
from indexer.config import FoleyConfig
from indexer.media import MediaError, mux_audio, probe, read_audio
from searchd import api
from searchd.engine import Engine, Query, QueryError, SearchResult
from searchd.figures import localization_png
from searchd.generate import Generator, Soundtrack
from searchd.live import IndexChanging, LiveHome, NotBuilt
from searchd.locate import LocateError, Locator
from searchd.media import clip_thumbnail, clip_wav, video_media_type, wav_bytes
from searchd.middleware import BodyLimit, RequestLog
from searchd.settings import ServiceSettings
from searchd.where import FilterError

log = logging.getLogger("foley.searchd")
T = TypeVar("T")
BEARER = HTTPBearer(auto_error=False, description="the server's FOLEY_API_KEY")


def create_app(settings: ServiceSettings | None = None) -> FastAPI:
    """The searchd FastAPI app for ``settings.home`` (see module docstring)."""
    settings = settings or ServiceSettings()
    home = LiveHome(FoleyConfig.for_home(settings.home, progress=False))

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        version = await anyio.to_thread.run_sync(home.model_version)  # loads models, indexes
        log.info("serving %s with model %s", home.config.home, version)
        yield

    app = FastAPI(
        title="Foley searchd",
        summary="Search narrated video by sound, sight and words.",
        version="0.1.0",
        lifespan=lifespan,
        responses=api.error_responses(500),
    )
    _add_error_handlers(app)
    app.add_middleware(BodyLimit, max_bytes=settings.max_upload_bytes)
    app.add_middleware(RequestLog)
    routes = _Routes(home, settings)
    app.add_api_route("/health", routes.health, methods=["GET"], response_model=api.Health)
    guarded = APIRouter(dependencies=[Depends(_key_check(settings))] if settings.api_key else [])
    routes.register(guarded)
    app.include_router(guarded)
    return app


class _Routes:
    """The route handlers, bound to one served home and its settings."""

    def __init__(self, home: LiveHome, settings: ServiceSettings) -> None:
        self.home = home
        self.timeout = settings.request_timeout_s

    def register(self, router: APIRouter) -> None:
        errors = api.error_responses
        router.add_api_route(
            "/status", self.status, methods=["GET"], responses=errors(401, 408, 409)
        )
        router.add_api_route(
            "/search",
            self.search,
            methods=["POST"],
            response_model=api.Results,
            responses=errors(400, 401, 404, 408, 409, 413, 415, 422),
            openapi_extra=api.request_body(
                api.SearchRequest, api.multipart_schema(api.SearchForm, {"file": True})
            ),
        )
        router.add_api_route(
            "/discover",
            self.discover,
            methods=["POST"],
            response_model=api.Results,
            responses=errors(400, 401, 408, 409, 413, 422),
        )
        router.add_api_route(
            "/locate",
            self.locate,
            methods=["POST"],
            responses=errors(401, 404, 408, 409, 413, 415, 422),
            openapi_extra=api.request_body(
                api.LocateRequest,
                api.multipart_schema(api.LocateForm, {"video": True, "audio": False}),
            ),
        )
        router.add_api_route(
            "/generate",
            self.generate,
            methods=["POST"],
            responses=errors(401, 404, 408, 409, 413, 415, 422),
            openapi_extra=api.request_body(
                None, api.multipart_schema(api.GenerateForm, {"video": True})
            ),
        )
        router.add_api_route(
            "/clips/{clip_id}",
            self.clip,
            methods=["GET"],
            response_model=api.ClipInfo,
            responses=errors(401, 404, 408),
        )
        for kind, media_type in (
            ("audio", "audio/wav"),
            ("video", "video/mp4"),
            ("thumbnail", "image/png"),
        ):
            router.add_api_route(
                f"/clips/{{clip_id}}/{kind}",
                getattr(self, f"clip_{kind}"),
                methods=["GET"],
                response_class=Response,
                responses={200: {"content": {media_type: {}}}, **errors(401, 404, 408)},
            )

    # --- service --------------------------------------------------------------------------
    async def health(self) -> dict[str, Any]:
        """Liveness and what is served; never needs the API key."""
        with self._deadline():
            version = await self._thread(self.home.model_version)
            clips = await self._thread(self.home.clip_count)
        return {"status": "ok", "model_version": version, "clips": clips}

    async def status(self) -> dict[str, Any]:
        """The same document as `foley status --json`."""
        with self._deadline():
            await self._thread(self.home.catalog)  # NotBuilt (409) when there is no home
            return await self._thread(home_status, self.home.config)

    # --- search ---------------------------------------------------------------------------
    async def search(self, request: Request) -> dict[str, Any]:
        """Clips whose `target` modality matches a text, an indexed clip, or an uploaded file.

        JSON body: `text` or `clip`. Multipart: the file in `file` (a file with a picture is
        matched by its picture, an audio file by its sound), options as form fields.
        """
        with self._deadline():
            if api.is_multipart(request):
                form, uploads = await api.read_form(request, api.SearchForm, {"file": True})
                async with self._saved(uploads) as paths:
                    query = await self._thread(_upload_query, paths["file"])
                    return await self._results(
                        lambda e: e.search(
                            query, form.target, form.k, form.where, rerank=form.rerank
                        )
                    )
            spec = await api.read_json(request, api.SearchRequest)
            if spec.clip is not None:
                await self._clip_row(spec.clip)
            query = Query(text=spec.text, clip=spec.clip)
            return await self._results(
                lambda e: e.search(query, spec.target, spec.k, spec.where, rerank=spec.rerank)
            )

    async def discover(
        self, spec: Annotated[api.DiscoverRequest | None, Body()] = None
    ) -> dict[str, Any]:
        """Clips ranked by sounding-action (consensus) score, optionally matching `text`."""
        spec = spec or api.DiscoverRequest()
        with self._deadline():
            return await self._results(lambda e: e.discover(spec.k, spec.text, spec.where))

    # --- models still being built ---------------------------------------------------------
    async def locate(self, request: Request) -> Any:
        """DenseAV heat maps of where the sound is in the picture, for an indexed clip (JSON
        `clip`) or an uploaded `video` with an optional separate `audio` (multipart)."""
        with self._deadline():
            if not api.is_multipart(request):
                spec = await api.read_json(request, api.LocateRequest)
                row = await self._clip_row(spec.clip)
                return await self._thread(locate, self.home, row, None, None, None, spec.span)
            form, uploads = await api.read_form(
                request, api.LocateForm, {"video": True, "audio": False}
            )
            async with self._saved(uploads) as paths:
                await self._thread(_probe_picture, paths["video"])
                if "audio" in paths:
                    await self._thread(read_audio, paths["audio"])
                files = (paths["video"], paths.get("audio"))
                return await self._thread(locate, self.home, None, *files, form.at, form.span)

    async def generate(self, request: Request) -> Any:
        """An AV-LDM soundtrack for an uploaded silent `video` (multipart, options as fields)."""
        with self._deadline():
            form, uploads = await api.read_form(request, api.GenerateForm, {"video": True})
            async with self._saved(uploads) as paths:
                ambient = None if not form.ambient else await self._clip_row(form.ambient)
                await self._thread(probe, paths["video"])
                return await self._thread(generate, self.home, paths["video"], form, ambient)

    # --- clips ----------------------------------------------------------------------------
    async def clip(self, clip_id: str) -> dict[str, Any]:
        """One clip's catalog entry with links to its media."""
        with self._deadline():
            row = await self._clip_row(clip_id)
            try:
                sounding = await self._thread(
                    self.home.call, lambda e: e.consensus_scores().get(row.key)
                )
            except NotBuilt:
                sounding = None
        info = _result_json(row, sounding)
        base = f"/clips/{quote(clip_id, safe='@')}"
        return {
            **info,
            "score": None,
            "media": {m: f"{base}/{m}" for m in api.ClipMedia.model_fields},
        }

    async def clip_audio(self, clip_id: str) -> Response:
        """The clip's sound: 16 kHz mono WAV from the clip cache."""
        with self._deadline():
            row = await self._clip_row(clip_id)
            data = await self._thread(lambda: clip_wav(self._cached(row), row.start, row.end))
        return Response(data, media_type="audio/wav")

    async def clip_thumbnail(self, clip_id: str) -> Response:
        """The clip's middle frame, enlarged, as PNG."""
        with self._deadline():
            row = await self._clip_row(clip_id)
            data = await self._thread(lambda: clip_thumbnail(self._cached(row), row.start, row.end))
        return Response(data, media_type="image/png")

    async def clip_video(self, clip_id: str) -> Response:
        """The clip's source video file; honours Range requests, so a player can seek."""
        with self._deadline():
            row = await self._clip_row(clip_id)
        path = Path(row.video)
        if not path.is_file():
            raise api.ApiError(404, f"the video of clip {clip_id!r} is no longer at {row.video}")
        return FileResponse(path, media_type=video_media_type(path))

    # --- helpers --------------------------------------------------------------------------
    @contextmanager
    def _deadline(self) -> Iterator[None]:
        """Cancel the request's work (408) once it has taken ``request_timeout_s``."""
        try:
            with anyio.fail_after(self.timeout):
                yield
        except TimeoutError:
            raise api.ApiError(408, f"request took longer than {self.timeout:g} s") from None

    async def _thread(self, fn: Callable[..., T], *args: Any) -> T:
        """Run blocking work in a worker thread; a timed-out request stops waiting for it."""
        return await anyio.to_thread.run_sync(fn, *args, abandon_on_cancel=True)

    async def _results(self, work: Callable[[Engine], list[SearchResult]]) -> dict[str, Any]:
        results = await self._thread(self.home.call, work)
        return {"results": [r.to_json() for r in results]}

    async def _clip_row(self, clip_id: str) -> ClipRow:
        row = None if "\x00" in clip_id else await self._thread(self.home.clip, clip_id)
        if row is None:
            raise api.ApiError(404, f"no clip {clip_id!r} in this home")
        return row

    def _cached(self, row: ClipRow) -> Any:
        try:
            return self.home.cached(row)
        except FileNotFoundError:
            raise api.ApiError(
                404, f"clip {row.clip_id!r} is missing from the clip cache"
            ) from None

    @asynccontextmanager
    async def _saved(self, uploads: dict[str, UploadFile]) -> AsyncIterator[dict[str, Path]]:
        """The uploads as files in a temporary folder (removed afterwards); closes them."""
        with tempfile.TemporaryDirectory(prefix="foley-upload-") as folder:
            paths = {}
            try:
                for name, upload in uploads.items():
                    suffix = Path(upload.filename or "").suffix.lower()
                    paths[name] = Path(folder) / (name + (suffix if suffix[1:].isalnum() else ""))
                    await self._thread(_copy, upload.file, paths[name])
            finally:
                for upload in uploads.values():
                    await upload.close()
            yield paths


def locate(
    home: LiveHome,
    clip: ClipRow | None,
    video: Path | None,
    audio: Path | None,
    at: float | None = None,
    span: tuple[float, float] | None = None,
) -> Any:
    """DenseAV heat maps (one per head) for a clip, or for an uploaded video or still image
    (+ audio), with ``Locator``'s window start ``at`` and moment ``span``: the ``foley
    locate --json`` document plus the picture as base64 PNG."""

    def work(locator: Locator) -> dict[str, Any]:
        try:
            if clip is not None:
                located = locator.locate_clip(clip.clip_id, span)
                title = clip.clip_id
            else:
                located = locator.locate_files(video, audio, at, span)
                title = f"upload @ {located.source['start']:.2f} s"
        except LocateError as exc:
            message = str(exc)
            if video is not None:  # name the upload, not the server's temporary folder
                message = message.replace(f"{video.parent}/", "")
            raise api.ApiError(422, message) from None
        png = localization_png(located.localization, title)
        return {**located.to_json(), "image_png_base64": base64.b64encode(png).decode()}

    return home.locate(work)


def generate(
    home: LiveHome, video: Path, form: api.GenerateForm, ambient: ClipRow | None
) -> Response:
    """An AV-LDM soundtrack for an uploaded video: the video with the sound muxed in (same
    container), or a WAV with ``format=wav``; header ``X-Foley-Generation`` holds the JSON
    that ``foley generate --json`` prints (mode, ambient clip used, windows, steps, ...)."""

    def work(generator: Generator) -> Soundtrack:
        clip_id = ambient.clip_id if ambient else None
        return generator.generate_file(
            video, form.mode, clip_id, form.steps, form.guidance, form.seed, form.candidates
        )

    track = home.generate(work)
    headers = {"X-Foley-Generation": json.dumps(track.to_json())}
    if form.format == "wav":
        wav = wav_bytes(track.wave, track.sample_rate)
        return Response(wav, media_type="audio/wav", headers=headers)
    out = video.with_name(f"generated{video.suffix or '.mp4'}")
    mux_audio(video, track.wave, track.sample_rate, out)
    return Response(out.read_bytes(), media_type=video_media_type(out), headers=headers)


def _probe_picture(path: Path) -> None:
    """A video or a still image is a picture to locate sound in; anything else: MediaError."""
    try:
        probe(path)
    except MediaError as exc:
        if str(exc) != "an image, not a video":
            raise


def _copy(source: BinaryIO, path: Path) -> None:
    with path.open("wb") as out:
        shutil.copyfileobj(source, out)


def _upload_query(path: Path) -> Query:
    """A file with a picture is matched by its picture; anything else by its sound (a file
    that is not audio either fails there, as MediaError)."""
    try:
        probe(path)
    except MediaError:
        return Query(audio=path)
    return Query(video=path)


def _result_json(row: ClipRow, sounding: float | None) -> dict[str, Any]:
    result = SearchResult(row.clip_id, row.video, row.start, row.end, 0.0, row.narration, sounding)
    return result.to_json()


# --- auth and errors ------------------------------------------------------------------------
def _key_check(settings: ServiceSettings) -> Callable[..., None]:
    """A dependency answering 401 unless the request carries ``Bearer <api key>``."""
    assert settings.api_key is not None
    expected = settings.api_key.get_secret_value().encode()

    def check(credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(BEARER)]) -> None:
        given = credentials.credentials.encode() if credentials else b""
        if not hmac.compare_digest(given, expected):
            raise api.ApiError(
                401,
                "missing or wrong API key: send `Authorization: Bearer <key>`",
                {"WWW-Authenticate": "Bearer"},
            )

    return check


def _error(status: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status, headers=headers)


def _validation_error(errors: list[Any]) -> JSONResponse:
    """FastAPI's and pydantic's validation errors as one readable line."""
    if any(e.get("type") == "json_invalid" for e in errors):
        return _error(400, "malformed JSON body")
    parts = []
    for e in errors[:3]:
        where = ".".join(str(p) for p in e.get("loc", ()) if p != "body")
        message = str(e.get("msg", "invalid")).removeprefix("Value error, ")
        parts.append(f"{where}: {message}" if where else message)
    return _error(422, "; ".join(parts))


def _add_error_handlers(app: FastAPI) -> None:
    def handle(kind: type[Exception], status: int) -> None:
        app.add_exception_handler(kind, lambda _, exc: _error(status, str(exc)))

    handle(QueryError, 400)
    handle(FilterError, 400)
    handle(NotBuilt, 409)
    handle(MediaError, 415)
    handle(IndexChanging, 503)
    app.add_exception_handler(
        OverflowError, lambda _, exc: _error(400, "a number in the request is too large")
    )
    app.add_exception_handler(api.ApiError, lambda _, e: _error(e.status, e.message, e.headers))
    app.add_exception_handler(
        HTTPException, lambda _, e: _error(e.status_code, str(e.detail), e.headers)
    )
    app.add_exception_handler(RequestValidationError, lambda _, e: _validation_error(e.errors()))
    app.add_exception_handler(ValidationError, lambda _, e: _validation_error(e.errors()))
    app.add_exception_handler(Exception, _internal_error)


def _internal_error(request: Request, exc: Exception) -> JSONResponse:
    log.error("internal error on %s %s", request.method, request.url.path, exc_info=exc)
    return _error(500, "internal error")
