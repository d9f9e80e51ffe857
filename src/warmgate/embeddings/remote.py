"""A remote embedder: any OpenAI-compatible `POST {base_url}/embeddings`.

Concurrent calls are batched into one upstream request (at most `max_batch` texts, at most
`max_concurrency` requests in flight). Every failure (connection refused, timeout, non-2xx status,
a body that is not the documented shape, non-finite or zero vectors, a width that changes) raises
`EmbeddingUnavailable`, and so does any call that waits longer than `timeout` in total: the request
then goes on without a semantic lookup. Rows are L2-normalised here (providers differ on that).

`dimensions` is the width the model answers with (a reply of another width is unavailable too);
`send_dimensions` asks for it in the request (text-embedding-3 models shorten their vectors).
`name` carries the URL's host and path, the model and the width, so vectors of two different
remote models never meet in one partition. The API key is sent as `Authorization: Bearer`
and never appears in an exception message.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import aiohttp
import numpy as np
import orjson

from warmgate.embeddings.base import EmbeddingUnavailable
from warmgate.embeddings.batching import MicroBatcher

if TYPE_CHECKING:
    from warmgate.embeddings.base import Matrix


class RemoteEmbedder:
    def __init__(
        self,
        base_url: str,
        model: str,
        *,
        api_key: str | None = None,
        dimensions: int,
        send_dimensions: bool = False,
        timeout: float = 1.0,
        max_batch: int = 64,
        max_concurrency: int = 4,
        wait: float = 0.001,
        max_queue: int = 0,
        headers: Mapping[str, str] | None = None,
    ):
        base_url = base_url.rstrip("/")
        parts = urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError("base_url must be an http:// or https:// URL")
        self._url = base_url + "/embeddings"
        self._model = model
        if dimensions < 1:
            raise ValueError("dimensions must be >= 1")
        self._send_dimensions = send_dimensions
        self.dimensions = dimensions
        self.name = f"remote:{parts.netloc}{parts.path}:{model}@{dimensions}"
        self._timeout = timeout
        self._headers = {"content-type": "application/json", **(headers or {})}
        if api_key:
            self._headers["authorization"] = f"Bearer {api_key}"
        self._session: aiohttp.ClientSession | None = None
        self.batcher = MicroBatcher(
            self._call, max_batch=max_batch, max_concurrency=max_concurrency, wait=wait, max_queue=max_queue
        )

    async def embed(self, texts: Sequence[str]) -> Matrix:
        if not texts:
            return np.zeros((0, self.dimensions), np.float32)
        try:
            async with asyncio.timeout(self._timeout):
                return await self.batcher.embed(texts)
        except TimeoutError as exc:
            raise EmbeddingUnavailable(f"{self.name}: no answer within {self._timeout:g} s") from exc

    async def _call(self, texts: list[str]) -> Matrix:
        body: dict[str, Any] = {
            "model": self._model,
            # Providers reject an empty string; one space embeds "nothing" just as well.
            "input": [t or " " for t in texts],
            "encoding_format": "float",
        }
        if self._send_dimensions:
            body["dimensions"] = self.dimensions
        try:
            payload = orjson.dumps(body)
        except TypeError:  # a lone surrogate is not valid UTF-8: replace it
            body["input"] = [t.encode("utf-8", "replace").decode("utf-8") for t in body["input"]]
            payload = orjson.dumps(body)
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=0, keepalive_timeout=30),
                skip_auto_headers=("User-Agent",),
            )
        try:
            async with self._session.post(
                self._url,
                data=payload,
                headers=self._headers,
                timeout=aiohttp.ClientTimeout(total=self._timeout),
                allow_redirects=False,
            ) as resp:
                raw = await resp.read()
                status = resp.status
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            raise EmbeddingUnavailable(f"{self.name}: {type(exc).__name__}") from exc
        if status != 200:
            raise EmbeddingUnavailable(f"{self.name}: HTTP {status}")
        matrix = self._parse(raw, len(texts))
        if matrix.shape[1] != self.dimensions:
            raise EmbeddingUnavailable(f"{self.name}: {matrix.shape[1]} dimensions, expected {self.dimensions}")
        return matrix

    def _parse(self, raw: bytes, n: int) -> Matrix:
        try:
            doc = orjson.loads(raw)
            data = doc["data"]
            if not isinstance(data, list) or len(data) != n:
                raise ValueError("wrong number of rows")
            rows: list[Any] = [None] * n
            for item in data:
                index = item.get("index", data.index(item)) if isinstance(item, dict) else None
                if not isinstance(index, int) or not 0 <= index < n or rows[index] is not None:
                    raise ValueError("bad index")
                rows[index] = item["embedding"]
            matrix = np.asarray(rows, dtype=np.float64)
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError, AttributeError) as exc:
            raise EmbeddingUnavailable(f"{self.name}: the reply is not an embeddings list") from exc
        if matrix.ndim != 2 or matrix.shape[1] == 0 or not np.isfinite(matrix).all():
            raise EmbeddingUnavailable(f"{self.name}: the reply's vectors are malformed")
        norms = np.linalg.norm(matrix, axis=1, keepdims=True)
        if (norms == 0).any():
            raise EmbeddingUnavailable(f"{self.name}: a zero vector")
        unit: Matrix = (matrix / norms).astype(np.float32)
        return unit

    async def close(self) -> None:
        await self.batcher.close()
        if self._session is not None:
            await self._session.close()
            self._session = None
