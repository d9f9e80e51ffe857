"""The offline default embedder: a BERT-style sentence encoder (all-MiniLM-L6-v2) run in-process.

What sentence-transformers does for this model, without torch: WordPiece tokens (the `tokenizers`
package, the model's own tokenizer.json), truncated to `max_tokens` including [CLS] and [SEP], the
encoder's last hidden state (onnxruntime), the mean over the real tokens (attention mask), and L2
normalisation. The model runs on one dedicated thread (onnxruntime releases the GIL), so the event
loop never blocks; concurrent calls are micro-batched (`batching.MicroBatcher`).

The onnxruntime session and the tokenizer are built by `factory.build_embedder` (the optional
imports live there); this module only needs numpy.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from warmgate.embeddings.base import EmbeddingUnavailable
from warmgate.embeddings.batching import MicroBatcher

if TYPE_CHECKING:
    from warmgate.embeddings.base import Matrix

# A text longer than this many characters per allowed token is first tokenized by its head only
# (cut at a space, so every word keeps its tokens); the whole text is tokenized only if the head
# turns out to be too short to fill the window. English averages ~4-5 characters per token.
_CHARS_PER_TOKEN_CUT = 32


class Encoding(Protocol):
    @property
    def ids(self) -> list[int]: ...


class Tokenizer(Protocol):
    """The part of `tokenizers.Tokenizer` used here (truncation enabled, padding disabled)."""

    def encode_batch(self, input: Sequence[Any], /) -> Sequence[Encoding]: ...


class Session(Protocol):
    """The part of `onnxruntime.InferenceSession` used here."""

    def run(self, output_names: list[str] | None, input_feed: Mapping[str, Any]) -> list[Any]: ...


class MiniLM:
    """The synchronous model: texts in, unit-norm float32 rows out. Not thread-safe by itself
    (`OfflineEmbedder` calls it from one thread)."""

    def __init__(
        self,
        session: Session,
        tokenizer: Tokenizer,
        *,
        input_names: Sequence[str],
        max_tokens: int,
        max_batch_tokens: int = 512,
    ):
        missing = {"input_ids", "attention_mask"} - set(input_names)
        if missing:
            raise ValueError(f"the model lacks the inputs {sorted(missing)}")
        self._session = session
        self._tokenizer = tokenizer
        self._token_types = "token_type_ids" in input_names
        self.max_tokens = max_tokens
        self.max_batch_tokens = max_batch_tokens

    def tokenize(self, texts: Sequence[str]) -> list[list[int]]:
        """Token ids per text, [CLS] ... [SEP], at most `max_tokens` of them."""
        limit = self.max_tokens * _CHARS_PER_TOKEN_CUT
        heads = []
        cut = []
        for i, text in enumerate(texts):
            space = text.rfind(" ", 0, limit) if len(text) > limit else -1
            if space > 0:
                heads.append(text[:space])
                cut.append(i)
            else:
                heads.append(text)
        ids = self._encode(heads)
        redo = [i for i in cut if len(ids[i]) < self.max_tokens]
        if redo:
            for i, row in zip(redo, self._encode([texts[i] for i in redo]), strict=True):
                ids[i] = row
        return ids

    def _encode(self, texts: list[str]) -> list[list[int]]:
        try:
            return [e.ids for e in self._tokenizer.encode_batch(texts)]
        except TypeError:  # a lone surrogate (not valid UTF-8): replace it, as a UTF-8 encoder would
            return [e.ids for e in self._tokenizer.encode_batch([utf8_safe(t) for t in texts])]

    def __call__(self, texts: Sequence[str]) -> Matrix:
        tokens = self.tokenize(texts)
        out: list[Matrix | None] = [None] * len(texts)
        for group in _length_groups(tokens, self.max_batch_tokens):
            rows = self._run([tokens[i] for i in group])
            for i, row in zip(group, rows, strict=True):
                out[i] = row
        return np.stack(out) if out else np.zeros((0, 0), np.float32)  # type: ignore[arg-type]

    def _run(self, batch: list[list[int]]) -> Matrix:
        width = max(len(t) for t in batch)
        ids = np.zeros((len(batch), width), np.int64)
        mask = np.zeros((len(batch), width), np.int64)
        for r, t in enumerate(batch):
            ids[r, : len(t)] = t
            mask[r, : len(t)] = 1
        feed = {"input_ids": ids, "attention_mask": mask}
        if self._token_types:
            feed["token_type_ids"] = np.zeros_like(ids)
        hidden = np.asarray(self._session.run(None, feed)[0], dtype=np.float32)
        if hidden.ndim != 3 or hidden.shape[:2] != ids.shape:
            raise EmbeddingUnavailable(f"the model's output has the shape {hidden.shape}, not (batch, tokens, dims)")
        weights = mask.astype(np.float32)
        pooled = np.einsum("btd,bt->bd", hidden, weights) / weights.sum(axis=1, keepdims=True)
        norms = np.maximum(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12)
        unit: Matrix = (pooled / norms).astype(np.float32)
        return unit


def utf8_safe(text: str) -> str:
    """`text` with lone surrogates (which no UTF-8 codec accepts) replaced by "?"."""
    return text.encode("utf-8", "replace").decode("utf-8")


def _length_groups(tokens: list[list[int]], budget: int) -> list[list[int]]:
    """Indices of texts run together: of similar length (padding a 10-token text to 200 would cost
    as much as the 200-token one: a group grows while its longest text is at most 1.5x its shortest
    + 8 tokens), and at most `budget` padded tokens per run (measured on this CPU: per-text cost
    falls up to ~200-500 tokens per run and rises beyond, as the activations outgrow the caches)."""
    order = sorted(range(len(tokens)), key=lambda i: len(tokens[i]))
    groups: list[list[int]] = []
    shortest = 0
    for i in order:
        n = len(tokens[i])
        if not groups or n > shortest * 1.5 + 8 or n * (len(groups[-1]) + 1) > budget:
            groups.append([])
            shortest = n
        groups[-1].append(i)
    return groups


class OfflineEmbedder:
    """`Embedder` over a `MiniLM` (or any callable of that shape) on one dedicated thread."""

    def __init__(
        self,
        model: MiniLM,
        *,
        name: str,
        dimensions: int,
        max_batch: int = 32,
        wait: float = 0.0,
        max_queue: int = 0,
        failures: tuple[type[Exception], ...] = (RuntimeError,),
    ):
        self.name = name
        self._failures = failures
        self.dimensions = dimensions
        self.model = model
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="warmgate-embed")
        self.batcher = MicroBatcher(self._run, max_batch=max_batch, max_concurrency=1, wait=wait, max_queue=max_queue)

    async def embed(self, texts: Sequence[str]) -> Matrix:
        if not texts:
            return np.zeros((0, self.dimensions), np.float32)
        return await self.batcher.embed(texts)

    async def _run(self, texts: list[str]) -> Matrix:
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(self._thread, self.model, texts)
        except self._failures as exc:  # the runtime's own exception classes (see the factory)
            raise EmbeddingUnavailable(f"the offline model failed: {exc}") from exc

    def embed_sync(self, texts: Sequence[str]) -> Matrix:
        """Embed on the caller's thread, without batching (for tools and benchmarks)."""
        return self.model(texts) if texts else np.zeros((0, self.dimensions), np.float32)

    async def close(self) -> None:
        await self.batcher.close()
        self._thread.shutdown(wait=False, cancel_futures=True)
