"""Articles into the index: chunking, embeddings, the Chroma store, BM25, ingest, reindex."""
