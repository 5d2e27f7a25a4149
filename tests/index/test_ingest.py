"""Ingest: every bad input gets one clear line, the batch goes on, nothing half-written."""

import os
import shutil
import stat
import sys

import pytest

from conftest import SEED_FILE, run_cli


def _write(path, data):
    path.parent.mkdir(parents=True, exist_ok=True)
    (path.write_bytes if isinstance(data, bytes) else path.write_text)(data)
    return path


def test_bad_inputs_are_reported_and_the_rest_goes_in(bot, tmp_path):
    good = _write(tmp_path / "in" / "good.txt", "Good title\n\nThe council approved the budget of 5 million dollars on Monday.")
    empty = _write(tmp_path / "in" / "empty.txt", "   \n\n")
    binary = _write(tmp_path / "in" / "image.txt", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)))
    latin = _write(tmp_path / "in" / "latin1.txt", "Caf\xe9 au lait co\xfbte cher.".encode("latin-1"))
    huge = _write(tmp_path / "in" / "huge.txt", "word " * 10)
    bot.settings = bot.settings.with_(max_file_mb=0.00002)  # a 20-byte limit makes "huge" too big
    report = bot.ingest([tmp_path / "missing.txt", tmp_path / "in" / "notes.docx", huge])
    reasons = {f.source: f.reason for f in report.failed}
    assert "no such file" in reasons[str(tmp_path / "missing.txt")]
    assert "over the" in reasons[str(huge)] and "BOT_MAX_FILE_MB" in reasons[str(huge)]
    bot.settings = bot.settings.with_(max_file_mb=20)
    _write(tmp_path / "in" / "notes.docx", "x")
    report = bot.ingest([tmp_path / "in", tmp_path / "in" / "notes.docx"])
    reasons = {f.source: f.reason for f in report.failed}
    assert "empty" in reasons[str(empty)]
    assert "binary" in reasons[str(binary)]
    assert "UTF-8" in reasons[str(latin)]
    assert "unsupported file type '.docx'" in reasons[str(tmp_path / "in" / "notes.docx")]
    assert sorted(report.added) == sorted([str(good), str(huge)])
    assert {a.title for a in bot.articles()} == {"Good title", ("word " * 10).strip()}
    for f in report.failed:
        assert "\n" not in f.line()


def test_reingest_unchanged_does_nothing_and_changed_replaces_all_chunks(bot, tmp_path):
    path = _write(tmp_path / "story.txt", "Storm update\n\n" + " ".join(
        f"The river rose by {i} centimetres at gauge {i}." for i in range(60)))
    first = bot.ingest([path])
    assert len(first.added) == 1
    again = bot.ingest([path])
    assert again.unchanged == [str(path)] and not again.added and not again.updated
    article_id = bot.articles()[0].article_id
    old_chunks = bot.store().chunks_of(article_id)
    path.write_text("Storm update\n\nThe dam held and the flood receded overnight, officials said.")
    changed = bot.ingest([path])
    assert changed.updated == [str(path)]
    new_chunks = bot.store().chunks_of(article_id)
    assert len(new_chunks) == 1 and len(old_chunks) > 1
    article = bot.article(article_id)
    assert all(article.text[c.start:c.end] == c.text for c in new_chunks)
    answer = bot.ask("By how many centimetres did the river rise?")
    assert all("centimetres" not in c.quote for c in answer.citations)


def test_same_text_from_two_paths_is_stored_once(bot, tmp_path):
    a = _write(tmp_path / "a.txt", "Same story\n\nThe mayor resigned on Friday after the vote.")
    b = _write(tmp_path / "b.txt", a.read_text())
    report = bot.ingest([a, b])
    assert len(report.added) == 1 and len(report.unchanged) == 1
    assert len(bot.articles()) == 1


def test_html_markdown_and_metadata(bot, tmp_path):
    html = _write(tmp_path / "page.html", """<html><head><title>Dam holds | Daily</title>
      <meta property="article:published_time" content="2024-03-05"></head><body>
      <nav><a href="/">Home</a> | <a href="/world">World</a></nav>
      <article><h1>Dam holds after storm</h1>
      <p>The Hoover reservoir dam held overnight after the storm, engineers said on Tuesday morning.</p>
      <p>Water levels peaked at 12 metres above normal before falling back by the evening.</p></article>
      <footer>Copyright Daily News. All rights reserved.</footer><script>var x = 1;</script></body></html>""")
    md = _write(tmp_path / "note.md", "---\ntitle: Budget vote\ndate: 2024-02-01\n---\n# Budget\n\nThe council passed the budget 7 to 2.")
    report = bot.ingest([html, md])
    assert not report.failed, report.failed
    by_title = {a.title: a for a in bot.articles()}
    page = by_title["Dam holds | Daily"] if "Dam holds | Daily" in by_title else by_title["Dam holds after storm"]
    assert page.published == "2024-03-05"
    assert "12 metres" in page.text and "Copyright" not in page.text and "var x" not in page.text
    assert by_title["Budget vote"].published == "2024-02-01"
    assert not bot.article(by_title["Budget vote"].article_id).text.startswith("---")


def test_forget_removes_article_and_chunks(seeded):
    article = seeded.articles()[0]
    assert seeded.forget(article.article_id)
    assert seeded.article(article.article_id) is None
    assert seeded.store().chunks_of(article.article_id) == []
    assert seeded.ask("What range was claimed?").refused
    assert not seeded.forget(article.article_id)


def test_interrupted_write_is_repaired_and_never_retrieved(seeded, tmp_path):
    """A crash after chunks were written but before the article was marked ready."""
    store = seeded.store()
    article = seeded.articles(with_text=True)[0]
    store._articles.update(ids=[article.article_id], metadatas=[{"state": "pending"}])
    store._bump()
    assert seeded.article(article.article_id) is None
    assert seeded.ask("What range was claimed?").refused  # its chunks are not trusted
    assert store.repair() == [article.article_id]
    assert store.chunks_of(article.article_id) == []
    report = seeded.ingest([SEED_FILE])
    assert report.added and not seeded.ask("What range was claimed?").refused


@pytest.mark.skipif(not shutil.which("setpriv") and os.geteuid() == 0,
                    reason="running as root without setpriv: permissions cannot be enforced")
def test_unreadable_folder_is_reported_by_the_cli(tmp_path):
    locked = tmp_path / "locked"
    _write(locked / "a.txt", "Locked story\n\nThis text cannot be read by the bot.")
    _write(tmp_path / "ok" / "b.txt", "Open story\n\nThe bridge reopened on Sunday after repairs.")
    locked.chmod(0)
    prefix = []
    if os.geteuid() == 0:  # root ignores permissions unless it drops the capabilities for it
        prefix = ["setpriv", "--bounding-set=-dac_override,-dac_read_search"]
    try:
        import subprocess
        env = {k: v for k, v in os.environ.items() if not k.startswith(("BOT_", "OPENAI_"))}
        env.update(PYTHONPATH=str(SEED_FILE.parents[1]), BOT_STORE_DIR=str(tmp_path / "store"))
        proc = subprocess.run(prefix + [sys.executable, "-m", "bot", "ingest", str(tmp_path)],
                              capture_output=True, text=True, env=env, timeout=120)
    finally:
        locked.chmod(stat.S_IRWXU)
    assert proc.returncode == 1
    assert f"error: {locked}: cannot read this folder" in proc.stderr
    assert "1 added" in proc.stdout
    assert "Traceback" not in proc.stderr
