"""Embeddings, models, images, videos and the passthrough echo (pure handlers)."""

from __future__ import annotations

import base64
import hashlib
import struct
from typing import Any

from warmgate.sim.accounts import Account
from warmgate.sim.config import SimConfig
from warmgate.sim.tokens import count_tokens
from warmgate.sim.wire import ApiError, Reply, Request, Usage, json_reply, new_id, now_s, require_model

# A valid 1x1 transparent PNG.
TINY_PNG_B64 = (
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg=="
)
_DEFAULT_DIMS = {"text-embedding-3-large": 3072}


def embedding_vector(data: bytes, dims: int, seed: int = 0) -> list[float]:
    """A deterministic unit vector of ``dims`` floats derived from SHA-256/SHAKE of ``data``."""
    raw = hashlib.shake_256(seed.to_bytes(8, "little") + data).digest(2 * dims)
    values = [v / 32767.5 - 1.0 for v in struct.unpack(f"<{dims}H", raw)]
    norm = sum(v * v for v in values) ** 0.5 or 1.0
    return [v / norm for v in values]


def _inputs(raw: Any) -> list[tuple[bytes, int]]:
    """(bytes to hash, token count) per input: a string, strings, a token array or token arrays."""
    if isinstance(raw, str):
        return [(raw.encode(), count_tokens(raw))]
    if isinstance(raw, list) and raw:
        if all(isinstance(x, int) for x in raw):
            return [(struct.pack(f"<{len(raw)}q", *raw), len(raw))]
        out: list[tuple[bytes, int]] = []
        for x in raw:
            if isinstance(x, str):
                out.append((x.encode(), count_tokens(x)))
            elif isinstance(x, list) and all(isinstance(t, int) for t in x):
                out.append((struct.pack(f"<{len(x)}q", *x), len(x)))
            else:
                break
        else:
            return out
    raise ApiError(
        400, "'input' must be a string, an array of strings or an array of token arrays.", param="input"
    )


def embeddings(req: Request, acct: Account, cfg: SimConfig) -> Reply:
    body = req.json_object()
    model = require_model(body)
    items = _inputs(body.get("input"))
    dims = body.get("dimensions") or _DEFAULT_DIMS.get(model, 1536)
    if not isinstance(dims, int) or dims < 1 or dims > 8192:
        raise ApiError(400, "'dimensions' must be a positive integer.", param="dimensions")
    encoding = body.get("encoding_format", "float")
    if encoding not in ("float", "base64"):
        raise ApiError(400, "'encoding_format' must be 'float' or 'base64'.", param="encoding_format")
    data = []
    for index, (blob, _) in enumerate(items):
        vec = embedding_vector(model.encode() + b"\0" + blob, dims, cfg.seed)
        value: Any = vec if encoding == "float" else base64.b64encode(struct.pack(f"<{dims}f", *vec)).decode()
        data.append({"object": "embedding", "index": index, "embedding": value})
    tokens = sum(n for _, n in items)
    doc = {
        "object": "list",
        "data": data,
        "model": model,
        "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
    }
    return json_reply(doc, usage=Usage(tokens, 0, 0, 0, tokens))


def models(req: Request, acct: Account, cfg: SimConfig) -> Reply:
    """The OpenAI list shape, or the Anthropic one when the request carries ``anthropic-version``."""
    if req.header(b"anthropic-version") is not None:
        data: list[dict[str, Any]] = [
            {"type": "model", "id": m, "display_name": m, "created_at": "2025-01-01T00:00:00Z"}
            for m in cfg.models
        ]
        first = data[0]["id"] if data else None
        last = data[-1]["id"] if data else None
        return json_reply({"data": data, "has_more": False, "first_id": first, "last_id": last})
    listing = [
        {"id": m, "object": "model", "created": 1735689600, "owned_by": "warmgate-sim"} for m in cfg.models
    ]
    return json_reply({"object": "list", "data": listing})


def model_detail(req: Request, acct: Account, cfg: SimConfig) -> Reply:
    model = req.path.removeprefix("/v1/models/")
    if req.header(b"anthropic-version") is not None:
        return json_reply(
            {"type": "model", "id": model, "display_name": model, "created_at": "2025-01-01T00:00:00Z"}
        )
    return json_reply({"id": model, "object": "model", "created": 1735689600, "owned_by": "warmgate-sim"})


def images(req: Request, acct: Account, cfg: SimConfig) -> Reply:
    body = req.json_object()
    prompt = body.get("prompt")
    if not isinstance(prompt, str) or not prompt:
        raise ApiError(400, "'prompt' is required.", param="prompt")
    n = body.get("n") or 1
    if not isinstance(n, int) or not 1 <= n <= 10:
        raise ApiError(400, "'n' must be between 1 and 10.", param="n")
    item: dict[str, Any] = {"b64_json": TINY_PNG_B64, "revised_prompt": prompt}
    if body.get("response_format") == "url":
        item = {"url": "data:image/png;base64," + TINY_PNG_B64, "revised_prompt": prompt}
    tokens = count_tokens(prompt)
    doc = {"created": now_s(), "data": [item] * n}
    return json_reply(doc, usage=Usage(tokens, 0, 0, 0, tokens))


def create_video(req: Request, acct: Account, cfg: SimConfig) -> Reply:
    """A fake video task. It exists only in the account that created it (like the real one)."""
    body = req.json_object() if req.body.lstrip().startswith(b"{") else {}
    video: dict[str, Any] = {
        "id": new_id("video_"),
        "object": "video",
        "created_at": now_s(),
        "status": "queued",
        "model": body.get("model") or "sora-2",
        "progress": 0,
        "prompt": body.get("prompt"),
        "seconds": str(body.get("seconds") or "4"),
        "size": body.get("size") or "720x1280",
        "remixed_from_video_id": None,
        "completed_at": None,
        "expires_at": None,
        "error": None,
    }
    acct.videos[video["id"]] = video
    return json_reply(video)


def get_video(req: Request, acct: Account, cfg: SimConfig) -> Reply:
    """The task, completed on its first poll; 404 in any other account."""
    video_id = req.path.removeprefix("/v1/videos/").split("/", 1)[0]
    video = acct.videos.get(video_id)
    if video is None:
        raise ApiError(404, f"Video with id '{video_id}' not found.", param="video_id")
    video.update(status="completed", progress=100, completed_at=video.get("completed_at") or now_s())
    return json_reply(video)


def echo(req: Request, acct: Account, cfg: SimConfig) -> Reply:
    """Catch-all for other /v1 paths: describes what arrived (for gateway passthrough tests)."""
    return json_reply(
        {
            "object": "sim.echo",
            "method": req.method,
            "path": req.path,
            "query": req.query,
            "body_bytes": len(req.body),
            "content_type": req.header(b"content-type"),
        }
    )
