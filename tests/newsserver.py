"""A small news site on 127.0.0.1 for the fetch/feed tests: cluttered article pages, RSS and
Atom feeds, redirects, a 404, a slow endpoint, huge and endless responses, other content types.

Routes can be changed while the server runs (an article is updated, a feed gains an entry), and
every request is recorded (path and headers) so tests can check what the bot sent.
"""

from __future__ import annotations

import hashlib
import threading
import time
from dataclasses import dataclass, field
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Callable

MARKERS = ["NAV_MARKER", "COOKIE_MARKER", "SHARE_MARKER", "RELATED_MARKER", "FOOTER_MARKER",
           "SCRIPT_MARKER", "NEWSLETTER_MARKER", "COMMENT_MARKER"]


@dataclass
class Route:
    body: bytes | Callable[[], bytes] = b""
    status: int = 200
    content_type: str = "text/html; charset=utf-8"
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0  # seconds before answering (a slow server)
    endless: bool = False  # stream forever without a Content-Length
    conditional: bool = False  # answer 304 to a matching If-None-Match / If-Modified-Since
    last_modified: str = field(default_factory=lambda: formatdate(usegmt=True))


class NewsServer:
    def __init__(self) -> None:
        self.routes: dict[str, Route] = {}
        self.requests: list[tuple[str, dict[str, str]]] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args) -> None:  # keep test output clean
                pass

            def do_GET(self) -> None:
                server.requests.append((self.path, dict(self.headers)))
                route = server.routes.get(self.path) or server.routes.get(self.path.split("?")[0])
                if route is None:
                    self._send(404, b"<html><body><h1>Not found</h1></body></html>", "text/html", {})
                    return
                if route.delay:
                    time.sleep(route.delay)
                if route.endless:
                    self._endless(route)
                    return
                body = route.body() if callable(route.body) else route.body
                headers = dict(route.headers)
                if route.conditional:
                    etag = '"' + hashlib.sha256(body).hexdigest()[:16] + '"'
                    headers.update({"ETag": etag, "Last-Modified": route.last_modified})
                    if self.headers.get("If-None-Match") == etag:
                        self._send(304, b"", None, headers)
                        return
                self._send(route.status, body, route.content_type, headers)

            def _send(self, status: int, body: bytes, ctype: str | None, headers: dict) -> None:
                self.send_response(status)
                if ctype:
                    self.send_header("Content-Type", ctype)
                for k, v in headers.items():
                    self.send_header(k, v)
                if status != 304:
                    self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if status != 304:
                    self.wfile.write(body)

            def _endless(self, route: Route) -> None:
                self.send_response(200)
                self.send_header("Content-Type", route.content_type)
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                block = b"<p>" + b"endless filler text " * 500 + b"</p>\n"
                try:
                    for _ in range(100_000):  # bounded so a broken test cannot hang forever
                        self.wfile.write(b"%x\r\n%s\r\n" % (len(block), block))
                        time.sleep(0.001)
                except (BrokenPipeError, ConnectionResetError):
                    pass

        class Server(ThreadingHTTPServer):
            def handle_error(self, request, client_address) -> None:
                pass  # clients hanging up on slow/endless routes is the point of those routes

        self.httpd = Server(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.base = f"http://127.0.0.1:{self.port}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def url(self, path: str) -> str:
        return self.base + path

    def __enter__(self) -> "NewsServer":
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def paths_requested(self) -> list[str]:
        return [p for p, _ in self.requests]


def article_page(canonical: str | None, title: str, paragraphs: list[str], author: str,
                 date: str) -> bytes:
    """A news page as sites really serve them: the article buried in navigation, a cookie
    banner, a share bar, a newsletter box, related links, comments, scripts and a footer."""
    canon = f'<link rel="canonical" href="{canonical}">' if canonical else ""
    body = "\n".join(f"<p>{p}</p>" for p in paragraphs)
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{title} | The Daily Tide</title>
{canon}
<meta property="og:title" content="{title}">
<meta property="og:site_name" content="The Daily Tide">
<meta name="author" content="{author}">
<meta property="article:published_time" content="{date}T08:30:00Z">
<script>window.dataLayer=[];function track(){{console.log("SCRIPT_MARKER")}}</script>
<style>.nav{{color:#c00}} .cookie{{position:fixed}}</style>
</head>
<body>
<div id="cookie-banner" class="cookie-consent"><p>We use cookies to improve your experience on
our site. COOKIE_MARKER By continuing you accept all cookies.</p><button>Accept all</button>
<button>Manage preferences</button></div>
<header class="site-header"><nav class="main-nav"><ul><li><a href="/">Home</a></li>
<li><a href="/world">World NAV_MARKER</a></li><li><a href="/business">Business</a></li>
<li><a href="/sport">Sport</a></li><li><a href="/culture">Culture</a></li></ul></nav></header>
<main>
<article>
<h1>{title}</h1>
<p class="byline">By {author}, {date}</p>
<div class="share-bar social-share"><a href="#">Share on Facebook SHARE_MARKER</a>
<a href="#">Tweet this</a> <a href="#">Email a friend</a></div>
{body}
<div class="newsletter-signup"><h4>Get the morning briefing</h4><p>Sign up for our newsletter
NEWSLETTER_MARKER and never miss a story.</p><form><input type="email"><button>Sign up</button></form></div>
</article>
<aside class="related"><h3>Related stories</h3><ul>
<li><a href="/a">Ferry fares to rise again next spring RELATED_MARKER</a></li>
<li><a href="/b">Storm damage in December closed three roads</a></li>
<li><a href="/c">Mayor promises faster repairs</a></li></ul></aside>
<section id="comments" class="comments"><h3>Comments</h3><div class="comment"><p>Great news
for commuters! COMMENT_MARKER</p></div></section>
</main>
<footer class="site-footer"><p>© 2024 The Daily Tide. All rights reserved. FOOTER_MARKER</p>
<a href="/privacy">Privacy</a> <a href="/terms">Terms</a></footer>
<script>track(); var x = "SCRIPT_MARKER";</script>
</body></html>""".encode()


BRIDGE = [
    "The Harbour Bridge reopened to traffic on Tuesday morning after eleven weeks of repairs "
    "that cost the city 42 million euros, officials said.",
    "Engineers replaced 312 steel cables and resurfaced the entire deck, which had been damaged "
    "by a storm in December. The mayor, Ingrid Dahl, said the bridge now carries about 58,000 "
    "vehicles a day.",
    "Commuters had faced detours of up to forty minutes while the bridge was closed. Ferry "
    "operators added extra crossings during the closure and reported record passenger numbers "
    "in January.",
    "The city council will review the contractor's final report in April, and a second phase of "
    "work on the pedestrian walkway is planned for next year.",
]

LIBRARY = [
    "The central library will extend its opening hours to 10 p.m. on weekdays from next month, "
    "the culture department announced on Wednesday.",
    "The change follows a petition signed by 9,400 students who said they had nowhere quiet to "
    "study in the evenings. Extra staff will be paid from a 1.2 million euro grant.",
    "The library, which lends about 800,000 books a year, will also open a new reading room for "
    "children on the second floor in June.",
]

MARKET = [
    "The fish market on the old quay will move to a new hall near the container port in "
    "September, the port authority said on Thursday.",
    "Traders have complained for years about the leaking roof of the current building, which "
    "dates from 1911. The new hall has room for 64 stalls and a cold store.",
    "Some stallholders fear losing passing trade from tourists, and the authority promised a "
    "free shuttle bus from the old town for the first year.",
]


def rss(base: str, items: list[dict]) -> bytes:
    parts = []
    for it in items:
        content = f"<content:encoded><![CDATA[{it['content']}]]></content:encoded>" \
            if it.get("content") else ""
        guid = f"<guid isPermaLink=\"false\">{it['guid']}</guid>" if it.get("guid") else ""
        parts.append(f"""<item><title>{it['title']}</title><link>{it['link']}</link>{guid}
<pubDate>{it.get('date', 'Tue, 12 Mar 2024 08:30:00 GMT')}</pubDate>
<description><![CDATA[{it.get('summary', '')}]]></description>{content}</item>""")
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0" xmlns:content="http://purl.org/rss/1.0/modules/content/">
<channel><title>The Daily Tide</title><link>{base}/</link><description>Local news</description>
{''.join(parts)}
</channel></rss>""".encode()


def atom(base: str, entries: list[dict]) -> bytes:
    parts = []
    for en in entries:
        parts.append(f"""<entry><title>{en['title']}</title><link href="{en['link']}"/>
<id>{en['id']}</id><updated>{en.get('updated', '2024-03-14T09:00:00Z')}</updated>
<author><name>{en.get('author', 'Desk')}</name></author>
<summary type="html"><![CDATA[{en.get('summary', '')}]]></summary></entry>""")
    return f"""<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom"><title>Tide Atom</title><id>{base}/atom</id>
<updated>2024-03-14T09:00:00Z</updated><link href="{base}/"/>
{''.join(parts)}
</feed>""".encode()
