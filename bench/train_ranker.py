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
            that keeps false refusals on the training questions at or under --max-false-refusal
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import eval_qa  # noqa: E402
from qa_metrics import contains_answer, f1_score  # noqa: E402

from bot import extractive as ex  # noqa: E402


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

def collect(bench: eval_qa.Bench, answerer: ex.ExtractiveAnswerer, qs: list[dict], k: int,
            label: str) -> list[tuple[dict, list[ex.Candidate]]]:
    out = []
    t0 = time.perf_counter()
    for i, q in enumerate(qs, 1):
        qv = bench.embedder.embed_query(q["question"])
        passages = bench.bot.retrieve(q["question"], k)
        out.append((q, answerer.score(q["question"], passages, qv)))
        if i % 500 == 0:
            print(f"[{label}] features {i}/{len(qs)}, {time.perf_counter() - t0:.0f} s", file=sys.stderr)
    bench.embedder.save()
    return out


def sentence_groups(data) -> tuple[list, list]:
    groups, targets = [], []
    for q, cands in data:
        labels = [float(contains_answer(c.text, q["answers"])) for c in cands]
        if cands and any(labels) and not all(labels):
            groups.append([c.features for c in cands])
            targets.append(labels)
    return groups, targets


def rescore(model: ex.QAModel, cands: list[ex.Candidate]) -> list[ex.Candidate]:
    for c in cands:
        c.score = model.sentence.score(c.features)
    return sorted(cands, key=lambda c: c.score, reverse=True)


def span_rows(model: ex.QAModel, q: dict, cands: list[ex.Candidate],
              reader_logits=None) -> list[tuple[dict, ex.Span]]:
    """Candidate phrases of the top sentences exactly as the answerer builds them."""
    ranked = rescore(model, cands)
    probs = ex._softmax(np.array([c.score for c in ranked]))
    qi = ex.analyse(q["question"])
    rows = []
    top = ranked[:ex.SPAN_SENTENCES]
    logits = reader_logits(q, [c.text for c in top]) if reader_logits else [None] * len(top)
    for rank, (c, lg) in enumerate(zip(top, logits)):
        for s in ex.span_candidates(qi, c.text, lg):
            s.features["sent_prob"] = float(probs[rank])
            s.features["sent_rank0"] = float(rank == 0)
            rows.append((s.features, s))
    return rows


def span_groups(model: ex.QAModel, data, reader_logits=None) -> tuple[list, list]:
    groups, targets = [], []
    for q, cands in data:
        if not cands:
            continue
        rows = span_rows(model, q, cands, reader_logits)
        f1 = np.array([f1_score(s.text, q["answers"]) for _, s in rows])
        if not len(f1) or f1.max() < 0.5:
            continue
        groups.append([f for f, _ in rows])
        targets.append(list((f1 >= f1.max() - 1e-9).astype(float)))
    return groups, targets


def refusal_rows(model: ex.QAModel, answerer: ex.ExtractiveAnswerer, data,
                 reader_logits=None) -> tuple[list, list]:
    rows, labels = [], []
    for q, cands in data:
        if not cands:
            continue
        ranked = rescore(model, cands)
        probs = ex._softmax(np.array([c.score for c in ranked]))
        spans = span_rows(model, q, cands, reader_logits)
        scores = np.array([model.span.score(f) for f, _ in spans])
        span_probs = ex._softmax(scores) if len(scores) else None
        qi = ex.analyse(q["question"])
        rows.append(ex.refusal_features(qi, ranked, probs, span_probs, answerer._question_idf(qi)))
        labels.append(int(q["is_impossible"]))
    return rows, labels


# -- the reader: start/end probes on the local model's word states ----------------------------

def reader_examples(bench: eval_qa.Bench, model: ex.QAModel, data) -> list[tuple[int, np.ndarray, np.ndarray, np.ndarray]]:
    """(question index, inputs, start labels, end labels) for each top sentence holding a gold
    answer, as the answerer will see it at run time."""
    out = []
    for n, (q, cands) in enumerate(data):
        if not cands:
            continue
        qv = bench.embedder.embed_query(q["question"])
        top = rescore(model, cands)[:ex.SPAN_SENTENCES]
        texts = [c.text for c in top if any(a in c.text for a in q["answers"])]
        for text, (offsets, states) in zip(texts, bench.embedder.token_states(texts)):
            toks = ex.tokens(text)
            if not toks:
                continue
            starts = np.zeros(len(toks))
            ends = np.zeros(len(toks))
            for a in set(q["answers"]):
                i = text.find(a)
                while i >= 0:
                    inside = [w for w, (s, e, _) in enumerate(toks) if s < i + len(a) and e > i]
                    if inside:
                        starts[inside[0]] = ends[inside[-1]] = 1.0
                    i = text.find(a, i + 1)
            if starts.any():
                x = ex.reader_inputs(ex.word_states(offsets, states, toks), qv)
                out.append((n, x.astype(np.float32), starts, ends))
    bench.embedder.save()
    return out


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
    s = np.concatenate([st for _, _, st, _ in examples])
    e = np.concatenate([en for _, _, _, en in examples])
    ws, bs = train_dense_logistic(X, s)
    we, be = train_dense_logistic(X, e)
    return ex.Reader(ws, we, bs, be)


def cross_fitted_logits(bench: eval_qa.Bench, examples):
    """Reader scores for training the span ranker, each from a reader that did not see that
    question (two halves by question), so the ranker learns how far to trust unseen scores."""
    halves = [train_reader([x for x in examples if x[0] % 2 == h]) for h in (0, 1)]

    def logits(q: dict, texts: list[str]):
        reader = halves[1 - (q["_n"] % 2)]
        qv = bench.embedder.embed_query(q["question"])
        return [reader.logits(ex.word_states(o, h, ex.tokens(t)), qv)
                for t, (o, h) in zip(texts, bench.embedder.token_states(texts))]
    return logits


def pick_threshold(probs: np.ndarray, labels: np.ndarray, max_false: float) -> float:
    answerable = np.sort(probs[labels == 0])[::-1]
    allowed = int(np.floor(max_false * len(answerable)))
    return float(answerable[allowed]) if allowed < len(answerable) else 1.0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--fold", choices=["A", "B"], default="A", help="articles to train on")
    ap.add_argument("--out", type=Path, default=ex.MODEL_PATH)
    ap.add_argument("--cache", type=Path, default=ROOT / "bench" / "out" / "cache")
    ap.add_argument("--max-false-refusal", type=float, default=0.12)
    ap.add_argument("--limit", type=int, default=None, help="train on a subset (development)")
    args = ap.parse_args(argv)
    args.cache.mkdir(parents=True, exist_ok=True)
    empty = ex.QAModel(ex.LinearModel({}), ex.LinearModel({}), ex.LinearModel({}), 1.0)

    b11 = eval_qa.open_bench("squad11", args.cache)
    k = b11.bot.settings.top_k
    ans11 = ex.ExtractiveAnswerer(b11.embedder, b11.bot.retriever().idf, model=empty)
    qs11 = eval_qa.select(b11.questions, args.fold, args.limit, 0)
    data11 = collect(b11, ans11, qs11, k, "squad11")

    groups, targets = sentence_groups(data11)
    print(f"sentence ranker: {len(groups)} questions", file=sys.stderr)
    sent_w = train_softmax(groups, targets, min_count=3)
    model = ex.QAModel(ex.LinearModel(sent_w), ex.LinearModel({}), ex.LinearModel({}), 1.0)

    for n, (q, _) in enumerate(data11):
        q["_n"] = n
    examples = reader_examples(b11, model, data11)
    print(f"reader: {len(examples)} sentences", file=sys.stderr)
    groups, targets = span_groups(model, data11, cross_fitted_logits(b11, examples))
    print(f"span ranker: {len(groups)} questions", file=sys.stderr)
    model.span = ex.LinearModel(train_softmax(groups, targets, min_count=5))
    model.reader = train_reader(examples)
    del examples

    b20 = eval_qa.open_bench("squad20", args.cache)
    ans20 = ex.ExtractiveAnswerer(b20.embedder, b20.bot.retriever().idf, model=empty)
    qs20 = eval_qa.select(b20.questions, args.fold, args.limit, 0)
    data20 = collect(b20, ans20, qs20, k, "squad20")
    def final_logits(q: dict, texts: list[str]):
        qv = b20.embedder.embed_query(q["question"])
        return [model.reader.logits(ex.word_states(o, h, ex.tokens(t)), qv)
                for t, (o, h) in zip(texts, b20.embedder.token_states(texts))]

    rows, labels = refusal_rows(model, ans20, data20, final_logits)
    b20.embedder.save()
    w, bias = train_logistic(rows, labels)
    model.refusal = ex.LinearModel(w, bias)
    probs = np.array([ex._sigmoid(model.refusal.score(r)) for r in rows])
    y = np.array(labels)
    model.refuse_above = pick_threshold(probs, y, args.max_false_refusal)
    refused = probs > model.refuse_above
    print(f"refusal on training questions: {refused[y == 1].mean():.3f} of unanswerable, "
          f"{refused[y == 0].mean():.3f} false", file=sys.stderr)
    model.meta = {"trained_on": f"../shared/eval squad11+squad20 fold {args.fold} articles "
                                f"(bench/eval_qa.py fold_of)",
                  "script": "bench/train_ranker.py", "questions": {"squad11": len(qs11), "squad20": len(qs20)},
                  "max_false_refusal": args.max_false_refusal}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    import json

    args.out.write_text(json.dumps(model.to_dict(), indent=1, sort_keys=False) + "\n")
    print(f"wrote {args.out} ({args.out.stat().st_size // 1024} KB)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
