"""The `Bot` facade: the one entry point the CLI, the chat, Slack and Python users share.

Interfaces render its typed results; none of them talks to Chroma or a model directly.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterable, Iterator, Sequence

from bot.config import Settings, check
from bot.util.redact import redact
from bot.util.turns import Turns
from bot.index.embeddings import Embedder, make_embedder
from bot.schema import Answer, AnswerDelta, AnswerDone, Article, Citation, IngestReport, Passage
from bot.answer.retrieval import Filters, Retriever
from bot.index.store import Stats, Store
from bot.answer import citations
from bot.answer import flow as answer_flow
from bot.index import ingest
from bot.sources.articles import SUFFIXES  # noqa: F401  (for bot/ui: what ingest reads)

if TYPE_CHECKING:
    from bot.answer.extractive import ExtractiveAnswerer
    from bot.answer.extractive.prepare import Prepared
    from bot.answer.llm import LLMAnswerer
    from bot.schema import Briefing, Summary
    from bot.index.reindex import ReindexReport


class Bot:
    def __init__(self, settings: Settings | None = None):
        self.settings = settings or Settings.load()
        self._embedder: Embedder | None = None
        self._stores: dict[str, Store] = {}
        self._retrievers: dict[str, Retriever] = {}
        self._answerers: dict[str, Any] = {}
        self._llm: "LLMAnswerer | None" = None
        # One Bot serves many threads (Slack workers, servers): each lazy part is made once,
        # not once per thread that first needs it (50 threads would build 50 BM25 indexes).
        self._lock = threading.RLock()
        self._turns = Turns()  # questions go before idle-time work (`prepare_in_background`)

    @classmethod
    def from_env(cls, **overrides) -> "Bot":
        """Settings from `.env`, the environment and keyword overrides (field names)."""
        return cls(Settings.load(overrides))

    # -- plumbing (lazy: `bot --help` and `bot config` load no model) ----------------------

    @property
    def embedder(self) -> Embedder:
        if self._embedder is None:
            with self._lock:
                if self._embedder is None:
                    self._embedder = make_embedder(self.settings)
        return self._embedder

    def preload(self) -> threading.Thread | None:
        """Load the local embedding model in the background, so that it overlaps with importing
        Chroma and opening the store (the cold start of `bot ask`). Join the thread before
        exiting; a failure here is left for the real call to report."""
        if self.settings.embeddings != "local":
            return None
        embedder = self.embedder

        def warm() -> None:
            try:
                embedder.embed_query("warm up")
            except Exception:
                pass

        thread = threading.Thread(target=warm, name="bot-preload", daemon=True)
        thread.start()
        return thread

    def prepare_sentences(self, stop: threading.Event, follow: bool = True,
                          progress: "Prepared | None" = None) -> "Prepared":
        """Idle-time work for long-lived processes: embed the stored articles' sentences before
        questions need them (newest first, in small batches, each taken only while no question
        is being answered), until all are done or the offline answerer's bound is reached;
        with `follow`, then do those of articles written later, until `stop` is set. Answers
        stay exactly the same. Nothing with a remote embedder (a paid request per sentence)."""
        from bot.answer.extractive.prepare import Prepared, prepare

        progress = progress or Prepared()
        if self.settings.embeddings != "local":
            return progress
        name = self.settings.collection
        return prepare(self.store(name), self._extractive(name), self._turns, stop, follow, progress)

    def prepare_in_background(self) -> tuple["Prepared", Callable[[], None]]:
        """`prepare_sentences` in a daemon thread: its progress (updated as it goes) and the
        function that stops it, waiting for its step in progress."""
        from bot.answer.extractive.prepare import in_background

        return in_background(self.prepare_sentences)

    def store(self, collection: str | None = None) -> Store:
        name = collection or self.settings.collection
        if name not in self._stores:
            with self._lock:
                if name not in self._stores:
                    self._stores[name] = Store(self.settings, self.embedder.name, name)
        return self._stores[name]

    def _extractive(self, collection: str) -> "ExtractiveAnswerer":
        from bot.answer.extractive import ExtractiveAnswerer

        if collection not in self._answerers:
            with self._lock:
                if collection not in self._answerers:
                    self._answerers[collection] = ExtractiveAnswerer(
                        self.embedder, self.retriever(collection).idf_as_retrieved)
        return self._answerers[collection]

    def retriever(self, collection: str | None = None) -> Retriever:
        name = collection or self.settings.collection
        if name not in self._retrievers:
            with self._lock:
                if name not in self._retrievers:
                    self._retrievers[name] = Retriever(self.store(name), self.embedder)
        return self._retrievers[name]

    # -- articles -------------------------------------------------------------------------

    def ingest(self, paths: Iterable[str | Path], collection: str | None = None,
               progress: ingest.Progress | None = None) -> IngestReport:
        """Ingest files, folders and http(s) URLs (anything written scheme://... is taken
        as a URL); bad inputs are reported, the rest still goes in."""
        from bot.index import intake

        return intake.from_paths(paths, self.settings,
                                 lambda articles: self.ingest_articles(articles, collection, progress))

    def ingest_urls(self, urls: Iterable[str], collection: str | None = None,
                    progress: ingest.Progress | None = None) -> IngestReport:
        """Fetch web pages (HTML, PDF, text) through the SSRF guard and ingest them; each
        article's `source` is its canonical URL, so fetching a page again is a diff."""
        from bot.index import intake

        return intake.from_urls(urls, self.settings,
                                lambda articles: self.ingest_articles(articles, collection, progress))

    def ingest_feeds(self, urls: Iterable[str], collection: str | None = None,
                     progress: ingest.Progress | None = None,
                     conditional: bool = False) -> IngestReport:
        """Ingest the entries of RSS/Atom feeds (each entry's page, or its own text when the
        page cannot be had), deduplicated by GUID, canonical URL and content hash. With
        `conditional`, a feed unchanged since the last fetch (ETag/Last-Modified) is skipped."""
        from bot.index import intake

        return intake.from_feeds(urls, self.settings, lambda: self.store(collection),
                                 lambda articles: self.ingest_articles(articles, collection, progress),
                                 conditional)

    def watch_feeds(self, urls: Iterable[str], every: float,
                    on_poll: Callable[[int, IngestReport], None], max_polls: int | None = None,
                    stop: threading.Event | None = None, collection: str | None = None) -> int:
        """Poll feeds every `every` seconds with conditional GETs until `max_polls` polls or
        `stop` is set; `on_poll(n, report)` hears about each poll. Returns the polls made."""
        from bot.sources import feeds
        from bot.errors import BotError
        from bot.schema import IngestFailure

        urls = list(urls)

        def poll() -> IngestReport:
            try:
                return self.ingest_feeds(urls, collection, conditional=True)
            except BotError as e:  # e.g. the Chroma server is down: report it, poll again later
                return IngestReport(failed=[IngestFailure("watch", str(e))])

        return feeds.watch(poll, every, on_poll, max_polls, stop)

    def ingest_articles(self, articles: list[Article], collection: str | None = None,
                        progress: ingest.Progress | None = None) -> IngestReport:
        """Ingest already-loaded articles (files, URLs, feeds all end here)."""
        return ingest.ingest_articles(articles, self.store(collection), self.embedder,
                                      self.settings, progress)

    def article(self, article_id: str, collection: str | None = None) -> Article | None:
        return self.store(collection).article(article_id)

    def cited_article(self, citation: Citation, collection: str | None = None) -> Article | None:
        """The article a citation points into, if it still holds the cited span (it may have
        changed or been forgotten since the answer was made)."""
        article = self.article(citation.article_id, collection)
        return article if article is not None and citations.check(citation, article) else None

    def articles(self, collection: str | None = None, with_text: bool = True) -> list[Article]:
        return self.store(collection).articles(with_text=with_text)

    def forget(self, article_id: str, collection: str | None = None) -> bool:
        return self.store(collection).forget(article_id)

    def catalog(self, filters: Filters | None = None,
                collection: str | None = None) -> list[tuple[Article, int]]:
        """(article without its text, its chunk count), newest first (by publication date,
        then by when it was ingested; undated last), those `filters` admit."""
        from bot.index.records import day_number

        found = [(a, n) for a, n in self.store(collection).catalog() if filters is None or
                 filters.admits({"source": a.source, "published_ts": day_number(a.published or "")})]
        return sorted(found, key=lambda an: (an[0].published or "", an[0].ingested_at or "",
                                              an[0].article_id), reverse=True)

    def resolve_id(self, id_or_prefix: str, collection: str | None = None) -> str:
        """The id of the one article whose id is `id_or_prefix` or starts with it; a BotError
        (one line) when none or several do."""
        from bot.errors import BotError

        wanted = id_or_prefix.strip()
        store = self.store(collection)
        if wanted and store.stored_hash(wanted) is not None:
            return wanted
        matches = sorted(i for i in store.ready_ids() if wanted and i.startswith(wanted))
        if len(matches) == 1:
            return matches[0]
        if not matches:
            raise BotError(f"{id_or_prefix}: no such article; list them with: bot sources")
        shown = ", ".join(matches[:10]) + (f" and {len(matches) - 10} more" if len(matches) > 10 else "")
        raise BotError(f"{id_or_prefix}: {len(matches)} articles start with it ({shown}); "
                       "give more of the id")

    # -- maintenance ----------------------------------------------------------------------

    def stats(self, collection: str | None = None) -> Stats:
        """Articles, chunks, store size and embedding model (works even when the configured
        model differs from the one the store was built with)."""
        name = collection or self.settings.collection
        store = self._stores.get(name) or Store(self.settings, self.embedder.name, name,
                                                check_model=False)
        return store.stats()

    def repair(self, collection: str | None = None) -> list[str]:
        """Remove what interrupted writes left (ingest does this itself first); the ids."""
        return self.store(collection).repair()

    def reindex(self, collection: str | None = None,
                progress: ingest.Progress | None = None) -> "ReindexReport":
        """Re-chunk and re-embed every article with the configured embedder and chunk
        settings (after changing BOT_EMBEDDINGS, say); articles are kept."""
        from bot.index.reindex import reindex

        name = collection or self.settings.collection
        report = reindex(self.settings, self.embedder, name, progress)
        for cache in (self._stores, self._retrievers, self._answerers):
            cache.pop(name, None)
        return report

    # -- questions ------------------------------------------------------------------------

    def retrieve(self, question: str, k: int | None = None, filters: Filters | None = None,
                 collections: list[str] | None = None) -> list[Passage]:
        """Passages from one or more collections, best first."""
        k = self.settings.top_k if k is None else check("top_k", k, "k (top-k)")
        names = collections or [self.settings.collection]
        retrievers = [self.retriever(name) for name in names]  # store errors before model calls
        qv = self.embedder.embed_query(question)
        found: list[Passage] = []
        for retriever in retrievers:
            found += retriever.retrieve(question, k, filters, query_vector=qv)
        found.sort(key=lambda p: p.score, reverse=True)
        return [Passage(p.chunk, p.article, p.score, rank) for rank, p in enumerate(found[:k])]

    def ask(self, question: str, k: int | None = None, filters: Filters | None = None,
            collections: list[str] | None = None,
            history: Sequence[Answer | tuple[str, str]] | None = None, *,
            since: str | None = None, until: str | None = None, source: str | None = None,
            top_k: int | None = None) -> Answer:
        """Answer from the articles; every citation verified against the stored text. With a
        model configured (OPENAI_API_KEY / OPENAI_BASE_URL) the model writes it, else it is
        extractive.

        `history` is the conversation so far (earlier `Answer`s, or (question, answer text)
        pairs), oldest first: a follow-up is searched and answered as its standalone question.
        `since`/`until` (inclusive days: "2022-01-27", "yesterday", "7d", "last week"; see
        bot/util/datefilter.py), `source` (a substring of it) and `top_k` are the command line's
        filters; `filters` is the same as one object.
        """
        k, filters = k if top_k is None else top_k, with_filters(filters, since, until, source)
        if self.settings.llm_enabled:
            return _final(self.ask_stream(question, k, filters, collections, history))
        t0 = time.perf_counter()  # the timings include condensing a follow-up
        question = question.strip()
        asked = question
        with self._turns.question():
            if history:
                question = self.standalone_question(question, history, collections)
            answer = answer_flow.extractive(question, lambda: self.retrieve(question, k, filters, collections),
                                            self._offline(collections), t0)
        if question != asked:
            answer.question, answer.standalone_question = asked, question
        return answer

    def standalone_question(self, question: str, history: Sequence[Answer | tuple[str, str]],
                            collections: list[str] | None = None) -> str:
        """The follow-up `question` rewritten to stand alone, given the conversation so far."""
        question = question.strip()
        if not history:
            return question
        if self.settings.llm_enabled:  # the model condenses it with prompts/condense.txt
            from bot.answer.llm import condense

            pairs = [(t.question, t.answer) if isinstance(t, Answer) else t for t in history]
            # The model's words are shown ("searched: ...") and stored: never with a secret.
            rewritten = redact(condense(question, pairs, settings=self.settings)).strip()
            if rewritten and rewritten != question:
                return rewritten
            # Unchanged: the model found it standalone, or it failed; the offline method decides.
        from bot.answer import followup

        name = (collections or [self.settings.collection])[0]

        def search(text: str) -> list[Article]:
            found = {p.article.article_id: p.article for p in self.retrieve(text, 2, None, [name])}
            return list(found.values())

        return followup.standalone(question, history, lambda i: self.article(i, name),
                                   self.retriever(name).idf, search)

    def _offline(self, collections: list[str] | None) -> answer_flow.Offline:
        """The offline answerer of the collections asked (the first one's, made on first use)."""
        names = collections or [self.settings.collection]
        return answer_flow.Offline(names, lambda: self._extractive(names[0]),
                                   lambda name: self.store(name).count_chunks())

    # -- the LLM path ---------------------------------------------------------------------

    @property
    def llm(self) -> "LLMAnswerer":
        if self._llm is None:
            from bot.answer.llm import LLMAnswerer

            with self._lock:
                if self._llm is None:
                    self._llm = LLMAnswerer(self.settings)
        return self._llm

    def ask_stream(self, question: str, k: int | None = None, filters: Filters | None = None,
                   collections: list[str] | None = None,
                   history: Sequence[Answer | tuple[str, str]] | None = None, *,
                   since: str | None = None, until: str | None = None, source: str | None = None,
                   top_k: int | None = None) -> Iterator[AnswerDelta | AnswerDone]:
        """The answer as it is written: `AnswerDelta`s of provisional model text, then one
        `AnswerDone` with the verified answer (what to keep showing). Without a model, or when
        the model fails, the `AnswerDone` carries the extractive answer, with a notice saying
        why. Raises `bot.answer.llm.LLMAuthError` (exit code 2) when the server rejects the key.
        Filters as for `ask`."""
        k, filters = k if top_k is None else top_k, with_filters(filters, since, until, source)
        question = question.strip()
        if not self.settings.llm_enabled:
            yield AnswerDone(self.ask(question, k, filters, collections, history))
            return
        asked = question
        with self._turns.question():  # idle-time work waits until the stream ends or is closed
            if history:
                question = self.standalone_question(question, history, collections)
            llm = self.llm  # built before the clock starts: imports are not the answer's time
            events = answer_flow.with_model(
                question, llm, lambda: self.retrieve(question, k, filters, collections),
                self._offline(collections), rank_offline=self.settings.embeddings == "local")
            for event in events:
                if isinstance(event, AnswerDone) and question != asked:
                    event.answer.question, event.answer.standalone_question = asked, question
                yield event

    # -- briefings ------------------------------------------------------------------------

    def summarize(self, article_id: str, max_sentences: int = 3,
                  collection: str | None = None, mode: str | None = None) -> "Summary":
        """A short cited summary of one article (LLM when configured, else extractive)."""
        from bot.brief import briefing
        from bot.brief import flow as brief_flow
        from bot.errors import BotError

        try:  # an id, or a unique start of one
            article = self.article(self.resolve_id(article_id, collection), collection)
        except BotError as e:
            raise briefing.BriefingError(str(e)) from None
        if article is None:
            raise briefing.BriefingError(f"{article_id}: no such article; list them with: bot sources")
        idf = self.retriever(collection).idf_snapshot()
        return brief_flow.summarize(self.settings, article, idf, max_sentences, mode)

    def brief(self, since: str | None = None, until: str | None = None, topic: str | None = None,
              source: str | None = None, max_points: int = 12,
              progress: ingest.Progress | None = None, collection: str | None = None,
              collections: list[str] | None = None, mode: str | None = None,
              generated_at: str | None = None, flags: bool = False) -> "Briefing":
        """A briefing over the selected articles (of one or more collections): headline, key
        points by topic, timeline, claims to watch; every point cited and verified. `since`
        and `until` are inclusive days as for `ask`. Errors name the filters as keywords
        (`since='x'`), or as command-line flags (`--since 'x'`) when `flags`."""
        from bot.brief import flow as brief_flow
        from bot.util.datefilter import flag_names, parse_range

        since, until = parse_range(since, until, flag_names("since", "until", flags=flags))
        names = collections or [collection or self.settings.collection]
        stores = [self.store(n) for n in names]
        inp = brief_flow.gather(stores, self.embedder, lambda: self.retriever(names[0]).idf_snapshot(),
                                since, until, topic, source, max_points, flags)
        if generated_at:
            inp.generated_at = generated_at
        return brief_flow.write(self.settings, inp, progress, mode)


def with_filters(filters: Filters | None, since: str | None, until: str | None,
                 source: str | None) -> Filters | None:
    """`filters` with the keyword filters of `ask` added; dates parsed (DateError names the
    keyword)."""
    if since is None and until is None and source is None:
        return filters
    from bot.util.datefilter import parse_range

    base = filters or Filters()
    first, last = parse_range(since or base.since, until or base.until)
    return Filters(source=source or base.source, since=first, until=last)


def _final(events: Iterator[AnswerDelta | AnswerDone]) -> Answer:
    for event in events:
        if isinstance(event, AnswerDone):
            return event.answer
    raise AssertionError("an answer stream ended without an answer")
