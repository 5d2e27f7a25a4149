"""Peak memory of ingesting 100k chunks with `bot ingest` (Bot.ingest in a child process), against
the peak of a child that only loads the model, embeds one batch and opens the store (the floor
every ingest pays), measured in the same run.

The texts are synthetic and short so the run takes minutes, not an hour of embedding: 1,000
articles of 100 real sentences each (50-80 chars, from the SQuAD articles), chunked with
BOT_CHUNK_SIZE=80 and no overlap, so each sentence is one chunk. The store, the chunk
records, the grouping and the batching are the real ones; only the texts are shorter than
news chunks (the embedding model's activations grow with the batch's token length, which
this does not exercise: see the batch-32 note in BENCHMARKS.md).

    python bench/ingest_memory.py            # 100k chunks
    python bench/ingest_memory.py --quick    # 20k chunks
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
from synth import sentence_pool  # noqa: E402

INGEST = """
import sys
from bot import Bot
from bot.config import Settings
report = Bot(Settings.load()).ingest([sys.argv[1]])
assert not report.failed, report.summary()
print(report.chunks)
"""

FLOOR = """
from bot import Bot
from bot.config import Settings
bot = Bot(Settings.load())
bot.embedder.embed(["a short sentence to embed"] * 8)
print(bot.store().count_chunks())
"""


def child(code: str, env: dict, *args: str) -> tuple[float, float, str]:
    """(peak MB, wall seconds, stdout) of a child Python process."""
    full = {k: v for k, v in os.environ.items() if not k.startswith("BOT_")}
    full.update(env, PYTHONPATH=str(ROOT), HF_HUB_OFFLINE="1")
    t = time.perf_counter()
    proc = subprocess.run(["/usr/bin/time", "-f", "%M", sys.executable, "-c", code, *args],
                          env=full, capture_output=True, text=True)
    wall = time.perf_counter() - t
    if proc.returncode != 0:
        raise RuntimeError(proc.stderr[-800:])
    return int(proc.stderr.strip().splitlines()[-1]) / 1024, wall, proc.stdout.strip()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="20k chunks instead of 100k")
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "out" / "ingest_memory.json")
    args = ap.parse_args()
    n_articles = 200 if args.quick else 1000
    tmp = Path(tempfile.mkdtemp(prefix="bot-bench-memory-"))
    rng = random.Random(0)
    pool = [s for s in sentence_pool() if 50 <= len(s) <= 80]  # two never fit in one chunk
    corpus = tmp / "corpus"
    corpus.mkdir()
    for a in range(n_articles):
        lines = [f"Synthetic article {a}"] + [rng.choice(pool) for _ in range(100)]
        (corpus / f"{a:05d}.txt").write_text("\n".join(lines) + "\n")
    env = {"BOT_STORE_DIR": str(tmp / "store"), "BOT_CHUNK_SIZE": "80", "BOT_CHUNK_OVERLAP": "0"}
    floor_mb, floor_s, _ = child(FLOOR, env)
    peak_mb, wall, chunks = child(INGEST, env, str(corpus))
    result = {"articles": n_articles, "chunks": int(chunks), "ingest_peak_mb": round(peak_mb),
              "ingest_seconds": round(wall, 1), "floor_peak_mb": round(floor_mb),
              "ratio_vs_floor": round(peak_mb / floor_mb, 2), "target_mb": 1536}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2))
    print("| run | chunks | peak RSS MB | seconds | vs floor |")
    print("|---|---:|---:|---:|---:|")
    print(f"| floor: load model, embed one batch, open store | 0 | {floor_mb:.0f} | {floor_s:.1f} | 1.0x |")
    print(f"| bot ingest | {chunks} | {peak_mb:.0f} | {wall:.1f} | {peak_mb / floor_mb:.2f}x |")


if __name__ == "__main__":
    main()
