"""Ask many questions against one store from a process of its own (for concurrency tests and
benches): `python -m tests.askmany STORE_DIR [--threads N] [--llm BASE_URL]`, the questions as
one JSON list on the first line of stdin.

Prints one JSON object per question: the answer (`Answer.to_dict()`), its problems as found by
tests/answers.py right after answering (against the store as it is then), or the error.
The first line is {"ready": true} once the model and store are loaded, so a parent can start
every process's clock at the same moment (it writes "go" on stdin after the questions).
"""

from __future__ import annotations

import json
import sys
import threading
import time
import traceback
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any


def ask_one(bot: Any, question: str) -> dict:
    from tests.answers import problems

    t = time.perf_counter()
    try:
        answer = bot.ask(question)
    except Exception as e:  # any exception is a failure the parent reports
        return {"question": question, "error": f"{type(e).__name__}: {e}",
                "traceback": traceback.format_exc(), "elapsed": time.perf_counter() - t}
    elapsed = time.perf_counter() - t
    return {"question": question, "answer": answer.to_dict(),
            "problems": problems(answer, bot.article), "elapsed": elapsed}


def ask_all(bot: Any, questions: list[str], threads: int) -> list[dict]:
    if threads <= 1:
        return [ask_one(bot, q) for q in questions]
    # With a thread per question, all start at once (not as the pool happens to start them).
    start = threading.Barrier(len(questions)) if threads >= len(questions) else None

    def one(q: str) -> dict:
        if start is not None:
            try:
                start.wait(timeout=60)
            except threading.BrokenBarrierError:
                pass
        return ask_one(bot, q)

    with ThreadPoolExecutor(max_workers=threads) as pool:
        return list(pool.map(one, questions))


def main() -> None:
    import argparse

    from bot import Bot
    from bot.config import Settings

    ap = argparse.ArgumentParser()
    ap.add_argument("store_dir", type=Path)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--llm", default="", help="an OpenAI-compatible base URL (else extractive)")
    args = ap.parse_args()
    questions = json.loads(sys.stdin.readline())
    bot = Bot(Settings.load(env={}, env_file=None).with_(
        store_dir=args.store_dir, openai_base_url=args.llm, llm_retries=0))
    bot.ask("warm up")  # model, store and BM25 index loaded before the clock starts
    print(json.dumps({"ready": True}), flush=True)
    sys.stdin.readline()  # "go"
    t = time.perf_counter()
    results = ask_all(bot, questions, args.threads)
    for r in results:
        print(json.dumps(r), flush=True)
    print(json.dumps({"done": True, "wall": time.perf_counter() - t}), flush=True)


if __name__ == "__main__":
    main()
