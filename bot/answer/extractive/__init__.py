"""The offline answerer: the best evidence sentences, and a short answer phrase inside them.

No generative model runs offline (none on PyPI is trustworthy), so the answer is extractive:
every sentence shown is a quote. Three small learned linear models (bot/data/qa_model.json,
trained by bench/train_ranker.py on ../shared/eval SQuAD articles, split by article so the
figures in BENCHMARKS.md are measured on articles the models never saw) do the judging:

  sentence  ranks the sentences of the retrieved passages: dense similarity to the question,
            IDF-weighted overlap (in the sentence, its neighbours, its passage, the title),
            question bigrams and how tightly the matches cluster, the kind of answer wanted
            (number, date, person...) and whether the sentence holds one, passage rank
  span      ranks candidate phrases in the best sentence(s) as the short answer: shape
            (length, capitals, digits, typed patterns), the words around it, how near it sits
            to the question's words, each crossed with the question word (who/when/how many..)
  refusal   says the sources do not answer: how well the best sentence covers the question,
            question terms found nowhere in the passages, both models' confidence, and where
            the question parts from its best paragraph (a negation, name, number or word
            only the question has)
  reading   a sentence that negates the question's own verb ("was not reported" for "who
            reported?") drops below the others at the second look; a short answer cut out
            of a measure ("half hours") is widened to the whole measure
  confidence  two logistic calibrations of those scores (`decide`): P(the first cited sentence
            holds the answer) and P(the short phrase is right); the phrase is shown only above
            a threshold chosen for precision, and a question asking for a kind of thing the
            cited sentences do not hold is answered "the sources do not give ..."

Every feature is a named number, so a model is a JSON dict of weights; unknown names weigh 0.

The modules, lowest first: `shapes` (tokens, typed patterns, the kind a question wants),
`question` (what the question asks), `models` (the learned models and their file), `spans`
(short-answer candidates), `features` (candidate sentences and what the models read),
`decision` (what to show, how sure), `answerer` (`ExtractiveAnswerer`, which ties them).
"""

from bot.answer.extractive.answerer import RERANK_SENTENCES, SPAN_SENTENCES, ExtractiveAnswerer
from bot.answer.extractive.decision import (KIND_WORDS, SECOND_SENTENCE_PROB, Analysis, Decision,
                                            confidence_features, decide, kind_missing)
from bot.answer.extractive.features import (Candidate, add_relative, alignment_features,
                                            candidate_sentences, mismatch_features,
                                            refusal_features, rerank_features, sentence_features)
from bot.answer.extractive.models import (MODEL_PATH, READER_DIM, Confidence, LinearModel, QAModel,
                                          Reader, load_model, reader_inputs, sigmoid, softmax,
                                          word_states)
from bot.answer.extractive.question import (DENIAL_PENALTY, SAY_WORDS, TYPE_CUES, QuestionInfo,
                                            analyse, denies_predicate, lexical_terms)
from bot.answer.extractive.shapes import (LEN_UNIT, NUMWORD, PATTERNS, TIME_UNIT, phrases,
                                          question_types, tokens, type_match)
from bot.answer.extractive.spans import (MAX_SPAN_TOKENS, STRICT_TYPES, Span, span_candidates,
                                         typed, whole_measure, with_qualifier)

__all__ = [
    "RERANK_SENTENCES", "SPAN_SENTENCES", "ExtractiveAnswerer",
    "KIND_WORDS", "SECOND_SENTENCE_PROB", "Analysis", "Decision", "confidence_features", "decide",
    "kind_missing",
    "Candidate", "add_relative", "alignment_features", "candidate_sentences", "mismatch_features",
    "refusal_features",
    "rerank_features", "sentence_features",
    "MODEL_PATH", "READER_DIM", "Confidence", "LinearModel", "QAModel", "Reader", "load_model",
    "reader_inputs", "sigmoid", "softmax", "word_states",
    "DENIAL_PENALTY", "SAY_WORDS", "TYPE_CUES", "QuestionInfo", "analyse", "denies_predicate",
    "lexical_terms",
    "LEN_UNIT", "NUMWORD", "PATTERNS", "TIME_UNIT", "phrases", "question_types", "tokens",
    "type_match",
    "MAX_SPAN_TOKENS", "STRICT_TYPES", "Span", "span_candidates", "typed", "whole_measure",
    "with_qualifier",
]
