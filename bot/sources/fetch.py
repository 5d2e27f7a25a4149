"""Fetch web pages, feeds and PDFs over HTTP(S), safely, for ingest.

Everything a URL brings in goes through `Fetcher.get`:
- only http(s); at most MAX_REDIRECTS redirects, and every hop is checked again;
- an SSRF guard: the host is resolved once, every address it resolves to is checked (loopback,
  private, link-local, multicast, reserved, ... are refused unless BOT_ALLOW_PRIVATE_URLS=1;
  cloud metadata addresses are always refused), and the socket connects to the address that
  was checked, so a DNS answer that changes between check and connect (rebinding) gains
  nothing. This lives in the connection layer (`_GuardedBackend`), so no request can skip it;
- the content type is checked before the body is read; the body is streamed and cut off past
  the size limit (BOT_MAX_FILE_MB) or the time limit (BOT_FETCH_TIMEOUT);
- a clear User-Agent; proxies from the environment are ignored (`trust_env=False`), because
  through a proxy the guard would check the proxy's address instead of the real destination.

Failures are `FetchError`s (a `LoadError`): one line naming the URL and what to do.
"""

from __future__ import annotations

import ipaddress
import re
import socket
import time
from dataclasses import dataclass
from typing import Iterable

import httpcore
import httpx

from bot.sources.common import LoadError
from bot.sources.articles import article_from_html, article_from_text, canonical_url, looks_like_url
from bot.config import Settings
from bot.schema import Article, IngestFailure, IngestReport
from bot.util.redact import redact

USER_AGENT = "bot/0.1 (+news QA)"
MAX_REDIRECTS = 5

# Cloud instance-metadata endpoints (AWS/GCP/Azure/OpenStack, AWS ECS, Alibaba, AWS IPv6):
# refused even when private addresses are allowed, because they hand out credentials.
METADATA_ADDRESSES = frozenset(ipaddress.ip_address(a) for a in (
    "169.254.169.254", "169.254.170.2", "100.100.100.200", "fd00:ec2::254"))

PAGE_TYPES = {"text/html": "html", "application/xhtml+xml": "html", "application/pdf": "pdf",
              "application/x-pdf": "pdf", "text/plain": "text", "text/markdown": "markdown",
              "text/x-markdown": "markdown"}
PAGE_EXPECTED = "an HTML page, a PDF or plain text"
# Feeds are often served with loose types (text/html, text/plain); the parser has the last word.
FEED_TYPES = {"application/rss+xml", "application/atom+xml", "application/rdf+xml",
              "application/xml", "text/xml", "application/x-rss+xml", "text/html", "text/plain"}
FEED_EXPECTED = "an RSS or Atom feed"
PAGE_ACCEPT = "text/html,application/xhtml+xml,application/pdf;q=0.9,text/plain;q=0.8,*/*;q=0.1"
FEED_ACCEPT = ("application/rss+xml,application/atom+xml,application/xml;q=0.9,text/xml;q=0.9,"
               "*/*;q=0.1")



class FetchError(LoadError):
    """A URL that could not be fetched; `str()` is the one line a user sees (with any
    user:password in the URL blanked out)."""

    def __init__(self, source: str, reason: str):
        super().__init__(redact(source.strip()), reason)


class _Refused(Exception):
    """Raised inside the connection layer; `Fetcher.get` turns it into a FetchError."""


@dataclass(frozen=True)
class Fetched:
    url: str  # what was asked for
    final_url: str  # after redirects
    status: int
    content_type: str  # media type only, lower case ("" when the server sent none)
    charset: str | None
    content: bytes
    etag: str | None = None
    last_modified: str | None = None

    @property
    def not_modified(self) -> bool:
        return self.status == 304


def blocked_reason(ip: ipaddress.IPv4Address | ipaddress.IPv6Address, allow_private: bool) -> str | None:
    """Why the bot must not connect to `ip`, or None when it may."""
    if ip.version == 6 and ip.ipv4_mapped:  # ::ffff:127.0.0.1 is 127.0.0.1
        ip = ip.ipv4_mapped
    if ip in METADATA_ADDRESSES:
        return "a cloud metadata address (always refused)"
    if allow_private:
        return None
    for test, name in ((ip.is_loopback, "loopback"), (ip.is_unspecified, "unspecified"),
                       (ip.is_link_local, "link-local"), (ip.is_multicast, "multicast"),
                       (ip.is_private, "private"), (ip.is_reserved, "reserved")):
        if test:
            return f"{'an' if name[0] in 'aeiou' else 'a'} {name} address"
    if not ip.is_global:  # shared (100.64/10), documentation, benchmarking ranges...
        return "not a public address"
    return None


class Guard:
    """Resolves a host once and says which of its addresses may be connected to."""

    def __init__(self, allow_private: bool):
        self.allow_private = allow_private

    def addresses(self, host: str, port: int) -> list[str]:
        """Checked addresses for host:port; raises _Refused if any of them is off limits
        (a name that resolves to both a public and an internal address is refused)."""
        try:
            infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except (socket.gaierror, UnicodeError):
            raise _Refused(f"cannot resolve host '{host}'; check the URL") from None
        found: list[str] = []
        for family, _, _, _, sockaddr in infos:
            if family not in (socket.AF_INET, socket.AF_INET6):
                continue
            address = sockaddr[0].split("%", 1)[0]  # drop an IPv6 zone id
            reason = blocked_reason(ipaddress.ip_address(address), self.allow_private)
            if reason:
                hint = "" if "metadata" in reason else " (set BOT_ALLOW_PRIVATE_URLS=1 to allow)"
                what = f"{address} is" if host.strip("[]") == address else \
                    f"'{host}' resolves to {address},"
                raise _Refused(f"refused: {what} {reason}; the bot does not fetch internal "
                               f"addresses{hint}")
            if address not in found:
                found.append(address)
        if not found:
            raise _Refused(f"cannot resolve host '{host}'; check the URL")
        return found


class _GuardedBackend(httpcore.SyncBackend):
    """httpcore's socket backend, but every TCP connection goes to an address the guard
    checked, resolved here once (TLS still verifies the certificate for the host name)."""

    def __init__(self, guard: Guard):
        self.guard = guard

    def connect_tcp(self, host: str, port: int, timeout: float | None = None,
                    local_address: str | None = None,
                    socket_options: Iterable | None = None) -> httpcore.NetworkStream:
        last: Exception | None = None
        for address in self.guard.addresses(host, port):
            try:
                return super().connect_tcp(address, port, timeout, local_address, socket_options)
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as e:
                last = e
        assert last is not None
        raise last


class _GuardedTransport(httpx.HTTPTransport):
    def __init__(self, guard: Guard):
        super().__init__(trust_env=False)
        # httpx has no public hook for the network backend; the pool it builds is replaced by
        # the same pool with ours (httpx and httpcore are pinned; tests cover the guard).
        self._pool = httpcore.ConnectionPool(ssl_context=httpx.create_ssl_context(trust_env=False),
                                             network_backend=_GuardedBackend(guard))


class Fetcher:
    """One HTTP client for a batch of fetches (connections are reused)."""

    def __init__(self, settings: Settings):
        self.max_bytes = int(settings.max_file_mb * 1_000_000)
        self.timeout = float(settings.fetch_timeout)
        self.client = httpx.Client(
            transport=_GuardedTransport(Guard(settings.allow_private_urls)),
            timeout=httpx.Timeout(self.timeout), follow_redirects=False, trust_env=False,
            headers={"User-Agent": USER_AGENT})

    def close(self) -> None:
        self.client.close()

    def __enter__(self) -> "Fetcher":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def get(self, url: str, kinds: Iterable[str] = PAGE_TYPES, expected: str = PAGE_EXPECTED,
            accept: str = PAGE_ACCEPT, etag: str | None = None,
            last_modified: str | None = None) -> Fetched:
        """GET `url`, following at most MAX_REDIRECTS checked redirects. `kinds` are the media
        types accepted (`expected` says so in words); another type is refused before its body
        is read. With `etag` or `last_modified` the request is conditional and may come back
        `not_modified`."""
        headers = {"Accept": accept}
        if etag:
            headers["If-None-Match"] = etag
        if last_modified:
            headers["If-Modified-Since"] = last_modified
        deadline = time.monotonic() + self.timeout
        current = url.strip()
        for _ in range(MAX_REDIRECTS + 1):
            target = self._check(url, current)
            try:
                with self.client.stream("GET", target, headers=headers) as resp:
                    if resp.is_redirect and "location" in resp.headers:
                        current = str(resp.url.join(resp.headers["location"]))
                        continue
                    return self._read(url, resp, set(kinds), expected, deadline)
            except _Refused as e:
                hop = "" if current == url.strip() else f" (redirected to {redact(current)})"
                raise FetchError(url, f"{e}{hop}") from None
            except httpx.TimeoutException:
                raise FetchError(url, f"timed out after {self.timeout:g} s; the server is slow "
                                      "or down, try again later (BOT_FETCH_TIMEOUT)") from None
            except httpx.ConnectError as e:
                raise FetchError(url, f"cannot connect ({_short(e)}); check the URL or try "
                                      "again later") from None
            except httpx.DecodingError:
                raise FetchError(url, "the server sent a corrupt compressed response") from None
            except httpx.HTTPError as e:
                raise FetchError(url, f"fetch failed ({type(e).__name__}: {_short(e)})") from None
        raise FetchError(url, f"more than {MAX_REDIRECTS} redirects; check the URL")

    def _check(self, original: str, url: str) -> httpx.URL:
        """Scheme and shape of one hop (addresses are checked when connecting)."""
        try:
            parsed = httpx.URL(url)
        except (httpx.InvalidURL, ValueError, TypeError):
            raise FetchError(original, "is not a valid URL") from None
        hop = "" if url == original.strip() else f" (redirected to {redact(url)})"
        if parsed.scheme not in ("http", "https"):
            raise FetchError(original, f"only http(s) URLs can be fetched, not "
                                       f"'{parsed.scheme or '(none)'}:'{hop}")
        if not parsed.host:
            raise FetchError(original, f"the URL has no host{hop}")
        if parsed.userinfo:
            raise FetchError(original, f"URLs with a user name or password are not fetched{hop}")
        return parsed

    def _read(self, url: str, resp: httpx.Response, kinds: set[str], expected: str,
              deadline: float) -> Fetched:
        if resp.status_code == 304:
            return Fetched(url, str(resp.url), 304, "", None, b"", resp.headers.get("etag"),
                           resp.headers.get("last-modified"))
        if resp.status_code >= 400:
            raise FetchError(url, f"the server answered HTTP {resp.status_code} "
                                  f"{resp.reason_phrase}; check the URL")
        if resp.status_code >= 300:
            raise FetchError(url, f"the server answered HTTP {resp.status_code} without a "
                                  "redirect location")
        media, charset = _content_type(resp.headers.get("content-type", ""))
        if media and media not in kinds and media != "application/octet-stream":
            raise FetchError(url, f"unsupported content type '{media}'; "
                                  f"expected {expected}")
        length = resp.headers.get("content-length", "")
        if length.isdigit() and int(length) > self.max_bytes:
            raise FetchError(url, self._too_big(int(length)))
        body = bytearray()
        for part in resp.iter_bytes():
            body += part
            if len(body) > self.max_bytes:
                raise FetchError(url, self._too_big(None))
            if time.monotonic() > deadline:
                raise FetchError(url, f"the download took longer than {self.timeout:g} s and was "
                                      "cut off; try again later (BOT_FETCH_TIMEOUT)")
        content = bytes(body)
        if not media or media == "application/octet-stream":
            media = sniff_type(content)
            if media not in kinds:
                raise FetchError(url, f"unrecognised content (type "
                                      f"'{resp.headers.get('content-type') or 'none'}'); "
                                      f"expected {expected}")
        return Fetched(url, str(resp.url), resp.status_code, media, charset, content,
                       resp.headers.get("etag"), resp.headers.get("last-modified"))

    def _too_big(self, size: int | None) -> str:
        limit = f"{self.max_bytes / 1e6:g} MB"
        told = f"is {size / 1e6:.1f} MB, " if size else "was cut off: "
        return f"the response {told}over the {limit} limit (BOT_MAX_FILE_MB)"


def sniff_type(content: bytes) -> str:
    """A media type from the first bytes, for servers that send none or octet-stream."""
    head = content[:1024].lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    if head.startswith(b"%pdf-"):
        return "application/pdf"
    if head.startswith((b"<!doctype html", b"<html")):
        return "text/html"
    if head.startswith(b"<?xml") or head.startswith((b"<rss", b"<feed", b"<rdf")):
        return "application/xml"
    return "application/octet-stream"


def decode_text(fetched: Fetched) -> str:
    """Body to text: the declared charset, else UTF-8, else a guess (trafilatura's)."""
    from trafilatura.utils import decode_file

    if fetched.charset:
        try:
            return fetched.content.decode(fetched.charset, errors="replace")
        except LookupError:
            pass  # an unknown charset name: guess instead
    return decode_file(fetched.content)


def _content_type(header: str) -> tuple[str, str | None]:
    media, _, params = header.partition(";")
    m = re.search(r"charset\s*=\s*\"?([\w.:-]+)", params, re.I)
    return media.strip().lower(), (m.group(1) if m else None)


def _short(e: Exception) -> str:
    return (str(e).splitlines() or [type(e).__name__])[0][:120] or type(e).__name__


def load_url(fetcher: Fetcher, url: str) -> Article:
    """Fetch one page (HTML, PDF or plain text) and make it an article whose `source` is its
    canonical URL; raises a LoadError naming the URL as given."""
    fetched = fetcher.get(url)
    kind = PAGE_TYPES.get(fetched.content_type, "")
    source = canonical_url(fetched.final_url)
    try:
        if kind == "pdf":
            from bot.sources.pdf import article_from_pdf

            return article_from_pdf(fetched.content, source=source, key=source)
        text = decode_text(fetched)
        if kind == "html":
            return article_from_html(text, source=source, url=fetched.final_url)
        return article_from_text(text, source=source, key=source, markdown=kind == "markdown")
    except LoadError as e:
        raise FetchError(url, e.reason) from None


def load_urls(urls: list[str], settings: Settings, report: IngestReport) -> list[Article]:
    """Articles from URLs; bad ones go to the report, one line each, and the rest go on."""
    articles: list[Article] = []
    with Fetcher(settings) as fetcher:
        for url in urls:
            try:
                articles.append(load_url(fetcher, url))
            except LoadError as e:
                report.failed.append(IngestFailure(redact(url.strip()), e.reason))
    return articles
