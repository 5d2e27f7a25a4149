"""Summaries and briefings, measured: ROUGE of `summarize --sentences 3` vs Lead-3, the share of
briefing points with a verified citation, and the time to brief 100 articles vs ingesting them.

    python bench/eval_summary.py            # the BENCHMARKS.md table
    python bench/eval_summary.py --fit      # refit the term model on the train half first

Data: ../shared/eval/cnndm_realsumm.jsonl (100 CNN/DailyMail test articles with their human
reference summaries; text pre-tokenised and partly lower-cased). The first half of the file is
the train half: the term model's coefficients in bot/brief/sentences.py were fitted on it (`--fit`
prints them); the figures we report are on the second half, which the fit never saw. Lead-3 is
the first three sentences by the same sentence splitter. ROUGE: the rouge-score package, stemmer
on, rougeLsum with one sentence per line, F-measure x 100.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bot.brief import sentences as summary_model  # noqa: E402
from bot.sources.common import make_article  # noqa: E402
from bot.index.chunking import sentences  # noqa: E402
from bot.answer.citations import check  # noqa: E402
from bot.config import Settings  # noqa: E402
from bot.core import Bot  # noqa: E402
from bot.util.text import tokens  # noqa: E402

DATA = ROOT.parent / "shared" / "eval" / "cnndm_realsumm.jsonl"
METRICS = ("rouge1", "rouge2", "rougeLsum")


def load(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text("utf-8").splitlines() if line.strip()]


def lines(text: str) -> str:
    return "\n".join(text[s:e] for s, e in sentences(text))


def rouge(pairs: list[tuple[str, str]]) -> np.ndarray:
    """Mean F-measure x 100 of (candidate, reference) pairs, one sentence per line."""
    from rouge_score import rouge_scorer

    scorer = rouge_scorer.RougeScorer(list(METRICS), use_stemmer=True)
    scores = [scorer.score(lines(ref), cand) for cand, ref in pairs]
    return np.array([[s[m].fmeasure * 100 for m in METRICS] for s in scores]).mean(axis=0)


def fit(bot: Bot, rows: list[dict], l2: float = 1.0) -> tuple[np.ndarray, float]:
    """Poisson regression (Newton steps, L2 on standardised features) of how often each stem of
    an article appears in its reference summary, on the term features of bot/brief/sentences.py."""
    idf = bot.retriever().idf
    xs, ys = [], []
    for row in rows:
        article = bot.article(row["article_id"])
        names, x = summary_model.term_features(summary_model.article_sentences(article), idf)
        ref: dict[str, int] = {}
        for t in tokens(row["reference"]):
            ref[t] = ref.get(t, 0) + 1
        xs.append(x)
        ys.append(np.array([ref.get(t, 0) for t in names], dtype=np.float64))
    x, y = np.concatenate(xs), np.concatenate(ys)
    mu, sd = x.mean(axis=0), x.std(axis=0) + 1e-9
    z = np.hstack([(x - mu) / sd, np.ones((len(x), 1))])
    w = np.zeros(z.shape[1])
    w[-1] = math.log(max(y.mean(), 1e-3))
    penalty = l2 * np.eye(len(w))
    penalty[-1, -1] = 0.0
    for _ in range(100):
        lam = np.exp(z @ w)
        grad = z.T @ (y - lam) - penalty @ w
        w += np.linalg.solve((z * lam[:, None]).T @ z + penalty, grad)
        if np.abs(grad).max() < 1e-8:
            break
    coef = w[:-1] / sd  # back to raw features
    return coef, float(w[-1] - (mu / sd) @ w[:-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=DATA)
    ap.add_argument("--fit", action="store_true", help="refit the term model on the train half")
    ap.add_argument("--swap", action="store_true",
                    help="with --fit: train on the second half, report on the first (a check of "
                         "how much the figure depends on the split)")
    ap.add_argument("--max-points", type=int, default=12)
    args = ap.parse_args()
    if args.swap and not args.fit:
        sys.exit("--swap needs --fit: the shipped coefficients were fitted on the first half")
    if not args.data.is_file():
        sys.exit(f"{args.data}: not found; this benchmark needs ../shared/eval")
    rows = load(args.data)
    articles = [make_article(r["article"], title=f"CNN/DM {r['id']}", source=f"cnndm/{r['id']}",
                             key=f"cnndm/{r['id']}") for r in rows]
    for r, a in zip(rows, articles):
        r["article_id"] = a.article_id
    half = len(rows) // 2
    train, test = rows[:half], rows[half:]
    if args.swap:
        train, test = test, train

    with tempfile.TemporaryDirectory() as tmp:
        bot = Bot(Settings.load(env={}, env_file=None).with_(store_dir=Path(tmp) / "store"))
        bot.embedder.embed(["warm up"])  # model load is not ingest
        t0 = time.perf_counter()
        report = bot.ingest_articles(articles)
        t_ingest = time.perf_counter() - t0
        assert not report.failed, report.failed

        if args.fit:
            coef, bias = fit(bot, train)
            print("TERM_COEF = (" + ", ".join(f"{c:.4f}" for c in coef) + ")")
            print(f"TERM_BIAS = {bias:.4f}")
            summary_model.TERM_COEF, summary_model.TERM_BIAS = tuple(coef), bias

        results = {}
        for name, part in (("test (reported)", test), ("train", train), ("all", rows)):
            t0 = time.perf_counter()
            ours = [("\n".join(s.text for s in bot.summarize(r["article_id"], 3).statements),
                     r["reference"]) for r in part]
            t_ours = time.perf_counter() - t0
            t0 = time.perf_counter()
            lead = [("\n".join(r["article"][s:e] for s, e in sentences(r["article"])[:3]),
                     r["reference"]) for r in part]
            t_lead = time.perf_counter() - t0
            results[name] = (rouge(ours), rouge(lead), len(part), t_ours, t_lead)

        t0 = time.perf_counter()
        brief = bot.brief(max_points=args.max_points)
        t_brief = time.perf_counter() - t0
        points = [p for s in brief.sections for p in s.statements]
        by_id = {a.article_id: a for a in brief.articles}
        verified = sum(1 for p in points if p.citations and
                       all(check(c, by_id[c.article_id]) for c in p.citations))

    print("\n| items | method | ROUGE-1 | ROUGE-2 | ROUGE-Lsum |")
    print("|---|---|---|---|---|")
    for name, (ours, lead, n, _, _) in results.items():
        print(f"| {name}, {n} | `summarize --sentences 3` | " + " | ".join(f"{v:.2f}" for v in ours) + " |")
        print(f"| {name}, {n} | Lead-3 | " + " | ".join(f"{v:.2f}" for v in lead) + " |")
        print(f"| {name}, {n} | difference | " + " | ".join(f"{v:+.2f}" for v in ours - lead) + " |")
    print(f"\nBriefing over {len(brief.articles)} articles: {len(points)} points in "
          f"{len(brief.sections)} sections; {verified}/{len(points)} "
          f"({100 * verified / max(1, len(points)):.0f}%) with every citation verified.")
    print(f"Time: ingest {t_ingest:.1f} s (baseline); brief {t_brief:.2f} s = "
          f"{t_brief / t_ingest:.3f}x ingest; summarize all {results['all'][3]:.2f} s vs Lead-3 "
          f"selection {results['all'][4]:.3f} s.")


if __name__ == "__main__":
    main()
