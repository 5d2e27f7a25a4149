"""The local embedder's output cache (bot/index/embeddings.py `OutputCache`): what it returns is
bit-identical to running the model again, answers are the same with and without it, it stays
within its bound, and one model or setting never reads another's entries."""

from __future__ import annotations

import numpy as np
import pytest

from bot.index.embeddings import CACHE_MAX_TOKENS, LocalEmbedder, make_embedder
from tests import corpus
from tests.conftest import SEEDS

SENTENCES = [
    "North Korea test-fired two cruise missiles on Tuesday.",
    "The missiles flew for more than two and a half hours before hitting a target 1,800 "
    "kilometers away, the official Korean Central News Agency reported Friday.",
    "Analysts said the test showed progress.",
    "The council voted 7 to 2 to build a new tram line, the mayor said.",
    "Residents had asked for the plan for years.",
]


@pytest.fixture(scope="module")
def plain() -> LocalEmbedder:
    """The model with no cache: every call runs it."""
    return LocalEmbedder(cache_bytes=0)


def same_states(a: list[tuple[np.ndarray, np.ndarray]], b: list[tuple[np.ndarray, np.ndarray]]) -> bool:
    return len(a) == len(b) and all(np.array_equal(oa, ob) and np.array_equal(sa, sb)
                                    for (oa, sa), (ob, sb) in zip(a, b))


def test_a_texts_output_does_not_depend_on_its_batch(plain):
    """What makes a cache exact: each text's output is the same alone or batched (padded) with
    others of any length."""
    alone = np.stack([plain.embed([s])[0] for s in SENTENCES])
    assert np.array_equal(plain.embed(SENTENCES), alone)
    assert np.array_equal(plain.embed(SENTENCES[::-1])[::-1], alone)
    batched = plain.token_states(SENTENCES)
    assert same_states(batched, [plain.token_states([s])[0] for s in SENTENCES])
    assert not plain.cache.hits and len(plain.cache) == 0


def test_cached_outputs_are_bit_identical_to_the_model(plain):
    cached = LocalEmbedder()
    first = cached.embed(SENTENCES)
    assert cached.cache.misses == len(SENTENCES) and len(cached.cache) == len(SENTENCES)
    again = cached.embed(SENTENCES[1:3])
    states = cached.token_states(SENTENCES)  # read from what `embed` kept
    assert cached.cache.hits == 2 + len(SENTENCES)
    assert np.array_equal(first, plain.embed(SENTENCES))
    assert np.array_equal(again, plain.embed(SENTENCES[1:3]))
    assert same_states(states, plain.token_states(SENTENCES))
    assert np.array_equal(cached.embed_query(SENTENCES[0]), plain.embed_query(SENTENCES[0]))
    # Shared with callers: a caller cannot write into a cached entry.
    with pytest.raises(ValueError):
        states[0][1][0, 0] = 1.0


def test_chunks_are_not_cached(plain):
    """Texts over CACHE_MAX_TOKENS wordpieces are chunks, embedded once at ingest: they are
    not kept (their token states would crowd the sentences out), and embedding them again runs
    the model again, exactly."""
    chunk = " ".join(SENTENCES * 4)
    emb = LocalEmbedder()
    assert np.array_equal(emb.embed([chunk]), plain.embed([chunk]))
    [(offsets, states)] = emb.token_states([chunk])
    assert len(offsets) > CACHE_MAX_TOKENS
    assert same_states([(offsets, states)], plain.token_states([chunk]))
    emb.embed([chunk])
    assert len(emb.cache) == 0 and emb.cache.hits == 0 and emb.cache.misses == 3


def test_the_cache_is_bounded_and_drops_the_least_recently_used():
    emb = LocalEmbedder(cache_bytes=200_000)
    texts = [f"Report {k}: the council voted to build {k} new tram stops." for k in range(40)]
    emb.embed(texts[:2])
    for k in range(2, 40):
        emb.embed([texts[0], texts[k]])  # texts[0] stays in use, texts[1] does not
        assert emb.cache.bytes <= 200_000
    assert 0 < len(emb.cache) < 40
    assert emb.cache.get(texts[0]) is not None
    assert emb.cache.get(texts[1]) is None
    emb.cache.clear()
    assert len(emb.cache) == 0 and emb.cache.bytes == 0


def test_another_model_setting_does_not_read_these_entries():
    """The cache belongs to one embedder: one truncating at 8 wordpieces gives its own output
    for a text another embedder has cached, and each keeps its own."""
    text = SENTENCES[1]
    full, short = LocalEmbedder(), LocalEmbedder(max_tokens=8)
    v_full = full.embed([text])[0]
    v_short = short.embed([text])[0]
    assert not np.array_equal(v_full, v_short)
    assert short.cache.hits == 0 and full.cache.hits == 0
    [(offsets, _)] = short.token_states([text])
    assert len(offsets) == 6  # 8 minus [CLS] and [SEP]: its own, not the full model's entry
    assert np.array_equal(full.embed([text])[0], v_full)
    assert np.array_equal(short.embed([text])[0], v_short)


def test_answers_are_the_same_with_and_without_the_cache(tmp_path, settings):
    """Real questions on a real store (the sample plus SQuAD articles when the eval folder is
    there, synthetic stories otherwise), asked by two bots sharing one embedder: one with the
    cache off, one with it on, twice (the second time from the cache)."""
    from bot import Bot

    evald = corpus.eval_dir()
    items = corpus.squad_docs(evald, 4) if evald else corpus.docs(6)
    questions = corpus.squad_questions(evald, items, 5) if evald else corpus.story_questions(items)[:5]
    questions += ["What range was claimed?", "Who reported the test-firings?"]
    base, cached = Bot(settings), Bot(settings)
    report = cached.ingest([SEEDS, corpus.write(tmp_path / "articles", items)])
    assert report.added and not report.failed
    cache = cached.embedder.cache
    assert base.embedder is cached.embedder is make_embedder(settings)
    for q in questions:
        cache.enabled = False
        try:
            without = base.ask(q).to_dict()
        finally:
            cache.enabled = True
        first, again = cached.ask(q).to_dict(), cached.ask(q).to_dict()
        for d in (without, first, again):
            d.pop("timings_ms")
        assert first == without and again == without, q
    assert cache.hits > 0
