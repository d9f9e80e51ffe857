"""Synthetic embedding-like vectors for the index benchmarks (seeded, nothing downloaded).

Uniform random unit vectors in 384 dimensions are a needlessly hard and unrealistic case for a graph
index (every point is nearly orthogonal to every other); sentence embeddings are clustered. So a
vector here is a normalised mix of one of `clusters` random topic centres and noise, and a query is
either a *near* query (a stored vector plus a little noise: the paraphrase a semantic cache exists
for) or a *fresh* query (a new draw from the same distribution: the usual miss).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

F32 = npt.NDArray[np.float32]


def _unit(x: F32) -> F32:
    out: F32 = (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)
    return out


def corpus(n: int, dim: int = 384, clusters: int = 1000, seed: int = 7) -> F32:
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((clusters, dim), dtype=np.float32)
    which = rng.integers(0, clusters, n)
    noise = rng.standard_normal((n, dim), dtype=np.float32)
    return _unit(centres[which] + 0.9 * noise)


def near_queries(base: F32, m: int, noise: float = 0.5, seed: int = 8) -> F32:
    """Stored vectors moved by noise of norm ~`noise` (0.5: cosine ~0.9 to their source)."""
    pick = np.random.default_rng(seed).integers(0, len(base), m)
    return perturb(base[pick], noise, seed + 1)


def perturb(vectors: F32, noise: float = 0.5, seed: int = 9) -> F32:
    """Each row moved by random noise of norm ~`noise`, then normalised."""
    rng = np.random.default_rng(seed)
    m, dim = vectors.shape
    return _unit(vectors + noise / np.sqrt(dim) * rng.standard_normal((m, dim), dtype=np.float32))


def fresh_queries(m: int, dim: int = 384, clusters: int = 1000, seed: int = 7) -> F32:
    # the same centres as `corpus` (same seed), new noise
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((clusters, dim), dtype=np.float32)
    rng2 = np.random.default_rng(seed + 1000)
    which = rng2.integers(0, clusters, m)
    return _unit(centres[which] + 0.9 * rng2.standard_normal((m, dim), dtype=np.float32))


def percentiles(samples_s: list[float]) -> dict[str, float]:
    """p50/p95/p99 in milliseconds."""
    a = np.asarray(samples_s) * 1000.0
    return {p: float(np.percentile(a, q)) for p, q in (("p50", 50), ("p95", 95), ("p99", 99))}
