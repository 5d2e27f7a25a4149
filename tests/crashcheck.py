"""Crash-safety harness: SIGKILL a real `bot ingest` at a random moment, then inspect the store.

What "the store survived" means (checked by `inspect`, strictly):

Before any repair, straight after the kill, a fresh process opens the store and reads it:
- the store opens (Chroma loads its files; no exception);
- every *ready* article is whole: its chunks are exactly the chunks `chunk_article` makes from
  its stored text (same ids, offsets and text), their number is the `n_chunks` it was written
  with, and each chunk's text is `article.text[start:end]`;
- every read path (`articles()`, `article()`, `chunks_of()`, dense `query()`) shows ready
  articles only; a chunk a query returns either belongs to a whole ready article or is left
  over from the interrupted write and is rejected by the retriever's offset check;
- pending records and their chunks may exist: they are what `repair()` is for.

After `repair()` (which every ingest runs first):
- no pending records, and no chunk whose article is not a ready article;
- every ready article is still whole (as above), and the vector index finds each chunk by its
  own vector, so the index and the records agree.

After the same ingest is run again to the end: every article of the corpus is stored, ready
and whole, with the text of the corpus version that was being ingested.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from tests.conftest import ROOT


@dataclass
class State:
    """What a fresh reader found in the store."""

    ready: dict[str, str] = field(default_factory=dict)  # article id -> content hash
    pending: list[str] = field(default_factory=list)
    leftover_chunks: int = 0  # chunks of pending articles or of an update's other slot
    # (allowed before repair only)
    dirty: list = field(default_factory=list)  # ready articles with chunks in their other slot
    problems: list[str] = field(default_factory=list)  # anything that breaks the contract


def ingest_env(store_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BOT_", "OPENAI_", "SLACK_"))}
    env.update(PYTHONPATH=str(ROOT), BOT_STORE_DIR=str(store_dir), HF_HUB_OFFLINE="1",
               NO_COLOR="1")
    return env


def _db_stamp(store_dir: Path) -> tuple:
    db = Path(store_dir) / "chroma" / "chroma.sqlite3"
    try:
        st = db.stat()
    except OSError:
        return ()
    return (st.st_mtime_ns, st.st_size)


@dataclass
class Timeline:
    """A run of `bot ingest`: `writes` is how many changes of the store's database file were
    seen (about one per Chroma write; polled, so some merge), `killed` whether it was still
    running when SIGKILLed."""

    writes: int
    end: float
    killed: bool
    returncode: int | None = None
    stdout: str = ""
    stderr: str = ""


def run_and_kill(corpus: Path, store_dir: Path, kill_at_write: int | None = None,
                 extra_delay: float = 0.0, timeout: float = 600,
                 env: dict | None = None) -> Timeline:
    """Run `bot ingest CORPUS`; with `kill_at_write`, SIGKILL it `extra_delay` seconds after
    the store's database file has been seen changing that many times. Counting writes rather
    than seconds puts the kill among the writes, not in the imports and model loading."""
    last = _db_stamp(store_dir)
    t0 = time.monotonic()
    proc = subprocess.Popen([sys.executable, "-m", "bot", "ingest", str(corpus)],
                            env={**ingest_env(store_dir), **(env or {})},
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    writes, kill_time, killed = 0, None, False
    while proc.poll() is None and time.monotonic() - t0 < timeout:
        stamp = _db_stamp(store_dir)
        if stamp != last:
            writes, last = writes + 1, stamp
            if kill_at_write is not None and writes >= kill_at_write and kill_time is None:
                kill_time = time.monotonic() + extra_delay
        if kill_time is not None and time.monotonic() >= kill_time:
            os.kill(proc.pid, signal.SIGKILL)
            killed = True
            break
        time.sleep(0.001)
    if proc.poll() is None and not killed:
        os.kill(proc.pid, signal.SIGKILL)  # past the timeout: a hang is a failure, not a kill
    out, err = proc.communicate()
    return Timeline(writes, time.monotonic() - t0, killed, proc.returncode, out, err)


# -- inspection (run in a process that has not opened this store before) -------------------


def settings_for(store_dir: Path, chunk_size: int = 800, chunk_overlap: int = 150):
    from bot.config import Settings

    return Settings.load(env={}, env_file=None).with_(store_dir=Path(store_dir),
                                                      chunk_size=chunk_size,
                                                      chunk_overlap=chunk_overlap)


def inspect(store_dir: Path, repair: bool, probe_vectors: int | None = None,
            chunk_size: int = 800, chunk_overlap: int = 150) -> State:
    """Open the store fresh, check the contract (see the module docstring), optionally repair
    first. `probe_vectors`: how many chunks to look up by their own vector (None = all)."""
    from bot.index.chunking import chunk_article
    from bot.index.embeddings import LOCAL_MODEL
    from bot.index.store import Store
    from bot.index.records import record_id

    settings = settings_for(store_dir, chunk_size, chunk_overlap)
    state = State()
    try:
        store = Store(settings, LOCAL_MODEL)
        if repair:
            store.repair()
        arts = store._articles.get(include=["documents", "metadatas"])
        chunks = store._chunks.get(include=["documents", "metadatas"])
    except Exception as e:  # the contract's first clause: the store opens
        state.problems.append(f"store does not open: {type(e).__name__}: {e}")
        return state
    by_article: dict[str, list[tuple[str, str, dict]]] = {}
    for cid, doc, meta in zip(chunks["ids"], chunks["documents"], chunks["metadatas"]):
        by_article.setdefault(meta.get("article_id", "?"), []).append((cid, doc, meta))
    records = {}
    for aid, text, meta in zip(arts["ids"], arts["documents"], arts["metadatas"]):
        records[aid] = meta
        if meta.get("state") == "ready":
            state.ready[aid] = meta.get("content_hash", "")
            expected = chunk_article(aid, text, settings.chunk_size, settings.chunk_overlap)
            live = int(meta.get("slot") or 0)  # an update writes beside the live slot
            items = by_article.get(aid, [])
            got = sorted((x for x in items if int(x[2].get("slot") or 0) == live),
                         key=lambda x: x[2]["chunk_no"])
            if len(got) != len(items):
                state.leftover_chunks += len(items) - len(got)
                state.dirty.append(aid)
            if repair and int(meta.get("dirty_slot", -1)) >= 0:
                state.problems.append(f"after repair: ready article {aid} still marks a dirty slot")
            want = [(record_id(c.chunk_id, live), c.text, c.start, c.end) for c in expected]
            have = [(cid, doc, m["start"], m["end"]) for cid, doc, m in got]
            if have != want:
                state.problems.append(f"ready article {aid} is not whole: {len(have)} chunks "
                                      f"stored, {len(want)} expected")
            if meta.get("n_chunks") != len(want):
                state.problems.append(f"ready article {aid}: n_chunks {meta.get('n_chunks')} "
                                      f"!= {len(want)}")
            for cid, doc, m in got:
                if text[m["start"]:m["end"]] != doc:
                    state.problems.append(f"chunk {cid} does not match its article's text")
        else:
            state.pending.append(aid)
    for aid, items in by_article.items():
        if aid not in records:
            state.problems.append(f"{len(items)} chunk(s) of {aid}, which has no record")
        elif records[aid].get("state") != "ready":
            state.leftover_chunks += len(items)
    if repair and (state.pending or state.leftover_chunks):
        state.problems.append(f"after repair: {len(state.pending)} pending record(s), "
                              f"{state.leftover_chunks} leftover chunk(s)")
    _check_read_paths(store, state)
    _check_vectors(store, state, probe_vectors)
    return state


def _check_read_paths(store, state: State) -> None:
    listed = {a.article_id for a in store.articles()}
    if listed != set(state.ready):
        state.problems.append(f"articles() lists {len(listed)} but {len(state.ready)} are ready")
    for aid in state.pending:
        if store.article(aid) is not None or store.stored_hash(aid) is not None:
            state.problems.append(f"pending article {aid} is visible to readers")


def _check_vectors(store, state: State, probe: int | None) -> None:
    """Each (sampled) chunk's own vector finds it: the HNSW index agrees with the records."""
    import numpy as np

    got = store._chunks.get(include=["embeddings", "metadatas"])
    ids = list(got["ids"])
    live = {a.article_id: int(m.get("slot") or 0) for a, m in
            ((a, store._articles.get(ids=[a.article_id], include=["metadatas"])["metadatas"][0])
             for a in store.articles())}
    if store.count_chunks() != len(ids):
        state.problems.append(f"count() says {store.count_chunks()} chunks, get() returns {len(ids)}")
    order = list(range(len(ids)))
    random.Random(0).shuffle(order)
    for i in order[:probe] if probe is not None else order:
        vec = np.asarray(got["embeddings"][i], dtype=np.float32)
        try:
            hits = store.query(vec, 3)
        except Exception as e:
            state.problems.append(f"query failed: {type(e).__name__}: {e}")
            return
        meta = got["metadatas"][i]
        leftover = live.get(meta["article_id"], -1) != int(meta.get("slot") or 0)
        if ids[i].split("#")[0] not in {c.chunk_id for c, _ in hits} and not leftover:
            state.problems.append(f"chunk {ids[i]} is not found by its own vector")
        for chunk, _ in hits:
            art = store.article(chunk.article_id)
            # A hit outside a ready article is allowed only before repair, and the retriever
            # drops it (its article is None or its text does not match).
            if art is not None and art.text[chunk.start:chunk.end] != chunk.text and \
                    chunk.article_id in state.ready and chunk.article_id not in state.dirty:
                state.problems.append(f"query hit {chunk.chunk_id} mismatches its ready article")


def expected(corpus: Path) -> dict[str, str]:
    """article id -> content hash of every file in `corpus`, as ingest would store them."""
    from bot.sources.articles import load_file

    return {a.article_id: a.content_hash for a in
            (load_file(p, 10**8) for p in sorted(Path(corpus).glob("*.txt")))}


def inspect_fresh(store_dir: Path, repair: bool = False, chunk_size: int = 800,
                  chunk_overlap: int = 150) -> dict:
    """`inspect` in a new process: embedded Chroma keeps a per-process copy of the vector
    index, so a process that opened the store before another one wrote to it sees a stale
    index. Returns {"found": State fields[, "repaired": ...]}."""
    import json

    cmd = [sys.executable, "-m", "tests.crashcheck", str(store_dir), str(chunk_size),
           str(chunk_overlap)] + (["--repair"] if repair else [])
    r = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, env=ingest_env(store_dir))
    if r.returncode != 0:
        return {"found": {"problems": [f"checker crashed: {r.stderr.strip()[-500:]}"],
                          "ready": {}, "pending": [], "leftover_chunks": 0}}
    return json.loads(r.stdout)


def main() -> None:
    """`python -m tests.crashcheck STORE_DIR CHUNK_SIZE OVERLAP [--repair]`: inspect the store
    in a fresh process (first as found, then after repair with --repair) and print JSON."""
    import argparse
    import json

    ap = argparse.ArgumentParser()
    ap.add_argument("store_dir", type=Path)
    ap.add_argument("chunk_size", type=int)
    ap.add_argument("chunk_overlap", type=int)
    ap.add_argument("--repair", action="store_true")
    args = ap.parse_args()
    found = inspect(args.store_dir, False, None, args.chunk_size, args.chunk_overlap)
    out = {"found": found.__dict__}
    if args.repair:
        out["repaired"] = inspect(args.store_dir, True, None, args.chunk_size,
                                  args.chunk_overlap).__dict__
    print(json.dumps(out))


if __name__ == "__main__":
    main()
