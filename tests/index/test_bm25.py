"""The BM25 index beside Chroma: same scores as bm25s, changes by diff equal a rebuild,
and a saved index loads back identical."""

import random

import numpy as np
import pytest

from bot.index.bm25 import Bm25Index
from bot.util.text import terms
from bot.schema import Chunk

WORDS = ("river flood dam gauge mayor vote council bridge storm rain missile range test "
         "launch agency report kilometers election court ruling budget tax school").split()


def _corpus(seed: int, n_articles: int = 12) -> dict[str, list[Chunk]]:
    rng = random.Random(seed)
    out = {}
    for a in range(n_articles):
        aid = f"a{seed}x{a}"
        out[aid] = [Chunk(aid, n, 0, 0, " ".join(rng.choice(WORDS) for _ in range(rng.randint(3, 40))))
                    for n in range(rng.randint(1, 4))]
    return out


def _add(index: Bm25Index, corpus: dict[str, list[Chunk]], ids, version: str = "v1") -> None:
    index.replace(set(), [(a, version, f"src/{a}", -1) for a in ids],
                  [c for a in ids for c in corpus[a]], terms)


def _scores(index: Bm25Index, query: str) -> dict[str, float]:
    return dict(index.search(terms(query), 1000))


def test_scores_match_bm25s():
    import bm25s

    corpus = _corpus(1)
    chunks = [c for cs in corpus.values() for c in cs]
    index = Bm25Index()
    _add(index, corpus, list(corpus))
    ref = bm25s.BM25()
    ref.index([terms(c.text) for c in chunks], show_progress=False)
    for query in ["river flood", "missile range test", "budget tax school court"]:
        docs, scores = ref.retrieve([terms(query)], k=len(chunks), show_progress=False)
        expected = {chunks[d].chunk_id: s for d, s in zip(docs[0], scores[0]) if s > 0}
        got = _scores(index, query)
        assert got.keys() == expected.keys()
        for cid, s in expected.items():
            assert got[cid] == pytest.approx(s, rel=1e-4)


def test_changes_by_diff_equal_a_rebuild():
    corpus = _corpus(2, 20)
    ids = list(corpus)
    index = Bm25Index()
    _add(index, corpus, ids[:8])
    _add(index, corpus, ids[8:15])
    index.replace({ids[1], ids[9]}, [], [], terms)  # forgotten
    changed = {ids[3]: [Chunk(ids[3], 0, 0, 0, "storm storm bridge")]}
    index.replace({ids[3]}, [(ids[3], "v2", "src", -1)], changed[ids[3]], terms)  # updated
    _add(index, corpus, ids[15:])

    final = {a: corpus[a] for a in ids if a not in (ids[1], ids[9], ids[3])}
    final[ids[3]] = changed[ids[3]]
    fresh = Bm25Index()
    fresh.replace(set(), [(a, "v", "s", -1) for a in final], [c for cs in final.values() for c in cs], terms)
    assert sorted(index.art_ids) == sorted(fresh.art_ids)
    assert index.n_chunks == fresh.n_chunks
    for query in ["storm bridge", "river", "mayor vote council", "rain"]:
        got, want = _scores(index, query), _scores(fresh, query)
        assert got.keys() == want.keys()
        assert all(got[k] == pytest.approx(want[k], rel=1e-5) for k in want)
    for term in ["storm", "river", "nothing"]:
        assert index.idf(term) == pytest.approx(fresh.idf(term))


def test_save_and_load_round_trip(tmp_path):
    corpus = _corpus(3)
    index = Bm25Index(collection="bot-x-chunks:123", generation="g1")
    _add(index, corpus, list(corpus))
    path = tmp_path / "cache" / "bm25.npz"
    index.save(path)
    loaded = Bm25Index.load(path)
    assert loaded is not None
    assert (loaded.collection, loaded.generation) == ("bot-x-chunks:123", "g1")
    assert loaded.art_ids == index.art_ids and loaded.terms == index.terms
    for name in ("ch_art", "ch_no", "ch_len", "p_ptr", "p_doc", "p_tf"):
        assert np.array_equal(getattr(loaded, name), getattr(index, name))
    assert _scores(loaded, "river dam flood") == _scores(index, "river dam flood")


def test_unreadable_cache_means_rebuild(tmp_path):
    path = tmp_path / "bm25.npz"
    assert Bm25Index.load(path) is None
    path.write_bytes(b"not an npz file")
    assert Bm25Index.load(path) is None


def test_filters_and_empty_cases():
    index = Bm25Index()
    assert index.search(["river"], 5) == []
    corpus = _corpus(4)
    _add(index, corpus, list(corpus))
    first = index.art_ids[0]
    hits = index.search(terms(" ".join(WORDS)), 100, admits=lambda m: m["source"] == f"src/{first}")
    assert hits and all(cid.startswith(first + ":") for cid, _ in hits)
    assert index.search(["zzzunknown"], 5) == []
