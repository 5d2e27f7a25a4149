"""Concurrency: 50 questions at once through one `Bot` (threads) and through several processes
against one embedded store, with and without another process ingesting at the same time.

Baseline, in the same run: the same questions asked one after another through one warm `Bot`.
Every answer is checked as it is made (tests/answers.py: verified citations or a refusal), any
exception counts as an error, and afterwards a fresh process inspects the store with the crash
checker (tests/crashcheck.py). Two answer paths: extractive (offline) and LLM, the model being
the local test server (tests/openai_server.py) playing a model that quotes the best passage.

    /work/main/.venv/bin/python bench/concurrency.py [--questions 50] [--processes 4]
        [--articles 30] [--mode extractive|llm|both] [--eval-dir ../shared/eval]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bot import Bot  # noqa: E402
from bot.config import Settings  # noqa: E402
from tests import corpus as corpora  # noqa: E402
from tests import crashcheck as cc  # noqa: E402
from tests.askmany import ask_all  # noqa: E402
from tests.models import quoting_model  # noqa: E402
from tests.openai_server import OpenAIServer  # noqa: E402


def bad(results: list[dict]) -> list[str]:
    return [f"{r['question'][:60]}: {r.get('error') or r['problems']}" for r in results
            if r.get("error") or r.get("problems")]


def in_processes(store: Path, questions: list[str], n: int, llm: str) -> tuple[float, list[dict]]:
    """`n` processes, each asking its share one by one; wall time from a common start."""
    procs = [subprocess.Popen([sys.executable, "-m", "tests.askmany", str(store)]
                              + (["--llm", llm] if llm else []),
                              env=cc.ingest_env(store), cwd=ROOT, stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(n)]
    for i, p in enumerate(procs):
        p.stdin.write(json.dumps(questions[i::n]) + "\n")
        p.stdin.flush()
    for p in procs:
        line = p.stdout.readline()
        if not line:
            raise SystemExit(f"asker failed to start: {p.stderr.read()[-2000:]}")
    t = time.perf_counter()
    for p in procs:
        p.stdin.write("go\n")
        p.stdin.flush()
    results: list[dict] = []
    for p in procs:
        out, err = p.communicate()
        lines = [json.loads(line) for line in out.splitlines()]
        results += [r for r in lines if "question" in r]
        if p.returncode != 0:
            results.append({"question": "(process)", "error": err[-500:]})
    return time.perf_counter() - t, results


def start_ingest(folder: Path, store: Path, first: int, n: int) -> subprocess.Popen:
    corpora.write(folder, [corpora.story(first + k) for k in range(n)])
    return subprocess.Popen([sys.executable, "-m", "bot", "ingest", str(folder)],
                            env=cc.ingest_env(store), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--questions", type=int, default=50)
    ap.add_argument("--processes", type=int, default=4)
    ap.add_argument("--articles", type=int, default=30)
    ap.add_argument("--mode", choices=["extractive", "llm", "both"], default="both")
    ap.add_argument("--eval-dir", default=None, help="use SQuAD paragraphs and questions")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="concurrency-bench-"))
    store = work / "store"
    eval_path = corpora.eval_dir(args.eval_dir) if args.eval_dir else None
    if eval_path:
        docs = corpora.squad_docs(eval_path, args.articles)
        questions = corpora.squad_questions(eval_path, docs, args.questions)
    else:
        docs = corpora.docs(args.articles)
        questions = corpora.story_questions(docs)
    questions = (questions * (args.questions // max(1, len(questions)) + 1))[:args.questions]
    corpora.write(work / "corpus", docs)
    settings = Settings.load(env={}, env_file=None).with_(store_dir=store, llm_retries=0)
    print(Bot(settings).ingest([work / "corpus"]).summary(), f"({'SQuAD' if eval_path else 'synthetic'})")
    server = OpenAIServer().start()
    server.chat_handler = quoting_model
    modes = ["extractive", "llm"] if args.mode == "both" else [args.mode]
    rows, errors, fresh = [], [], 1000
    for mode in modes:
        llm = server.base_url if mode == "llm" else ""
        bot = Bot(settings.with_(openai_base_url=llm))
        bot.ask("warm up")
        t = time.perf_counter()
        seq = ask_all(bot, questions, 1)
        base = time.perf_counter() - t
        errors += bad(seq)
        rows.append((mode, "one after another, one Bot (baseline)", base, seq))
        t = time.perf_counter()
        thr = ask_all(bot, questions, len(questions))
        rows.append((mode, f"{len(questions)} threads at once, one Bot", time.perf_counter() - t, thr))
        wall, proc = in_processes(store, questions, args.processes, llm)
        rows.append((mode, f"{args.processes} processes, one store", wall, proc))
        ingest = start_ingest(work / f"more{fresh}", store, fresh, 20)
        t = time.perf_counter()
        thr2 = ask_all(bot, questions, len(questions))
        rows.append((mode, f"{len(questions)} threads, while a process ingests 20 articles",
                     time.perf_counter() - t, thr2))
        out, err = ingest.communicate()
        if ingest.returncode != 0:
            errors.append(f"ingest failed: {err[-300:]}")
        ingest = start_ingest(work / f"more{fresh + 100}", store, fresh + 100, 20)
        wall, proc2 = in_processes(store, questions, args.processes, llm)
        rows.append((mode, f"{args.processes} processes, while a process ingests 20 articles",
                     wall, proc2))
        out, err = ingest.communicate()
        if ingest.returncode != 0:
            errors.append(f"ingest failed: {err[-300:]}")
        fresh += 1000
        for _, _, _, results in rows[-5:]:
            errors += bad(results)
    server.stop()
    state = cc.inspect_fresh(store)["found"]
    print(f"\n| path | how | questions | wall s | questions/s | vs. one after another | errors |")
    print("|---|---|---|---|---|---|---|")
    base_qps = {}
    for mode, how, wall, results in rows:
        qps = len(results) / wall
        base_qps.setdefault(mode, qps)
        n_bad = len(bad(results))
        refused = sum(1 for r in results if r.get("answer", {}).get("refused"))
        print(f"| {mode} | {how} | {len(results)} ({refused} refused) | {wall:.1f} | {qps:.2f} | "
              f"{qps / base_qps[mode]:.2f}x | {n_bad} |")
    total = sum(len(r) for *_, r in rows)
    print(f"\n{total} answers, {len(errors)} errors or malformed answers; store after: "
          f"{len(state['ready'])} articles, problems: {state['problems'] or 'none'}")
    for e in errors[:10]:
        print("  ", e)
    sys.exit(1 if errors or state["problems"] else 0)


if __name__ == "__main__":
    main()
