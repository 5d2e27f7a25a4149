"""Bad input at scale: coverage-guided fuzzing (atheris, libFuzzer for Python) of the loaders
(text, HTML, feeds, PDF), the chunker, the citation verifier and the renderers, thousands of
inputs per target; plus the same properties under hypothesis with many examples.

Each target is tests/fuzz_targets.py: it may end in the documented `LoadError`; any other
exception or a broken property (exact chunk offsets, normalised text, verified spans, Slack
limits and escaping) is a crash, which libFuzzer saves as crash-* in the work folder.
Seeds are real inputs (tests/newsserver.py's cluttered page and feeds, tests/pdfmaker.py PDFs,
the seed article), so mutations start from the shapes the bot meets.

    /work/main/.venv/bin/python bench/fuzz.py [--runs 3000] [--targets text,html,...]
    /work/main/.venv/bin/python bench/fuzz.py --engine hypothesis [--runs 1000]
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

TARGETS = ["text", "html", "feed", "pdf", "chunker", "verify", "render"]
INSTRUMENT = ["bot", "trafilatura", "feedparser", "pypdf", "courlan", "justext", "htmldate"]


def seeds(target: str, folder: Path) -> None:
    from tests import newsserver as ns
    from tests.pdfmaker import make_pdf

    folder.mkdir(parents=True, exist_ok=True)
    seed_text = (ROOT / "seeds" / "000_f7985a03bbf30fbd.txt").read_bytes()
    page = ns.article_page("https://news.test/bridge", "Harbour Bridge reopens", ns.BRIDGE,
                           "Ana Ruiz", "2024-03-12")
    items = [{"title": "Bridge", "link": "https://news.test/b", "guid": "g1",
              "content": "<p>" + ns.BRIDGE[0] + "</p>"},
             {"title": "Library", "link": "https://news.test/l", "summary": ns.LIBRARY[0]}]
    by_target = {
        "text": [b"\x00" + seed_text, b"\x01---\ntitle: T\ndate: 2024-01-02\n---\n# Head\n\nBody."],
        "html": [page, b"<p>" + ns.MARKET[0].encode() + b"</p>"],
        "feed": [ns.rss("https://news.test", items), ns.atom("https://news.test", [
            {"title": "M", "link": "https://news.test/m", "id": "m1", "summary": ns.MARKET[1]}])],
        "pdf": [make_pdf([ns.BRIDGE[:2], ns.LIBRARY[:1]], title="Report", created="20240102")],
        "chunker": [b"\x20\x00\x10\x00" + seed_text],
        "verify": [seed_text[:600]],
        "render": [seed_text[:400] + b"<!channel> [bold] *x* <http://x|y>"],
    }
    for i, data in enumerate(by_target[target]):
        (folder / f"seed{i}").write_bytes(data)


def one_input(target: str):
    """The libFuzzer entry point for `target`: bytes -> the target's inputs."""
    import atheris

    from tests import fuzz_targets as ft

    def run(data: bytes) -> None:
        try:
            one(data)
        except BaseException:
            import traceback

            traceback.print_exc()  # libFuzzer only says the target "exited"; show why
            raise

    def one(data: bytes) -> None:
        fdp = atheris.FuzzedDataProvider(data)
        if target == "text":
            markdown = fdp.ConsumeBool()
            ft.text_file(fdp.ConsumeBytes(fdp.remaining_bytes()), markdown)
        elif target == "html":
            url = fdp.PickValueInList([None, "http://news.test/a?utm_source=x#f", "https://n.test/"])
            ft.html_page(fdp.ConsumeUnicodeNoSurrogates(fdp.remaining_bytes()), url)
        elif target == "feed":
            ft.feed(data)
        elif target == "pdf":
            ft.pdf(data)
        elif target == "chunker":
            size, overlap = fdp.ConsumeIntInRange(20, 1200), fdp.ConsumeIntInRange(0, 400)
            ft.chunker(fdp.ConsumeUnicodeNoSurrogates(fdp.remaining_bytes()), size, overlap)
        elif target == "verify":
            text = fdp.ConsumeUnicodeNoSurrogates(fdp.ConsumeIntInRange(0, 2000))
            quotes = []
            for _ in range(fdp.ConsumeIntInRange(0, 6)):
                if fdp.ConsumeBool() and text:
                    s = fdp.ConsumeIntInRange(0, len(text))
                    quotes.append((text[s:s + fdp.ConsumeIntInRange(0, 300)], s))
                else:
                    quotes.append((fdp.ConsumeUnicodeNoSurrogates(80),
                                   fdp.ConsumeIntInRange(-5, 5000) if fdp.ConsumeBool() else None))
            ft.verify(text, quotes, other=text[::-1])
        elif target == "render":
            def s(n: int) -> str:
                return fdp.ConsumeUnicodeNoSurrogates(fdp.ConsumeIntInRange(0, n))
            ft.renderers([s(400) for _ in range(fdp.ConsumeIntInRange(0, 5))],
                         [s(400) for _ in range(fdp.ConsumeIntInRange(0, 8))], s(200), s(200),
                         s(50) if fdp.ConsumeBool() else None,
                         s(200) if fdp.ConsumeBool() else None, fdp.ConsumeBool())

    return run


def worker(target: str, runs: int, corpus: Path) -> None:
    """Runs in its own process: libFuzzer exits the process when it is done."""
    import atheris

    with atheris.instrument_imports(include=INSTRUMENT):
        import bot.sources.articles  # noqa: F401
        import bot.index.chunking  # noqa: F401
        import bot.answer.citations  # noqa: F401
        import bot.sources.feeds  # noqa: F401
        import bot.sources.pdf  # noqa: F401
        import bot.ui.render  # noqa: F401
        import bot.ui.slack.blocks  # noqa: F401
        import feedparser  # noqa: F401
        import pypdf  # noqa: F401
        import trafilatura  # noqa: F401
    import logging

    logging.disable(logging.CRITICAL)  # trafilatura and pypdf log every broken input
    atheris.Setup([sys.argv[0], f"-runs={runs}", "-max_len=8192", "-timeout=20",
                   "-rss_limit_mb=3072", "-print_final_stats=1", str(corpus)], one_input(target))
    atheris.Fuzz()


def run_atheris(targets: list[str], runs: int) -> list[tuple[str, int, float, str]]:
    work = Path(tempfile.mkdtemp(prefix="fuzz-bench-"))
    rows = []
    for target in targets:
        corpus = work / target
        seeds(target, corpus)
        t = time.perf_counter()
        r = subprocess.run([sys.executable, __file__, "--worker", target, "--runs", str(runs),
                            "--corpus", str(corpus)], cwd=work, capture_output=True, text=True)
        wall = time.perf_counter() - t
        done = re.search(r"Done (\d+) runs", r.stderr) or re.search(r"stat::number_of_executed_units: (\d+)", r.stderr)
        n = int(done.group(1)) if done else 0
        if r.returncode == 0:
            verdict = "no crash"
        else:
            tail = [ln for ln in r.stderr.splitlines() if ln.strip()][-12:]
            verdict = "CRASH: " + " | ".join(tail)
        rows.append((target, n, wall, verdict))
        print(f"{target:8s} {n:6d} inputs  {wall:6.0f} s  {verdict}", flush=True)
    print(f"(work folder with corpora and any crash-* files: {work})")
    return rows


def run_hypothesis(targets: list[str], runs: int) -> list[tuple[str, int, float, str]]:
    import os

    os.environ["FUZZ_EXAMPLES"] = str(runs)  # read by tests/test_fuzz.py's settings
    from tests import test_fuzz as tf

    tests = {"text": tf.test_text_loader, "html": tf.test_html_loader,
             "feed": tf.test_feed_loader, "pdf": tf.test_pdf_loader,
             "verify": tf.test_verifier_only_ever_shows_exact_spans,
             "render": tf.test_renderers_never_raise_and_slack_gets_no_injected_markup}
    rows = []
    for target in targets:
        if target not in tests:
            continue
        t = time.perf_counter()
        try:
            tests[target]()
            verdict = "no crash"
        except Exception as e:  # noqa: BLE001 - a failure is the finding to report
            verdict = f"CRASH: {type(e).__name__}: {str(e)[:300]}"
        wall = time.perf_counter() - t
        rows.append((target, runs, wall, verdict))
        print(f"{target:8s} {runs:6d} inputs  {wall:6.0f} s  {verdict}", flush=True)
    return rows


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=3000)
    ap.add_argument("--targets", default=",".join(TARGETS))
    ap.add_argument("--engine", choices=["atheris", "hypothesis"], default="atheris")
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    ap.add_argument("--corpus", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        worker(args.worker, args.runs, args.corpus)
        return
    targets = [t for t in args.targets.split(",") if t]
    rows = (run_atheris if args.engine == "atheris" else run_hypothesis)(targets, args.runs)
    total = sum(n for _, n, _, _ in rows)
    crashes = [t for t, _, _, v in rows if v != "no crash"]
    print(f"\n{total} inputs over {len(rows)} targets ({args.engine}); "
          f"crashes: {', '.join(crashes) or 'none'}")
    sys.exit(1 if crashes else 0)


if __name__ == "__main__":
    main()
