"""Chunk offsets are exact for any text: text[start:end] == chunk.text, always."""

from hypothesis import given, settings as hsettings, strategies as st

from bot.index.chunking import chunk_article, sentences

texty = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=3000)
prose = st.lists(st.sampled_from(["The missile flew.", "Dr. Kim said so!", "Really?", "\n\n",
                                  "\n", "  ", "“Quoted,” he said.", "1,800 km away", "日本語の文。",
                                  "x" * 900, "U.S. officials agreed."]), max_size=80).map(" ".join)


@hsettings(max_examples=300, deadline=None)
@given(text=st.one_of(texty, prose), size=st.integers(50, 1200), overlap=st.integers(0, 400))
def test_chunk_offsets_are_exact(text, size, overlap):
    chunks = chunk_article("a", text, size=size, overlap=overlap)
    for i, c in enumerate(chunks):
        assert text[c.start:c.end] == c.text
        assert c.chunk_no == i
        assert c.text.strip()
    # Chunks move forward and together cover every sentence.
    assert all(b.start > a.start for a, b in zip(chunks, chunks[1:]))
    covered = set()
    for c in chunks:
        covered.update(range(c.start, c.end))
    for s, e in sentences(text):
        assert all(i in covered for i in range(s, e) if not text[i].isspace())


@hsettings(max_examples=200, deadline=None)
@given(text=st.one_of(texty, prose))
def test_sentences_are_trimmed_spans_within_lines(text):
    for s, e in sentences(text):
        assert 0 <= s < e <= len(text)
        assert "\n" not in text[s:e]
        assert not text[s].isspace() and not text[e - 1].isspace()


def test_chunks_respect_size_and_sentences():
    text = " ".join(f"Sentence number {i} is here." for i in range(200))
    chunks = chunk_article("a", text, size=300, overlap=60)
    assert all(len(c.text) <= 300 for c in chunks)
    assert all(c.text.startswith("Sentence") and c.text.endswith(".") for c in chunks)
    # Overlap: each chunk after the first starts inside the previous one.
    assert all(b.start < a.end for a, b in zip(chunks, chunks[1:]))
