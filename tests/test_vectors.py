"""The vector store: durable LanceDB rows, atomically published FAISS builds, narration search."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest

from indexer.faiss_index import CURRENT, IndexSettings
from indexer.vectors import VectorStore

DIM = 32


def unit(x: np.ndarray) -> np.ndarray:
    return x / np.linalg.norm(x, axis=-1, keepdims=True)


def random_vectors(n: int, seed: int = 0, dim: int = DIM) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((n, dim)).astype(np.float32)


def exact_top(store_vectors: np.ndarray, keys: np.ndarray, query: np.ndarray, k: int) -> list:
    scores = unit(store_vectors) @ unit(query)
    order = np.argsort(-scores, kind="stable")[:k]
    return [int(keys[i]) for i in order]


@pytest.fixture
def store(tmp_path: Path) -> VectorStore:
    return VectorStore(tmp_path / "vectors")


def test_writing_the_same_clips_twice_keeps_one_row_each_with_the_new_vector(store):
    keys = np.arange(10)
    store.write("m1", "audio", keys, random_vectors(10, seed=1))
    newer = random_vectors(10, seed=2)
    assert store.write("m1", "audio", keys, newer) == 10
    assert store.counts("m1")["audio"] == 10
    got_keys, got = store.read("m1", "audio")
    np.testing.assert_array_equal(got_keys, keys)
    np.testing.assert_allclose(got, unit(newer), atol=1e-6)


def test_a_key_repeated_in_one_write_keeps_its_last_vector(store):
    vecs = random_vectors(3)
    assert store.write("m1", "video", [4, 4, 5], vecs) == 2
    _, got = store.read("m1", "video", [4])
    np.testing.assert_allclose(got[0], unit(vecs[1]), atol=1e-6)


def test_existing_keys_and_counts_are_per_model_version(store):
    store.write("m1", "audio", [1, 2, 3], random_vectors(3))
    store.write("m2", "audio", [3, 4], random_vectors(2, dim=16))  # a new width is fine
    store.write("m2", "text", [9], random_vectors(1, dim=16))
    assert store.existing_keys("m1", "audio") == {1, 2, 3}
    assert store.existing_keys("m2", "audio") == {3, 4}
    assert store.existing_keys("m3", "audio") == set()
    assert store.counts("m2") == {"audio": 2, "video": 0, "text": 1, "narration": 0}
    assert store.counts()["audio"] == 5
    store.delete_version("m1")
    assert store.counts() == {"audio": 2, "video": 0, "text": 1, "narration": 0}


def test_read_returns_keys_sorted_and_only_those_asked(store):
    vecs = random_vectors(5)
    store.write("m1", "audio", [50, 10, 40, 20, 30], vecs)
    keys, got = store.read("m1", "audio")
    np.testing.assert_array_equal(keys, [10, 20, 30, 40, 50])
    np.testing.assert_allclose(got[0], unit(vecs[1]), atol=1e-6)
    keys, got = store.read("m1", "audio", [40, 10, 999])
    np.testing.assert_array_equal(keys, [10, 40])
    assert got.shape == (2, DIM) and got.dtype == np.float32


def test_bad_vectors_are_refused(store):
    store.write("m1", "audio", [1], random_vectors(1))
    with pytest.raises(ValueError, match="dimension"):
        store.write("m1", "audio", [2], random_vectors(1, dim=8))
    with pytest.raises(ValueError, match="NaN"):
        store.write("m1", "audio", [2], np.full((1, DIM), np.nan, np.float32))
    with pytest.raises(ValueError, match="modality"):
        store.write("m1", "smell", [2], random_vectors(1))


def test_exact_index_finds_the_nearest_clip_with_its_cosine(store):
    vecs = random_vectors(200)
    keys = np.arange(1000, 1200)
    store.write("m1", "video", keys, vecs)
    manifest = store.build_indexes("m1")
    assert manifest["model_version"] == "m1"
    assert manifest["modalities"]["video"] == {
        "count": 200,
        "dim": DIM,
        "kind": "flat",
        "file": "video.faiss",
    }
    assert store.manifest() == manifest
    query = vecs[17] + 0.1 * random_vectors(1, seed=5)[0]
    (hits,) = store.search("video", query, k=5)
    assert [key for key, _ in hits] == exact_top(vecs, keys, query, 5)
    assert hits[0][0] == 1017
    assert hits[0][1] == pytest.approx(float(unit(vecs[17]) @ unit(query)), abs=1e-5)


def test_search_before_any_build_fails_clearly_and_unindexed_modalities_are_empty(store):
    store.write("m1", "audio", [1], random_vectors(1))
    with pytest.raises(LookupError):
        store.search("audio", random_vectors(1), k=3)
    store.build_indexes("m1")
    assert store.search("video", random_vectors(2), k=3) == [[], []]


@pytest.mark.parametrize("kind", ["hnsw", "ivf"])
def test_approximate_index_agrees_with_exact_top1(store, kind):
    vecs = random_vectors(300)
    keys = np.arange(300)
    store.write("m1", "audio", keys, vecs)
    manifest = store.build_indexes("m1", IndexSettings(exact_below=50, kind=kind))
    assert manifest["modalities"]["audio"]["kind"] == kind
    queries = vecs[:100] + 0.5 * random_vectors(100, seed=9)
    results = store.search("audio", queries, k=10)
    hits = [
        res[0][0] == exact_top(vecs, keys, q, 1)[0] for res, q in zip(results, queries, strict=True)
    ]
    assert np.mean(hits) >= 0.9


@pytest.mark.parametrize(
    ("settings", "n_allowed"),
    [
        (IndexSettings(), 7),  # exact index
        (IndexSettings(exact_below=50), 7),  # HNSW, selective filter: exact over the subset
        (IndexSettings(exact_below=50), 120),  # HNSW, broad filter: filtered graph search
        (IndexSettings(exact_below=50, kind="ivf", nprobe=1), 60),  # IVF, one list: comes up short
    ],
)
def test_allowed_keys_restrict_results_and_never_lose_any(store, settings, n_allowed):
    vecs = random_vectors(300)
    keys = np.arange(300) * 3
    store.write("m1", "audio", keys, vecs)
    store.build_indexes("m1", settings)
    rng = np.random.default_rng(3)
    allowed = np.concatenate([rng.choice(keys, n_allowed, replace=False), [1, 2, 100000]])
    in_index = np.isin(keys, allowed)
    queries = random_vectors(20, seed=4)
    for k in (5, 10):
        for query, hits in zip(
            queries, store.search("audio", queries, k, allowed=allowed), strict=True
        ):
            got = [key for key, _ in hits]
            assert set(got) <= set(allowed.tolist())
            assert len(got) == min(k, n_allowed)
            if n_allowed < 50:  # exact path: exactly the right clips, in order
                assert got == exact_top(vecs[in_index], keys[in_index], query, k)
    assert store.search("audio", queries[:1], 5, allowed=np.array([], np.int64)) == [[]]


def test_a_reader_keeps_searching_while_new_builds_are_published(tmp_path):
    writer = VectorStore(tmp_path / "vectors")
    reader = VectorStore(tmp_path / "vectors")
    writer.write("m1", "audio", np.arange(100), random_vectors(100))
    writer.build_indexes("m1")
    queries = random_vectors(10, seed=7)
    assert all(len(h) == 5 for h in reader.search("audio", queries, 5))

    errors: list[BaseException] = []
    stop = threading.Event()

    def search_forever() -> None:
        try:
            while not stop.is_set():
                results = reader.search("audio", queries, 5)
                assert all(len(hits) == 5 for hits in results)
        except BaseException as exc:  # reported below, on the test's thread
            errors.append(exc)

    thread = threading.Thread(target=search_forever)
    thread.start()
    try:
        for version in range(2, 6):
            writer.write(f"m{version}", "audio", np.arange(105), random_vectors(105, version))
            writer.build_indexes(f"m{version}")
    finally:
        stop.set()
        thread.join()
    assert not errors, errors
    assert reader.manifest()["model_version"] == "m5"
    (hits,) = reader.search("audio", random_vectors(105, seed=5)[104], 1)
    assert hits[0][0] == 104  # the reader now serves the newest build
    builds = [p for p in (tmp_path / "vectors" / "faiss").iterdir() if p.is_dir()]
    assert len(builds) == 2  # current and previous; older ones are cleaned up


def test_a_half_written_build_is_ignored_and_later_cleaned(store):
    store.write("m1", "audio", np.arange(20), random_vectors(20))
    store.build_indexes("m1")
    faiss_root = store.root / "faiss"
    crashed = faiss_root / "build-29991231T235959-deadbeef"  # sorts after every real build
    crashed.mkdir()
    (crashed / "audio.faiss").write_bytes(b"truncated")
    (faiss_root / ".tmp-CURRENT-0000").write_text(crashed.name)
    assert store.manifest()["model_version"] == "m1"
    assert len(store.search("audio", random_vectors(1), 3)[0]) == 3
    store.build_indexes("m1")
    assert not crashed.exists()
    assert not (faiss_root / ".tmp-CURRENT-0000").exists()
    assert (faiss_root / CURRENT).read_text() == store.manifest()["build"]


def test_full_text_search_finds_exact_words_and_survives_any_input(store):
    store.write_narrations(
        [1, 2, 3, 4],
        ["#C C cuts an onion on the board", "#C C opens the fridge", "", 'He said "hi" AND *'],
    )
    hits = store.full_text_search("onion", k=5)
    assert [key for key, _ in hits] == [1] and hits[0][1] > 0
    assert [key for key, _ in store.full_text_search("fridge onion", 5)] != []
    for nasty in ['"onion', "onion AND", "*", "on*ion(", "text:onion", "'; DROP TABLE x", "\\"]:
        store.full_text_search(nasty, 5)  # no exception, whatever the user types
    assert [key for key, _ in store.full_text_search('"onion', 5)] == [1]
    assert store.full_text_search("", 5) == []
    assert store.full_text_search("   ", 5) == []
    assert store.full_text_search("onion", 5, allowed=np.array([2, 3])) == []
    assert [key for key, _ in store.full_text_search("fridge", 5, allowed=np.array([2]))] == [2]


def test_rewriting_a_narration_replaces_its_text(store):
    store.write_narrations([1], ["C cuts an onion"])
    store.write_narrations([1, 2], ["C peels a carrot", "C cuts a leek"])
    assert store.full_text_search("onion", 5) == []
    assert [key for key, _ in store.full_text_search("carrot", 5)] == [1]


def test_deleted_clips_leave_the_tables_and_after_a_rebuild_the_search(store):
    vecs = random_vectors(30)
    store.write("m1", "audio", np.arange(30), vecs)
    store.write("m1", "video", np.arange(30), vecs)
    store.write_narrations([3, 4], ["C cuts an onion", "C cuts a leek"])
    store.build_indexes("m1")
    store.delete_keys([3, 5])
    assert store.counts("m1") == {"audio": 28, "video": 28, "text": 0, "narration": 0}
    assert 3 not in store.existing_keys("m1", "audio")
    assert [key for key, _ in store.full_text_search("cuts", 5)] == [4]
    store.build_indexes("m1")
    for modality in ("audio", "video"):
        (hits,) = store.search(modality, vecs[3], k=30)
        assert {3, 5}.isdisjoint(key for key, _ in hits) and len(hits) == 28
