"""The catalog on SQLite and on a real PostgreSQL server that this suite starts itself."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import write_video
from postgres import PostgresServer, start_postgres
from sqlalchemy import inspect, select
from sqlalchemy.exc import IntegrityError

from indexer.cache import ClipCache
from indexer.catalog import Catalog, Clip, IndexBuild, ModelVersion, Video
from indexer.config import FoleyConfig
from indexer.ingest import ingest
from searchd.where import compile_where

INJECTION = "onion'); DROP TABLE clips; -- \" ; DELETE FROM videos WHERE '1'='1 % _ \\ 洋葱"


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    with start_postgres() as server:
        yield server


@pytest.fixture(params=["sqlite", "postgresql"])
def catalog_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh, empty catalog database: a SQLite file, or a new database on the server."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'catalog.db'}"
    server: PostgresServer = request.getfixturevalue("postgres_server")
    return server.create_database()


@pytest.fixture
def catalog(catalog_url: str) -> Iterator[Catalog]:
    cat = Catalog(catalog_url)
    yield cat
    cat.engine.dispose()


def _video(uid: str, duration: float = 10.0, size_bytes: int = 1000) -> Video:
    return Video(
        uid=uid,
        path=f"/videos/{uid}.mp4",
        duration=duration,
        width=96,
        height=72,
        fps=15.0,
        size_bytes=size_bytes,
        mtime=1700000000.123456,
        cache_key=f"{uid}-0123456789",
    )


def _clip(uid: str, start: float, narration: str | None = None, split: str = "train") -> Clip:
    return Clip(
        clip_id=f"{uid}@{start:.2f}",
        start=start,
        end=start + 2.0,
        narration=narration,
        source="narration" if narration else "stride",
        split=split,
    )


def _add(catalog: Catalog, uid: str, clips: list[tuple[float, str | None]], **kw: object) -> None:
    catalog.add_video(_video(uid, **kw), [_clip(uid, s, n) for s, n in clips])  # type: ignore[arg-type]


def test_backend_is_the_one_asked_for(catalog: Catalog, catalog_url: str) -> None:
    assert catalog.engine.dialect.name == catalog_url.split(":")[0].split("+")[0]
    tables = set(inspect(catalog.engine).get_table_names())
    assert {"videos", "clips", "model_versions", "index_builds", "ingest_errors"} <= tables


def test_add_video_is_all_or_nothing(catalog: Catalog) -> None:
    _add(catalog, "a", [(0.0, "cuts an onion"), (2.0, None)])
    before = [r.clip_id for r in catalog.clips()]
    catalog.record_error("/videos/b.mp4", "was broken once")

    # second clip repeats the first one's clip_id: the unique constraint fails mid-video
    dup = [_clip("b", 0.0, "first"), _clip("b", 2.0), _clip("b", 0.0, "duplicate")]
    with pytest.raises(IntegrityError):
        catalog.add_video(_video("b"), dup)
    # a clip_id that another video already owns fails the same way
    with pytest.raises(IntegrityError):
        catalog.add_video(_video("c"), [_clip("c", 0.0), Clip(**_fields(_clip("a", 0.0)))])

    assert catalog.count_videos() == 1
    assert [r.clip_id for r in catalog.clips()] == before
    assert catalog.video_by_path("/videos/b.mp4") is None
    assert not catalog.uid_taken("b") and not catalog.uid_taken("c")
    assert catalog.clip_by_id("b@2.00") is None
    # the old error for b is still there: its delete rolled back with the rest
    error = catalog.error_for("/videos/b.mp4")
    assert error is not None and error.error == "was broken once"

    # the catalog is still usable, and a good add clears the old error
    _add(catalog, "b", [(0.0, "first"), (2.0, None)])
    assert catalog.count_videos() == 2 and catalog.count_clips() == 4
    assert catalog.error_for("/videos/b.mp4") is None


def _fields(clip: Clip) -> dict[str, object]:
    names = ("clip_id", "start", "end", "narration", "source", "split")
    return {name: getattr(clip, name) for name in names}


def test_duplicate_video_path_or_uid_rolls_back(catalog: Catalog) -> None:
    _add(catalog, "a", [(0.0, None)])
    again = _video("a")
    again.uid = "a2"  # same path, new uid
    with pytest.raises(IntegrityError):
        catalog.add_video(again, [_clip("a2", 0.0)])
    assert catalog.count_videos() == 1 and catalog.count_clips() == 1
    assert catalog.clip_by_id("a2@0.00") is None


@pytest.fixture
def filled(catalog: Catalog) -> Catalog:
    # videos added out of alphabetical order, clips out of time order within a video
    _add(catalog, "b", [(4.0, "chops an onion"), (0.0, "opens the fridge"), (2.0, None)])
    _add(catalog, "a", [(2.0, "peels the onion"), (0.0, "onion rings")], duration=30.0)
    _add(catalog, "c", [(6.0, "fries an onion"), (1.0, "pours water")], duration=8.0)
    return catalog


def test_clips_are_ordered_by_key(filled: Catalog) -> None:
    rows = filled.clips()
    keys = [r.key for r in rows]
    assert keys == sorted(keys) and len(set(keys)) == 7
    assert filled.clip_keys() == keys
    # insertion order: the catalog never reorders what one add_video registered
    assert [r.clip_id for r in rows] == [
        "b@4.00", "b@0.00", "b@2.00", "a@2.00", "a@0.00", "c@6.00", "c@1.00",
    ]  # fmt: skip
    row = filled.clip_by_id("a@2.00")
    assert row is not None
    assert (row.video, row.video_uid, row.cache_key) == ("/videos/a.mp4", "a", "a-0123456789")
    assert (row.start, row.end, row.narration, row.source) == (2.0, 4.0, "peels the onion",
                                                               "narration")  # fmt: skip
    # keys restrict, order stays by key whatever order the keys come in
    picked = filled.clips(keys=[keys[5], keys[0], keys[3]])
    assert [r.key for r in picked] == [keys[0], keys[3], keys[5]]
    assert filled.clips(keys=[]) == []


@pytest.mark.parametrize(
    ("where", "expected"),
    [
        ("start >= 2 AND narration LIKE '%onion%'", ["b@4.00", "a@2.00", "c@6.00"]),
        ("video_uid IN ('a','b')", ["b@4.00", "b@0.00", "b@2.00", "a@2.00", "a@0.00"]),
        ("video_uid NOT IN ('a','b')", ["c@6.00", "c@1.00"]),
        ("narration IS NULL", ["b@2.00"]),
        ("narration IS NOT NULL AND NOT narration LIKE '%onion%'", ["b@0.00", "c@1.00"]),
        ("start >= 2 AND end <= 6 OR duration > 20", ["b@4.00", "b@2.00", "a@2.00", "a@0.00"]),
        ("(source = 'stride' OR start = 6) AND video != '/videos/b.mp4'", ["c@6.00"]),
        ("clip_id = 'a@0.00' OR clip_id LIKE 'c@1%'", ["a@0.00", "c@1.00"]),
        ("split = 'val'", []),
    ],
)
def test_where_filters(filled: Catalog, where: str, expected: list[str]) -> None:
    clause = compile_where(where)
    rows = filled.clips(where=clause)
    assert [r.clip_id for r in rows] == expected
    assert filled.clip_keys(where=clause) == [r.key for r in rows]
    # keys and a filter together: the intersection, still ordered by key
    all_keys = filled.clip_keys()
    subset = all_keys[::2]
    both = filled.clips(keys=subset, where=clause)
    assert [r.key for r in both] == [r.key for r in rows if r.key in subset]


def test_injection_text_round_trips(catalog: Catalog) -> None:
    uid = "o'brien; DROP TABLE videos"
    catalog.add_video(_video(uid), [_clip(uid, 0.0, INJECTION), _clip(uid, 2.0, "plain")])
    catalog.record_error("/videos/x'; DROP TABLE ingest_errors; --.mp4", INJECTION)

    row = catalog.clip_by_id(f"{uid}@0.00")
    assert row is not None and row.narration == INJECTION and row.video_uid == uid
    assert [r.narration for r in catalog.clips()] == [INJECTION, "plain"]
    # the same text as a --where literal ('' escapes a quote) finds exactly that clip
    quoted = "'" + INJECTION.replace("'", "''") + "'"
    assert [r.narration for r in catalog.clips(where=compile_where(f"narration = {quoted}"))] == [
        INJECTION
    ]
    uid_quoted = "'" + uid.replace("'", "''") + "'"
    assert len(catalog.clip_keys(where=compile_where(f"video_uid IN ({uid_quoted}, 'zz')"))) == 2
    assert catalog.errors() == [
        {"path": "/videos/x'; DROP TABLE ingest_errors; --.mp4", "error": INJECTION}
    ]
    # nothing was dropped or deleted
    assert catalog.count_videos() == 1 and catalog.count_clips() == 2
    assert {"videos", "clips", "ingest_errors"} <= set(inspect(catalog.engine).get_table_names())


def test_nul_characters_are_dropped_on_every_backend(catalog: Catalog) -> None:
    # PostgreSQL text cannot hold NUL; the catalog drops it everywhere instead of failing
    catalog.add_video(_video("n"), [_clip("n", 0.0, "cuts\x00 an onion")])
    catalog.record_error("/videos/bad.mp4", "bad byte \x00 here")
    assert [r.narration for r in catalog.clips()] == ["cuts an onion"]
    assert catalog.errors()[0]["error"] == "bad byte  here"
    assert catalog.clip_keys(where=compile_where("narration = 'cuts an onion'")) != []


def test_large_files_and_long_uids(catalog: Catalog) -> None:
    # real videos pass 2 GiB (PostgreSQL INTEGER is 32-bit); a "<parent>-<stem>" uid can pass
    # 255 characters (PostgreSQL enforces VARCHAR lengths)
    big = 7 * 2**30 + 5
    uid = "p" * 250 + "-" + "s" * 250
    catalog.add_video(_video(uid, size_bytes=big), [_clip(uid, 0.0, "long")])
    catalog.record_error("/videos/huge.mp4", "no video stream", size_bytes=big, mtime=1.5)
    video = catalog.video_by_path(f"/videos/{uid}.mp4")
    assert video is not None and video.size_bytes == big and video.uid == uid
    assert video.mtime == 1700000000.123456  # exact: ingest compares mtimes for equality
    error = catalog.error_for("/videos/huge.mp4")
    assert error is not None and (error.size_bytes, error.mtime) == (big, 1.5)
    row = catalog.clip_by_id(f"{uid}@0.00")
    assert row is not None and row.cache_key == f"{uid}-0123456789"


def test_record_error_replaces_the_older_reason(catalog: Catalog) -> None:
    catalog.record_error("/v/x.mp4", "first reason", size_bytes=10, mtime=1.0)
    catalog.record_error("/v/y.mp4", "other file")
    catalog.record_error("/v/x.mp4", "second reason", size_bytes=20, mtime=2.0)
    error = catalog.error_for("/v/x.mp4")
    assert error is not None
    assert (error.error, error.size_bytes, error.mtime) == ("second reason", 20, 2.0)
    assert catalog.errors() == [
        {"path": "/v/y.mp4", "error": "other file"},
        {"path": "/v/x.mp4", "error": "second reason"},
    ]
    assert catalog.error_for("/v/none.mp4") is None


def _model(version: str, name: str = "mc3-small") -> ModelVersion:
    return ModelVersion(
        version=version,
        name=name,
        path=f"/models/{version}",
        config=json.dumps({"dim": 64}),
        steps=100,
        train_seconds=1.5,
    )


def test_model_versions(catalog: Catalog) -> None:
    assert catalog.current_model() is None and catalog.model_versions() == []
    catalog.add_model_version(_model("v1"), make_current=True)
    catalog.add_model_version(_model("v2"), make_current=False)
    current = catalog.current_model()
    assert current is not None and current.version == "v1"

    catalog.add_model_version(_model("v3", name="mc3-base"), make_current=True)
    catalog.add_model_version(_model("v2"), make_current=True)  # existing: only made current
    versions = catalog.model_versions()
    assert [m.version for m in versions] == ["v1", "v2", "v3"]
    assert [m.version for m in versions if m.current] == ["v2"]
    current = catalog.current_model()
    assert current is not None and current.version == "v2"
    assert json.loads(current.config) == {"dim": 64}

    v3 = catalog.model_version("v3")
    assert v3 is not None and v3.name == "mc3-base"
    newest = catalog.model_version("mc3-small")  # by config name: the newest one
    assert newest is not None and newest.version == "v2"
    assert catalog.model_version("nope") is None


def test_each_model_kind_has_its_own_current_model(catalog: Catalog) -> None:
    catalog.add_model_version(_model("search"), make_current=True)
    localiser = _model("dense", name="denseav-small")
    localiser.kind = "denseav"
    catalog.add_model_version(localiser, make_current=True)
    assert catalog.current_model().version == "search"  # mc3 by default
    assert catalog.current_model("denseav").version == "dense"
    catalog.add_model_version(_model("search2"), make_current=True)
    assert catalog.current_model("denseav").version == "dense"  # untouched by a new MC3


def test_record_index_build(catalog: Catalog) -> None:
    manifest = {"model_version": "v1", "clips": 12, "tables": ["video", "audio"], "nested": {}}
    catalog.record_index_build("v1", manifest)
    catalog.record_index_build("v2", {"clips": 3})
    with catalog.session() as s:
        builds = list(s.scalars(select(IndexBuild).order_by(IndexBuild.id)))
    assert [b.model_version for b in builds] == ["v1", "v2"]
    assert json.loads(builds[0].manifest) == manifest
    assert builds[0].built_at is not None and builds[0].built_at <= builds[1].built_at


def test_ingest_on_postgresql(postgres_server: PostgresServer, tmp_path: Path) -> None:
    url = postgres_server.create_database()
    videos = tmp_path / "videos"
    videos.mkdir()
    write_video(videos / "alpha.mp4", seconds=4.0)
    write_video(videos / "beta.mp4", seconds=4.0)
    (videos / "broken.mp4").write_bytes(b"")
    config = FoleyConfig(home=tmp_path / "home", catalog_url=url, progress=False)
    catalog = Catalog(url)
    try:
        report = ingest(videos, None, config, catalog, workers=2)
        assert (report.found, report.added, report.failed) == (3, 2, 1)
        assert catalog.count_videos() == 2
        rows = catalog.clips()
        assert report.clips == len(rows) == catalog.count_clips() > 0
        assert {r.video_uid for r in rows} == {"alpha", "beta"}
        for uid in ("alpha", "beta"):
            mine = [r for r in rows if r.video_uid == uid]
            assert mine and all(0 <= r.start < r.end for r in mine)
            assert ClipCache(config.cache_dir).has(mine[0].cache_key)
        broken = str(videos / "broken.mp4")
        assert [e["path"] for e in catalog.errors()] == [broken]
        assert catalog.video_by_path(broken) is None

        again = ingest(videos, None, config, catalog, workers=2)
        assert (again.found, again.added, again.failed, again.skipped) == (3, 0, 0, 3)
        assert catalog.count_videos() == 2 and catalog.count_clips() == len(rows)
        assert [e["path"] for e in catalog.errors()] == [broken]
    finally:
        catalog.engine.dispose()


def test_a_catalog_from_before_model_kinds_is_upgraded(tmp_path) -> None:
    import sqlite3

    path = tmp_path / "old.db"
    with sqlite3.connect(path) as db:
        db.execute(
            "CREATE TABLE model_versions (id INTEGER PRIMARY KEY, version VARCHAR(64) UNIQUE, "
            "name VARCHAR(128), path TEXT, config TEXT, steps INTEGER, train_seconds FLOAT, "
            "current INTEGER, created_at DATETIME)"
        )
        db.execute(
            "INSERT INTO model_versions VALUES (1, 'old', 'mc3-small', '/m', '{}', 5, 1.0, 1, "
            "'2026-01-01 00:00:00')"
        )
    catalog = Catalog(f"sqlite:///{path}")
    assert catalog.current_model().version == "old"  # an old model is an MC3 model
    assert catalog.current_model("denseav") is None
