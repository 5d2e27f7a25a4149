"""RSS/Atom ingest and `watch`: a local news site with feeds on 127.0.0.1, the real fetcher,
feedparser and a real embedded Chroma store; the CLI as a user runs it."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from bot.sources.common import LoadError
from bot.sources.feeds import parse_feed
from bot.util.datefilter import parse_interval
from tests.conftest import ROOT, run_cli
from tests.newsserver import (BRIDGE, LIBRARY, MARKET, MARKERS, NewsServer, Route, article_page,
                              atom, rss)


def _items(base: str) -> list[dict]:
    return [
        {"title": "Harbour bridge reopens after repairs", "guid": "tide-1",
         "link": f"{base}/news/bridge?utm_source=rss", "summary": "The bridge is open again."},
        {"title": "Library to stay open late", "guid": "tide-2", "link": f"{base}/go/library",
         "summary": "Longer hours."},
        # the page is gone (404): the entry's own content stands in for it
        {"title": "Fish market moves to the port", "guid": "tide-3", "link": f"{base}/news/market",
         "summary": "The market moves.", "content": "".join(f"<p>{p}</p>" for p in MARKET)},
    ]


@pytest.fixture
def site():
    with NewsServer() as srv:
        srv.routes["/news/bridge"] = Route(article_page(
            srv.url("/news/bridge"), "Harbour bridge reopens after repairs", BRIDGE, "Maria Olsen",
            "2024-03-12"))
        srv.routes["/news/library"] = Route(article_page(
            srv.url("/news/library"), "Library to stay open late", LIBRARY, "Tom Berg", "2024-03-13"))
        srv.routes["/go/library"] = Route(status=301, headers={"Location": "/news/library"})
        srv.items = _items(srv.base)
        srv.routes["/feed.rss"] = Route(lambda: rss(srv.base, srv.items),
                                        content_type="application/rss+xml", conditional=True)
        srv.routes["/feed.atom"] = Route(atom(srv.base, [
            {"title": "Library to stay open late", "id": "urn:tide:library-7",
             "link": f"{srv.base}/news/library"},
            {"title": "Bridge (mirror)", "id": "urn:tide:bridge-mirror",
             "link": f"{srv.base}/mirror/bridge"},
        ]), content_type="application/atom+xml")
        # the same article on another path without a canonical link: same text, same hash
        srv.routes["/mirror/bridge"] = Route(article_page(
            None, "Harbour bridge reopens after repairs", BRIDGE, "Maria Olsen", "2024-03-12"))
        srv.routes["/broken.rss"] = Route(b"<?xml version='1.0'?><rss version='2.0'><channel>"
                                          b"<title>Tide</title <<< &&& ]]> not xml at all",
                                          content_type="application/rss+xml")
        yield srv


@pytest.fixture
def web_bot(settings):
    from bot import Bot

    return Bot(settings.with_(allow_private_urls=True, fetch_timeout=2.0))


def test_rss_feed_ingests_pages_and_falls_back_to_entry_content(site, web_bot):
    report = web_bot.ingest_feeds([site.url("/feed.rss")])
    assert not report.failed
    assert sorted(report.added) == sorted([site.url("/news/bridge"), site.url("/news/library"),
                                           site.url("/news/market")])
    assert any("/news/market" in n and "HTTP 404" in n and "feed's own text" in n
               for n in report.notes)
    by_source = {a.source: a for a in web_bot.articles()}
    bridge = by_source[site.url("/news/bridge")]
    assert BRIDGE[1] in bridge.text and not [m for m in MARKERS if m in bridge.text]
    assert bridge.meta["guids"] == ["tide-1"] and bridge.meta["via"] == "page"
    assert bridge.meta["author"] == "Maria Olsen"
    market = by_source[site.url("/news/market")]
    assert market.meta["via"] == "feed" and market.title == "Fish market moves to the port"
    assert all(p in market.text for p in MARKET)
    assert market.published == "2024-03-12"


def test_rerun_adds_nothing_and_refetches_no_known_page(site, web_bot):
    web_bot.ingest_feeds([site.url("/feed.rss")])
    site.requests.clear()
    again = web_bot.ingest_feeds([site.url("/feed.rss")])
    assert not again.added and not again.updated and not again.failed
    assert len(again.unchanged) == 3
    assert len(web_bot.articles()) == 3
    fetched = site.paths_requested()
    assert "/news/bridge?utm_source=rss" not in fetched and "/go/library" not in fetched
    assert "/news/market" in fetched  # it came from the feed's text: its page is tried again


def test_atom_feed_dedups_by_canonical_url_and_content_hash(site, web_bot):
    web_bot.ingest_feeds([site.url("/feed.rss")])
    report = web_bot.ingest_feeds([site.url("/feed.atom")])
    # the library entry has another GUID but the same canonical URL; the mirror has another
    # URL but the same text as the bridge article: both are already there
    assert not report.added and not report.updated and not report.failed
    assert len(report.unchanged) == 2
    assert len(web_bot.articles()) == 3
    # and the GUIDs were remembered beside the first ones: no run of either feed fetches a
    # known page again
    library = {a.source: a for a in web_bot.articles()}[site.url("/news/library")]
    assert library.meta["guids"] == ["tide-2", "urn:tide:library-7"]
    site.requests.clear()
    assert len(web_bot.ingest_feeds([site.url("/feed.atom")]).unchanged) == 2
    assert len(web_bot.ingest_feeds([site.url("/feed.rss")]).unchanged) == 3
    fetched = site.paths_requested()
    assert not {"/news/library", "/go/library", "/news/bridge?utm_source=rss",
                "/mirror/bridge"} & set(fetched)


def test_atom_feed_on_its_own(site, web_bot):
    report = web_bot.ingest_feeds([site.url("/feed.atom")])
    assert sorted(report.added) == [site.url("/mirror/bridge"), site.url("/news/library")]
    art = {a.source: a for a in web_bot.articles()}[site.url("/news/library")]
    assert art.meta["guids"] == ["urn:tide:library-7"] and "9,400 students" in art.text


def test_updated_entry_replaces_the_old_version(site, web_bot):
    web_bot.ingest_feeds([site.url("/feed.rss")])
    old = {a.source: a for a in web_bot.articles()}[site.url("/news/bridge")]

    changed = [BRIDGE[0].replace("eleven weeks", "twelve weeks")] + BRIDGE[1:]
    site.routes["/news/bridge"] = Route(article_page(site.url("/news/bridge"),
                                                     "Harbour bridge reopens after repairs",
                                                     changed, "Maria Olsen", "2024-03-12"))
    site.items[0]["date"] = "Wed, 13 Mar 2024 10:00:00 GMT"  # the feed says it was updated
    # the library entry moves to a new URL with new text, under the same GUID
    site.routes["/news/library-v2"] = Route(article_page(
        site.url("/news/library-v2"), "Library to stay open late",
        LIBRARY[:2] + ["The reading room for children will now open in July."], "Tom Berg",
        "2024-03-14"))
    site.items[1]["link"] = site.url("/news/library-v2")
    site.items[1]["date"] = "Thu, 14 Mar 2024 10:00:00 GMT"

    report = web_bot.ingest_feeds([site.url("/feed.rss")])
    assert sorted(report.updated) == sorted([site.url("/news/bridge"), site.url("/news/library-v2")])
    assert not report.added and len(web_bot.articles()) == 3
    chunks = web_bot.store().chunks_of(old.article_id)
    assert chunks and all("eleven weeks" not in c.text for c in chunks)
    assert any("twelve weeks" in c.text for c in chunks)
    assert site.url("/news/library") not in {a.source for a in web_bot.articles()}
    answer = web_bot.ask("When will the children's reading room open?")
    assert not answer.refused
    assert answer.citations[0].source == site.url("/news/library-v2")
    assert "July" in answer.citations[0].quote


def test_bad_feeds_fail_one_line_each_and_the_batch_goes_on(site, web_bot):
    report = web_bot.ingest_feeds([site.url("/broken.rss"), site.url("/news/bridge"),
                                   site.url("/missing.rss"), site.url("/feed.atom")])
    reasons = {f.source: f.reason for f in report.failed}
    assert "not a valid RSS or Atom feed" in reasons[site.url("/broken.rss")]
    assert "is a web page, not a feed" in reasons[site.url("/news/bridge")]
    assert "HTTP 404" in reasons[site.url("/missing.rss")]
    assert sorted(report.added) == [site.url("/mirror/bridge"), site.url("/news/library")]


def test_parse_feed_refuses_garbage():
    for data in (b"", b"\x00\x01\x02 binary", b"just some words", b"<html><body>x</body></html>"):
        with pytest.raises(LoadError):
            parse_feed(data, "http://feeds.test/x")


def test_feed_urls_go_through_the_guard(site, settings):
    from bot import Bot

    report = Bot(settings).ingest_feeds([site.url("/feed.rss")])
    assert "refused" in report.failed[0].reason and not site.requests


def test_parse_interval():
    assert parse_interval("15m") == 900 and parse_interval("30s") == 30
    assert parse_interval("1h") == 3600 and parse_interval("90") == 90
    assert parse_interval("0.5s") == 0.5
    for bad in ("soon", "0s", "-5m", "5 days"):
        with pytest.raises(ValueError):
            parse_interval(bad)


def test_watch_polls_with_conditional_get(site, web_bot, settings):
    seen = []

    def on_poll(n, report):
        seen.append((n, len(report.added), list(report.notes)))
        if n == 2:  # a new story arrives after the second poll
            site.items.append({"title": "Bridge tolls scrapped", "guid": "tide-4",
                               "link": site.url("/news/tolls"), "summary": "",
                               "content": "<p>The council scrapped the bridge toll of 2 euros "
                                          "on Friday, effective at once.</p>"})

    polls = web_bot.watch_feeds([site.url("/feed.rss")], every=0.01, on_poll=on_poll, max_polls=3)
    assert polls == 3
    assert seen[0][1] == 3
    assert seen[1][1] == 0 and any("not modified" in n for n in seen[1][2])
    assert seen[2][1] == 1
    feed_requests = [h for p, h in site.requests if p == "/feed.rss"]
    assert "If-None-Match" not in feed_requests[0]
    assert feed_requests[1]["If-None-Match"] and feed_requests[2]["If-None-Match"]
    state = json.loads((settings.store_dir / "feeds.json").read_text())
    assert state[site.url("/feed.rss")]["etag"]


def test_cli_ingest_feed_and_watch(site, tmp_path):
    env = {"BOT_STORE_DIR": str(tmp_path / "s"), "BOT_ALLOW_PRIVATE_URLS": "1"}
    first = run_cli("ingest", "--feed", site.url("/feed.rss"), env=env)
    assert first.returncode == 0, first.stderr
    assert "3 added, 0 updated, 0 unchanged, 0 failed" in first.stdout
    assert "note: " in first.stderr and "/news/market" in first.stderr
    watched = run_cli("watch", "--feed", site.url("/feed.rss"), "--every", "0.1s",
                      "--max-polls", "2", env=env)
    assert watched.returncode == 0, watched.stderr
    # `ingest --feed` remembered the feed's ETag: the watch's conditional GETs get 304s
    assert "poll 1: 0 added, 0 updated, 0 unchanged, 0 failed" in watched.stdout
    assert "poll 2: 0 added" in watched.stdout
    assert "feed not modified since the last poll" in watched.stderr
    assert "stopped after 2 poll(s)" in watched.stdout
    bad = run_cli("watch", "--feed", site.url("/feed.rss"), "--every", "soon", env=env)
    assert bad.returncode == 1 and "--every" in bad.stderr and "Traceback" not in bad.stderr


def test_ctrl_c_stops_watch_cleanly(site, tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BOT_", "OPENAI_", "SLACK_"))}
    env.update({"PYTHONPATH": str(ROOT), "NO_COLOR": "1", "PYTHONUNBUFFERED": "1",
                "BOT_STORE_DIR": str(tmp_path / "s"), "BOT_ALLOW_PRIVATE_URLS": "1"})
    proc = subprocess.Popen([sys.executable, "-m", "bot", "watch", "--feed", site.url("/feed.rss"),
                             "--every", "1h"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=env)
    try:
        lines = []
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            lines.append(line)
            if "poll 1:" in line or not line:
                break
        assert any("poll 1: 3 added" in line for line in lines), lines
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    assert "stopped" in out and "Traceback" not in err
