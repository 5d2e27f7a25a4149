"""Query latency as the store grows: retrieval and offline `ask` p50/p95 at 1k, 10k and 100k
chunks, on the embedded store and on a real `chroma run` server, with in the same run:
  - the floor under retrieval at that size (embedding the question + one Chroma query with
    the vector), and p95 at 1k as the baseline for p95 at larger sizes;
  - the BM25 side: bringing the index up to date after the growth, after ONE new article,
    and loading the saved index in a fresh retriever (what start-up costs);
  - the wall time and peak memory of a cold `bot ask` process at that size.

Real content: the seed article and 6 SQuAD articles (their questions are asked); the rest is
padding from bench/synth.py (real sentences, random vectors, inserted in bulk).

    python bench/query_speed.py                      # both backends, 1k/10k/100k
    python bench/query_speed.py --backend embedded   # one backend (about half the time)
    python bench/query_speed.py --quick              # 1k and 10k, fewer questions
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from synth import SQUAD, pad, sentence_pool  # noqa: E402

SEEDS = ROOT / "seeds"
N_ARTICLES = 6


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def ms(values: list[float]) -> dict:
    return {"p50_ms": round(pct(values, 0.5) * 1000, 1), "p95_ms": round(pct(values, 0.95) * 1000, 1),
            "n": len(values)}


def time_each(fn, items) -> list[float]:
    out = []
    for item in items:
        t = time.perf_counter()
        fn(item)
        out.append(time.perf_counter() - t)
    return out


class Server:
    def __init__(self, path: Path):
        import socket
        import urllib.request

        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        self.url = f"http://127.0.0.1:{port}"
        exe = Path(sys.executable).parent / "chroma"
        path.mkdir(parents=True, exist_ok=True)
        self.proc = subprocess.Popen([str(exe), "run", "--path", str(path), "--host", "127.0.0.1",
                                      "--port", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                urllib.request.urlopen(f"{self.url}/api/v2/heartbeat", timeout=2)
                return
            except OSError:
                time.sleep(0.3)
        raise RuntimeError("chroma run did not start")

    def stop(self) -> None:
        self.proc.kill()
        self.proc.wait()


def cold_ask(env: dict, question: str, runs: int) -> dict:
    """Wall time and peak RSS of `python -m bot ask` in a fresh process."""
    full = {k: v for k, v in os.environ.items() if not k.startswith("BOT_")}
    # BOT_WARM=off: each ask stays cold (no warm bot started for the next one, none left behind)
    full.update(env, PYTHONPATH=str(ROOT), NO_COLOR="1", BOT_WARM="off")
    walls, peaks = [], []
    for _ in range(runs):
        t = time.perf_counter()
        proc = subprocess.run(["/usr/bin/time", "-f", "%M", sys.executable, "-m", "bot", "ask", question],
                              env=full, capture_output=True, text=True)
        walls.append(time.perf_counter() - t)
        if proc.returncode != 0:
            raise RuntimeError(proc.stderr[-500:])
        peaks.append(int(proc.stderr.strip().splitlines()[-1]) / 1024)
    return {"wall_s": round(statistics.median(walls), 2), "peak_mb": round(max(peaks))}


def run_backend(kind: str, sizes: list[int], n_questions: int, rounds: int, cold_runs: int,
                tmp: Path) -> dict:
    from bot import Bot
    from bot.config import Settings
    from bot.answer.retrieval import Retriever
    from bot.util.text import terms

    server = Server(tmp / "server") if kind == "server" else None
    try:
        env = {"BOT_STORE_DIR": str(tmp / "store")}
        if server:
            env["BOT_CHROMA_URL"] = server.url
        bot = Bot(Settings.load(env=env, env_file=None))
        files = [SEEDS] + sorted((SQUAD / "articles").glob("*.txt"))[:N_ARTICLES]
        report = bot.ingest(files)
        assert not report.failed, report.summary()
        names = {p.name for p in files[1:]}
        questions = [json.loads(line)["question"] for line in (SQUAD / "questions.jsonl").open()
                     if json.loads(line)["article"] in names]
        questions = random.Random(1).sample(questions, n_questions)
        store, embedder = bot.store(), bot.embedder
        pool = sentence_pool()
        rng = random.Random(0)
        next_id = 0
        out = {}
        for size in sizes:
            t = time.perf_counter()
            while store.count_chunks() < size:
                step = min(20000, size - store.count_chunks())
                next_id += pad(store, step, next_id, rng, pool)
            insert_s = time.perf_counter() - t
            n = store.count_chunks()
            t = time.perf_counter()
            bot.retriever().refresh()
            grow_s = time.perf_counter() - t
            t = time.perf_counter()
            Retriever(store, embedder).refresh()  # start-up: the saved index, nothing re-tokenised
            load_s = time.perf_counter() - t
            one = tmp / f"one-{size}.txt"
            one.write_text(f"Bench note {size}\n\nThe committee met {size} times in the old mill and "
                           "agreed on a new budget for the ferry.")
            bot.ingest([one])
            t = time.perf_counter()
            bot.retriever().refresh()
            one_change_s = time.perf_counter() - t

            for q in questions[:3]:
                bot.retrieve(q)  # warm
            retrieve = time_each(bot.retrieve, questions * rounds)
            vectors = [embedder.embed_query(q) for q in questions]
            embed = time_each(embedder.embed_query, questions)
            dense = time_each(lambda v: store.query(v, 24), vectors * rounds)
            index = bot.retriever()._bm25
            bm25 = time_each(lambda q: index.search(terms(q), 24), questions * rounds)
            ask = time_each(bot.ask, questions)
            floor = [e + d for e, d in zip(embed, dense)]
            row = {
                "chunks": n, "insert_s": round(insert_s, 1),
                "bm25_update_after_growth_s": round(grow_s, 2),
                "bm25_update_after_one_article_s": round(one_change_s, 3),
                "bm25_load_saved_s": round(load_s, 3),
                "retrieve": ms(retrieve), "ask": ms(ask),
                "floor_embed_plus_dense": ms(floor), "embed_query": ms(embed),
                "dense_query": ms(dense), "bm25_search": ms(bm25),
                "cold_ask": cold_ask(env, questions[0], cold_runs),
            }
            row["retrieve_p50_vs_floor"] = round(row["retrieve"]["p50_ms"] / row["floor_embed_plus_dense"]["p50_ms"], 2)
            out[str(size)] = row
            print(f"[{kind}] {n:>7} chunks: retrieve p50 {row['retrieve']['p50_ms']} ms p95 "
                  f"{row['retrieve']['p95_ms']} ms (floor p50 {row['floor_embed_plus_dense']['p50_ms']}); "
                  f"ask p50 {row['ask']['p50_ms']} p95 {row['ask']['p95_ms']}; bm25 search p50 "
                  f"{row['bm25_search']['p50_ms']} ms; bm25 +1 article {one_change_s:.2f} s, load "
                  f"{load_s:.2f} s; cold ask {row['cold_ask']}", flush=True)
        first, last = out[str(sizes[0])], out[str(sizes[-1])]
        out["p95_ratio_largest_vs_smallest"] = round(last["retrieve"]["p95_ms"] / first["retrieve"]["p95_ms"], 2)
        return out
    finally:
        if server:
            server.stop()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="1k and 10k chunks, 15 questions")
    ap.add_argument("--backend", choices=["embedded", "server", "both"], default="both")
    ap.add_argument("--sizes", help="comma-separated chunk counts (default 1000,10000,100000)")
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "out" / "query_speed.json")
    args = ap.parse_args()
    if not (SQUAD / "articles").is_dir():
        sys.exit(f"no SQuAD articles at {SQUAD} (the shared eval folder)")
    sizes = ([int(s) for s in re.split(r"[, ]+", args.sizes)] if args.sizes
             else [1000, 10000] if args.quick else [1000, 10000, 100000])
    n_questions, rounds, cold_runs = (15, 2, 1) if args.quick else (30, 3, 3)
    backends = ["embedded", "server"] if args.backend == "both" else [args.backend]
    results = {}
    for kind in backends:
        tmp = Path(tempfile.mkdtemp(prefix=f"bot-bench-query-{kind}-"))
        results[kind] = run_backend(kind, sizes, n_questions, rounds, cold_runs, tmp)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2))
    print()
    print("| backend | chunks | retrieve p50 / p95 ms | floor p50 ms | ask p50 / p95 ms | BM25 search p50 ms "
          "| BM25 +1 article s | BM25 load s | cold `bot ask` s / MB |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for kind, rows in results.items():
        for size in sizes:
            r = rows[str(size)]
            print(f"| {kind} | {r['chunks']} | {r['retrieve']['p50_ms']} / {r['retrieve']['p95_ms']} | "
                  f"{r['floor_embed_plus_dense']['p50_ms']} | {r['ask']['p50_ms']} / {r['ask']['p95_ms']} | "
                  f"{r['bm25_search']['p50_ms']} | {r['bm25_update_after_one_article_s']} | "
                  f"{r['bm25_load_saved_s']} | {r['cold_ask']['wall_s']} / {r['cold_ask']['peak_mb']} |")
        print(f"| {kind} | p95 largest / smallest | {rows['p95_ratio_largest_vs_smallest']}x | | | | | | |")


if __name__ == "__main__":
    main()
