"""The HTTP service's documents: request and response models (pydantic), their OpenAPI
description, and reading them from a request.

JSON bodies are strict (no type coercion, no unknown fields); multipart form fields arrive as
text, so their models convert ("10" -> 10) but still refuse unknown fields.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, TypeVar

from fastapi import Request
from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, model_validator
from starlette.datastructures import UploadFile

from searchd.rerank import DEFAULT_DEPTH

Target = Literal["audio", "video", "text"]


def _no_nul(value: str) -> str:
    if "\x00" in value:  # PostgreSQL cannot hold NUL, and no clip id or text needs it
        raise ValueError("must not contain NUL characters")
    return value


Text = Annotated[str, AfterValidator(_no_nul)]
CLIP_ID = Field(min_length=1, max_length=500, description="an indexed clip id, e.g. v003@12.40")
WHERE = Field(
    None,
    max_length=2000,
    description="filter on catalog columns, e.g. \"start > 30 AND video LIKE '%v01%'\"",
)
_JSON = ConfigDict(extra="forbid", strict=True)
Seconds = Annotated[float, Field(ge=0, allow_inf_nan=False)]


def _span_words(value: Any) -> Any:
    """A span as a tuple: a JSON array's items, or a form field's words ("START END")."""
    if isinstance(value, str):
        return tuple(value.replace(",", " ").split())
    return tuple(value) if isinstance(value, list) else value


Span = Annotated[
    tuple[Seconds, Seconds],
    BeforeValidator(_span_words),
    Field(description="the moment to locate, e.g. a spoken word: [start, end] s of video time"),
]
_FORM = ConfigDict(extra="forbid")
M = TypeVar("M", bound=BaseModel)
# declared types of an upload part we try to decode (browsers send octet-stream when unsure)
UPLOAD_TYPES = (
    "audio/",
    "video/",
    "application/octet-stream",
    "application/mp4",
    "application/ogg",
)


class ApiError(Exception):
    """An answer other than 200, with the one-line reason sent as ``{"error": ...}``."""

    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.headers = status, message, headers


class ErrorBody(BaseModel):
    error: str = Field(description="one line saying what went wrong")


class Health(BaseModel):
    status: Literal["ok"] = "ok"
    model_version: str | None = Field(description="the model serving searches; null before a build")
    clips: int


class ClipResult(BaseModel):
    """One clip, as `foley search --json` prints it."""

    clip_id: str
    video: str = Field(description="the video file's path as ingested")
    start: float = Field(description="seconds")
    end: float = Field(description="seconds")
    score: float | None
    narration: str | None
    sounding: float | None = Field(description="sounding-action (consensus) score")


class Results(BaseModel):
    results: list[ClipResult]


class ClipMedia(BaseModel):
    audio: str
    video: str
    thumbnail: str


class ClipInfo(ClipResult):
    media: ClipMedia


class SearchOptions(BaseModel):
    target: Target = Field("audio", description="which modality of the indexed clips to rank")
    k: int = Field(10, ge=1, le=1000, description="number of results")
    where: Text | None = WHERE
    rerank: Annotated[int, Field(ge=1, le=1000)] | bool = Field(
        False,
        description=f"re-rank the top results by DenseAV (true: the top {DEFAULT_DEPTH}; a "
        "number N: the top N); only a sound query (a clip or an uploaded audio file) with "
        "target video",
    )


class SearchRequest(SearchOptions):
    """Search by a text or by an indexed clip (exactly one)."""

    model_config = ConfigDict(
        **_JSON,
        json_schema_extra={
            "oneOf": [
                {"required": [name], "properties": {name: {"type": "string"}}}
                for name in ("text", "clip")
            ]
        },
    )
    text: Text | None = Field(None, min_length=1, max_length=2000)
    clip: Text | None = Field(None, min_length=1, max_length=500)

    @model_validator(mode="after")
    def _one_query(self) -> SearchRequest:
        if (self.text is None) == (self.clip is None):
            raise ValueError("give exactly one of text or clip")
        return self


class SearchForm(SearchOptions):
    """Form fields beside the uploaded `file` (audio: matched by sound; video: by picture)."""

    model_config = _FORM


class DiscoverRequest(BaseModel):
    model_config = _JSON
    k: int = Field(20, ge=1, le=1000)
    text: Text | None = Field(None, max_length=2000, description="only clips matching this text")
    where: Text | None = WHERE


class LocateRequest(BaseModel):
    model_config = _JSON
    clip: Text = CLIP_ID
    span: Span | None = None


class LocateForm(BaseModel):
    """Form fields beside the uploaded `video` (required) and `audio` (optional)."""

    model_config = _FORM
    at: Seconds | None = Field(None, description="start (s) of the window (default: strongest)")
    span: Span | None = None  # "START END"


class GenerateForm(BaseModel):
    """Form fields beside the uploaded silent `video`."""

    model_config = _FORM
    mode: Literal["action", "joint"] = "joint"
    ambient: Text | None = Field(None, max_length=500, description="clip id whose ambience to keep")
    steps: int | None = Field(None, ge=1, le=200, description="sampling steps (default 25)")
    guidance: float | None = Field(None, ge=0.0, le=30.0, description="guidance scale")
    seed: int = Field(0, ge=0, le=2**31 - 1)
    candidates: int | None = Field(
        None, ge=1, le=16, description="samples per window, the one most in time kept (default 6)"
    )
    format: Literal["video", "wav"] = Field(
        "video", description="video: the upload with the sound muxed in; wav: the sound alone"
    )


# --- OpenAPI ------------------------------------------------------------------------------
def request_body(json_model: type[BaseModel] | None, multipart: dict[str, Any]) -> dict[str, Any]:
    """An operation's ``openapi_extra``: a body of JSON (``json_model``) and/or multipart."""
    content: dict[str, Any] = {"multipart/form-data": {"schema": multipart}}
    if json_model is not None:
        content["application/json"] = {"schema": json_model.model_json_schema()}
    return {"requestBody": {"required": True, "content": content}}


def multipart_schema(form: type[BaseModel], files: dict[str, bool]) -> dict[str, Any]:
    """OpenAPI schema of a multipart body: the form model's fields plus file parts
    (``files``: name -> required)."""
    schema = form.model_json_schema()
    binary = {"type": "string", "format": "binary"}
    return {
        "type": "object",
        "properties": {**schema.get("properties", {}), **dict.fromkeys(files, binary)},
        "required": [*schema.get("required", []), *(n for n, needed in files.items() if needed)],
        "additionalProperties": False,
    }


def error_responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI entries for the error statuses a route answers, all with ``{"error": str}``."""
    return {code: {"model": ErrorBody} for code in codes}


# --- reading requests -----------------------------------------------------------------------
def is_multipart(request: Request) -> bool:
    """True for a multipart body, False for JSON (or none); 415 for anything else."""
    kind = _content_type(request)
    if kind in ("", "application/json") or kind.endswith("+json"):
        return False
    if kind == "multipart/form-data":
        return True
    raise ApiError(415, f"send application/json or multipart/form-data, not {kind}")


async def read_json(request: Request, model: type[M]) -> M:
    """The JSON body as ``model`` (an empty body is ``{}``); raises pydantic's ValidationError."""
    return model.model_validate_json(await request.body() or b"{}")


async def read_form(
    request: Request, model: type[M], files: dict[str, bool]
) -> tuple[M, dict[str, UploadFile]]:
    """Validated form fields and the uploaded files (``files``: name -> required)."""
    if _content_type(request) != "multipart/form-data":
        raise ApiError(415, f"send multipart/form-data, not {_content_type(request) or 'nothing'}")
    form = await request.form(max_files=len(files) + 2, max_fields=32)
    try:
        fields: dict[str, str] = {}
        uploads: dict[str, UploadFile] = {}
        for name, value in form.multi_items():
            if isinstance(value, UploadFile) != (name in files):
                problem = "expected a file upload" if name in files else "unexpected file upload"
                raise ApiError(422, f"{name}: {problem}")
            if isinstance(value, UploadFile):
                _check_upload_type(name, value)
                uploads[name] = value
            else:
                fields[name] = value
        for name, required in files.items():
            if required and name not in uploads:
                raise ApiError(422, f"{name}: a file upload is required")
        return model.model_validate(fields), uploads
    except Exception:
        await form.close()  # the spooled upload files
        raise


def _content_type(request: Request) -> str:
    return request.headers.get("content-type", "").split(";")[0].strip().lower()


def _check_upload_type(name: str, upload: UploadFile) -> None:
    declared = (upload.content_type or "").split(";")[0].strip().lower()
    if declared and not declared.startswith(UPLOAD_TYPES):
        raise ApiError(415, f"{name}: expected an audio or video file, not {declared}")
