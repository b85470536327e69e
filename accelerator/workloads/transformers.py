"""Transformer networks for the zoo: ViT-B/16, BERT-base, GPT-2 small prefill, and a small
two-block encoder for fast tests.

How a transformer is written in this model (see :mod:`accelerator.workloads.network`):

- the tokens are the rows of a (width, tokens, 1) map; every per-token linear is a 1x1
  convolution, LayerNorm / Softmax / GELU are ALU layers, residual sums are ADD layers;
- attention per block is ``K, V, Q`` projections, then ``scores = Q.K^T`` and
  ``context = softmax(scores).V`` as MATMUL layers batched over heads (K and V are their
  weight operands), then the output projection. K and V come *before* Q in the layer order
  so that Q -> scores -> softmax -> context is a contiguous run a fused group can take,
  with K and V read through the weight path (the flash-attention style fusion); a group
  may also take the projections;
- the ``1/sqrt(d_head)`` scale and GELU's constants fold into integer scale factors, and
  GPT-2's causal mask is a constant added to the scores (the bias path of the matmul), so
  none of them is a layer; published MAC counts count the full (unmasked) score matrix;
- an embedding lookup is a host-side gather (no MACs), so a network starts from the
  embedded tokens; heads that read one token (BERT's pooler, ViT's class head, GPT-2's LM
  head) are left out, and so are dropouts (inference no-ops).

Published MAC counts (tests check ours against them): ViT-B/16 at 224x224 17.5 G (Swin
Transformer, Liu et al. 2021, Table 1: DeiT-B, which is ViT-B/16, 17.5 G FLOPs counted as
multiply-adds), BERT-base at sequence 128 22.5 G FLOPs = 11.25 G MACs (TinyBERT, Jiao et
al. 2020, Table 1), GPT-2 small forward 2N + 2 n_layer n_ctx d_attn FLOPs per token with
N = 85 M non-embedding parameters (Kaplan et al. 2020, Section 2.1 and Table 1).
"""

from __future__ import annotations

from fusiongym.accelerator.workloads.network import LayerKind, Network, NetworkBuilder


def _attention(b: NetworkBuilder, x: int, heads: int, prefix: str) -> int:
    """Multi-head self-attention over the tokens of ``x``; returns the output projection."""
    width, tokens, _ = b.shape(x)
    k = b.linear(x, width, name=f"{prefix}.key")
    v = b.linear(x, width, name=f"{prefix}.value")
    q = b.linear(x, width, name=f"{prefix}.query")
    scores = b.matmul(q, k, heads, heads * tokens, name=f"{prefix}.scores")
    probs = b.alu(LayerKind.SOFTMAX, scores, groups=heads, name=f"{prefix}.softmax")
    context = b.matmul(probs, v, heads, width, name=f"{prefix}.context")
    return b.linear(context, width, name=f"{prefix}.proj")


def _mlp(b: NetworkBuilder, x: int, hidden: int, prefix: str) -> int:
    width = b.shape(x)[0]
    h = b.linear(x, hidden, name=f"{prefix}.fc1")
    h = b.alu(LayerKind.GELU, h, name=f"{prefix}.gelu")
    return b.linear(h, width, name=f"{prefix}.fc2")


def pre_ln_block(b: NetworkBuilder, x: int | None, heads: int, hidden: int, prefix: str) -> int:
    """x + attn(LN(x)), then x + mlp(LN(x)) (ViT, GPT-2)."""
    a = _attention(b, b.alu(LayerKind.LAYERNORM, x, name=f"{prefix}.ln1"), heads,
                   f"{prefix}.attn")
    x = b.add(x, a, name=f"{prefix}.add1")
    m = _mlp(b, b.alu(LayerKind.LAYERNORM, x, name=f"{prefix}.ln2"), hidden, f"{prefix}.mlp")
    return b.add(x, m, name=f"{prefix}.add2")


def post_ln_block(b: NetworkBuilder, x: int, heads: int, hidden: int, prefix: str) -> int:
    """LN(x + attn(x)), then LN(x + mlp(x)) (BERT)."""
    x = b.alu(LayerKind.LAYERNORM, b.add(x, _attention(b, x, heads, f"{prefix}.attn"),
                                         name=f"{prefix}.add1"), name=f"{prefix}.ln1")
    x = b.alu(LayerKind.LAYERNORM, b.add(x, _mlp(b, x, hidden, f"{prefix}.mlp"),
                                         name=f"{prefix}.add2"), name=f"{prefix}.ln2")
    return x


def vit_b16() -> Network:
    """ViT-B/16 at 224x224 (Dosovitskiy et al. 2021): 12 pre-LN blocks, width 768, 12 heads,
    MLP 3072, 197 tokens. The input is the image cut into its 196 patches of 16x16x3 = 768
    values (a strided DMA: no arithmetic), so the patch embedding is a per-token linear;
    its one row of top padding is the class token, whose value (class embedding plus
    position embedding) the folded bias supplies, as it does the position embeddings."""
    b = NetworkBuilder("vit_b16", (768, 196, 1))
    x = b.conv(None, 768, 1, 1, padding=(1, 0, 0, 0), activation="none", name="patch_embed")
    for i in range(12):
        x = pre_ln_block(b, x, 12, 3072, f"blocks.{i}")
    b.alu(LayerKind.LAYERNORM, x, name="norm")
    return b.build()


def bert_base(seq: int = 128) -> Network:
    """BERT-base (Devlin et al. 2019) at sequence 128: the embedding LayerNorm, then 12
    post-LN blocks, width 768, 12 heads, MLP 3072."""
    b = NetworkBuilder("bert_base" if seq == 128 else f"bert_base_seq{seq}", (768, seq, 1))
    x = b.alu(LayerKind.LAYERNORM, None, name="embeddings.ln")
    for i in range(12):
        x = post_ln_block(b, x, 12, 3072, f"encoder.{i}")
    return b.build()


def gpt2_prefill(seq: int = 256) -> Network:
    """GPT-2 small (Radford et al. 2019) prefilling a 256-token prompt: 12 pre-LN blocks,
    width 768, 12 heads, MLP 3072, then the final LayerNorm (the KV cache and the last
    hidden state are the prefill's results)."""
    b = NetworkBuilder("gpt2_prefill" if seq == 256 else f"gpt2_prefill_seq{seq}",
                       (768, seq, 1))
    x: int | None = None  # the embedded tokens (token + position embeddings, on the host)
    for i in range(12):
        x = pre_ln_block(b, x, 12, 3072, f"h.{i}")
    b.alu(LayerKind.LAYERNORM, x, name="ln_f")
    return b.build()


def tiny_transformer(blocks: int = 2) -> Network:
    """A small pre-LN encoder (width 64, 4 heads, MLP 256, 32 tokens) for fast tests."""
    b = NetworkBuilder("tiny_transformer" if blocks == 2 else f"tiny_transformer_{blocks}",
                       (64, 32, 1))
    x = b.linear(None, 64, name="embed")
    for i in range(blocks):
        x = pre_ln_block(b, x, 4, 256, f"blocks.{i}")
    return b.build()
