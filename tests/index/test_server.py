"""Outgrowing one machine (issue 8): the key flows on the embedded store and on a real
`chroma run` server alike; several processes at once; a server that goes away; auth headers;
reindex and stats."""

from __future__ import annotations

import base64
import hashlib
import http.client
import json
import re
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlparse

import numpy as np
import pytest

from conftest import ROOT, SEEDS, ChromaServer, free_port, run_cli

QUESTION = "What range was claimed?"
ZEBRA = "Zebra parade\n\nThe quixotic zebrafish parade drew 4,200 visitors to Lisbon on Sunday.\n"


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def _bot(backend, **changes):
    from bot import Bot

    return Bot(backend.settings(**changes))


def _verified(bot, answer) -> bool:
    from bot.answer.citations import check

    return bool(answer.citations) and all(check(c, bot.article(c.article_id)) for c in answer.citations)


def _one_line_error(proc: subprocess.CompletedProcess) -> str:
    assert proc.returncode != 0
    assert "Traceback" not in proc.stderr, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    return lines[0]


# -- the same flows, both ways ----------------------------------------------------------------


def test_ingest_ask_reingest_forget(store_backend, tmp_path):
    bot = _bot(store_backend)
    assert bot.ingest([SEEDS]).added
    answer = bot.ask(QUESTION)
    assert answer.short_answer_candidate == "1,800 kilometers" and _verified(bot, answer)
    again = bot.ingest([SEEDS])
    assert again.unchanged and not again.added and not again.updated
    seed_id = answer.citations[0].article_id
    assert bot.forget(seed_id)
    assert bot.article(seed_id) is None and bot.ask(QUESTION).refused

    story = _write(tmp_path / "docs" / "story.txt", "Storm update\n\n" + " ".join(
        f"The river rose by {i} centimetres at gauge {i}." for i in range(60)))
    assert bot.ingest([story]).added
    story_id = bot.articles()[0].article_id
    assert len(bot.store().chunks_of(story_id)) > 1
    story.write_text("Storm update\n\nThe dam held and the flood receded overnight, officials said.")
    assert bot.ingest([story]).updated
    chunks = bot.store().chunks_of(story_id)
    assert len(chunks) == 1 and bot.article(story_id).text[chunks[0].start:chunks[0].end] == chunks[0].text
    answer = bot.ask("By how many centimetres did the river rise?")
    assert all("centimetres" not in c.quote for c in answer.citations)


def test_cli_ingest_ask_show_sources_stats_forget(store_backend):
    env = store_backend.env
    r = run_cli("ingest", str(SEEDS), env=env)
    assert r.returncode == 0, r.stderr
    r = run_cli("ask", QUESTION, "--json", env=env)
    assert r.returncode == 0, r.stderr
    answer = json.loads(r.stdout)
    assert answer["short_answer_candidate"] == "1,800 kilometers"
    cite = answer["citations"][0]
    shown = json.loads(run_cli("show", cite["article_id"], "--json", env=env).stdout)
    assert shown["text"][cite["start"]:cite["end"]] == cite["quote"]
    sources = json.loads(run_cli("sources", "--json", env=env).stdout)
    assert [s["article_id"] for s in sources] == [cite["article_id"]]
    stats = json.loads(run_cli("stats", "--json", env=env).stdout)
    assert stats["articles"] == 1 and stats["chunks"] >= 1
    assert stats["embedding_model"] == "all-MiniLM-L6-v2-int8"
    assert (stats["size_bytes"] is None) == (store_backend.kind == "server")
    r = run_cli("forget", cite["article_id"], env=env)
    assert r.returncode == 0 and cite["article_id"] in r.stdout


def test_answers_follow_writes_by_another_process(store_backend, tmp_path):
    """A long-lived bot (a chat, a Slack worker) sees what a CLI in another process adds and
    forgets: BM25 and the dense side both, no stale result."""
    bot = _bot(store_backend)
    bot.ingest([SEEDS])
    assert not bot.ask(QUESTION).refused
    _write(tmp_path / "more" / "zebra.txt", ZEBRA)
    r = run_cli("ingest", str(tmp_path / "more"), env=store_backend.env)
    assert r.returncode == 0, r.stderr
    question = "How many visitors did the zebrafish parade draw?"
    answer = bot.ask(question)
    assert any("zebrafish" in c.quote for c in answer.citations) and _verified(bot, answer)
    zebra_id = answer.citations[0].article_id
    dense = bot.store().query(bot.embedder.embed_query("zebrafish parade in Lisbon"), 3)
    assert dense[0][0].article_id == zebra_id  # the vector index sees the other process's write
    r = run_cli("forget", zebra_id, env=store_backend.env)
    assert r.returncode == 0, r.stderr
    assert all(p.article.article_id != zebra_id for p in bot.retrieve(question))
    assert all(c.article_id != zebra_id for c in bot.ask(question).citations)


def test_bm25_index_is_saved_and_reused(store_backend):
    from bot.index.bm25 import Bm25Index

    bot = _bot(store_backend)
    bot.ingest([SEEDS])
    bot.ask(QUESTION)
    saved = list((Path(store_backend.env["BOT_STORE_DIR"]) / "cache").glob("bm25-*.npz"))
    assert len(saved) == 1
    index = Bm25Index.load(saved[0])
    assert index is not None and index.generation == bot.store().generation()
    assert index.n_chunks == bot.store().count_chunks()
    before = saved[0].stat().st_mtime_ns
    r = run_cli("ask", QUESTION, env=store_backend.env)  # a new process: loads, does not rebuild
    assert r.returncode == 0 and "1,800 kilometers" in r.stdout
    assert saved[0].stat().st_mtime_ns == before


def test_reindex_after_changing_the_embedding_model(store_backend, fake_embeddings):
    from bot.index.chroma import StoreError

    local = _bot(store_backend)
    local.ingest([SEEDS])
    before = [(a.article_id, a.text, a.ingested_at) for a in local.articles()]
    assert not local.ask(QUESTION).refused
    remote = dict(embeddings="openai", openai_base_url=f"{fake_embeddings}/v1", openai_api_key="k")
    with pytest.raises(StoreError, match="bot reindex"):
        _bot(store_backend, **remote).retrieve(QUESTION)

    other = _bot(store_backend, **remote)
    assert other.stats().configured_model == "openai:text-embedding-3-small"
    report = other.reindex()
    assert report.articles == 1 and report.chunks >= 1
    assert (report.previous_model, report.embedding_model) == ("all-MiniLM-L6-v2-int8",
                                                              "openai:text-embedding-3-small")
    stats = other.stats()
    assert (stats.articles, stats.embedding_model) == (1, "openai:text-embedding-3-small")
    assert [(a.article_id, a.text, a.ingested_at) for a in other.articles()] == before
    assert other.retrieve(QUESTION)[0].article.article_id == before[0][0]
    # The bot still set for the old model (another process, say) is told what to do.
    with pytest.raises(StoreError, match="bot reindex"):
        local.retrieve(QUESTION)
    names = {c.name for c in other.store().client.list_collections()}
    prefix = f"bot-{other.settings.collection}-"
    assert {n for n in names if n.startswith(prefix)} == {prefix + "state", *other.store().layout.values()}


def test_reindex_with_new_chunk_size_while_a_reader_keeps_answering(store_backend):
    reader = _bot(store_backend)
    reader.ingest([SEEDS])
    chunks_before = reader.stats().chunks
    assert _verified(reader, reader.ask(QUESTION))
    report = _bot(store_backend, chunk_size=300, chunk_overlap=50).reindex()
    assert report.articles == 1 and report.chunks > chunks_before
    answer = reader.ask(QUESTION)  # follows the switch, rebuilds BM25 for the new chunks
    assert answer.short_answer_candidate == "1,800 kilometers" and _verified(reader, answer)
    assert reader.stats().chunks == report.chunks


def test_repair_leaves_a_live_writers_pending_article_alone(seeded):
    from bot.index.writes import STALE_PENDING_S

    store = seeded.store()
    article_id = seeded.articles()[0].article_id
    store._articles.update(ids=[article_id], metadatas=[{"state": "pending", "pending_since": time.time()}])
    assert store.repair() == []  # another process may be writing it right now
    store._articles.update(ids=[article_id], metadatas=[{"pending_since": time.time() - STALE_PENDING_S - 1}])
    assert store.repair() == [article_id]
    assert store.chunks_of(article_id) == []


def test_repair_checks_a_writer_on_this_host_by_its_pid(seeded):
    import socket
    import subprocess
    import sys

    store = seeded.store()
    article_id = seeded.articles()[0].article_id
    writer = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        store._articles.update(ids=[article_id], metadatas=[{
            "state": "pending", "pending_since": time.time(), "pending_host": socket.gethostname(),
            "pending_pid": writer.pid}])
        assert store.repair() == []  # alive: mid-write
    finally:
        writer.kill()
        writer.wait()
    assert store.repair() == [article_id]  # killed: its half-write goes at once
    assert store.chunks_of(article_id) == []


# -- several processes on one server ----------------------------------------------------------

TOWNS = ["Arden", "Brisk", "Calder", "Dunmore", "Elsworth", "Fenwick", "Garrow", "Holm"]


def _town_story(town: str, n: int) -> str:
    return (f"{town} library\n\nThe town of {town} opened a library holding {1000 + n * 37} books "
            f"on Monday. Its mayor, Ada {town}son, cut the ribbon. " * 3).strip()


def test_two_writers_and_a_reader_at_once(chroma_server, tmp_path):
    import uuid

    from bot import Bot
    from bot.config import Settings

    env = {"BOT_STORE_DIR": str(tmp_path / "store"), "BOT_CHROMA_URL": chroma_server.url,
           "BOT_COLLECTION": f"c{uuid.uuid4().hex[:12]}"}
    for i, town in enumerate(TOWNS):
        _write(tmp_path / ("a" if i % 2 else "b") / f"{town}.txt", _town_story(town, i))
    shared = _write(tmp_path / "shared" / "ivory.txt", _town_story("Ivory", 99))  # both write it
    reader = Bot(Settings.load(env=env, env_file=None))
    reader.ingest([SEEDS])

    full_env = {**env, "PYTHONPATH": str(ROOT), "NO_COLOR": "1", "HF_HUB_OFFLINE": "1"}
    writers = [subprocess.Popen([sys.executable, "-m", "bot", "ingest", str(tmp_path / d), str(shared)],
                                env=full_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
               for d in ("a", "b")]
    asked = 0
    while any(w.poll() is None for w in writers) or asked == 0:
        answer = reader.ask(QUESTION)
        assert answer.short_answer_candidate == "1,800 kilometers" and _verified(reader, answer)
        asked += 1
    for w in writers:
        out, err = w.communicate()
        assert w.returncode == 0, err

    store = reader.store()
    keys = store.article_keys()
    assert len(keys) == 1 + len(TOWNS) + 1
    assert store._articles.count() == len(keys)  # nothing left pending
    total = 0
    for article in store.iter_articles():
        chunks = store.chunks_of(article.article_id)
        assert chunks and all(article.text[c.start:c.end] == c.text for c in chunks)
        total += len(chunks)
    assert total == store.count_chunks()
    answer = reader.ask("How many books does the library of Garrow hold?")
    assert any("Garrow" in c.quote for c in answer.citations) and _verified(reader, answer)


# -- a server that is not there, or goes away -------------------------------------------------


def test_unreachable_server_is_one_clear_line(tmp_path):
    url = f"http://127.0.0.1:{free_port()}"
    env = {"BOT_CHROMA_URL": url, "BOT_STORE_DIR": str(tmp_path / "store")}
    for args in (["ask", QUESTION], ["ingest", str(SEEDS)], ["stats"]):
        line = _one_line_error(run_cli(*args, env=env))
        assert url in line and "chroma run" in line


def test_server_stopped_mid_session(tmp_path):
    from bot.index.chroma import StoreError

    server = ChromaServer(tmp_path)
    try:
        env = {"BOT_CHROMA_URL": server.url, "BOT_STORE_DIR": str(tmp_path / "store")}
        from bot import Bot
        from bot.config import Settings

        bot = Bot(Settings.load(env=env, env_file=None))  # a long-lived process
        bot.ingest([SEEDS])
        assert not bot.ask(QUESTION).refused
        server.stop()
        for call in (lambda: bot.ask(QUESTION), lambda: bot.articles(), lambda: bot.ingest([SEEDS])):
            with pytest.raises(StoreError) as e:
                call()
            assert server.url in str(e.value) and "\n" not in str(e.value)
        line = _one_line_error(run_cli("ask", QUESTION, env=env))
        assert server.url in line
    finally:
        server.stop()


# -- auth headers -----------------------------------------------------------------------------


class AuthProxy:
    """A reverse proxy that lets requests through to the Chroma server only with the right
    header, as a deployment's gateway would."""

    def __init__(self, upstream: str, header: str, value: str):
        up = urlparse(upstream)
        seen: list[dict] = []

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def _forward(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                seen.append(dict(self.headers))
                if self.headers.get(header) != value:
                    payload = b'{"error": "AuthError", "message": "Unauthorized"}'
                    self.send_response(401)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                    return
                conn = http.client.HTTPConnection(up.hostname, up.port, timeout=60)
                headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", header.lower())}
                conn.request(self.command, self.path, body=body or None, headers=headers)
                resp = conn.getresponse()
                data = resp.read()
                self.send_response(resp.status)
                for k, v in resp.getheaders():
                    if k.lower() not in ("transfer-encoding", "connection", "content-length"):
                        self.send_header(k, v)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
                conn.close()

            do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _forward

        self.seen = seen
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.mark.parametrize("header,sent", [("X-Chroma-Token", "s3cret-token"),
                                         ("Authorization", "Bearer s3cret-token")])
def test_token_goes_in_the_configured_header(chroma_server, tmp_path, header, sent):
    import uuid

    from bot import Bot
    from bot.config import Settings

    proxy = AuthProxy(chroma_server.url, header, sent)
    try:
        env = {"BOT_CHROMA_URL": proxy.url, "BOT_STORE_DIR": str(tmp_path / "store"),
               "BOT_COLLECTION": f"c{uuid.uuid4().hex[:12]}", "BOT_CHROMA_TOKEN": "s3cret-token"}
        if header != "Authorization":
            env["BOT_CHROMA_AUTH_HEADER"] = header
        bot = Bot(Settings.load(env=env, env_file=None))
        bot.ingest([SEEDS])
        assert _verified(bot, bot.ask(QUESTION))
        assert proxy.seen and all(h.get(header) == sent for h in proxy.seen)
        line = _one_line_error(run_cli("sources", env={**env, "BOT_CHROMA_TOKEN": "wrong-token"}))
        assert "refused the credentials" in line and "BOT_CHROMA_TOKEN" in line
        assert "wrong-token" not in line and "s3cret" not in line
    finally:
        proxy.close()


# -- a stand-in OpenAI-compatible embeddings endpoint (for the model-change test) --------------


@pytest.fixture
def fake_embeddings():
    """/v1/embeddings on loopback: hashed bag-of-words vectors (64 dims), float or base64."""

    def vector(text: str) -> np.ndarray:
        v = np.zeros(64, dtype=np.float32)
        for word in re.findall(r"\w+", text.lower()):
            v[int(hashlib.md5(word.encode()).hexdigest(), 16) % 64] += 1.0
        return v / max(float(np.linalg.norm(v)), 1e-9)

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_POST(self):
            req = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            texts = req["input"] if isinstance(req["input"], list) else [req["input"]]
            data = []
            for i, text in enumerate(texts):
                v = vector(text if isinstance(text, str) else " ".join(map(str, text)))
                emb = (base64.b64encode(v.tobytes()).decode()
                       if req.get("encoding_format") == "base64" else v.tolist())
                data.append({"object": "embedding", "index": i, "embedding": emb})
            payload = json.dumps({"object": "list", "data": data, "model": req.get("model"),
                                  "usage": {"prompt_tokens": 1, "total_tokens": 1}}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()
