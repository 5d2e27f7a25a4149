"""PDFs: a real PDF built in the test (tests/pdfmaker.py), parsed by pypdf, ingested from a file
and from a URL, and cited with its page number."""

from __future__ import annotations

import pytest
from rich.console import Console

from bot.ui import render
from bot.sources.common import LoadError
from bot.answer.citations import check
from bot.sources.pdf import article_from_pdf, join_pages, page_of
from tests.conftest import run_cli
from tests.newsserver import NewsServer, Route
from tests.pdfmaker import make_pdf

PAGES = [
    ["Annual report of the port authority.", "Cargo volumes rose in every quarter of the year."],
    [],  # a blank page keeps its place in the numbering
    ["The container terminal handled 1.4 million containers in 2023.",
     "Dredging of the eastern channel was completed in October."],
    ["A new ferry berth will open in 2025 at a cost of 85 million euros."],
]


@pytest.fixture
def report_pdf() -> bytes:
    return make_pdf(PAGES, title="Port authority annual report", author="Port Authority",
                    created="20240305")


def test_text_metadata_and_page_starts(report_pdf):
    art = article_from_pdf(report_pdf, source="report.pdf")
    assert art.title == "Port authority annual report"
    assert art.published == "2024-03-05" and art.meta["author"] == "Port Authority"
    for lines in PAGES:
        for line in lines:
            assert line in art.text
    starts = art.meta["pages"]
    assert len(starts) == len(PAGES)
    assert art.text[starts[0]:].startswith("Annual report")
    assert art.text[starts[2]:].startswith("The container terminal")
    assert art.text[starts[3]:].startswith("A new ferry berth")
    assert page_of(art.meta, art.text.index("Cargo volumes")) == 1
    assert page_of(art.meta, art.text.index("1.4 million")) == 3
    assert page_of(art.meta, art.text.index("85 million")) == 4
    assert page_of({}, 10) is None


def test_join_pages_offsets_are_exact():
    text, starts = join_pages(["  first page \n", "", "second\r\npage", "", "third"])
    assert text == "first page\n\nsecond\npage\n\nthird"
    assert [text[s:s + 5] for s in (starts[0], starts[2], starts[4])] == ["first", "secon", "third"]
    assert page_of({"pages": starts}, text.index("page", 10)) == 3


@pytest.mark.parametrize("data, expect", [
    (b"%PDF-1.4\nthis is not really a pdf", "cannot read this PDF"),
    (b"", "cannot read this PDF"),
])
def test_broken_pdf_is_one_clear_error(data, expect):
    with pytest.raises(LoadError) as info:
        article_from_pdf(data, source="bad.pdf")
    assert str(info.value).startswith("bad.pdf: ") and expect in str(info.value)


def test_pdf_without_text_is_refused():
    with pytest.raises(LoadError, match="no text in this PDF"):
        article_from_pdf(make_pdf([[], []]), source="scan.pdf")


def test_pdf_file_ingested_and_cited_with_its_page(bot, tmp_path, report_pdf):
    path = tmp_path / "report.pdf"
    path.write_bytes(report_pdf)
    (tmp_path / "broken.pdf").write_bytes(b"%PDF-1.4 broken")
    report = bot.ingest([tmp_path])
    assert report.added == [str(path)]
    assert [f.source for f in report.failed] == [str(tmp_path / "broken.pdf")]
    answer = bot.ask("How many containers did the terminal handle?")
    assert not answer.refused
    first = answer.citations[0]
    assert "1.4 million containers" in first.quote and first.page == 3
    assert check(first, bot.article(first.article_id))
    assert first.to_dict()["page"] == 3
    console = Console(record=True, width=200)
    render.answer(console, answer)
    assert f"{path} · p. 3 · chars" in console.export_text()


def test_pdf_from_a_url(bot, settings, report_pdf):
    from bot import Bot

    web = Bot(settings.with_(allow_private_urls=True))
    with NewsServer() as site:
        site.routes["/files/report.pdf"] = Route(report_pdf, content_type="application/pdf")
        site.routes["/download"] = Route(report_pdf, content_type="application/octet-stream")
        report = web.ingest([site.url("/files/report.pdf")])
        assert report.added == [site.url("/files/report.pdf")]
        (art,) = web.articles()
        assert art.meta["pages"] and "85 million euros" in art.text
        # served as octet-stream: recognised by its first bytes; same text, so not added twice
        again = web.ingest([site.url("/download")])
        assert again.unchanged == [site.url("/download")] and not again.failed
    answer = web.ask("What will the new ferry berth cost?")
    assert answer.citations[0].page == 4
    assert answer.citations[0].source == site.url("/files/report.pdf")


def test_cli_shows_the_page(tmp_path, report_pdf):
    (tmp_path / "report.pdf").write_bytes(report_pdf)
    env = {"BOT_STORE_DIR": str(tmp_path / "s")}
    assert run_cli("ingest", str(tmp_path / "report.pdf"), env=env).returncode == 0
    shown = run_cli("ask", "How many containers did the terminal handle?", env=env)
    assert "p. 3 · chars" in shown.stdout, shown.stdout + shown.stderr
