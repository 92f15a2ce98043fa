"""A small typed HTTP client for searchd (`foley serve`): the web app's only way in.

Every failure — searchd unreachable, a 4xx with ``{"error": ...}``, a timeout — becomes an
``ApiError`` whose message is one readable line the app can show in the page::

    client = SearchClient("http://127.0.0.1:8000", api_key=None)
    client.search(text="slicing vegetables", target="audio", k=5)
"""

from __future__ import annotations

import json
import mimetypes
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal
from urllib.parse import quote

import httpx

Target = Literal["audio", "video", "text"]
MediaKind = Literal["audio", "video", "thumbnail"]


class ApiError(Exception):
    """A request searchd could not answer; ``status`` is 0 when it was never reached."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message

    @property
    def not_built(self) -> bool:
        """True for 409: the feature exists in the API but its model is not built yet."""
        return self.status == 409


@dataclass(frozen=True)
class ClipResult:
    """One ranked clip, as searchd's JSON gives it."""

    clip_id: str
    video: str
    start: float
    end: float
    score: float
    narration: str | None
    sounding: float | None  # the clip's consensus (sounding-action) score

    @classmethod
    def from_json(cls, row: dict[str, Any]) -> ClipResult:
        sounding = row.get("sounding")
        return cls(
            clip_id=str(row["clip_id"]),
            video=str(row.get("video", "")),
            start=float(row["start"]),
            end=float(row["end"]),
            score=float(row.get("score", 0.0)),
            narration=row.get("narration") or None,
            sounding=None if sounding is None else float(sounding),
        )


@dataclass(frozen=True)
class Media:
    """A binary answer (generated audio or video, a heat-map image) with its type."""

    content: bytes
    media_type: str
    info: dict[str, Any] | None = None  # what searchd says about it (X-Foley-Generation)


class SearchClient:
    """Calls searchd's HTTP API with an optional bearer key."""

    def __init__(
        self,
        base_url: str,
        api_key: str | None = None,
        timeout: float = 120.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._http = httpx.Client(
            base_url=self.base_url, headers=headers, timeout=timeout, transport=transport
        )

    def close(self) -> None:
        self._http.close()

    # --- JSON routes ----------------------------------------------------------------------
    def health(self) -> dict[str, Any]:
        return self._json("GET", "/health", timeout=5.0)

    def status(self) -> dict[str, Any]:
        return self._json("GET", "/status")

    def search(
        self,
        *,
        text: str | None = None,
        clip: str | None = None,
        file: Path | None = None,
        target: Target = "audio",
        k: int = 10,
        where: str | None = None,
    ) -> list[ClipResult]:
        """Clips whose `target` modality matches a text, an indexed clip or an uploaded file."""
        if file is not None:
            form = {"target": target, "k": str(k), **({"where": where} if where else {})}
            with _opened(file) as upload:
                answer = self._json("POST", "/search", data=form, files={"file": upload})
        else:
            body = {"text": text, "clip": clip, "target": target, "k": k, "where": where or None}
            answer = self._json("POST", "/search", json={n: v for n, v in body.items() if v})
        return _results(answer)

    def discover(
        self, k: int = 20, text: str | None = None, where: str | None = None
    ) -> list[ClipResult]:
        """Clips ranked by sounding-action (consensus) score, optionally matching `text`."""
        body = {"k": k, "text": text or None, "where": where or None}
        return _results(self._json("POST", "/discover", json=body))

    # --- routes that may answer with media ------------------------------------------------
    def locate(
        self,
        *,
        clip: str | None = None,
        video: Path | None = None,
        audio: Path | None = None,
        at: float | None = None,
        span: tuple[float, float] | None = None,
    ) -> dict[str, Any] | Media:
        """DenseAV heat maps for an indexed clip or an uploaded video (+ optional audio);
        ``span`` (video time) keeps them to one moment, e.g. a spoken word; ``at``: an
        upload's window start (default: where sound and picture match best)."""
        if video is None:
            body = {"clip": clip, **({"span": list(span)} if span else {})}
            return self._answer(self._request("POST", "/locate", json=body))
        form = {} if at is None else {"at": str(at)}
        if span:
            form["span"] = f"{span[0]} {span[1]}"
        with _opened(video) as v:
            files = {"video": v}
            if audio is None:
                return self._answer(self._request("POST", "/locate", data=form, files=files))
            with _opened(audio) as a:
                files["audio"] = a
                return self._answer(self._request("POST", "/locate", data=form, files=files))

    def generate(
        self,
        video: Path,
        *,
        mode: str = "joint",
        ambient: str | None = None,
        steps: int = 25,
        guidance: float | None = None,
        seed: int = 0,
        candidates: int | None = None,
    ) -> dict[str, Any] | Media:
        """An AV-LDM soundtrack for a silent video: the video with the sound muxed in.
        ``ambient`` names the clip whose ambience to use (default: retrieved by searchd);
        ``candidates``: samples per window, the one most in time with the picture kept."""
        form = {"mode": mode, "steps": str(steps), "seed": str(seed)}
        if guidance is not None:
            form["guidance"] = str(guidance)
        if candidates is not None:
            form["candidates"] = str(candidates)
        if ambient:
            form["ambient"] = ambient
        with _opened(video) as upload:
            response = self._request("POST", "/generate", data=form, files={"video": upload})
        return self._answer(response)

    def clip_audio(self, clip_id: str) -> bytes:
        """The clip's sound as WAV bytes."""
        return self._request("GET", _clip_path(clip_id, "audio")).content

    @contextmanager
    def stream_media(
        self, clip_id: str, kind: MediaKind, range_header: str | None = None
    ) -> Iterator[httpx.Response]:
        """An open streaming response for a clip's media, forwarding an HTTP Range header."""
        headers = {"Range": range_header} if range_header else {}
        request = self._http.build_request("GET", _clip_path(clip_id, kind), headers=headers)
        try:
            response = self._http.send(request, stream=True)
        except httpx.HTTPError as exc:
            raise self._unreachable(exc) from exc
        try:
            if response.status_code >= 400:
                response.read()
                raise _error(response)
            yield response
        finally:
            response.close()

    # --- plumbing -------------------------------------------------------------------------
    def _json(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        answer = self._answer(self._request(method, path, **kwargs))
        if not isinstance(answer, dict):
            raise ApiError(502, f"searchd answered {path} with {answer.media_type}, not JSON")
        return answer

    def _request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            response = self._http.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            raise self._unreachable(exc) from exc
        if response.status_code >= 400:
            raise _error(response)
        return response

    def _answer(self, response: httpx.Response) -> dict[str, Any] | Media:
        media_type = response.headers.get("content-type", "").split(";")[0].strip()
        if media_type == "application/json":
            return response.json()
        info = response.headers.get("x-foley-generation")
        return Media(
            response.content,
            media_type or "application/octet-stream",
            json.loads(info) if info else None,
        )

    def _unreachable(self, exc: httpx.HTTPError) -> ApiError:
        if isinstance(exc, httpx.TimeoutException):
            return ApiError(0, f"searchd at {self.base_url} did not answer in time")
        reason = str(exc) or type(exc).__name__
        return ApiError(0, f"cannot reach searchd at {self.base_url}: {reason}")


def _clip_path(clip_id: str, medium: str) -> str:
    """``/clips/{id}/{medium}`` with the id escaped for a URL path."""
    return f"/clips/{quote(clip_id, safe='@')}/{medium}"


def _results(answer: dict[str, Any]) -> list[ClipResult]:
    return [ClipResult.from_json(row) for row in answer.get("results", [])]


def _error(response: httpx.Response) -> ApiError:
    """The one-line reason searchd gave (``{"error"}``, or FastAPI's ``{"detail"}``)."""
    try:
        body = response.json()
    except ValueError:
        body = None
    message = None
    if isinstance(body, dict):
        message = body.get("error") or body.get("detail")
        if isinstance(message, list):  # FastAPI validation errors: a list of {"loc", "msg"}
            message = "; ".join(
                f"{'.'.join(str(p) for p in item.get('loc', [])[1:])}: {item.get('msg')}"
                for item in message
            )
    if not message:
        message = response.text.strip()[:200] or response.reason_phrase
    if response.status_code == 401:
        message = f"{message} (start `foley ui` with --api-key or FOLEY_API_KEY)"
    return ApiError(response.status_code, str(message))


@contextmanager
def _opened(path: Path) -> Iterator[tuple[str, Any, str]]:
    """An upload tuple (name, open file, content type) for httpx's ``files=``."""
    path = Path(path)
    if not path.is_file():
        raise ApiError(400, f"no such file: {path.name}")
    media_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    with path.open("rb") as handle:
        yield (path.name, handle, media_type)
