"""bot/index/chroma_import.py: Chroma imported without what the bot never uses, in a fresh
interpreter (the test process has imported Chroma already)."""

from __future__ import annotations

import subprocess
import sys

from conftest import ROOT

CHECK = """
import sys
import overrides
checker = sys.modules["overrides.overrides"].ensure_signature_is_compatible
from bot.index.chroma_import import OTLP, PACKAGE, import_chromadb
chromadb = import_chromadb()
assert "grpc" not in sys.modules, "the gRPC exporter was imported"
assert type(sys.modules[PACKAGE]).__name__ == "_Deferred"
assert sys.modules["overrides.overrides"].ensure_signature_is_compatible is checker, "check not restored"
# What Chroma would do with an OpenTelemetry collector configured: a real exporter.
from chromadb.telemetry.opentelemetry import OTLPSpanExporter
exporter = OTLPSpanExporter(endpoint="http://127.0.0.1:9")
assert type(exporter).__module__ == OTLP and "grpc" in sys.modules
# The embedding functions are there when asked for by name.
assert "default" in sys.modules[PACKAGE].known_embedding_functions
client = chromadb.EphemeralClient()
col = client.create_collection("bench", embedding_function=None)
col.add(ids=["a"], embeddings=[[1.0, 0.0]])
assert col.query(query_embeddings=[[1.0, 0.0]], n_results=1)["ids"] == [["a"]]
print("ok")
"""


def test_chroma_imports_without_the_exporter_and_the_zoo_and_still_works():
    r = subprocess.run([sys.executable, "-c", CHECK], capture_output=True, text=True, timeout=120,
                       env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin", "HF_HUB_OFFLINE": "1"},
                       cwd=ROOT)
    assert r.returncode == 0 and r.stdout.strip() == "ok", r.stderr[-3000:]
