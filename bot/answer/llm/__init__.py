"""The LLM answerer: an LCEL chain over any OpenAI-compatible chat model.

    question ─▶ retrieve ─▶ the offline ranker's best sentences (`evidence`; bot/answer/flow.py
                asks the model only when the offline answerer answers: `gated`)
             ─▶ numbered sentences (bot/answer/sentence_ids.py, cut to fit the context)
             ─▶ prompt ─▶ ChatOpenAI (max_tokens on every call)
             ─▶ structured reply: statements, each citing sentence ids ("2.3")
             ─▶ Draft(statements + Quote(article_id, exact sentence span)) ─▶ flow verifies

The model is asked for the `answer` tool call; a server that rejects tools or tool_choice
(HTTP 400/422) is asked again for the same JSON in the message text, and a reply that ignores
the tool and writes the JSON as text (in a fence, in prose, as a tool call written out) is
read as well, so small local servers work too (BOT_LLM_OUTPUT pins one way). While the reply
streams, the statements' text is parsed from the partial JSON and passed on as deltas:
provisional text, shown before verification. A reply cut off at max_tokens keeps its whole
statements, with a notice.

The model is never trusted: sentences are JSON-escaped data it cannot break out of, nothing it
writes is shown except statements backed by the sentences they cite (bot/answer/guard.py) whose
spans the shared verifier (bot/answer/citations.py) finds in the stored article. Faults: a rejected
key raises `LLMAuthError` (exit code 2); anything else that keeps the model from answering
(unreachable: at once, no retries; timed out or 429/5xx after the client's retries; a
malformed or cut-off reply) raises `LLMUnavailable`, on which the caller falls back to the
extractive answer.

The modules, by job: model (client, prompts, fail-fast), reply (reading tolerant replies),
draft (statements -> Draft, guarded), gate (what the model is asked about), chain (the pipe
and its streaming), faults (errors safe to show), rewrite (condensing follow-ups).
"""

from __future__ import annotations

from bot.answer.llm.chain import MAX_REPLY_CHARS, Delta, LLMAnswerer, Result
from bot.answer.llm.draft import CUT_OFF, figures, to_draft
from bot.answer.llm.faults import LLMAuthError, LLMError, LLMUnavailable
from bot.answer.llm.gate import EVIDENCE_SENTENCES, GATE_CONFIDENCE, GATED_NOTICE, evidence, gated
from bot.answer.llm.model import (NO_KEY, OPENAI_BASE_URL, OUTPUT_MODES, answer_prompt, chat_model,
                                  condense_prompt, prompt_text, shown_url, structured_model)
from bot.answer.llm.reply import (TOOL_NAME, AnswerOut, CitationOut, Piece, StatementOut, answer_tool,
                                  display_text, parse_answer, reply_json)
from bot.answer.llm.rewrite import CONDENSE_MAX_TOKENS, condense, format_history

__all__ = [
    "CONDENSE_MAX_TOKENS", "CUT_OFF", "EVIDENCE_SENTENCES", "GATED_NOTICE", "GATE_CONFIDENCE",
    "MAX_REPLY_CHARS", "NO_KEY", "OPENAI_BASE_URL", "OUTPUT_MODES", "TOOL_NAME", "AnswerOut",
    "CitationOut", "Delta", "LLMAnswerer", "LLMAuthError", "LLMError", "LLMUnavailable", "Piece",
    "Result", "StatementOut", "answer_prompt", "answer_tool", "chat_model", "condense",
    "condense_prompt", "display_text", "evidence", "figures", "format_history", "gated",
    "parse_answer", "prompt_text", "reply_json", "shown_url", "structured_model", "to_draft",
]
