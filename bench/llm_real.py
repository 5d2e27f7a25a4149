"""The LLM path against a real model (run by hand: slow, and needs a model server).

    ../shared/tools/local-llm serve 1.5b 8091 &          # or 0.5b; any OpenAI-compatible server
    python bench/llm_real.py --base-url http://127.0.0.1:8091/v1 --label 1.5b \
        [--squad11 40 --squad20 20 --k 3 --timeout 240 --extras]

Questions: the shared seed questions, then `--squad11` answerable questions and `--squad20`
unanswerable ones drawn (fixed seed) from fold B of ../shared/eval. Each set's articles that hold
the drawn questions go into their own collection; every question runs `Bot.ask` as a user would.

The bot talks to the model through a recording proxy started here, which times the model's
own work (request sent to last byte) and counts tokens of the prompt and of the reply with the
server's /extras/tokenize/count (llama.cpp's server; else chars/4).

Reported (markdown, for BENCHMARKS.md): answered through the model with every citation verified,
correct (evidence: a cited sentence holds a gold answer; short-answer F1), refusals of
unanswerable questions, statements dropped and why (from the notices), unverified citations shown
(must be 0), latency p50/p95 of the bot and of the model alone, tokens in/out. `--extras` also
times a chat follow-up (condense), an LLM summary and an LLM briefing of the seed article.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import re
import statistics
import sys
import tempfile
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from eval_qa import EVAL, load_questions  # noqa: E402
from qa_metrics import contains_answer, f1_score  # noqa: E402

from bot import Bot  # noqa: E402
from bot.answer.citations import check  # noqa: E402
from bot.config import Settings  # noqa: E402
from bot.answer.llm import GATE_CONFIDENCE, GATED_NOTICE  # noqa: E402

SEED_DIR = EVAL.parent / "seeds"


# -- a recording proxy in front of the model server ---------------------------------------


class Proxy:
    """Forwards /v1/... to the model server, recording each call's timing and size."""

    def __init__(self, upstream: str):
        self.upstream = urlsplit(upstream)
        self.calls: list[dict] = []
        self.lock = threading.Lock()
        self.active = 0
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}{self.upstream.path}"

    def _handler(self):
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def do_POST(self):
                with proxy.lock:
                    proxy.active += 1
                try:
                    self._forward()
                finally:  # a dropped upstream stream must not leave the bench waiting forever
                    with proxy.lock:
                        proxy.active -= 1

            def _forward(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                path = self.path[len(proxy.upstream.path):] if self.path.startswith(
                    proxy.upstream.path) else self.path
                conn = http.client.HTTPConnection(proxy.upstream.hostname, proxy.upstream.port,
                                                  timeout=900)
                t0 = time.perf_counter()
                conn.request("POST", proxy.upstream.path + path, body,
                             {"Content-Type": "application/json"})
                resp = conn.getresponse()
                self.send_response(resp.status)
                for k, v in resp.getheaders():
                    if k.lower() not in ("content-length", "transfer-encoding", "connection"):
                        self.send_header(k, v)
                self.send_header("Connection", "close")
                self.end_headers()
                data = b""
                while chunk := resp.read1(65536):
                    data += chunk
                    self.wfile.write(chunk)
                    self.wfile.flush()
                t1 = time.perf_counter()
                conn.close()
                with proxy.lock:
                    proxy.calls.append({"request": json.loads(body or b"null"), "reply": data,
                                        "status": resp.status, "seconds": t1 - t0})

        return Handler


def reply_text(call: dict) -> str:
    """What the model wrote (text and tool-call arguments), for reading failures afterwards."""
    raw = call["reply"].decode("utf-8", "replace")
    out = []
    for line in raw.splitlines():
        if line.startswith("data: {"):
            for choice in json.loads(line[6:]).get("choices", []):
                d = choice.get("delta") or {}
                out.append(d.get("content") or "")
                out += [(t.get("function") or {}).get("arguments") or "" for t in d.get("tool_calls") or []]
    return "".join(out) or raw[:2000]


def prompt_tokens(upstream: str, request: dict) -> int:
    text = "\n".join(str(m.get("content") or "") for m in request.get("messages", []))
    return tokens(upstream, text + (json.dumps(request["tools"]) if request.get("tools") else ""))


def tokens(upstream: str, text: str) -> int:
    """Tokens of `text` by the server's own tokenizer (llama.cpp's), else about chars/4."""
    u = urlsplit(upstream)
    try:
        conn = http.client.HTTPConnection(u.hostname, u.port, timeout=60)
        conn.request("POST", "/extras/tokenize/count", json.dumps({"input": text}),
                     {"Content-Type": "application/json"})
        count = json.loads(conn.getresponse().read())["count"]
        conn.close()
        return int(count)
    except (OSError, ValueError, KeyError):
        return len(text) // 4


# -- questions and stores -----------------------------------------------------------------


def draw(args) -> list[dict]:
    seed = [json.loads(ln) for ln in (EVAL / "seed_qa.jsonl").read_text().splitlines() if ln.strip()]
    for q in seed:
        q["set"] = "seed"
        q.setdefault("is_impossible", False)
    rng = random.Random(args.seed)
    fold = getattr(args, "fold", "B")
    s11 = [q for q in load_questions("squad11") if q["fold"] == fold]
    s20 = [q for q in load_questions("squad20") if q["fold"] == fold and q["is_impossible"]]
    return seed[:args.seeds] + rng.sample(s11, args.squad11) + rng.sample(s20, args.squad20)


def article_path(q: dict) -> Path:
    return SEED_DIR / q["article"] if q["set"] == "seed" else EVAL / q["set"] / "articles" / q["article"]


def ingest(bot: Bot, questions: list[dict]) -> None:
    by_set: dict[str, set[Path]] = {}
    for q in questions:
        by_set.setdefault(q["set"], set()).add(article_path(q))
    for name, paths in by_set.items():
        report = bot.ingest(sorted(paths), collection=name)  # a diff: stored ones are skipped
        print(f"{name}: {len(report.added)} articles added, {len(paths)} asked about", file=sys.stderr)


# -- measuring ----------------------------------------------------------------------------

_DROPPED = re.compile(r"(\d+) statement\(s\) dropped: ([^.]+)")
_FALLBACK = re.compile(r"Extractive answer shown instead of the model's: (.+?)(?:\.$|\. [A-Z0-9])")


def reasons(notice: str | None) -> Counter:
    out: Counter = Counter()
    for n, why in _DROPPED.findall(notice or ""):
        out[why.strip()] += int(n)
    if m := _FALLBACK.search(notice or ""):
        why = re.sub(r"http://\S+", "the server", m.group(1))
        out["fallback: " + re.sub(r"\d+(\.\d+)? s\b", "N s", why)] += 1
    if "cut off" in (notice or "") and not m:
        out["cut off at max_tokens (answer kept)"] += 1
    return out


def pct(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p * (len(values) - 1))))]


def replay(path: str) -> list[dict]:
    """The questions of a saved --out file asked again through the bot as it is now, the
    model's recorded reply played back by the tests' scripted server: what a change to the
    bot's side (reading, mending, gating) does to the same replies, without the model."""
    from tests.openai_server import OpenAIServer, Reply

    saved = json.loads(Path(path).read_text())
    old = argparse.Namespace(**saved["args"])
    questions = {q["id"]: q for q in draw(old)}
    rows = []
    with OpenAIServer() as server:
        settings = Settings.load(env={}, env_file=None).with_(
            store_dir=Path(old.store), openai_base_url=server.base_url, chat_model="local",
            llm_retries=0, top_k=old.k, llm_sentences=getattr(old, "sentences", 1))
        bot = Bot(settings)
        for row in saved["rows"]:
            q = questions[row["id"]]
            replies = iter(row.get("replies") or [])
            server.chat_handler = lambda body: Reply.text(next(replies, '{"statements": []}'))
            a = bot.ask(q["question"], collections=[q["set"]])
            golds = q.get("answers") or []
            rows.append({**row, "mode": a.mode, "refused": a.refused, "answer": a.answer[:300],
                         "verified": all(check(c, bot.article(c.article_id, q["set"]))
                                         for c in a.citations),
                         "evidence": any(contains_answer(c.quote, golds) for c in a.citations),
                         "f1": f1_score(a.short_answer, golds), "reasons": dict(reasons(a.notice)),
                         "gated": (a.notice or "").startswith(GATED_NOTICE), "notice": a.notice})
    return rows


def run(args) -> None:
    proxy = Proxy(args.base_url)
    store = Path(args.store or tempfile.mkdtemp(prefix="llm-real-"))
    settings = Settings.load(env={}, env_file=None).with_(
        store_dir=store, openai_base_url=proxy.base_url, chat_model=args.model,
        llm_timeout=args.timeout, llm_retries=0, top_k=args.k, llm_sentences=args.sentences)
    bot = Bot(settings)
    offline_bot = Bot(settings.with_(openai_base_url=""))  # the same store, no model
    questions = draw(args)[args.start:]
    ingest(bot, questions)
    rows = []
    for i, q in enumerate(questions, 1):
        # The offline answer the gate reads (bot/answer/llm.py `gated`): recorded so that other gate
        # thresholds can be read off the same run (the gate does not depend on the model).
        offline = offline_bot.ask(q["question"], collections=[q["set"]])
        before = len(proxy.calls)
        t0 = time.perf_counter()
        a = bot.ask(q["question"], collections=[q["set"]])
        total = time.perf_counter() - t0
        while proxy.active:  # the proxy records a call just after the bot has read it all
            time.sleep(0.01)
        calls = proxy.calls[before:]
        verified = all(check(c, bot.article(c.article_id, q["set"])) for c in a.citations)
        golds = q.get("answers") or []
        row = {"id": q["id"], "set": q["set"], "impossible": q["is_impossible"], "mode": a.mode,
               "refused": a.refused, "verified": verified, "citations": len(a.citations),
               "evidence": any(contains_answer(c.quote, golds) for c in a.citations),
               "f1": f1_score(a.short_answer, golds), "total_s": total,
               "model_s": sum(c["seconds"] for c in calls),
               "llm_s": a.timings_ms.get("llm", 0) / 1000,
               "tokens_in": sum(prompt_tokens(args.base_url, c["request"]) for c in calls),
               "tokens_out": sum(tokens(args.base_url, reply_text(c)) for c in calls),
               "reasons": dict(reasons(a.notice)), "notice": a.notice, "answer": a.answer[:300],
               "gated": (a.notice or "").startswith(GATED_NOTICE),
               "offline": {"refused": offline.refused, "not_stated": offline.not_stated,
                           "confidence": offline.confidence},
               "replies": [reply_text(c) for c in calls]}
        rows.append(row)
        print(f"[{i}/{len(questions)}] {q['id']} {a.mode} refused={a.refused} ev={row['evidence']} "
              f"f1={row['f1']:.2f} {total:.1f}s (model {row['model_s']:.1f}s) "
              f"{row['tokens_in']}/{row['tokens_out']} tok | {a.notice or ''}", file=sys.stderr)
        if args.out:
            Path(args.out).write_text(json.dumps({"args": vars(args), "rows": rows}, indent=1))
    extras = run_extras(bot, proxy) if args.extras else {}
    report(args, rows, extras)
    if args.out:
        Path(args.out).write_text(json.dumps({"args": vars(args), "rows": rows, "extras": extras},
                                             indent=1))


def run_extras(bot: Bot, proxy: Proxy) -> dict:
    """A chat follow-up (condense), an LLM summary and an LLM briefing of the seed article."""
    out = {}
    first = bot.ask("What did North Korea test-fire?", collections=["seed"])
    t0 = time.perf_counter()
    follow = bot.ask("How long did they fly?", collections=["seed"], history=[first])
    out["follow-up"] = {"seconds": time.perf_counter() - t0, "mode": follow.mode,
                        "standalone": follow.standalone_question, "answer": follow.answer[:200],
                        "notice": follow.notice}
    [article] = bot.articles("seed")
    t0 = time.perf_counter()
    summary = bot.summarize(article.article_id, 3, collection="seed", mode="llm")
    out["summary"] = {"seconds": time.perf_counter() - t0, "mode": summary.mode,
                      "points": len(summary.statements), "notice": summary.notice}
    t0 = time.perf_counter()
    brief = bot.brief(collection="seed", mode="llm", max_points=4)
    out["briefing"] = {"seconds": time.perf_counter() - t0, "mode": brief.mode,
                       "notice": brief.notice,
                       "statements": sum(len(sec.statements) for sec in brief.sections)}
    for name, r in out.items():
        print(f"{name}: {r}", file=sys.stderr)
    return out


NOT_GIVEN = "The sources do not give "  # the start of bot.schema.not_stated_line


def said_no(row: dict) -> bool:
    """A refusal, or "the sources do not give <the kind asked for>" (as bench/eval_qa.py counts)."""
    return row["refused"] or row["answer"].startswith(NOT_GIVEN)


GATE_SWEEP = (0.3, 0.5)  # other gate thresholds, read off the recorded offline confidences


def _unsure(row: dict, threshold: float) -> bool:
    c = (row.get("offline") or {}).get("confidence")
    return c is not None and c < threshold


def report(args, rows: list[dict], extras: dict) -> None:
    ans = [r for r in rows if not r["impossible"]]
    imp = [r for r in rows if r["impossible"]]
    via = [r for r in ans if r["mode"] == "llm" and not said_no(r) and r["verified"]]
    correct = [r for r in via if r["evidence"] or r["f1"] >= 0.5]
    unverified = sum(1 for r in rows if not r["verified"])
    why: Counter = Counter()
    for r in rows:
        why.update(r["reasons"])
    ratio = [r["total_s"] / r["model_s"] for r in rows if r["model_s"] > 0]
    sets = Counter(r["set"] for r in rows)
    fold = getattr(args, "fold", "B")
    print(f"\n#### {args.label}: {len(rows)} questions ({sets['seed']} seed, {sets['squad11']} squad11 "
          f"fold {fold}, {sets['squad20']} squad20 fold {fold} unanswerable), k={args.k}"
          + (f", BOT_LLM_SENTENCES={args.sentences}" if getattr(args, "sentences", 1) != 1 else "") + "\n")
    print("| measure | value |\n|---|---|")
    share = lambda a, b: f"{a}/{b} = {a / b:.2f}" if b else "n/a"  # noqa: E731
    print(f"| answerable answered through the model, every citation verified | {share(len(via), len(ans))} |")
    print(f"| ... of those correct (a cited sentence holds a gold answer, or short-answer F1 >= 0.5) | "
          f"{share(len(correct), len(via))} |")
    print(f"| answerable: evidence anywhere (model or fallback) / mean short-answer F1 | "
          f"{share(sum(r['evidence'] for r in ans), len(ans))} / "
          f"{statistics.mean([r['f1'] for r in ans]) if ans else float('nan'):.2f} |")
    print(f"| unanswerable refused (or \"the sources do not give ...\") | "
          f"{share(sum(said_no(r) for r in imp), len(imp))} |")
    print(f"| answerable refused (or \"the sources do not give ...\") | "
          f"{share(sum(said_no(r) for r in ans), len(ans))} |")
    print(f"| answerable / unanswerable not sent to the model (offline gate: refusal, not stated, "
          f"confidence < {GATE_CONFIDENCE:g}) | {sum(r.get('gated', False) for r in ans)} / "
          f"{sum(r.get('gated', False) for r in imp)} |")
    for t in GATE_SWEEP:
        if t > GATE_CONFIDENCE:
            g_ans = [r for r in ans if said_no(r) or _unsure(r, t)]
            g_imp = [r for r in imp if said_no(r) or _unsure(r, t)]
            ok = [r for r in via if not _unsure(r, t) and (r["evidence"] or r["f1"] >= 0.5)]
            print(f"| with the gate at confidence < {t:g}: answerable refused / unanswerable refused "
                  f"/ answerable correct through the model | {share(len(g_ans), len(ans))} / "
                  f"{share(len(g_imp), len(imp))} / {share(len(ok), len(ans))} |")
    print(f"| unverified citations shown | {unverified} |")
    tot = [r["total_s"] for r in rows]
    mod = [r["model_s"] for r in rows if r["model_s"] > 0]
    print(f"| bot time per question p50 / p95 / max (s) | {pct(tot, .5):.1f} / {pct(tot, .95):.1f} / "
          f"{max(tot):.1f} (timeout {args.timeout:g}) |")
    print(f"| model's own time p50 / p95 (s) | {pct(mod, .5):.1f} / {pct(mod, .95):.1f} |")
    print(f"| bot / model time, median per question | {statistics.median(ratio) if ratio else float('nan'):.2f} |")
    tin = [r["tokens_in"] for r in rows if r["tokens_in"]]
    tout = [r["tokens_out"] for r in rows if r["tokens_in"]]
    if tin:
        print(f"| tokens in / out per question, median (max) | {statistics.median(tin):.0f} ({max(tin)}) / "
              f"{statistics.median(tout):.0f} ({max(tout)}) |")
    for k, v in why.most_common():
        print(f"| dropped or fallen back: {k} | {v} |")
    for name, r in extras.items():
        print(f"| {name} | {r['mode']}, {r['seconds']:.0f} s"
              + (f", searched as: {r['standalone']!r}" if name == "follow-up" else "")
              + (f", {r.get('points', r.get('statements'))} cited points" if name != "follow-up" else "")
              + (f"; notice: {r['notice']}" if r.get("notice") else "") + " |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--base-url", default=os.environ.get("OPENAI_BASE_URL", "http://127.0.0.1:8091/v1"))
    ap.add_argument("--model", default="local")
    ap.add_argument("--label", default="model")
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--squad11", type=int, default=40)
    ap.add_argument("--squad20", type=int, default=20)
    ap.add_argument("--seed", type=int, default=13)
    ap.add_argument("--fold", choices=["A", "B"], default="B", help="the fold the SQuAD questions "
                    "are drawn from: A to choose between variants, B to report")
    ap.add_argument("--start", type=int, default=0, help="skip the first N drawn questions "
                    "(to finish an interrupted run)")
    ap.add_argument("--k", type=int, default=3)
    ap.add_argument("--sentences", type=int, default=1, help="BOT_LLM_SENTENCES: fewest sentences "
                    "the model is given")
    ap.add_argument("--timeout", type=float, default=240.0)
    ap.add_argument("--store", help="keep the store here between runs")
    ap.add_argument("--out", help="write every row as JSON here")
    ap.add_argument("--extras", action="store_true", help="also a follow-up, a summary, a briefing")
    ap.add_argument("--report", metavar="OUT_JSON", nargs="+", help="only print the table of "
                    "saved --out files, together (reply tokens counted again by the server's "
                    "tokenizer)")
    ap.add_argument("--replay", metavar="OUT_JSON", nargs="+", help="ask saved --out files' "
                    "questions again, the model's recorded replies played back (no model needed)")
    args = ap.parse_args()
    if args.replay or args.report:
        files = args.replay or args.report
        saved = [json.loads(Path(f).read_text()) for f in files]
        rows = [r for f in args.replay for r in replay(f)] if args.replay else \
            [r for s in saved for r in s["rows"]]
        if args.report:
            for row in rows:
                row["tokens_out"] = sum(tokens(args.base_url, r) for r in row.get("replies", []))
        label = args.label + (" (recorded replies played back)" if args.replay else "")
        report(argparse.Namespace(**{**saved[0]["args"], "label": label}), rows,
               {k: v for s in saved for k, v in s.get("extras", {}).items()})
        return
    run(args)


if __name__ == "__main__":
    main()
