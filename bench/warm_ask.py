"""Warm `ask` latency: one loaded `Bot` (what `bot serve` and chat keep) answering SQuAD questions
offline on the store of the 24 squad11 articles plus the sample (seeds/), against a baseline
measured in the same run, question by question:
  - retrieval alone (`Bot.retrieve`: embed the question, Chroma + BM25, fuse), the part of an
    answer that is not the offline answerer.
Each question runs both, interleaved, so load on the machine falls on both alike. Reported:
p50/p95 of the whole `Bot.ask` and of its parts (`Answer.timings_ms`: retrieve, answer,
verify), and with --profile the functions the asks spend most in (cProfile, cumulative).

    python bench/warm_ask.py [--questions 60] [--store DIR] [--profile]

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
import sys
import tempfile
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


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--questions", type=int, default=60)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--store", type=Path, help="store folder to build once and reuse")
    ap.add_argument("--profile", action="store_true", help="print where the asks spend their time")
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "out" / "warm_ask.json")
    args = ap.parse_args()
    if not (SQUAD / "articles").is_dir():
        sys.exit(f"no corpus at {SQUAD} (the shared eval folder)")

    from bot import Bot
    from bot.config import Settings

    store = args.store or Path(tempfile.mkdtemp(prefix="bot-bench-warm-")) / "store"
    bot = Bot(Settings.load(env={}, env_file=None).with_(store_dir=store))
    if bot.store().count_chunks() == 0:
        t = time.perf_counter()
        report = bot.ingest([ROOT / "seeds", SQUAD / "articles"])
        print(f"built the store: {report.summary()} in {time.perf_counter() - t:.0f} s", flush=True)
    questions = [json.loads(line)["question"] for line in (SQUAD / "questions.jsonl").open()]
    asked = random.Random(args.seed).sample(questions, min(args.questions, len(questions)))
    for q in asked[:3]:  # warm up: model, store, BM25 and the answerer loaded
        bot.ask(q)

    totals, retrieval = [], []
    parts: dict[str, list[float]] = {"retrieve": [], "answer": [], "verify": []}
    profiler = cProfile.Profile() if args.profile else None
    for q in asked:
        t = time.perf_counter()
        bot.retrieve(q)
        retrieval.append((time.perf_counter() - t) * 1000)
        if profiler:
            profiler.enable()
        t = time.perf_counter()
        answer = bot.ask(q)
        totals.append((time.perf_counter() - t) * 1000)
        if profiler:
            profiler.disable()
        for name in parts:
            parts[name].append(answer.timings_ms.get(name, 0.0))

    result = {"questions": len(asked), "chunks": bot.store().count_chunks(),
              "ask": summary(totals), "baseline_retrieval": summary(retrieval),
              "parts": {k: summary(v) for k, v in parts.items()},
              "ask_vs_retrieval_p50": round(pct(totals, 0.5) / pct(retrieval, 0.5), 2),
              "load_average": os.getloadavg()}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2))
    print(f"{len(asked)} questions, {result['chunks']} chunks")
    print("| step | p50 ms | p95 ms | mean ms |\n|---|---:|---:|---:|")
    rows = [("`Bot.ask` (warm, offline)", result["ask"]),
            ("baseline: `Bot.retrieve` alone", result["baseline_retrieval"])]
    rows += [(f"  ask's {k}", v) for k, v in result["parts"].items()]
    for name, s in rows:
        print(f"| {name} | {s['p50_ms']} | {s['p95_ms']} | {s['mean_ms']} |")
    print(f"ask p50 / retrieval p50: {result['ask_vs_retrieval_p50']}x; load average at the end: "
          + ", ".join(f"{x:.1f}" for x in os.getloadavg()))
    if profiler:
        text = io.StringIO()
        pstats.Stats(profiler, stream=text).sort_stats("cumulative").print_stats(35)
        print(text.getvalue())


if __name__ == "__main__":
    main()
