"""Offline answer quality on SQuAD (../shared/eval): evidence, short answers, refusals.

    python bench/eval_qa.py                      # squad11 + squad20, every question
    python bench/eval_qa.py --limit 500 --seed 1 # a random subset while developing
    python bench/eval_qa.py --fold B             # only the held-out articles (see FOLDS)

Each set's articles go into a fresh store (a temp dir; or --cache DIR to keep the store and an
embedding cache between runs), then every question runs the same path as `Bot.ask`: retrieve,
answer with the extractive answerer (reusing the query vector), verify the citations.

Metrics (SQuAD normalisation, bench/qa_metrics.py):
  evidence@1   the first cited sentence holds a gold answer
  evidence@k   any cited sentence does
  EM / F1      of the short answer, best over the gold answers; no short answer scores 0
  valid        every citation satisfies article.text[start:end] == quote (must be 1.0)
  recall@k     a retrieved chunk of the gold article covers a gold answer's offsets
  refusal      share of unanswerable questions refused (squad20), and false refusals; an
               answer saying the sources do not give the kind asked for counts as a refusal
  headline     what a reader sees first is right: the short answer when one is shown (it
               holds a gold answer, F1 >= 0.5), else the first cited sentence holds one; a
               refusal is wrong (answerable questions)
  short shown / short right / wrong short   share of answerable questions with a short answer
               shown, share of shown ones right, share of ALL questions with a wrong one shown
  unsure       what a hedge would do (not shipped, BENCHMARKS.md): share of answerable
               questions answered with no short answer and a confidence under 0.5 (the
               headline more likely wrong than right); sure right: the headline is right, of
               the other answers; declined: unanswerable questions refused or unsure
  Brier        of `confidence` against the headline being right, answered questions
A citation counts as evidence only if it lies inside one sentence of its article: a quote of a
whole chunk is not an answer.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from qa_metrics import (brier, contains_answer, exact_match, f1_score, reliability,  # noqa: E402
                        short_answer_right)

import os  # noqa: E402

# ../shared/eval beside the repository; EVAL_DIR overrides it (e.g. from a git worktree).
EVAL = Path(os.environ.get("EVAL_DIR") or ROOT.parent / "shared" / "eval")
SETS = ("squad11", "squad20")


def fold_of(article_file: str, set_name: str) -> str:
    """Articles are split in two folds BY ARTICLE, so a learned component is never measured on
    articles it was trained on: squad11 articles with an even file index are fold A (training),
    odd ones fold B (held out); a squad20 article follows its squad11 namesake."""
    title = article_file.split("_", 1)[1]
    if set_name != "squad11":
        for f in (EVAL / "squad11" / "articles").glob("*.txt"):
            if f.name.split("_", 1)[1] == title:
                article_file = f.name
                break
    return "A" if int(article_file.split("_", 1)[0]) % 2 == 0 else "B"


def load_questions(set_name: str) -> list[dict]:
    path = EVAL / set_name / "questions.jsonl"
    items = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    for q in items:
        q["set"] = set_name
        q["fold"] = fold_of(q["article"], set_name)
        q.setdefault("is_impossible", False)
    return items


class CachingEmbedder:
    """The bot's embedder with a text → vector cache kept on disk between runs (bench only)."""

    def __init__(self, base: Any, path: Path | None):
        self.base = base
        self.name = base.name
        self.path = path
        self.cache: dict[str, np.ndarray] = {}
        self.dirty = False
        if path and path.exists():
            data = np.load(path, allow_pickle=False)
            keys = json.loads(str(data["keys"]))
            self.cache = dict(zip(keys, data["vectors"]))

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        missing = list(dict.fromkeys(t for t in texts if t not in self.cache))
        if missing:
            for t, v in zip(missing, self.base.embed(missing)):
                self.cache[t] = v
            self.dirty = True
        if not texts:
            return self.base.embed([])
        return np.stack([self.cache[t] for t in texts])

    def embed_query(self, text: str) -> np.ndarray:
        return self.embed([text])[0]

    def token_states(self, texts: Sequence[str]) -> list[tuple[np.ndarray, np.ndarray]]:
        if not hasattr(self.base, "token_states"):
            raise AttributeError("token_states")
        if not hasattr(self, "_states"):
            self._states: dict[str, tuple[np.ndarray, np.ndarray]] = {}
            sp = self.path.with_name("token_states.pkl") if self.path else None
            if sp and sp.exists():
                import pickle

                self._states = pickle.loads(sp.read_bytes())
        missing = list(dict.fromkeys(t for t in texts if t not in self._states))
        if missing:
            for t, (o, h) in zip(missing, self.base.token_states(missing)):
                self._states[t] = (o, h.astype(np.float16))
            self._states_dirty = True
        return [(self._states[t][0], self._states[t][1].astype(np.float32)) for t in texts]

    def save(self) -> None:
        if self.path and getattr(self, "_states_dirty", False):
            import pickle

            self.path.with_name("token_states.pkl").write_bytes(pickle.dumps(self._states))
            self._states_dirty = False
        if self.path and self.dirty:
            keys = list(self.cache)
            np.savez(self.path, keys=json.dumps(keys), vectors=np.stack([self.cache[k] for k in keys]))
            self.dirty = False


@dataclass
class Bench:
    """One evaluation set ingested into a store, ready to ask."""

    set_name: str
    bot: Any
    embedder: CachingEmbedder
    article_of: dict[str, Any]  # question's article file name -> stored Article
    questions: list[dict]
    tmp: Any = None


def open_bench(set_name: str, cache: Path | None, settings_overrides: dict | None = None,
               quiet: bool = False) -> Bench:
    from bot import Bot
    from bot.config import Settings
    from bot.index.embeddings import make_embedder

    overrides = settings_overrides or {}
    tmp = None
    if cache:
        tag = hashlib.sha1(json.dumps(overrides, sort_keys=True).encode()).hexdigest()[:8]
        store_dir = cache / f"store-{set_name}-{tag}"
    else:
        tmp = tempfile.TemporaryDirectory(prefix=f"eval-{set_name}-")
        store_dir = Path(tmp.name)
    settings = Settings.load(env={}, env_file=None).with_(store_dir=store_dir, **overrides)
    bot = Bot(settings)
    emb = CachingEmbedder(make_embedder(settings), cache / "embeddings.npz" if cache else None)
    bot._embedder = emb  # bench only: the cache must sit under every embedding call
    t0 = time.perf_counter()
    report = bot.ingest([EVAL / set_name / "articles"])
    if report.failed:
        raise SystemExit(f"ingest failed: {[f.line() for f in report.failed]}")
    if not quiet:
        print(f"[{set_name}] ingest: {report.summary()}, {report.chunks} chunks, "
              f"{time.perf_counter() - t0:.1f} s", file=sys.stderr)
    by_source = {Path(a.source).name: a for a in bot.articles()}
    return Bench(set_name, bot, emb, by_source, load_questions(set_name), tmp)


def gold_spans(q: dict, text: str) -> list[tuple[int, int]]:
    """Offsets of the gold answers in the stored text (the loader may shift them a little)."""
    out = []
    for a, s in zip(q["answers"], q["answer_starts"]):
        hits = [i for i in _find_all(text, a) if abs(i - s) <= 80]
        if hits:
            h = min(hits, key=lambda i: abs(i - s))
            out.append((h, h + len(a)))
    return out


def _find_all(text: str, needle: str) -> list[int]:
    out, i = [], text.find(needle)
    while i >= 0:
        out.append(i)
        i = text.find(needle, i + 1)
    return out


@dataclass
class Result:
    qid: str
    set: str
    fold: str
    impossible: bool
    refused: bool
    short: str | None
    quotes: list[str]
    valid: bool
    single_sentence: bool
    recall: bool
    em: float = 0.0
    f1: float = 0.0
    ev1: bool = False
    evk: bool = False
    headline: bool = False  # what is shown first is right (a refusal is right only if impossible)
    short_right: bool = False
    unsure: bool = False  # answered, no short answer, confidence under UNSURE (a hedge's case)
    confidence: float | None = None
    short_confidence: float | None = None
    ms: float = 0.0
    extra: dict = field(default_factory=dict)


def ask_one(bench: Bench, answerer: Any, q: dict, k: int) -> Result:
    from bot.answer import citations
    from bot.index.chunking import sentences

    t0 = time.perf_counter()
    qv = bench.embedder.embed_query(q["question"])
    passages = bench.bot.retrieve(q["question"], k)
    draft = answerer.answer(q["question"], passages, query_vector=qv)
    lookup = {p.article.article_id: p.article for p in passages}.get
    answer = citations.verify(q["question"], draft, lookup)
    ms = (time.perf_counter() - t0) * 1000
    art = bench.article_of[q["article"]]
    spans = gold_spans(q, art.text) if not q["is_impossible"] else []
    recall = any(p.article.article_id == art.article_id and p.chunk.start <= s and e <= p.chunk.end
                 for p in passages for s, e in spans)
    valid, single = True, True
    quotes = []
    for c in answer.citations:
        a = lookup(c.article_id)
        valid &= bool(a) and citations.check(c, a)
        single &= bool(a) and _in_one_sentence(a, c.start, c.end, sentences)
        quotes.append(c.quote)
    golds = q["answers"]
    refused = answer.refused or bool(getattr(answer, "not_stated", None))
    r = Result(q["id"], q["set"], q["fold"], q["is_impossible"], refused, answer.short_answer,
               quotes, valid, single, recall, ms=ms,
               confidence=getattr(answer, "confidence", None),
               short_confidence=getattr(answer, "short_answer_confidence", None))
    if getattr(answer, "not_stated", None):
        r.extra["not_stated"] = answer.not_stated
    r.unsure = (not refused and not answer.short_answer and r.confidence is not None
                and r.confidence < UNSURE)
    r.headline = refused and q["is_impossible"]
    if golds and not answer.refused:
        counted = quotes if single else []
        r.em = exact_match(answer.short_answer, golds)
        r.f1 = f1_score(answer.short_answer, golds)
        r.ev1 = bool(counted) and contains_answer(counted[0], golds)
        r.evk = any(contains_answer(x, golds) for x in counted)
        r.short_right = short_answer_right(answer.short_answer, golds)
        r.headline = not refused and (r.short_right if answer.short_answer else r.ev1)
    return r


UNSURE = 0.5  # a calibrated P(the headline is right) under which it is more likely wrong

_sent_cache: dict[str, list[tuple[int, int]]] = {}


def _in_one_sentence(article: Any, start: int, end: int, split: Callable) -> bool:
    if article.article_id not in _sent_cache:
        _sent_cache[article.article_id] = split(article.text)
    return any(s <= start and end <= e for s, e in _sent_cache[article.article_id])


def summarise(results: list[Result]) -> dict[str, float]:
    ans = [r for r in results if not r.impossible]
    imp = [r for r in results if r.impossible]
    mean = lambda xs: float(np.mean(xs)) if xs else float("nan")  # noqa: E731
    out = {
        "questions": len(results),
        "answerable": len(ans),
        "evidence@1": mean([r.ev1 for r in ans]),
        "evidence@k": mean([r.evk for r in ans]),
        "EM": mean([r.em for r in ans]),
        "F1": mean([r.f1 for r in ans]),
        "recall@k": mean([r.recall for r in ans]),
        "valid": mean([r.valid for r in results]),
        "single_sentence": mean([r.single_sentence for r in results]),
        "false_refusal": mean([r.refused for r in ans]),
        "short_given": mean([r.short is not None for r in ans]),
        "headline": mean([r.headline for r in ans]),
        "short_right": mean([r.short_right for r in ans if r.short]),
        "unsure": mean([r.unsure for r in ans]),
        "sure_right": mean([r.headline for r in ans if not r.refused and not r.unsure]),
        "wrong_short": mean([bool(r.short) and not r.short_right for r in results]),
        "ms_per_q": mean([r.ms for r in results]),
    }
    if imp:
        out["unanswerable"] = len(imp)
        out["refusal"] = mean([r.refused for r in imp])
        out["declined"] = mean([r.refused or r.unsure for r in imp])
    conf = [(r.confidence, r.headline) for r in results if r.confidence is not None and not r.refused]
    if conf:
        out["brier"] = brier([c for c, _ in conf], [h for _, h in conf])
    return out


def reliability_table(results: list[Result]) -> str:
    """Confidence against how often the headline was right, answered questions only."""
    conf = [(r.confidence, r.headline) for r in results if r.confidence is not None and not r.refused]
    rows = reliability([c for c, _ in conf], [h for _, h in conf])
    lines = ["| confidence | answers | mean confidence | headline right |", "|---|---|---|---|"]
    lines += [f"| {b} | {n} | {mc:.3f} | {acc:.3f} |" for b, n, mc, acc in rows]
    return "\n".join(lines)


def make_answerer(bench: Bench, kind: str, model_path: Path | None = None,
                  code_path: Path | None = None) -> Any:
    """`code_path`: an earlier, single-file bot/answer/extractive.py (from `git show`, before it
    became the package bot/answer/extractive/) to compare with, run with the model file
    `model_path`."""
    if kind == "baseline":
        from baseline_extractive import ExtractiveAnswerer as Baseline

        return Baseline(bench.embedder, bench.bot.retriever().idf)
    if code_path:
        import importlib.util

        spec = importlib.util.spec_from_file_location("compared_extractive", code_path)
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module  # its dataclasses look themselves up there
        spec.loader.exec_module(module)
    else:
        from bot.answer import extractive as module
    model = module.load_model(str(model_path)) if model_path else None
    return module.ExtractiveAnswerer(bench.embedder, bench.bot.retriever().idf, model=model)


def select(questions: list[dict], fold: str, limit: int | None, seed: int) -> list[dict]:
    qs = [q for q in questions if fold == "all" or q["fold"] == fold]
    if limit and limit < len(qs):
        qs = random.Random(seed).sample(qs, limit)
    return qs


def run_set(bench: Bench, answerers: dict[str, Any], qs: list[dict], k: int,
            quiet: bool = False, ks: dict[str, int] | None = None) -> dict[str, list[Result]]:
    """`ks`: passages per question for some answerers, when not `k`."""
    out: dict[str, list[Result]] = {name: [] for name in answerers}
    t0 = time.perf_counter()
    for i, q in enumerate(qs, 1):
        for name, answerer in answerers.items():
            out[name].append(ask_one(bench, answerer, q, (ks or {}).get(name, k)))
        if not quiet and (i % 200 == 0 or i == len(qs)):
            print(f"[{bench.set_name}] {i}/{len(qs)} questions, {time.perf_counter() - t0:.0f} s",
                  file=sys.stderr)
    bench.embedder.save()
    return out


COLUMNS = ["questions", "headline", "short_given", "short_right", "wrong_short", "evidence@1",
           "evidence@k", "EM", "F1", "recall@k", "valid", "refusal", "false_refusal", "unsure",
           "sure_right", "declined", "brier", "ms_per_q"]


def table(rows: list[tuple[str, dict]]) -> str:
    head = "| run | " + " | ".join(COLUMNS) + " |"
    lines = [head, "|" + "---|" * (len(COLUMNS) + 1)]
    for name, s in rows:
        cells = []
        for c in COLUMNS:
            v = s.get(c)
            cells.append("" if v is None or v != v else (str(v) if isinstance(v, int) else
                                                        f"{v:.1f}" if c == "ms_per_q" else f"{v:.3f}"))
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sets", default="squad11,squad20")
    ap.add_argument("--fold", choices=["A", "B", "all"], default="all",
                    help="A = training articles, B = held-out articles, all = both")
    ap.add_argument("--limit", type=int, default=None, help="random subset of N questions per set")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--k", type=int, default=None, help="passages per question (default: settings)")
    ap.add_argument("--baseline", action="store_true",
                    help="also run the spine's original answerer (bench/baseline_extractive.py)")
    ap.add_argument("--baseline-only", action="store_true", help="run only that baseline")
    ap.add_argument("--model", type=Path, default=None,
                    help="the method's model file (default: bot/data/qa_model.json)")
    ap.add_argument("--compare-model", type=Path, default=None,
                    help="also run an answerer with this model file (e.g. an earlier commit's "
                         "bot/data/qa_model.json, from git show), as 'previous'")
    ap.add_argument("--compare-k", type=int, default=None,
                    help="passages per question for 'previous' (default: the same as --k)")
    ap.add_argument("--compare-code", type=Path, default=None,
                    help="an earlier single-file bot/answer/extractive.py that 'previous' runs "
                         "(default: this checkout's package)")
    ap.add_argument("--cache", type=Path, default=None,
                    help="keep stores and an embedding cache here between runs (e.g. bench/out/cache)")
    ap.add_argument("--json", type=Path, default=None, help="write summaries and per-question results")
    args = ap.parse_args(argv)
    if not EVAL.exists():
        raise SystemExit(f"{EVAL} is missing: the SQuAD eval data lives in ../shared/eval")
    if args.cache:
        args.cache.mkdir(parents=True, exist_ok=True)
    rows: list[tuple[str, dict]] = []
    dump: dict[str, Any] = {"args": {k: str(v) for k, v in vars(args).items()}, "summary": {}, "results": {}}
    for set_name in args.sets.split(","):
        bench = open_bench(set_name, args.cache)
        k = args.k or bench.bot.settings.top_k
        answerers = {"method": make_answerer(bench, "method", args.model)}
        if args.compare_model:
            answerers = {"previous": make_answerer(bench, "method", args.compare_model,
                                                   args.compare_code), **answerers}
        if args.baseline or args.baseline_only:
            answerers = {"baseline": make_answerer(bench, "baseline"),
                         **({} if args.baseline_only else answerers)}
        qs = select(bench.questions, args.fold, args.limit, args.seed)
        results = run_set(bench, answerers, qs, k,
                          ks={"previous": args.compare_k} if args.compare_k else None)
        for name, rs in results.items():
            # With every article asked, also show the held-out fold on its own: it is the
            # figure for a learned model trained on fold A.
            parts = [(args.fold, rs)] + ([("B", [r for r in rs if r.fold == "B"])]
                                         if args.fold == "all" else [])
            for fold, part in parts:
                label = f"{set_name} fold={fold} {name}"
                s = summarise(part)
                rows.append((label, s))
                dump["summary"][label] = s
            dump["results"][f"{set_name} {name}"] = [r.__dict__ for r in rs]
    print(table(rows))
    for key, rs in dump["results"].items():
        if any(r["confidence"] is not None for r in rs):
            held = [Result(**r) for r in rs if r["fold"] == "B" or args.fold != "all"]
            print(f"\nreliability, {key} (fold {'B' if args.fold == 'all' else args.fold}):")
            print(reliability_table(held))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(dump, indent=1, default=str))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
