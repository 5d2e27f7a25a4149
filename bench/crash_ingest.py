"""Crash safety: SIGKILL a real `bot ingest` at random moments, then check the store.

One store lives through the whole run. The corpus folder alternates between two versions
(tests/corpus.py: version "b" rewrites every other article and adds a few), so each run both
adds articles and replaces stored ones. For each kill:

1. `bot ingest CORPUS` starts (a real CLI process) and is SIGKILLed at a random point among
   its writes: after the n-th change of Chroma's database file, n uniform over the number of
   changes the previous complete run made, plus 0-20 ms;
2. a fresh process opens the store and checks it as found, then repairs and checks again
   (tests/crashcheck.py says exactly what is checked);
3. the same `bot ingest CORPUS` runs to the end;
4. a fresh process checks the store holds exactly the corpus: every article ready and whole,
   with this version's text, nothing else.
A kill is survived when all four hold (articles of earlier versions that are no longer in the
folder stay stored, as ingest never deletes: they must be whole and unchanged too). Chunks are 300 characters here (BOT_CHUNK_SIZE), so most
articles have several chunks and a kill can fall between them.

    /work/main/.venv/bin/python bench/crash_ingest.py [--kills 24] [--articles 30]
        [--eval-dir ../shared/eval]   # SQuAD paragraphs instead of synthetic stories
"""

from __future__ import annotations

import argparse
import json
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests import corpus as corpora  # noqa: E402
from tests import crashcheck as cc  # noqa: E402

CHUNK, OVERLAP = 300, 60
ENV = {"BOT_CHUNK_SIZE": str(CHUNK), "BOT_CHUNK_OVERLAP": str(OVERLAP)}


def check(store: Path, repair: bool) -> dict:
    return cc.inspect_fresh(store, repair, CHUNK, OVERLAP)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--kills", type=int, default=24)
    ap.add_argument("--articles", type=int, default=30)
    ap.add_argument("--seed", type=int, default=9)
    ap.add_argument("--eval-dir", default=None, help="use SQuAD paragraphs from this eval folder")
    args = ap.parse_args()
    rng = random.Random(args.seed)
    eval_path = corpora.eval_dir(args.eval_dir) if args.eval_dir else None
    if args.eval_dir and eval_path is None:
        sys.exit(f"no squad11/articles under {args.eval_dir}")

    def version(v: str, fresh: int = 0) -> list[corpora.Doc]:
        """Version v of the corpus, plus three stories never seen before (numbered by `fresh`),
        so every run adds articles as well as replacing some."""
        base = (corpora.squad_docs(eval_path, args.articles, v) if eval_path
                else corpora.docs(args.articles, v))
        return base + [corpora.story(1000 + 3 * fresh + j) for j in range(3)]

    work = Path(tempfile.mkdtemp(prefix="crash-bench-"))
    folder, store = work / "corpus", work / "store"
    corpora.write(folder, version("a"))
    known = cc.expected(folder)  # every article ingested so far (the store keeps old extras)
    t = time.perf_counter()
    first = cc.run_and_kill(folder, store, None, env=ENV)
    assert first.returncode == 0, first.stderr
    writes = first.writes
    print(f"corpus: {len(version('a'))}/{len(version('b'))} articles (versions a/b), "
          f"{'SQuAD' if eval_path else 'synthetic'}; store {store}")
    print(f"full ingest: {first.end:.1f} s, {first.writes} database changes seen")

    survived, rows = 0, []
    for i in range(args.kills):
        v = "b" if i % 2 == 0 else "a"
        corpora.write(folder, version(v, i + 1))
        want = cc.expected(folder)
        known.update(want)
        at = rng.randint(1, max(1, writes))
        run = cc.run_and_kill(folder, store, at, extra_delay=rng.uniform(0, 0.02), env=ENV)
        after_kill = check(store, repair=True)
        finish = cc.run_and_kill(folder, store, None, env=ENV)
        if finish.returncode == 0 and finish.writes:
            writes = run.writes + finish.writes  # a whole run's worth, for the next kill
        final = check(store, repair=False)["found"]
        problems = after_kill["found"]["problems"] + after_kill.get("repaired", {}).get("problems", [])
        problems += final["problems"]
        if finish.returncode != 0:
            problems.append(f"finishing ingest failed: {finish.stderr.strip()[-300:]}")
        if final["ready"] != known:
            missing = set(known) - set(final["ready"])
            wrong = {k for k in known if k in final["ready"] and final["ready"][k] != known[k]}
            extra = set(final["ready"]) - set(known)
            problems.append(f"after finishing: {len(missing)} missing, {len(wrong)} stale, "
                            f"{len(extra)} unexpected article(s)")
        ok = run.killed and not problems
        survived += ok
        found = after_kill["found"]
        done = sum(1 for k, h in found["ready"].items() if want.get(k) == h)
        rows.append({"kill": i + 1, "version": v, "at_write": at,
                     "killed": run.killed, "pending": len(found["pending"]),
                     "leftover_chunks": found["leftover_chunks"], "done_before_kill": done,
                     "of": len(want), "problems": problems})
        print(f"kill {i + 1:2d} (to {v}) at write {at:3d}: "
              f"{'killed' if run.killed else 'had finished'}; {done}/{len(want)} already there, "
              f"{len(found['pending'])} pending, {found['leftover_chunks']} leftover chunk(s) "
              f"-> {'OK' if ok else 'FAIL ' + '; '.join(problems)}", flush=True)
    mid_write = sum(1 for r in rows if r["pending"] or r["leftover_chunks"])
    partial = sum(1 for r in rows if 0 < r["done_before_kill"] < r["of"])
    print(f"\nsurvived {survived}/{args.kills} kills; {mid_write} caught an article mid-write "
          f"(pending records left for repair), {partial} left the batch partly done; "
          f"{time.perf_counter() - t:.0f} s in all")
    sys.exit(0 if survived == args.kills else 1)


if __name__ == "__main__":
    main()
