"""The Embedder contract (see warmgate.embeddings.base), run against the offline model (precision
int8, the default, and fp32) and the remote embedder (on the simulator's /v1/embeddings)."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest

from warmgate.embeddings.base import Embedder, EmbeddingUnavailable

TEXTS = [
    "How do I reverse a list in Python?",
    "What's the way to reverse a Python list?",
    "Give me a recipe for banana bread",
    "A man is eating food.",
]
UNICODE = [
    "naïve café, ¿qué tal?",
    "東京は日本の首都です",
    "Привет, как дела?",
    "مرحبا بالعالم",
    "emoji 😀👍🏽 and zero\u200bwidth",
    "a\x00b\x1fc",
    "\ud800 lone surrogate",
]


def assert_unit_rows(m: np.ndarray, n: int, dims: int) -> None:
    assert m.dtype == np.float32
    assert m.shape == (n, dims)
    assert np.isfinite(m).all()
    np.testing.assert_allclose(np.linalg.norm(m, axis=1), 1.0, atol=1e-5)


async def test_rows_are_unit_float32_one_per_text(embedder: Embedder) -> None:
    m = await embedder.embed(TEXTS)
    assert embedder.dimensions == 384
    assert_unit_rows(m, len(TEXTS), embedder.dimensions)
    assert embedder.name


async def test_no_texts_no_rows(embedder: Embedder) -> None:
    m = await embedder.embed([])
    assert m.shape == (0, embedder.dimensions) and m.dtype == np.float32


async def test_same_text_same_vector(embedder: Embedder) -> None:
    a = await embedder.embed(TEXTS[:1])
    b = await embedder.embed(TEXTS[:1])
    c = await embedder.embed([TEXTS[0], TEXTS[0]])
    np.testing.assert_array_equal(a, b)
    np.testing.assert_allclose(c, np.vstack([a, a]), atol=1e-5)


async def test_order_is_kept_and_a_batch_equals_one_by_one(embedder: Embedder) -> None:
    together = await embedder.embed(TEXTS)
    alone = np.vstack([await embedder.embed([t]) for t in TEXTS])
    np.testing.assert_allclose(together, alone, atol=1e-5)
    backwards = await embedder.embed(TEXTS[::-1])
    np.testing.assert_allclose(backwards, together[::-1], atol=1e-5)
    # distinct texts give distinct vectors
    assert float(together[0] @ together[2]) < 0.99


async def test_concurrent_calls_are_batched_and_equal_one_by_one(embedder: Embedder) -> None:
    texts = [f"question {i}: how do I sort a list of {i} numbers?" for i in range(16)]
    alone = np.vstack([await embedder.embed([t]) for t in texts])
    runs_before = embedder.batcher.runs  # type: ignore[attr-defined]
    rows = await asyncio.gather(*(embedder.embed([t]) for t in texts))
    np.testing.assert_allclose(np.vstack(rows), alone, atol=1e-5)
    assert embedder.batcher.runs - runs_before < len(texts)  # type: ignore[attr-defined]


async def test_empty_and_blank_texts(embedder: Embedder) -> None:
    m = await embedder.embed(["", " ", "\n\t"])
    assert_unit_rows(m, 3, embedder.dimensions)


async def test_a_very_long_text_is_embedded(embedder: Embedder) -> None:
    long = "the quick brown fox jumps over the lazy dog " * 5000  # ~220 000 characters
    m = await embedder.embed([long, "x" * 100_000, "y" * 20_000 + " " + "z " * 30_000])
    assert_unit_rows(m, 3, embedder.dimensions)


async def test_unicode(embedder: Embedder) -> None:
    m = await embedder.embed(UNICODE)
    assert_unit_rows(m, len(UNICODE), embedder.dimensions)
    np.testing.assert_allclose(m, np.vstack([await embedder.embed([t]) for t in UNICODE]), atol=1e-5)


async def test_a_closed_embedder_is_unavailable(embedder: Embedder) -> None:
    await embedder.embed(TEXTS[:1])
    await embedder.close()
    with pytest.raises(EmbeddingUnavailable):
        await embedder.embed(TEXTS[:1])
