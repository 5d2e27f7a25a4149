"""Ingest from URLs: a real local news site on 127.0.0.1, the real httpx client, trafilatura,
and a real embedded Chroma store. The network is off; only loopback is reachable."""

from __future__ import annotations

import ipaddress
import socket

import pytest

from bot.sources.common import LoadError
from bot.answer.citations import check
from bot.sources.fetch import USER_AGENT, Fetcher, blocked_reason, load_url, looks_like_url, redact
from tests.conftest import run_cli
from tests.newsserver import BRIDGE, LIBRARY, MARKERS, NewsServer, Route, article_page

BRIDGE_TITLE = "Harbour bridge reopens after repairs"


@pytest.fixture
def site():
    with NewsServer() as srv:
        srv.routes["/news/bridge"] = Route(article_page(
            srv.url("/news/bridge"), BRIDGE_TITLE, BRIDGE, "Maria Olsen", "2024-03-12"))
        srv.routes["/news/library"] = Route(article_page(
            None, "Library to stay open late", LIBRARY, "Tom Berg", "2024-03-13"))
        srv.routes["/go/bridge"] = Route(status=302, headers={"Location": "/news/bridge?utm_source=rss"})
        srv.routes["/loop"] = Route(status=302, headers={"Location": "/loop"})
        srv.routes["/slow"] = Route(article_page(None, "Slow", LIBRARY, "X", "2024-03-13"), delay=3)
        srv.routes["/huge"] = Route(b"<html><body>" + b"<p>big page text</p>" * 20000 + b"</body></html>")
        srv.routes["/endless"] = Route(endless=True)
        srv.routes["/photo.png"] = Route(b"\x89PNG\r\n\x1a\n" + b"\0" * 100, content_type="image/png")
        srv.routes["/api.json"] = Route(b'{"a": 1}', content_type="application/json")
        srv.routes["/binary.html"] = Route(bytes(range(256)) * 20)
        srv.routes["/empty.html"] = Route(b"<html><head><title>x</title></head><body><div></div></body></html>")
        srv.routes["/to-metadata"] = Route(status=302, headers={
            "Location": "http://169.254.169.254/latest/meta-data/iam/"})
        srv.routes["/to-file"] = Route(status=302, headers={"Location": "file:///etc/passwd"})
        srv.routes["/notes.txt"] = Route(b"Tram line 4 closes\n\nThe tram line 4 will close for "
                                         b"track works from 3 to 17 May.", content_type="text/plain")
        yield srv


@pytest.fixture
def web_settings(settings):
    return settings.with_(allow_private_urls=True, fetch_timeout=1.0, max_file_mb=0.1)


@pytest.fixture
def web_bot(web_settings):
    from bot import Bot

    return Bot(web_settings)


# -- extraction ----------------------------------------------------------------------------

def test_cluttered_page_gives_clean_article_with_metadata(site, web_settings):
    with Fetcher(web_settings) as f:
        art = load_url(f, site.url("/news/bridge"))
    assert art.title == BRIDGE_TITLE
    for paragraph in BRIDGE:
        assert paragraph in art.text
    leaked = [m for m in MARKERS if m in art.text]
    assert leaked == [], f"page clutter leaked into the article: {leaked}"
    for clutter in ("cookies", "Share on Facebook", "Related stories", "All rights reserved",
                    "newsletter", "console.log"):
        assert clutter.lower() not in art.text.lower()
    assert art.source == site.url("/news/bridge")
    assert art.published == "2024-03-12"
    assert art.meta["author"] == "Maria Olsen"
    assert art.meta["canonical_url"] == site.url("/news/bridge")


def test_redirect_and_tracking_link_lead_to_the_canonical_url(site, web_settings):
    with Fetcher(web_settings) as f:
        direct = load_url(f, site.url("/news/bridge"))
        redirected = load_url(f, site.url("/go/bridge"))
    assert redirected.source == direct.source == site.url("/news/bridge")
    assert redirected.article_id == direct.article_id
    assert "/news/bridge?utm_source=rss" in site.paths_requested()


def test_page_without_canonical_uses_its_url_and_foreign_canonical_is_not_trusted(site, web_settings):
    site.routes["/news/copy"] = Route(article_page("https://news.example.org/other-site-story",
                                                   "Copied", LIBRARY, "X", "2024-03-13"))
    with Fetcher(web_settings) as f:
        plain = load_url(f, site.url("/news/library"))
        copy = load_url(f, site.url("/news/copy"))
    assert plain.source == site.url("/news/library")
    # a page cannot claim (and so replace) another site's article
    assert copy.source == site.url("/news/copy")
    assert copy.meta["claimed_canonical_url"].startswith("https://news.example.org/")


def test_plain_text_url(site, web_settings):
    with Fetcher(web_settings) as f:
        art = load_url(f, site.url("/notes.txt"))
    assert art.title == "Tram line 4 closes" and "3 to 17 May" in art.text


def test_user_agent_is_sent(site, web_settings):
    with Fetcher(web_settings) as f:
        load_url(f, site.url("/news/library"))
    assert site.requests[-1][1]["User-Agent"] == USER_AGENT


# -- failures: one clear line each ----------------------------------------------------------

@pytest.mark.parametrize("path, expect", [
    ("/missing", "HTTP 404"),
    ("/loop", "more than 5 redirects"),
    ("/slow", "timed out after 1 s"),
    ("/huge", "over the 0.1 MB limit"),
    ("/endless", "cut off"),
    ("/photo.png", "unsupported content type 'image/png'"),
    ("/api.json", "unsupported content type 'application/json'"),
    ("/binary.html", "no article text"),
    ("/empty.html", "no article text"),
    ("/to-file", "only http(s) URLs"),
])
def test_bad_urls_fail_with_one_clear_line(site, web_settings, path, expect):
    with Fetcher(web_settings) as f, pytest.raises(LoadError) as info:
        load_url(f, site.url(path))
    message = str(info.value)
    assert message.startswith(site.url(path) + ": ")
    assert expect in message
    assert "\n" not in message


def test_batch_goes_on_after_bad_urls(site, web_bot):
    report = web_bot.ingest_urls([site.url("/missing"), site.url("/news/bridge"),
                                  site.url("/photo.png"), site.url("/news/library")])
    assert sorted(report.added) == sorted([site.url("/news/bridge"), site.url("/news/library")])
    assert [f.source for f in report.failed] == [site.url("/missing"), site.url("/photo.png")]
    assert len(web_bot.articles()) == 2


# -- the SSRF guard -----------------------------------------------------------------------

@pytest.mark.parametrize("address, allowed", [
    ("8.8.8.8", True), ("2606:4700:4700::1111", True),
    ("127.0.0.1", False), ("10.1.2.3", False), ("172.16.0.5", False), ("192.168.1.1", False),
    ("169.254.10.10", False), ("169.254.169.254", False), ("100.100.100.200", False),
    ("100.64.0.1", False), ("0.0.0.0", False), ("224.0.0.251", False), ("240.0.0.1", False),
    ("::1", False), ("fe80::1", False), ("fc00::1", False), ("::ffff:127.0.0.1", False),
    ("fd00:ec2::254", False),
])
def test_address_classes(address, allowed):
    assert (blocked_reason(ipaddress.ip_address(address), allow_private=False) is None) == allowed


def test_metadata_addresses_are_refused_even_when_private_ones_are_allowed():
    for address in ("169.254.169.254", "fd00:ec2::254", "100.100.100.200"):
        assert "metadata" in blocked_reason(ipaddress.ip_address(address), allow_private=True)
    assert blocked_reason(ipaddress.ip_address("10.0.0.1"), allow_private=True) is None


def test_private_urls_are_refused_by_default(site, settings):
    assert settings.allow_private_urls is False
    with Fetcher(settings) as f:
        for url in (site.url("/news/bridge"), f"http://localhost:{site.port}/news/bridge"):
            with pytest.raises(LoadError) as info:
                load_url(f, url)
            assert "refused" in str(info.value) and "loopback" in str(info.value)
            assert "BOT_ALLOW_PRIVATE_URLS=1" in str(info.value)
    assert site.requests == []  # refused before any connection was made


def test_every_redirect_hop_is_checked(site, web_settings):
    with Fetcher(web_settings) as f, pytest.raises(LoadError) as info:
        load_url(f, site.url("/to-metadata"))
    assert "169.254.169.254" in str(info.value) and "metadata" in str(info.value)
    assert "redirected to" in str(info.value)


def test_connection_goes_to_the_address_that_was_checked(site, settings, monkeypatch):
    """DNS is resolved once, by the guard, and the socket connects to that address: a name
    that resolves to loopback is refused, and when allowed it is reached at that address."""
    real = socket.getaddrinfo
    asked: list[str] = []

    def fake_dns(host, *args, **kwargs):
        asked.append(host)
        if host == "news.rebind.test":
            return real("127.0.0.1", *args, **kwargs)
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", fake_dns)
    url = f"http://news.rebind.test:{site.port}/news/library"
    with Fetcher(settings) as f, pytest.raises(LoadError, match="resolves to 127.0.0.1"):
        load_url(f, url)
    asked.clear()
    with Fetcher(settings.with_(allow_private_urls=True)) as f:
        art = load_url(f, url)
    assert "9,400 students" in art.text
    # one name lookup, by the guard; the connect was given its answer (a numeric address)
    assert asked[0] == "news.rebind.test" and asked[1:] == ["127.0.0.1"]
    assert site.requests[-1][1]["Host"] == f"news.rebind.test:{site.port}"


def test_only_http_urls(settings):
    with Fetcher(settings) as f:
        for url in ("ftp://example.com/a.html", "file:///etc/passwd", "gopher://x/"):
            with pytest.raises(LoadError, match=r"only http\(s\) URLs"):
                load_url(f, url)


def test_passwords_in_urls_are_never_printed(settings):
    with Fetcher(settings) as f, pytest.raises(LoadError) as info:
        load_url(f, "http://alice:s3cret@example.com/page")
    assert "s3cret" not in str(info.value)
    assert redact("https://u:p@host/x") == "https://u:(hidden)@host/x"
    assert redact("https://u:p@ss@host/x") == "https://u:(hidden)@host/x"  # "@" in a password


def test_looks_like_url():
    assert looks_like_url("https://a.b/c") and looks_like_url("file:///x")
    assert not looks_like_url("seeds/") and not looks_like_url("C:\\news\\a.txt")


# -- through the store -----------------------------------------------------------------------

def test_question_is_answered_with_citations_to_the_page_url(site, web_bot):
    report = web_bot.ingest([site.url("/go/bridge"), site.url("/news/library")])
    assert len(report.added) == 2 and not report.failed
    answer = web_bot.ask("How many steel cables did engineers replace?")
    assert not answer.refused
    assert answer.citations[0].source == site.url("/news/bridge")
    assert "312 steel cables" in answer.citations[0].quote
    for c in answer.citations:
        assert check(c, web_bot.article(c.article_id))
        assert c.page is None and "page" not in c.to_dict()


def test_ingest_takes_paths_and_urls_mixed(site, web_bot):
    from tests.conftest import SEED_FILE

    report = web_bot.ingest([str(SEED_FILE), site.url("/news/library"), "file:///etc/passwd"])
    assert sorted(report.added) == sorted([str(SEED_FILE), site.url("/news/library")])
    assert len(report.failed) == 1 and "only http(s) URLs" in report.failed[0].reason


def test_reingest_unchanged_page_does_nothing_and_changed_page_replaces_chunks(site, web_bot):
    url = site.url("/news/bridge")
    assert web_bot.ingest_urls([url]).added == [url]
    again = web_bot.ingest_urls([site.url("/go/bridge")])
    assert again.unchanged == [url] and not again.added and not again.updated
    (art,) = web_bot.articles()

    changed = [BRIDGE[0].replace("42 million euros", "57 million euros")] + BRIDGE[1:]
    site.routes["/news/bridge"] = Route(article_page(url, BRIDGE_TITLE, changed, "Maria Olsen",
                                                     "2024-03-12"))
    report = web_bot.ingest_urls([url])
    assert report.updated == [url]
    (new,) = web_bot.articles()
    assert new.article_id == art.article_id
    chunks = web_bot.store().chunks_of(art.article_id)
    assert chunks and all("42 million" not in c.text for c in chunks)
    assert any("57 million" in c.text for c in chunks)
    answer = web_bot.ask("How much did the bridge repairs cost?")
    assert all("42 million" not in c.quote for c in answer.citations)


def test_cli_ingest_url_and_the_guard(site, tmp_path):
    store = str(tmp_path / "cli-store")
    refused = run_cli("ingest", site.url("/news/bridge"), env={"BOT_STORE_DIR": store})
    assert refused.returncode == 1
    lines = refused.stderr.strip().splitlines()
    assert len(lines) == 1 and "refused" in lines[0] and "Traceback" not in refused.stderr
    ok = run_cli("ingest", site.url("/news/bridge"), site.url("/missing"),
                 env={"BOT_STORE_DIR": store, "BOT_ALLOW_PRIVATE_URLS": "1"})
    assert ok.returncode == 1  # one failed
    assert "1 added" in ok.stdout and "1 failed" in ok.stdout
    assert f"error: {site.url('/missing')}: the server answered HTTP 404" in ok.stderr
    shown = run_cli("sources", "--json", env={"BOT_STORE_DIR": store})
    assert site.url("/news/bridge") in shown.stdout
