"""Import Chroma without the part the bot never uses (its embedding-function zoo) and without
a check of its own code that only costs time (see `_override_signatures_unchecked`).

`import chromadb` costs ~1 s of a cold `bot ask`, and a good part of that is
`chromadb.utils.embedding_functions`: ~25 wrappers of other vendors' models (OpenAI, Cohere,
jsonschema-checked configs, ...) that Chroma imports eagerly only to look up a collection's
embedding function by name. The bot never gives Chroma an embedding function (vectors come from
bot/index/embeddings.py), so that package is put in place as a stand-in whose two names Chroma imports
at start-up (`known_embedding_functions`, `register_embedding_function`) load the real package
on first use. Anything else that needs it (a submodule, another attribute) gets the real one
too, so behaviour is Chroma's own; only the time of the import moves.

The same for OpenTelemetry's gRPC span exporter (the gRPC and protobuf stacks, ~0.08 s): Chroma
imports the name `OTLPSpanExporter` at start-up but makes one only when it is configured to send
traces to a collector (`chroma_otel_collection_endpoint`), which the bot never sets; the
stand-in's `OTLPSpanExporter` imports the real module when called.

Written against the pinned chromadb (pyproject.toml); tests run every store through it.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import sys
import types
from collections.abc import Mapping
from typing import Any, Iterator

PACKAGE = "chromadb.utils.embedding_functions"
OTLP = "opentelemetry.exporter.otlp.proto.grpc.trace_exporter"


def import_chromadb() -> Any:
    """`chromadb`, imported with the embedding functions deferred."""
    if "httpx" not in sys.modules:
        # httpx imports its own command-line client (rich.syntax, pygments: ~0.05 s) when
        # `click` is installed, and Chroma imports httpx; a None entry makes that optional
        # import fail as if click were missing. Only `httpx.main` (the CLI) is affected.
        sys.modules.setdefault("httpx._main", None)  # type: ignore[arg-type]
    if "chromadb" not in sys.modules and PACKAGE not in sys.modules:
        spec = importlib.util.find_spec("chromadb")
        if spec is not None and spec.submodule_search_locations:
            sys.modules[PACKAGE] = _Deferred(PACKAGE)
    if "chromadb" not in sys.modules and OTLP not in sys.modules:
        sys.modules[OTLP] = _DeferredExporter(OTLP)
    with _override_signatures_unchecked():
        import chromadb

    return chromadb


@contextlib.contextmanager
def _override_signatures_unchecked() -> Iterator[None]:
    """Chroma marks ~160 methods with the `overrides` package's @override, which compares each
    one's signature with its base class's while the class is made (inspect.signature and type
    hints: ~0.07 s of every import). That is a check of Chroma's own code, which the pin fixes;
    it is skipped while Chroma imports. The rest of @override (the mark, finding the base
    method, EnforceOverrides) runs as ever, and the check is back once the import is done."""
    try:
        import overrides  # noqa: F401  (its submodule is shadowed by the function of that name)

        module = sys.modules["overrides.overrides"]
        check = module.ensure_signature_is_compatible
    except (ImportError, KeyError, AttributeError):
        yield  # another version of the package: import as is
        return
    module.ensure_signature_is_compatible = lambda *args, **kwargs: None
    try:
        yield
    finally:
        module.ensure_signature_is_compatible = check


def _real() -> types.ModuleType:
    """The real package, imported in place of the stand-in (once)."""
    current = sys.modules.get(PACKAGE)
    if isinstance(current, _Deferred):
        del sys.modules[PACKAGE]
        try:
            real = importlib.import_module(PACKAGE)
        except BaseException:
            sys.modules[PACKAGE] = current
            raise
        setattr(sys.modules["chromadb.utils"], "embedding_functions", real)
        return real
    return importlib.import_module(PACKAGE)


class _Registry(Mapping):
    """`known_embedding_functions` (and the sparse one), read from the real package when used."""

    def __init__(self, name: str):
        self._name = name

    def _map(self) -> Mapping:
        return getattr(_real(), self._name)

    def __getitem__(self, key: str) -> Any:
        return self._map()[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._map())

    def __len__(self) -> int:
        return len(self._map())


def _register(*args: Any, **kwargs: Any) -> Any:
    return _real().register_embedding_function(*args, **kwargs)


class _Deferred(types.ModuleType):
    """The stand-in module: the two names Chroma imports at start-up, and the real package for
    everything else (a submodule import finds the real files through `__path__`)."""

    def __init__(self, name: str):
        super().__init__(name)
        spec = importlib.util.find_spec("chromadb")
        assert spec is not None and spec.submodule_search_locations
        root = list(spec.submodule_search_locations)[0]
        self.__path__ = [f"{root}/utils/embedding_functions"]
        self.known_embedding_functions = _Registry("known_embedding_functions")
        self.sparse_known_embedding_functions = _Registry("sparse_known_embedding_functions")
        self.register_embedding_function = _register

    def __getattr__(self, name: str) -> Any:
        return getattr(_real(), name)


class _DeferredExporter(types.ModuleType):
    """The exporter module's stand-in: `OTLPSpanExporter` makes a real one (importing the real
    module in its place), and any other name is read from the real module."""

    def __init__(self, name: str):
        super().__init__(name)
        self.OTLPSpanExporter = _otlp_span_exporter

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):  # the import system asks for __path__ & co.: a plain module
            raise AttributeError(name)
        return getattr(_real_exporter(), name)


def _otlp_span_exporter(*args: Any, **kwargs: Any) -> Any:
    return _real_exporter().OTLPSpanExporter(*args, **kwargs)


def _real_exporter() -> types.ModuleType:
    current = sys.modules.get(OTLP)
    if isinstance(current, _DeferredExporter):
        del sys.modules[OTLP]
        try:
            return importlib.import_module(OTLP)
        except BaseException:
            sys.modules[OTLP] = current
            raise
    return importlib.import_module(OTLP)
