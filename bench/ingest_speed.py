"""Ingest throughput of `bot ingest` (Bot.ingest) against, in the same run:
  - the raw embedding model on the very chunk texts Bot.ingest makes, length-sorted, at
    batch 32 and batch 8 (the limit on this machine: ingest cannot embed faster);
  - the standard LangChain pipeline: RecursiveCharacterTextSplitter(800, 80) +
    langchain-chroma Chroma.from_texts, with the same model wrapped as a LangChain Embeddings
    (batches of 32 in document order, as a plain wrapper does);
and re-ingest of the unchanged corpus against the first ingest. The corpus is cut into
slices (--slices, default 4) and each method runs on each slice in turn, so that load from
other processes on a shared machine falls on all methods alike; each method sorts by length
within a slice (Bot.ingest within groups of 256 chunks).

Corpus: the 24 SQuAD v1.1 dev articles (../shared/eval/squad11/articles, 782k chars).

    python bench/ingest_speed.py            # full corpus, ~5 min on 2 idle cores
    python bench/ingest_speed.py --quick    # 6 articles
Needs the `bench` extra (langchain-text-splitters) for the LangChain row.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
# ../shared beside the checkout (a worktree one level deeper finds it one level up).
SHARED = next((p / "shared" for p in (ROOT.parent, ROOT.parent.parent) if (p / "shared").is_dir()),
              ROOT.parent / "shared")
ARTICLES = SHARED / "eval" / "squad11" / "articles"


def timed(fn):
    w0, c0 = time.perf_counter(), time.process_time()
    result = fn()
    return result, time.perf_counter() - w0, time.process_time() - c0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="6 articles instead of 24")
    ap.add_argument("--articles", type=Path, default=ARTICLES)
    ap.add_argument("--no-langchain", action="store_true")
    ap.add_argument("--slices", type=int, default=4, help="interleave the methods over this many slices")
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "out" / "ingest_speed.json")
    args = ap.parse_args()
    if not args.articles.is_dir():
        sys.exit(f"no corpus at {args.articles} (the shared eval folder); pass --articles DIR")

    from bot import Bot
    from bot.index.chunking import chunk_article
    from bot.config import Settings
    from bot.index.embeddings import make_embedder
    from bot.index.ingest import load_paths
    from bot.schema import IngestReport

    files = sorted(args.articles.glob("*.txt"))[: 6 if args.quick else None]
    tmp = Path(tempfile.mkdtemp(prefix="bot-bench-ingest-"))
    settings = Settings.load(env={}, env_file=None).with_(store_dir=tmp / "store")
    articles = load_paths(files, settings, IngestReport())
    texts = [c.text for a in articles
             for c in chunk_article(a.article_id, a.text, settings.chunk_size, settings.chunk_overlap)]
    # Every row's chars/s counts the corpus's own characters (not chunk characters, which
    # overlap differently per pipeline): the same work, so the ratios are time ratios.
    n_chars = sum(len(a.text) for a in articles)
    embedder = make_embedder(settings)  # the process-wide model Bot.ingest uses too
    # Every method embeds the same chunks: time the model each time, not its output cache
    # (bot/index/embeddings.py), which only `bot ingest` has on, emptied first.
    embedder.cache.enabled = False
    embedder.embed(texts[:16])  # load + first run, not timed
    rows: dict[str, dict] = {}

    def record(name: str, chunks: int, chars: int, wall: float, cpu: float) -> None:
        rows[name] = {"chunks": chunks, "chars": chars, "seconds": round(wall, 2),
                      "cpu_seconds": round(cpu, 2), "chunks_per_s": round(chunks / wall, 1),
                      "chars_per_s": round(chars / wall)}
        print(f"{name:28s} {chunks:6d} chunks {wall:7.1f} s  {chars / wall:8.0f} chars/s", flush=True)

    # The corpus is cut into slices and every method runs on each slice in turn, so that load
    # from other processes on this shared machine falls on all methods alike.
    default_batch = embedder.batch_size
    bot_name = f"bot ingest (batch {default_batch})"
    names = ["raw model, batch 32, sorted", "raw model, batch 8, sorted", bot_name]
    if not args.no_langchain:
        names.append("LangChain pipeline")
    totals = {n: [0, 0.0, 0.0] for n in names}  # chunks, wall, cpu
    bot = Bot(settings)
    bot.store()  # import Chroma and open the store before timing (LangChain's is imported below too)
    if not args.no_langchain:
        import langchain_chroma  # noqa: F401
        import langchain_text_splitters  # noqa: F401
    by_file = {str(f): a for f, a in zip(files, articles)}
    for part in _slices(files, args.slices):
        part_articles = [by_file[str(f)] for f in part]
        part_texts = [c.text for a in part_articles for c in
                      chunk_article(a.article_id, a.text, settings.chunk_size, settings.chunk_overlap)]
        for batch in (32, 8):
            embedder.batch_size = batch
            _, wall, cpu = timed(lambda: embedder.embed(part_texts))
            _add(totals[f"raw model, batch {batch}, sorted"], len(part_texts), wall, cpu)
        embedder.batch_size = default_batch
        embedder.cache.clear()
        embedder.cache.enabled = True
        report, wall, cpu = timed(lambda: bot.ingest(part))
        embedder.cache.enabled = False
        assert len(report.added) == len(part) and not report.failed, report.summary()
        _add(totals[bot_name], report.chunks, wall, cpu)
        if not args.no_langchain:
            n, wall, cpu = langchain_pipeline(part_articles, embedder, tmp / "langchain")
            _add(totals["LangChain pipeline"], n, wall, cpu)
        print(f"  slice of {len(part)} articles done", flush=True)
    for name in names:
        chunks, wall, cpu = totals[name]
        record(name, chunks, n_chars, wall, cpu)
    again, wall, cpu = timed(lambda: bot.ingest(files))
    assert len(again.unchanged) == len(files)
    record("bot ingest, unchanged again", totals[bot_name][0], n_chars, wall, cpu)

    raw = rows["raw model, batch 32, sorted"]["chars_per_s"]
    first = rows[bot_name]["seconds"]
    for row in rows.values():
        row["vs_raw_b32"] = round(row["chars_per_s"] / raw, 2)
    summary = {
        "articles": len(files), "article_chars": n_chars, "chunks": len(texts), "rows": rows,
        "bot_vs_raw_b32": rows[bot_name]["vs_raw_b32"],
        "reingest_speedup": round(first / rows["bot ingest, unchanged again"]["seconds"], 1),
    }
    if "LangChain pipeline" in rows:
        summary["bot_vs_langchain"] = round(
            rows[bot_name]["chars_per_s"] / rows["LangChain pipeline"]["chars_per_s"], 2)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(summary, indent=2))
    print()
    print("| run | chunks | seconds | CPU s | chunks/s | chars/s | vs raw batch 32 |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for name, r in rows.items():
        print(f"| {name} | {r['chunks']} | {r['seconds']} | {r['cpu_seconds']} | {r['chunks_per_s']} | "
              f"{r['chars_per_s']} | {r['vs_raw_b32']}x |")
    print(f"\nbot ingest vs raw batch 32: {summary['bot_vs_raw_b32']}x; re-ingest of the unchanged "
          f"corpus {summary['reingest_speedup']}x faster than the first ingest"
          + (f"; bot ingest vs LangChain: {summary['bot_vs_langchain']}x" if "bot_vs_langchain" in summary else ""))


def _add(total: list, chunks: int, wall: float, cpu: float) -> None:
    total[0] += chunks
    total[1] += wall
    total[2] += cpu


def _slices(items: list, n: int) -> list[list]:
    n = max(1, min(n, len(items)))
    return [items[i::n] for i in range(n)]


def langchain_pipeline(articles, embedder, where: Path):
    """The standard pipeline, timed from raw texts to a stored collection."""
    from langchain_chroma import Chroma
    from langchain_core.embeddings import Embeddings
    from langchain_text_splitters import RecursiveCharacterTextSplitter

    class PlainMiniLM(Embeddings):
        """The same model as a plain LangChain wrapper: batches of 32 in the order given."""

        def embed_documents(self, texts: list[str]) -> list[list[float]]:
            out: list[list[float]] = []
            for b in range(0, len(texts), 32):
                out += embedder.embed(texts[b:b + 32]).tolist()
            return out

        def embed_query(self, text: str) -> list[float]:
            return embedder.embed_query(text).tolist()

    old_batch = embedder.batch_size
    embedder.batch_size = 32
    try:
        def run():
            splitter = RecursiveCharacterTextSplitter(chunk_size=800, chunk_overlap=80)
            chunks = [c for a in articles for c in splitter.split_text(a.text)]
            Chroma.from_texts(chunks, embedding=PlainMiniLM(), persist_directory=str(where),
                              collection_name="langchain", collection_metadata={"hnsw:space": "cosine"})
            return chunks

        chunks, wall, cpu = timed(run)
    finally:
        embedder.batch_size = old_batch
    return len(chunks), wall, cpu


if __name__ == "__main__":
    main()
