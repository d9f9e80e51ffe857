"""The embedder seam: one small async Protocol, implemented by the offline default model
(MiniLM on onnxruntime, the `semantic` extra) and by a remote OpenAI-compatible `/v1/embeddings`.

Contract:
- `embed(texts)` returns one row per text, in order, as a float32 matrix of shape
  (len(texts), dimensions) whose rows have unit L2 norm, so a dot product is the cosine similarity.
- The same text gives the same vector (deterministic) for the life of the embedder.
- Any failure or timeout raises `EmbeddingUnavailable` (never a raw driver exception): the caller
  then skips the semantic lookup for that request; it is never an error for the client.
- `name` identifies the model and its settings: vectors of two embedders with different names are
  never compared (the name is part of every semantic partition).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

    Matrix = npt.NDArray[np.float32]


class EmbeddingUnavailable(Exception):
    """The embedder failed or timed out; the request goes on without a semantic lookup."""


class Embedder(Protocol):
    name: str
    dimensions: int

    async def embed(self, texts: Sequence[str]) -> Matrix:
        """Unit-norm float32 rows, one per text; raises `EmbeddingUnavailable`."""
        ...

    async def close(self) -> None: ...
