"""Train the offline answerer's three small models (bot/data/qa_model.json) on SQuAD articles.

    python bench/train_ranker.py                   # train on fold A, write bot/data/qa_model.json
    python bench/train_ranker.py --fold B --out bench/out/qa_model_B.json   # the mirror model

Only ../shared/eval data is used, and only the articles of the training fold (eval_qa.fold_of):
squad11 questions of those articles train the sentence and span rankers, squad20 questions of
the same articles (about half of them unanswerable) train the refusal model. The other fold is
never seen, so bench/eval_qa.py --fold B measures the shipped model on held-out articles.
Deterministic: full-batch training from zero weights, no sampling.

  sentence  listwise softmax over a question's candidate sentences; positives hold a gold answer
  span      listwise softmax over candidate phrases in the top sentences; target: the phrases
            with the best SQuAD F1 against the gold answers
  refusal   logistic regression, label = unanswerable; the threshold is the lowest probability
            that keeps false refusals on the training questions at or under --max-false-refusal;
            its figures cross-validated by article are printed first
  confidence  two logistic calibrations over the models' scores (ex.confidence_features), on
            the same fold-A questions (squad11 + squad20 + off-topic): P(the first cited
            sentence holds an answer) and P(the short answer is right); the short answer is
            shown above the lowest threshold whose shown answers are right >= --short-precision
            of the time on the training questions, and an answer whose sentence confidence is
            under the threshold is refused; with the answers that say the kind asked for is not
            stated, it may add --max-added-refusal false refusals on the training questions.
    python bench/train_ranker.py --confidence-only  # refit only the calibration (fast)
    python bench/train_ranker.py --refusal-only     # refit the refusal model and the calibration
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import random
import sys
import time
import zlib
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import eval_qa  # noqa: E402
from qa_metrics import brier, contains_answer, f1_score, reliability, short_answer_right  # noqa: E402

from bot.answer import extractive as ex  # noqa: E402


# -- sparse listwise softmax / logistic regression, numpy only -------------------------------

class Design:
    """Rows of named features as sparse arrays, grouped (rows of a group are contiguous)."""

    def __init__(self, rows: list[dict[str, float]], vocab: dict[str, int] | None = None,
                 min_count: int = 1):
        if vocab is None:
            counts: dict[str, int] = {}
            for r in rows:
                for k in r:
                    counts[k] = counts.get(k, 0) + 1
            vocab = {k: i for i, k in enumerate(sorted(k for k, c in counts.items() if c >= min_count))}
        self.vocab = vocab
        ri, fi, vals = [], [], []
        for n, r in enumerate(rows):
            for k, v in r.items():
                if k in vocab and v:
                    ri.append(n)
                    fi.append(vocab[k])
                    vals.append(v)
        self.n = len(rows)
        self.row = np.array(ri, dtype=np.int64)
        self.feat = np.array(fi, dtype=np.int64)
        self.val = np.array(vals, dtype=np.float64)
        d = len(vocab)
        mean = np.bincount(self.feat, weights=self.val, minlength=d) / max(self.n, 1)
        sq = np.bincount(self.feat, weights=self.val ** 2, minlength=d) / max(self.n, 1)
        self.scale = 1.0 / np.maximum(np.sqrt(np.maximum(sq - mean ** 2, 0)), 1e-3)
        self.mean = mean

    def dot(self, w: np.ndarray) -> np.ndarray:
        return np.bincount(self.row, weights=self.val * w[self.feat], minlength=self.n)

    def grad(self, d_score: np.ndarray) -> np.ndarray:
        return np.bincount(self.feat, weights=self.val * d_score[self.row], minlength=len(self.vocab))


def _adam(grad_fn, dim: int, iters: int, lr: float) -> np.ndarray:
    w = np.zeros(dim)
    m = np.zeros(dim)
    v = np.zeros(dim)
    for t in range(1, iters + 1):
        g = grad_fn(w)
        m = 0.9 * m + 0.1 * g
        v = 0.999 * v + 0.001 * g * g
        w -= lr * (m / (1 - 0.9 ** t)) / (np.sqrt(v / (1 - 0.999 ** t)) + 1e-8)
    return w


def train_softmax(groups: list[list[dict[str, float]]], targets: list[list[float]],
                  l2: float = 1e-3, iters: int = 400, lr: float = 0.05,
                  min_count: int = 5) -> dict[str, float]:
    """Weights maximising sum over groups of log sum_{target rows} softmax(score)."""
    rows = [r for g in groups for r in g]
    X = Design(rows, min_count=min_count)
    sizes = np.array([len(g) for g in groups])
    starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    gid = np.repeat(np.arange(len(groups)), sizes)
    t = np.array([x for ts in targets for x in ts], dtype=np.float64)
    t = t / np.bincount(gid, weights=t)[gid]  # each group's targets sum to 1
    scale = X.scale
    n_groups = len(groups)

    def grad(ws: np.ndarray) -> np.ndarray:
        w = ws * scale
        s = X.dot(w)
        s = s - np.maximum.reduceat(s, starts)[gid]
        e = np.exp(s)
        p = e / np.add.reduceat(e, starts)[gid]
        return X.grad(p - t) * scale / n_groups + l2 * ws

    ws = _adam(grad, len(X.vocab), iters, lr)
    w = ws * scale
    inv = {i: k for k, i in X.vocab.items()}
    return {inv[i]: float(w[i]) for i in range(len(w)) if abs(w[i]) > 1e-6}


def train_logistic(rows: list[dict[str, float]], labels: list[int], l2: float = 1e-2,
                   iters: int = 600, lr: float = 0.05) -> tuple[dict[str, float], float]:
    X = Design(rows)
    y = np.array(labels, dtype=np.float64)
    scale, mean = X.scale, X.mean

    def grad(wb: np.ndarray) -> np.ndarray:
        ws, b = wb[:-1], wb[-1]
        w = ws * scale
        z = X.dot(w) - float(mean @ w) + b
        p = 1 / (1 + np.exp(-z))
        d = (p - y) / len(y)
        gw = (X.grad(d) - mean * d.sum()) * scale + l2 * ws
        return np.concatenate([gw, [d.sum()]])

    wb = _adam(grad, len(X.vocab) + 1, iters, lr)
    w = wb[:-1] * scale
    bias = float(wb[-1] - mean @ w)
    inv = {i: k for k, i in X.vocab.items()}
    return {inv[i]: float(w[i]) for i in range(len(w)) if abs(w[i]) > 1e-6}, bias


# -- data -----------------------------------------------------------------------------------

Item = tuple  # (question dict, passages, query vector, candidate sentences with features)


def collect(bench: eval_qa.Bench, answerer: ex.ExtractiveAnswerer, qs: list[dict], k: int,
            label: str) -> list[Item]:
    """Retrieval and the model-independent sentence features, once per question."""
    out = []
    t0 = time.perf_counter()
    for i, q in enumerate(qs, 1):
        q["_n"] = i
        qv = bench.embedder.embed_query(q["question"])
        passages = bench.bot.retrieve(q["question"], k)
        out.append((q, passages, qv, answerer.candidates(q["question"], passages, qv)))
        if i % 500 == 0:
            print(f"[{label}] features {i}/{len(qs)}, {time.perf_counter() - t0:.0f} s", file=sys.stderr)
    bench.embedder.save()
    return out


def analyses(answerer: ex.ExtractiveAnswerer, data: list[Item], model_for):
    """The answerer's own analysis of every question, with the model `model_for(q)` gives."""
    for q, passages, qv, cands in data:
        if not cands:
            continue
        answerer.model = model_for(q)
        yield q, answerer.analyse(q["question"], passages, qv, candidates=cands)


def sentence_groups(data: list[Item]) -> tuple[list, list]:
    groups, targets = [], []
    for q, _, _, cands in data:
        labels = [float(contains_answer(c.text, q["answers"])) for c in cands]
        if cands and any(labels) and not all(labels):
            groups.append([c.features for c in cands])
            targets.append(labels)
    return groups, targets


def reader_examples(bench: eval_qa.Bench, answerer, data: list[Item], model: ex.QAModel):
    """(question number, inputs, start labels, end labels) for each of the top sentences that
    holds a gold answer, as the answerer will see them at run time."""
    out = []
    for q, a in analyses(answerer, data, lambda q: model):
        texts = [c.text for c in a.ranked[:ex.RERANK_SENTENCES]
                 if any(g in c.text for g in q["answers"])]
        qv = bench.embedder.embed_query(q["question"])
        for text, (offsets, states) in zip(texts, bench.embedder.token_states(texts)):
            toks = ex.tokens(text)
            starts, ends = np.zeros(len(toks)), np.zeros(len(toks))
            for g in set(q["answers"]):
                i = text.find(g)
                while i >= 0:
                    inside = [w for w, (s, e, _) in enumerate(toks) if s < i + len(g) and e > i]
                    if inside:
                        starts[inside[0]] = ends[inside[-1]] = 1.0
                    i = text.find(g, i + 1)
            if starts.any():
                x = ex.reader_inputs(ex.word_states(offsets, states, toks), qv)
                out.append((q["_n"], x.astype(np.float32), starts, ends))
    bench.embedder.save()
    return out


def rerank_groups(answerer, data: list[Item], model_for) -> tuple[list, list]:
    groups, targets = [], []
    for q, a in analyses(answerer, data, model_for):
        labels = [float(contains_answer(c.text, q["answers"])) for c in a.ranked[:len(a.rerank)]]
        if any(labels) and not all(labels):
            groups.append(a.rerank)
            targets.append(labels)
    return groups, targets


def span_groups(answerer, data: list[Item], model_for) -> tuple[list, list]:
    groups, targets = [], []
    for q, a in analyses(answerer, data, model_for):
        f1 = np.array([f1_score(s.text, q["answers"]) for s, _ in a.spans])
        if not len(f1) or f1.max() < 0.5:
            continue
        groups.append([s.features for s, _ in a.spans])
        targets.append(list((f1 >= f1.max() - 1e-9).astype(float)))
    return groups, targets


def refusal_rows(answerer, data: list[Item], model: ex.QAModel) -> tuple[list, list, list]:
    """Features, label (unanswerable) and article of each question; an off-topic question
    counts as its own article."""
    rows, labels, articles = [], [], []
    for q, a in analyses(answerer, data, lambda q: model):
        rows.append(a.refusal)
        labels.append(int(q["is_impossible"]))
        articles.append(q["id"] if q["id"].startswith("off-") else q["article"])
    return rows, labels, articles


REFUSAL_L2 = 1e-3  # chosen by cross-validation by article on fold A (BENCHMARKS.md, issue 12)


def cross_validate_refusal(rows: list[dict], labels: list[int], articles: list[str],
                           folds: int = 4) -> None:
    """Leave articles out: each fold's refusal model is trained without the questions of
    some articles and scores them; report how many unanswerable questions of unseen
    articles it refuses at the thresholds that refuse 3/5/8% of their answerable ones."""
    names = sorted(set(articles))
    fold = {a: i % folds for i, a in enumerate(names)}
    scores = np.zeros(len(rows))
    for k in range(folds):
        train = [i for i, a in enumerate(articles) if fold[a] != k]
        w, b = train_logistic([rows[i] for i in train], [labels[i] for i in train], l2=REFUSAL_L2)
        m = ex.LinearModel(w, b)
        for i, a in enumerate(articles):
            if fold[a] == k:
                scores[i] = m.score(rows[i])
    y = np.array(labels)
    near = np.array([not a.startswith("off-") for a in articles])  # SQuAD 2.0's own
    for fr in (0.03, 0.05, 0.08):
        t = pick_threshold(scores, y, fr)
        print(f"  cross-validated by article, {fr:.2f} false refusals: refuses "
              f"{(scores[(y == 1) & near] > t).mean():.3f} of SQuAD 2.0's unanswerable, "
              f"{(scores[(y == 1) & ~near] > t).mean():.3f} of off-topic", file=sys.stderr)


# -- the reader: start/end probes on the local model's word states ----------------------------

def train_dense_logistic(X: np.ndarray, y: np.ndarray, l2: float = 1e-2, iters: int = 300,
                         lr: float = 0.05) -> tuple[np.ndarray, float]:
    mean = X.mean(axis=0)
    sd = X.std(axis=0) + 1e-6
    Z = ((X - mean) / sd).astype(np.float32)
    pos_weight = (len(y) - y.sum()) / max(y.sum(), 1)  # answers are rare among words
    wts = np.where(y > 0, pos_weight, 1.0)
    wts = wts / wts.sum()

    def grad(wb: np.ndarray) -> np.ndarray:
        z = Z @ wb[:-1].astype(np.float32) + wb[-1]
        p = 1 / (1 + np.exp(-z))
        d = ((p - y) * wts).astype(np.float32)
        return np.concatenate([Z.T @ d + l2 * wb[:-1], [d.sum()]])

    wb = _adam(grad, X.shape[1] + 1, iters, lr)
    w = wb[:-1] / sd
    return w.astype(np.float32), float(wb[-1] - mean @ w)


def train_reader(examples) -> ex.Reader:
    X = np.concatenate([x for _, x, _, _ in examples])
    ws, bs = train_dense_logistic(X, np.concatenate([s for _, _, s, _ in examples]))
    we, be = train_dense_logistic(X, np.concatenate([e for _, _, _, e in examples]))
    return ex.Reader(ws, we, bs, be)


def pick_threshold(probs: np.ndarray, labels: np.ndarray, max_false: float) -> float:
    answerable = np.sort(probs[labels == 0])[::-1]
    allowed = int(np.floor(max_false * len(answerable)))
    return float(answerable[allowed]) if allowed < len(answerable) else 1.0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--fold", choices=["A", "B"], default="A", help="articles to train on")
    ap.add_argument("--out", type=Path, default=ex.MODEL_PATH)
    ap.add_argument("--cache", type=Path, default=ROOT / "bench" / "out" / "cache")
    ap.add_argument("--max-false-refusal", type=float, default=0.03)
    ap.add_argument("--off-topic", type=int, default=300,
                    help="unrelated questions added to the refusal model's training")
    ap.add_argument("--refusal-only", action="store_true",
                    help="refit only the refusal model of --out (after a change to its features)")
    ap.add_argument("--limit", type=int, default=None, help="train on a subset (development)")
    ap.add_argument("--confidence-only", action="store_true",
                    help="refit only the calibration of --out (keeps every other model)")
    ap.add_argument("--short-precision", type=float, default=0.86,
                    help="shown short answers must be right this often on the training questions")
    ap.add_argument("--max-added-refusal", type=float, default=0.03,
                    help="false refusals that answers saying 'not stated' and the confidence "
                         "threshold may add to the refusal model's, on the training questions")
    args = ap.parse_args(argv)
    args.cache.mkdir(parents=True, exist_ok=True)
    log = lambda msg: print(msg, file=sys.stderr)  # noqa: E731
    empty = lambda: ex.LinearModel({})  # noqa: E731

    if args.confidence_only:
        return fit_confidence(args, ex.load_model(str(args.out)))
    if args.refusal_only:  # keep the rankers of --out, refit the refusal model only
        model = ex.load_model(str(args.out))
        b11 = eval_qa.open_bench("squad11", args.cache)
        qs11 = eval_qa.select(b11.questions, args.fold, args.limit, 0)
        return fit_refusal(args, b11, model, qs11, b11.bot.settings.top_k)
    b11 = eval_qa.open_bench("squad11", args.cache)
    k = b11.bot.settings.top_k
    model = ex.QAModel(empty(), empty(), empty(), 1.0)
    ans11 = ex.ExtractiveAnswerer(b11.embedder, b11.bot.retriever().idf, model=model)
    qs11 = eval_qa.select(b11.questions, args.fold, args.limit, 0)
    data11 = collect(b11, ans11, qs11, k, "squad11")

    groups, targets = sentence_groups(data11)
    log(f"sentence ranker: {len(groups)} questions")
    model.sentence = ex.LinearModel(train_softmax(groups, targets, min_count=3))

    examples = reader_examples(b11, ans11, data11, model)
    log(f"reader: {len(examples)} sentences")
    # The rankers that use the reader learn from a reader that did not see the question (two
    # halves by question), so they learn how far to trust it on unseen text.
    halves = [train_reader([x for x in examples if x[0] % 2 == h]) for h in (0, 1)]
    model.reader = train_reader(examples)
    del examples

    def crossfit(q: dict) -> ex.QAModel:
        return ex.QAModel(model.sentence, model.span, model.refusal, 1.0,
                          reader=halves[1 - q["_n"] % 2], rerank=model.rerank)

    groups, targets = rerank_groups(ans11, data11, crossfit)
    log(f"second look: {len(groups)} questions")
    model.rerank = ex.LinearModel(train_softmax(groups, targets, min_count=5))
    groups, targets = span_groups(ans11, data11, crossfit)
    log(f"span ranker: {len(groups)} questions")
    model.span = ex.LinearModel(train_softmax(groups, targets, min_count=5))
    b11.embedder.save()
    return fit_refusal(args, b11, model, qs11, k)


def fit_refusal(args: argparse.Namespace, b11: eval_qa.Bench, model: ex.QAModel,
                qs11: list[dict], k: int) -> int:
    log = lambda msg: print(msg, file=sys.stderr)  # noqa: E731
    b20 = eval_qa.open_bench("squad20", args.cache)
    ans20 = ex.ExtractiveAnswerer(b20.embedder, b20.bot.retriever().idf, model=model)
    qs20 = eval_qa.select(b20.questions, args.fold, args.limit, 0)
    # Off-topic questions too: squad11 questions about training-fold articles that squad20 does
    # not hold, asked of the squad20 store, are unanswerable there. SQuAD 2.0's own unanswerable
    # questions are near misses written to look answerable; without these the model never sees
    # a plainly unrelated question.
    titles20 = {q["article"].split("_", 1)[1] for q in b20.questions}
    off = [dict(q, is_impossible=True, answers=[], id="off-" + q["id"]) for q in
           eval_qa.select(b11.questions, args.fold, None, 0)
           if q["article"].split("_", 1)[1] not in titles20]
    off = random.Random(0).sample(off, min(len(off), args.off_topic))
    data20 = collect(b20, ans20, qs20 + off, k, "squad20")
    rows, labels, articles = refusal_rows(ans20, data20, model)
    b20.embedder.save()
    cross_validate_refusal(rows, labels, articles)
    w, bias = train_logistic(rows, labels, l2=REFUSAL_L2)
    model.refusal = ex.LinearModel(w, bias)
    probs = np.array([ex.sigmoid(model.refusal.score(r)) for r in rows])
    y = np.array(labels)
    for fr in (0.02, 0.03, 0.05, 0.1, 0.15):
        t = pick_threshold(probs, y, fr)
        log(f"  false refusals {fr:.2f}: threshold {t:.3f}, refuses {(probs[y == 1] > t).mean():.3f}")
    model.refuse_above = pick_threshold(probs, y, args.max_false_refusal)
    refused = probs > model.refuse_above
    log(f"refusal on training questions: {refused[y == 1].mean():.3f} of unanswerable, "
        f"{refused[y == 0].mean():.3f} false")
    model.meta = {"trained_on": f"../shared/eval squad11+squad20, fold {args.fold} articles only "
                                f"(bench/eval_qa.py fold_of)",
                  "script": "bench/train_ranker.py", "questions": {"squad11": len(qs11), "squad20": len(qs20),
                                                                   "off_topic": len(off)},
                  "max_false_refusal": args.max_false_refusal}
    write_model(args.out, model)  # the rankers are kept even if calibration fails
    return fit_confidence(args, model)


def write_model(path: Path, model: ex.QAModel) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(model.to_dict(), indent=1) + "\n")
    print(f"wrote {path} ({path.stat().st_size // 1024} KB)", file=sys.stderr)


def training_questions(args: argparse.Namespace) -> list[tuple[eval_qa.Bench, list[dict]]]:
    """Fold-A questions of both sets, and off-topic ones (squad11 questions asked of the
    squad20 store, whose articles are others), as the refusal model's training sees them."""
    b11 = eval_qa.open_bench("squad11", args.cache)
    b20 = eval_qa.open_bench("squad20", args.cache)
    titles20 = {q["article"].split("_", 1)[1] for q in b20.questions}
    off = [dict(q, is_impossible=True, answers=[], id="off-" + q["id"]) for q in
           eval_qa.select(b11.questions, args.fold, None, 0)
           if q["article"].split("_", 1)[1] not in titles20]
    off = random.Random(0).sample(off, min(len(off), args.off_topic))
    return [(b11, eval_qa.select(b11.questions, args.fold, args.limit, 0)),
            (b20, eval_qa.select(b20.questions, args.fold, args.limit, 0) + off)]


def _half(q: dict) -> int:
    """Fold A's articles in two halves, by title (a squad20 article goes with its namesake)."""
    return zlib.crc32(q["article"].split("_", 1)[1].encode()) % 2


def out_of_fold_spans(answerer, data: list[Item], model: ex.QAModel) -> dict[int, ex.LinearModel]:
    """Span models trained each on one half of the fold-A articles, with the shipped model's
    features only: scored on the other half, they stand in for the shipped span model on
    articles it never saw. (Calibrated on its own training questions, the span model is sure
    of itself in a way that does not carry over: shown short answers right 0.88 of the time
    there, 0.68 on held-out articles.)"""
    keep = set(model.span.weights)
    out = {}
    for h in (0, 1):
        groups, targets = span_groups(answerer, [d for d in data if _half(d[0]) == h], lambda q: model)
        groups = [[{k: v for k, v in r.items() if k in keep} for r in g] for g in groups]
        out[h] = ex.LinearModel(train_softmax(groups, targets, min_count=5))
    return out


def confidence_rows(args: argparse.Namespace, model: ex.QAModel) -> list[tuple]:
    """(features, sentence right, short candidate right or None, kind missing, answerable,
    refused by the refusal model) for every fold-A question, its short answers picked by the
    span model of the other half of the articles."""
    rows = []
    halves = None
    for bench, qs in training_questions(args):
        answerer = ex.ExtractiveAnswerer(bench.embedder, bench.bot.retriever().idf, model=model)
        data = collect(bench, answerer, qs, bench.bot.settings.top_k, bench.set_name)
        if halves is None:  # squad11 comes first
            halves = out_of_fold_spans(answerer, data, model)
            other = {h: dataclasses.replace(model, span=halves[1 - h]) for h in (0, 1)}
        for q, a in analyses(answerer, data, lambda q: other[_half(q)]):
            d = ex.decide(ex.analyse(q["question"]), a, _UNGATED, 2.0)
            golds = q["answers"]
            sent_ok = bool(golds) and contains_answer(d.cited[0].text, golds)
            short_ok = bool(golds) and short_answer_right(d.candidate, golds) if d.candidate else None
            rows.append((d.features, sent_ok, short_ok, d.not_stated is not None, bool(golds),
                         a.refuse_prob > model.refuse_above))
        bench.embedder.save()
    return rows


# Thresholds that never bite, to read every question's features and probabilities.
_UNGATED = ex.Confidence(ex.LinearModel({}), ex.LinearModel({}), 2.0, -1.0)


def fit_confidence(args: argparse.Namespace, model: ex.QAModel) -> int:
    log = lambda msg: print(msg, file=sys.stderr)  # noqa: E731
    rows = confidence_rows(args, model)
    feats = [r[0] for r in rows]
    sent_y = [int(r[1]) for r in rows]
    w, b = train_logistic(feats, sent_y)
    headline = ex.LinearModel(w, b)
    with_short = [r for r in rows if r[2] is not None]
    w, b = train_logistic([r[0] for r in with_short], [int(r[2]) for r in with_short])
    short = ex.LinearModel(w, b)
    p_sent = np.array([ex.sigmoid(headline.score(f)) for f in feats])
    p_short = np.array([ex.sigmoid(short.score(r[0])) if r[2] is not None else 0.0 for r in rows])
    short_ok = np.array([bool(r[2]) for r in rows])
    missing = np.array([r[3] for r in rows])
    show_above = pick_show_threshold(p_short, short_ok, ~missing, args.short_precision)
    shown = (p_short >= show_above) & ~missing
    answerable = np.array([r[4] for r in rows])
    model_refused = np.array([r[5] for r in rows]) & ~shown
    refuse_below = pick_refuse_threshold(p_sent, shown, missing | model_refused, answerable,
                                         args.max_false_refusal + args.max_added_refusal)
    withheld = model_refused | (missing & ~shown) | (~shown & (p_sent < refuse_below))
    log(f"withheld on training questions: {withheld[answerable].mean():.3f} of answerable, "
        f"{withheld[~answerable].mean():.3f} of unanswerable")
    log(f"confidence on {len(rows)} training questions: short shown {shown.mean():.3f}, right "
        f"{short_ok[shown].mean() if shown.any() else float('nan'):.3f} (threshold {show_above:.3f}); "
        f"sentence refuse below {refuse_below:.3f}; Brier headline {brier(list(p_sent), sent_y):.3f}")
    for bin_, n, mc, acc in reliability(list(p_sent), [bool(y) for y in sent_y]):
        log(f"  sentence {bin_}: {n} answers, confidence {mc:.3f}, right {acc:.3f}")
    model.confidence = ex.Confidence(headline, short, show_above, refuse_below, meta={
        "trained_on": f"../shared/eval fold {args.fold}, {len(rows)} questions",
        "short_precision": args.short_precision,
        "max_added_refusal": args.max_added_refusal})
    write_model(args.out, model)
    return 0


def pick_show_threshold(p: np.ndarray, ok: np.ndarray, allowed: np.ndarray, precision: float) -> float:
    """The lowest threshold at which the shown short answers (p >= threshold) are right at
    least `precision` of the time; 1.0 (never shown) when none is."""
    order = np.argsort(-p[allowed])
    ps, oks = p[allowed][order], ok[allowed][order]
    running = np.cumsum(oks) / np.arange(1, len(oks) + 1)
    good = np.nonzero(running >= precision)[0]
    good = good[good >= 20]  # not on the strength of a handful
    return float(ps[good[-1]]) if len(good) else 1.0


def pick_refuse_threshold(p: np.ndarray, shown: np.ndarray, withheld: np.ndarray,
                          answerable: np.ndarray, max_total: float) -> float:
    """Refuse answers (no short answer shown) whose sentence confidence is under the
    threshold. Answers already withheld (the refusal model's, and those saying the sources
    lack the kind asked for) count too: together they may withhold at most `max_total` of
    the answerable training questions."""
    budget = int(np.floor(max_total * answerable.sum())) - int((withheld & answerable).sum())
    cand = np.sort(p[~shown & ~withheld & answerable])
    return float(cand[budget]) if 0 <= budget < len(cand) else 0.0


if __name__ == "__main__":
    raise SystemExit(main())
