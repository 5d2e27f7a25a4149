"""Warm `ask` latency: loaded `Bot`s (what `bot serve`, chat and Slack keep) answering SQuAD
questions offline on the store of the 24 squad11 articles plus the sample (seeds/), as a warm
session is used: questions about the same few articles keep coming. `--articles` articles are
drawn, with `--per-article` questions each, asked round by round (one question per article
per round). Each question is asked by two `Bot`s in turn, each with its own embedder (and so
its own output cache), so load on the machine falls on both alike:
  - baseline: as shipped before idle-time work: the embedder's output cache on, nothing
    prepared (every sentence the answerer has not seen goes through the model);
  - prepared: the same, after `Bot.prepare_sentences` embedded the whole store's sentences
    (what the warm bot, chat and Slack do while they wait; its time and memory are reported);
and retrieval alone (`Bot.retrieve`) is timed for each question too. Reported: p50/p95 of the
whole `Bot.ask` and of its parts (`Answer.timings_ms`), for round 1 (cold: the first question
on each article), for rounds 2+ (a warm session), and all; whether the two bots gave
identical answers; the resident memory; with --serve-rss, that of a real warm `bot serve`
once it has prepared the store and after answering the session. With --profile, the functions
the prepared asks spend most in (cProfile).

    python bench/warm_ask.py [--articles 12] [--per-article 5] [--store DIR] [--serve-rss] [--profile]

--store keeps the built store between runs (it is filled once; ~1 min on 2 idle cores).
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import os
import pstats
import random
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
SHARED = next((p / "shared" for p in (ROOT.parent, ROOT.parent.parent) if (p / "shared").is_dir()),
              ROOT.parent / "shared")
SQUAD = SHARED / "eval" / "squad11"


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def summary(values: list[float]) -> dict[str, float]:
    return {"p50_ms": round(pct(values, 0.5), 1), "p95_ms": round(pct(values, 0.95), 1),
            "mean_ms": round(statistics.fmean(values), 1)}


def rss_mb() -> float:
    """This process's resident memory now (Linux), MB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return round(int(line.split()[1]) / 1024, 1)
    return float("nan")


def session(args: argparse.Namespace) -> tuple[list[str], list[str]]:
    """Warm-up questions (articles not in the session), then the session's questions, round by
    round."""
    by_article: dict[str, list[str]] = {}
    for line in (SQUAD / "questions.jsonl").open():
        row = json.loads(line)
        by_article.setdefault(row["article"], []).append(row["question"])
    rng = random.Random(args.seed)
    names = sorted(a for a, qs in by_article.items() if len(qs) >= args.per_article)
    chosen = rng.sample(names, min(args.articles, len(names) - 1))
    other = next(a for a in names if a not in chosen)
    picked = {a: rng.sample(by_article[a], args.per_article) for a in chosen}
    rounds = [picked[a][r] for r in range(args.per_article) for a in chosen]
    return by_article[other][:3], rounds


def serve_rss(store: Path, warmup: list[str], asked: list[str]) -> dict:
    """Resident memory (MB) of a warm `bot serve` of this checkout after the warm-up
    questions, once it has prepared the store's sentences (and how long that took it), and
    after the session's questions."""
    from bot.ui import warm
    from bot.config import Settings

    settings = Settings.load(env={}, env_file=None).with_(store_dir=store)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BOT_", "OPENAI_"))}
    env.update(BOT_STORE_DIR=str(store), PYTHONPATH=str(ROOT), HF_HUB_OFFLINE="1")
    proc = subprocess.Popen([sys.executable, "-m", "bot", "serve", "--idle", "600"], env=env,
                            cwd=store.parent, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    path = warm.socket_path(settings)
    assert path is not None
    deadline = time.monotonic() + 300
    while not path.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.2)
    t0 = time.monotonic()

    def status() -> dict[str, float]:
        lines = Path(f"/proc/{proc.pid}/status").read_text().splitlines()
        return {k: round(int(line.split()[1]) / 1024, 1) for line in lines
                for k in ("VmRSS", "VmHWM") if line.startswith(k + ":")}

    try:
        for q in warmup:
            assert "answer" in (warm.ask(settings, {"question": q}) or {}), "no warm bot answered"
        before = status()
        while (warm.status(settings) or {}).get("prepared", {}).get("passes", 0) < 1:
            time.sleep(0.5)
        ready_s = round(time.monotonic() - t0, 1)
        prepared = status()
        for q in asked:
            warm.ask(settings, {"question": q})
        return {"after_warmup": before, "prepared": prepared, "prepared_after_s": ready_s,
                "after_session": status(), "status": warm.status(settings)}
    finally:
        warm.stop(settings)
        proc.wait(timeout=60)


def comparable(answer) -> dict:
    return {k: v for k, v in answer.to_dict().items() if k != "timings_ms"}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--articles", type=int, default=12)
    ap.add_argument("--per-article", type=int, default=5)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--store", type=Path, help="store folder to build once and reuse")
    ap.add_argument("--profile", action="store_true", help="print where the cached asks spend their time")
    ap.add_argument("--serve-rss", action="store_true",
                    help="also measure a warm `bot serve` answering the session, cache off then on")
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "out" / "warm_ask.json")
    args = ap.parse_args()
    if not (SQUAD / "articles").is_dir():
        sys.exit(f"no corpus at {SQUAD} (the shared eval folder)")

    from bot import Bot
    from bot.config import Settings
    from bot.index.embeddings import CACHE_BYTES, LocalEmbedder

    store = args.store or Path(tempfile.mkdtemp(prefix="bot-bench-warm-")) / "store"
    settings = Settings.load(env={}, env_file=None).with_(store_dir=store)
    base, prepared = Bot(settings), Bot(settings)
    # Its own embedder (a process shares one per batch size): its own output cache, so what
    # one bot computed never serves the other.
    prepared._embedder = LocalEmbedder(batch_size=settings.embed_batch, cache_bytes=CACHE_BYTES)
    if base.store().count_chunks() == 0:
        t = time.perf_counter()
        report = base.ingest([ROOT / "seeds", SQUAD / "articles"])
        print(f"built the store: {report.summary()} in {time.perf_counter() - t:.0f} s", flush=True)
    warmup, asked = session(args)
    for q in warmup:  # model, store, BM25 and the answerers loaded, on another article
        base.ask(q)
        prepared.ask(q)
    rss_start = rss_mb()
    cpu, wall = time.process_time(), time.perf_counter()
    progress = prepared.prepare_sentences(threading.Event(), follow=False)
    kept, kept_bytes = prepared._extractive(settings.collection).kept_vectors()
    prep = {"wall_s": round(time.perf_counter() - wall, 1), "cpu_s": round(time.process_time() - cpu, 1),
            "articles": progress.articles, "sentences_embedded": progress.sentences,
            "vectors_kept": kept, "vectors_mb": round(kept_bytes / 2**20, 1), "full": progress.full,
            "rss_mb_before": rss_start, "rss_mb_after": rss_mb()}
    print(f"prepared the store: {prep}", flush=True)

    n_first = args.articles
    times: dict[str, list[float]] = {"baseline": [], "prepared": [], "retrieval": []}
    parts: dict[str, list[float]] = {"retrieve": [], "answer": [], "verify": []}
    same = 0
    profiler = cProfile.Profile() if args.profile else None
    for q in asked:
        t = time.perf_counter()
        base.retrieve(q)
        times["retrieval"].append((time.perf_counter() - t) * 1000)
        t = time.perf_counter()
        plain = base.ask(q)
        times["baseline"].append((time.perf_counter() - t) * 1000)
        if profiler:
            profiler.enable()
        t = time.perf_counter()
        answer = prepared.ask(q)
        times["prepared"].append((time.perf_counter() - t) * 1000)
        if profiler:
            profiler.disable()
        same += comparable(plain) == comparable(answer)
        for name in parts:
            parts[name].append(answer.timings_ms.get(name, 0.0))

    def slices(values: list[float]) -> dict[str, dict[str, float]]:
        return {"round 1 (cold)": summary(values[:n_first]),
                "rounds 2+ (warm session)": summary(values[n_first:]), "all": summary(values)}

    def by_round(values: list[float]) -> list[float]:
        return [round(pct(values[r:r + n_first], 0.5), 1) for r in range(0, len(values), n_first)]

    result = {"questions": len(asked), "articles": args.articles, "per_article": args.per_article,
              "k": settings.top_k, "chunks": base.store().count_chunks(), "prepare": prep,
              "ask_prepared": slices(times["prepared"]), "ask_baseline": slices(times["baseline"]),
              "retrieval": slices(times["retrieval"]),
              "prepared_parts": {k: summary(v) for k, v in parts.items()},
              "p50_by_round": {k: by_round(times[k]) for k in ("prepared", "baseline")},
              "identical_answers": same, "rss_mb": {"after_warmup": rss_start, "end": rss_mb()},
              "load_average": os.getloadavg()}
    if args.serve_rss:
        from bot.index.sync import close_clients

        close_clients()  # the warm bot opens the store itself
        result["serve"] = serve_rss(store, warmup, asked)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2))
    print(f"{len(asked)} questions ({args.articles} articles x {args.per_article}), "
          f"{result['chunks']} chunks, k={settings.top_k}")
    print("| `Bot.ask` | round 1 (cold) p50 / p95 ms | rounds 2+ (warm session) p50 / p95 ms | all p50 / p95 ms |")
    print("|---|---:|---:|---:|")
    for name, key in [("**sentences prepared**", "ask_prepared"),
                      ("baseline: as shipped (cache on, nothing prepared)", "ask_baseline"),
                      ("`Bot.retrieve` alone", "retrieval")]:
        cells = [f"{s['p50_ms']} / {s['p95_ms']}" for s in result[key].values()]
        print(f"| {name} | " + " | ".join(cells) + " |")
    for k, v in result["p50_by_round"].items():
        print(f"p50 by round, {k}: " + " / ".join(map(str, v)) + " ms")
    for k, s in result["prepared_parts"].items():
        print(f"prepared ask's {k}: p50 {s['p50_ms']} ms, p95 {s['p95_ms']} ms")
    print(f"identical answers: {same}/{len(asked)}; RSS {rss_start} MB after warm-up, "
          f"{result['rss_mb']['end']} MB at the end; load average at the end: "
          + ", ".join(f"{x:.1f}" for x in os.getloadavg()))
    if "serve" in result:
        v = result["serve"]
        print(f"warm `bot serve`: RSS {v['after_warmup']['VmRSS']} MB after warm-up, "
              f"{v['prepared']['VmRSS']} MB once prepared ({v['prepared_after_s']} s after it "
              f"listened), {v['after_session']['VmRSS']} MB after the session (peak "
              f"{v['after_session']['VmHWM']} MB); status {v['status']}")
    if profiler:
        text = io.StringIO()
        pstats.Stats(profiler, stream=text).sort_stats("cumulative").print_stats(35)
        print(text.getvalue())


if __name__ == "__main__":
    main()
