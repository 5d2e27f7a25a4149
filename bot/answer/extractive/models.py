"""The learned models: linear scorers, the reader's probes on word states, the confidence
calibration, and loading them from bot/data/qa_model.json."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np

MODEL_PATH = Path(__file__).parents[2] / "data" / "qa_model.json"


@dataclass
class LinearModel:
    weights: dict[str, float]
    bias: float = 0.0

    def score(self, features: dict[str, float]) -> float:
        w = self.weights
        return self.bias + sum(w.get(k, 0.0) * v for k, v in features.items())


@dataclass
class Reader:
    """Linear probes on the local model's per-word states: does an answer start / end here?

    A word's input is its state and the state times the question vector (a diagonal bilinear
    form: which directions matter depends on the question)."""

    start: np.ndarray
    end: np.ndarray
    start_bias: float = 0.0
    end_bias: float = 0.0

    def logits(self, words: np.ndarray, qv: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        x = reader_inputs(words, qv)
        return x @ self.start + self.start_bias, x @ self.end + self.end_bias


READER_DIM = 384  # the local model's width; other embedders give no word states


def reader_inputs(words: np.ndarray, qv: np.ndarray) -> np.ndarray:
    return np.hstack([words, words * qv * math.sqrt(len(qv))])


def word_states(offsets: np.ndarray, states: np.ndarray,
                toks: list[tuple[int, int, str]]) -> np.ndarray:
    """One L2-normalised state per token of `tokens()`: the mean of its wordpieces."""
    out = np.zeros((len(toks), states.shape[1]), dtype=np.float32)
    for w, (s, e, _) in enumerate(toks):
        inside = (offsets[:, 0] < e) & (offsets[:, 1] > s)
        if inside.any():
            v = states[inside].mean(axis=0)
            out[w] = v / max(float(np.linalg.norm(v)), 1e-9)
    return out


@dataclass
class Confidence:
    """Calibrated probabilities that what is shown is right (bench/train_ranker.py
    --confidence-only fits them on fold A): `headline` for the first cited sentence holding the
    answer, `short` for the short answer phrase. The short answer is shown only above
    `show_short_above`; an answer whose sentence confidence is under `refuse_below` is refused."""

    headline: LinearModel
    short: LinearModel
    show_short_above: float
    refuse_below: float
    meta: dict = field(default_factory=dict)

    @classmethod
    def from_dict(cls, d: dict) -> "Confidence":
        return cls(LinearModel(d["headline"]["weights"], d["headline"].get("bias", 0.0)),
                   LinearModel(d["short"]["weights"], d["short"].get("bias", 0.0)),
                   float(d["show_short_above"]), float(d["refuse_below"]), d.get("meta", {}))


@dataclass
class QAModel:
    sentence: LinearModel
    span: LinearModel
    refusal: LinearModel
    refuse_above: float  # refuse when the refusal model's probability exceeds this
    reader: Reader | None = None
    rerank: LinearModel = field(default_factory=lambda: LinearModel({}))
    meta: dict = field(default_factory=dict)
    confidence: "Confidence | None" = None

    @classmethod
    def from_dict(cls, d: dict) -> "QAModel":
        r = d.get("reader")
        reader = Reader(np.array(r["start"], dtype=np.float32), np.array(r["end"], dtype=np.float32),
                        r["start_bias"], r["end_bias"]) if r else None
        return cls(sentence=LinearModel(d["sentence"]["weights"], d["sentence"].get("bias", 0.0)),
                   span=LinearModel(d["span"]["weights"], d["span"].get("bias", 0.0)),
                   refusal=LinearModel(d["refusal"]["weights"], d["refusal"].get("bias", 0.0)),
                   refuse_above=float(d["refuse_above"]), reader=reader,
                   rerank=LinearModel(d["rerank"]["weights"], d["rerank"].get("bias", 0.0))
                   if "rerank" in d else LinearModel({}), meta=d.get("meta", {}),
                   confidence=Confidence.from_dict(d["confidence"]) if "confidence" in d else None)

    def to_dict(self) -> dict:
        def lin(m: LinearModel) -> dict:
            return {"bias": round(m.bias, 6),
                    "weights": {k: round(v, 6) for k, v in sorted(m.weights.items()) if v}}
        out = {"meta": self.meta, "refuse_above": round(self.refuse_above, 6),
               "sentence": lin(self.sentence), "rerank": lin(self.rerank), "span": lin(self.span),
               "refusal": lin(self.refusal)}
        if self.confidence is not None:
            c = self.confidence
            out["confidence"] = {"headline": lin(c.headline), "short": lin(c.short),
                                 "show_short_above": round(c.show_short_above, 6),
                                 "refuse_below": round(c.refuse_below, 6), "meta": c.meta}
        if self.reader is not None:
            out["reader"] = {"start_bias": round(self.reader.start_bias, 6),
                             "end_bias": round(self.reader.end_bias, 6),
                             "start": [round(float(x), 5) for x in self.reader.start],
                             "end": [round(float(x), 5) for x in self.reader.end]}
        return out


@lru_cache(maxsize=4)
def load_model(path: str = str(MODEL_PATH)) -> QAModel:
    return QAModel.from_dict(json.loads(Path(path).read_text()))


def softmax(x: np.ndarray) -> np.ndarray:
    e = np.exp(x - x.max())
    return e / e.sum()


def sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-max(-30.0, min(30.0, x))))
