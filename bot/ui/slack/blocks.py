"""Answers → Slack Block Kit. Rendering only: no Slack calls, no retrieval.

An answer is its text, then one quote block per citation holding the exact quoted span and the
article's title (linked to the source, at the span, when the source is a web page), then the
👍/👎 buttons. Slack's limits are kept: at most 50 blocks, 3,000 characters in a section's text
or a context element, and a plain-text fallback for notifications and screen readers.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote as percent_encode

from bot.schema import Answer, Briefing, Citation

MAX_BLOCKS = 50
MAX_TEXT = 3000  # section text, context element text, and our cap on quotes and the fallback
FEEDBACK_UP = "bot_feedback_up"
FEEDBACK_DOWN = "bot_feedback_down"
_FRAGMENT_WORDS = 8  # a text fragment longer than this becomes start,end

Blocks = list[dict[str, Any]]


def answer(ans: Answer, answer_id: str | None = None, asker: str | None = None) -> tuple[str, Blocks]:
    """(fallback text, blocks) for an answer; `asker` is shown for answers posted top-level."""
    head: Blocks = []
    if asker:
        head.append(_context(f"<@{asker}> asked: {escape(ans.question)}"))
    if ans.standalone_question and ans.standalone_question != ans.question:
        head.append(_context(f"searched: {escape(ans.standalone_question)}"))
    body = _sections(_body_mrkdwn(ans))
    if ans.notice:
        body.append(_context(escape(ans.notice)))
    tail = [feedback_buttons(answer_id)] if answer_id else []
    blocks = head + body
    blocks += citation_blocks(ans.citations, MAX_BLOCKS - len(blocks) - len(tail))
    # The fallback is mrkdwn too (notifications, screen readers): escaped like the blocks, so
    # an article or a model cannot make the bot post <!channel>, a user mention or a link.
    return escape(_clip(fallback_text(ans), MAX_TEXT)), blocks + tail


def sources(ans_dict: dict[str, Any]) -> tuple[str, Blocks]:
    """The sources of a recorded answer (`Answer.to_dict()` form), for `/sources`."""
    cites = [Citation(**c) for c in ans_dict.get("citations", [])]
    if not cites:
        return "The last answer here cited no sources.", [_section("The last answer here cited no sources.")]
    head = [_context(f"Sources for: {escape(ans_dict.get('question', ''))}")]
    return (escape(f"{len(cites)} source(s) for: {ans_dict.get('question', '')}"[:MAX_TEXT]),
            head + citation_blocks(cites, MAX_BLOCKS - len(head)))


def briefing(b: Briefing, topic: str | None, asker: str | None = None) -> tuple[str, Blocks]:
    """A briefing: each section's heading and points with their citation numbers, then one
    quote block per citation, as for answers (the same `[n]` numbers)."""
    head: Blocks = [_context(f"<@{asker}> asked for a briefing" + (f" on: {escape(topic)}" if topic else ""))] \
        if asker else []
    room = MAX_TEXT // 2
    paragraphs = [f"*{escape(_clip(b.title, room))}*"]
    for section in b.sections:
        lines = [f"*{escape(section.heading)}*"]
        for p in section.statements:
            who = f"{escape(p.claimant)}: " if p.claimant else ""
            when = f"{p.date} · " if p.date else ""
            marks = "".join(f"[{c.n}]" for c in p.citations)
            lines.append(f"• {when}{who}{escape(_clip(p.text, room))} {marks}")
        paragraphs.append("\n".join(lines))
    body = _sections(paragraphs)
    if b.notice:
        body.append(_context(escape(b.notice)))
    blocks = head + body
    blocks += citation_blocks(b.citations, MAX_BLOCKS - len(blocks))
    fallback = "\n".join([b.title] + [p.text for s_ in b.sections for p in s_.statements])
    return _clip(fallback, MAX_TEXT), blocks


def notice(text: str) -> tuple[str, Blocks]:
    """A one-line message (help, errors, rate limits)."""
    return escape(_clip(text, MAX_TEXT)), [_section(escape(text))]


def citation_blocks(cites: list[Citation], room: int) -> Blocks:
    """One quote block per citation, within `room` blocks (the last says how many did not fit)."""
    if len(cites) <= room:
        return [citation(c) for c in cites]
    shown = max(room - 1, 0)
    more = len(cites) - shown
    return [citation(c) for c in cites[:shown]] + (
        [_context(f"…and {more} more source(s) not shown.")] if room > 0 else [])


def citation(c: Citation) -> dict[str, Any]:
    """`[n] Title` (a link to the span when the source is a web page), then the quote."""
    url = fragment_url(c.source, c.quote)
    title: dict[str, Any] = ({"type": "link", "url": url, "text": _clip(c.title, 300)} if url
                             else {"type": "text", "text": _clip(c.title, 300), "style": {"bold": True}})
    return {
        "type": "rich_text",
        "block_id": f"cite-{c.n}",
        "elements": [
            {"type": "rich_text_section", "elements": [
                {"type": "text", "text": f"[{c.n}] ", "style": {"bold": True}}, title]},
            {"type": "rich_text_quote", "elements": [{"type": "text", "text": _clip(c.quote, MAX_TEXT)}]},
        ],
    }


def feedback_buttons(answer_id: str) -> dict[str, Any]:
    return {"type": "actions", "block_id": "feedback", "elements": [
        {"type": "button", "action_id": FEEDBACK_UP, "value": answer_id,
         "text": {"type": "plain_text", "text": "👍", "emoji": True}},
        {"type": "button", "action_id": FEEDBACK_DOWN, "value": answer_id,
         "text": {"type": "plain_text", "text": "👎", "emoji": True}},
    ]}


def fragment_url(source: str, quote: str) -> str | None:
    """The source URL with a `#:~:text=` fragment that scrolls to and highlights the quote, or
    None when the source is not a web page (a local file)."""
    if not source.startswith(("http://", "https://")):
        return None
    words = quote.split()
    if not words:
        return source
    if len(words) <= _FRAGMENT_WORDS:
        directive = _encode(" ".join(words))
    else:  # start,end: short, and robust to the page's text differing in the middle
        directive = f"{_encode(' '.join(words[:5]))},{_encode(' '.join(words[-3:]))}"
    base, _, frag = source.partition("#")
    frag = frag.split(":~:", 1)[0]  # keep the page's own anchor, drop any older directive
    return f"{base}#{frag}:~:text={directive}"


def _encode(text: str) -> str:
    # '-', ',' and '&' are syntax inside a text directive, so they must be escaped too.
    return percent_encode(text, safe="").replace("-", "%2D")


def fallback_text(ans: Answer) -> str:
    if ans.refused:
        return ans.answer
    lines = [ans.short_answer] if ans.short_answer else [ans.lead] if ans.lead else []
    lines += [s.text for s in ans.statements] or [ans.answer]
    return "\n".join(lines)


def escape(text: str) -> str:
    """Slack mrkdwn treats &, < and > as control characters."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _body_mrkdwn(ans: Answer) -> list[str]:
    """The answer as mrkdwn paragraphs, each statement with its citation numbers."""
    room = MAX_TEXT // 2  # clipped before escaping, so markup and &-entities stay whole
    if ans.refused:
        return [escape(_clip(ans.answer, room))]
    out = [f"*{escape(_clip(ans.short_answer, room))}*"] if ans.short_answer else \
        [f"_{escape(ans.lead)}_"] if ans.lead else []
    for s in ans.statements:
        marks = "".join(f"[{n}]" for n in s.citations)
        out.append(escape(_clip(s.text, room)) + (f" {marks}" if marks else ""))
    return out or [escape(_clip(ans.answer, room))]


def _sections(paragraphs: list[str]) -> Blocks:
    """Pack paragraphs into as few sections as fit 3,000 characters each."""
    sections: list[str] = []
    for p in paragraphs:
        p = _clip(p, MAX_TEXT)
        if sections and len(sections[-1]) + 2 + len(p) <= MAX_TEXT:
            sections[-1] += "\n\n" + p
        else:
            sections.append(p)
    return [_section(s) for s in sections[:MAX_BLOCKS // 2]]


def _section(mrkdwn: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": _clip(mrkdwn, MAX_TEXT)}}


def _context(mrkdwn: str) -> dict[str, Any]:
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": _clip(mrkdwn, MAX_TEXT)}]}


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
