"""What the transformer-era layer kinds cost on a VTA-style core, per element.

VTA's ALU is an integer vector unit (MIN, MAX, ADD, SHR, MUL; one op per 16-lane vector
every ``alu_ii`` cycles) with no exp, erf, square root or divide. The nonlinear layers
therefore run as *integer-only* kernels, one ALU pass over every element per step. We use
the kernels of I-BERT (Kim et al., "I-BERT: Integer-only BERT Quantization", ICML 2021,
Algorithms 1-4), which need only those ops plus one per-row scalar (a max, a sum, a
square root) that the host or a scalar unit finishes. Per-row scalar work is ignored: it
is one value per token against hundreds of channels per token.

Each recipe below lists its passes by name, and the cost is the length of the list, so a
reader can check every count against the paper. Every recipe ends in the requantisation
back to int8 (shift right, then clamp: two passes), as the GEMM layers do. Reductions
along the channel axis (max, sum) are one pass per vector: the vector is folded into a
per-token accumulator lane-wise, and the last 16 lanes reduce once per row (ignored, as
above). Constant scales (``/ sqrt(d)``, GELU's ``/ sqrt(2)`` and ``* 0.5``) fold into
these integer scale factors and cost nothing.

Kinds not listed here (pools, add, concat) keep the counts in :mod:`accelerator.lowering.emit`;
GEMM kinds (conv, dense, matmul) use the GEMM core, not these recipes.
"""

from __future__ import annotations

_REQUANT = ("shift right", "clamp")

# I-BERT Algorithm 1 (i-poly: a * (q + b)^2 + c with a folded into the scale)
_POLY = ("add b", "square", "add c")
# I-BERT Algorithm 2 (i-exp of q - max <= 0): z = floor(-q / ln2) as multiply + shift,
# p = q + z * ln2 as multiply + add, exp(p) by i-poly, then shift right by z
_EXP = ("multiply by 1/ln2", "shift (floor)", "multiply by ln2", "add", *_POLY, "shift by z")

ALU_RECIPES: dict[str, tuple[str, ...]] = {
    # I-BERT Algorithm 3 (i-GELU): erf by sign * i-poly(clip(|x|)), then x * (1 + erf)
    "gelu": ("abs: multiply by -1", "abs: max", "clip to -b", *_POLY, "multiply by sign",
             "add 1", "multiply by x", *_REQUANT),
    # I-BERT Algorithm 2 (i-softmax): the row max, x - max, i-exp, the row sum, then a
    # multiply by the row's integer reciprocal and a shift
    "softmax": ("row max", "subtract max", *_EXP, "row sum", "multiply by 1/sum", *_REQUANT),
    # I-BERT Section 3.5 (i-LayerNorm): mean and variance in two reductions, the standard
    # deviation per row by integer Newton iteration (scalar), then the affine map
    "layernorm": ("row sum (mean)", "subtract mean", "square", "row sum (variance)",
                  "multiply by 1/std", "multiply by gamma", "add beta", *_REQUANT),
    # local response normalisation (AlexNet): y = x / (k + alpha/n * sum of n squares)^beta.
    # The sum over a window of n channels is a sliding window (add the entering square,
    # subtract the leaving one), so the cost does not depend on n; the power -beta is an
    # i-poly approximation as for exp
    "lrn": ("square", "window: add entering", "window: subtract leaving", "add k",
            *_POLY, "multiply by x", *_REQUANT),
    # elementwise products / differences of two tensors (a scale after a nonlinearity,
    # a gate); VTA has no subtract: negate with a multiply by -1, then add
    "mul": ("multiply", *_REQUANT),
    "sub": ("negate: multiply by -1", "add", *_REQUANT),
    # squeeze-and-excitation's scale: every pixel's vector times its channels' scale vector.
    # VTA's ALU loop nest indexes its source with a factor per loop, so a zero factor over
    # the pixels broadcasts the one (C, 1, 1) vector; the scale vector itself is loaded
    # once per output-channel chunk (accelerator.lowering.emit)
    "channel_mul": ("multiply by the channel's scale (broadcast source)", *_REQUANT),
    "channel_add": ("add the channel's value (broadcast source)", *_REQUANT),
    # Upsampling is ALU work, not DMA: VTA's LOAD is a 2-D strided copy (rows of x_size
    # contiguous elements), so a DMA could repeat whole rows (issue a row twice) but never
    # repeat each pixel along a row, and bilinear needs arithmetic anyway. The input
    # window is loaded into the accumulator once and every output vector written by the
    # ALU. Nearest: one pass writes each output vector from its source (an ADD into the
    # zeroed vector). Bilinear (separable, integer scale: fixed weights per output phase):
    # per axis two multiplies and an add; counted on every output vector (the horizontal
    # pass in fact runs on the input rows only: an over-count of 1.5 of 8 passes at scale
    # 2), then the fixed-point weights' shift and the clamp
    "resize_nearest": ("copy from the source pixel",),
    "resize_bilinear": ("horizontal: multiply left neighbour", "multiply right neighbour",
                        "add", "vertical: multiply upper neighbour", "multiply lower neighbour",
                        "add", *_REQUANT),
}

REQUANT_PASSES = len(_REQUANT)  # a standalone activation layer ends in it too

# The piecewise-linear sigmoid of Amin, Curtis and Hayes-Gill ("Piecewise linear
# approximation applied to nonlinear function of a neural network", IEE Proc. Circuits,
# Devices and Systems 144(6), 1997; "PLAN", max error 0.019): slopes 1/4, 1/8, 1/32 with
# breakpoints at |x| = 1, 2.375 and 5. Minus 1/2 it is odd, so it is a sum of three
# clamps: 1/8 clamp(x, +-1) + 3/32 clamp(x, +-2.375) + 1/32 clamp(x, +-5) + 1/2 -- no
# select or compare-and-branch, which VTA's ALU lacks; each clamp is a MAX and a MIN, each
# weight a MUL (a power-of-two fraction; the shift folds into the requantisation).
_PLAN_SIGMOID = ("clamp 1: max", "clamp 1: min", "clamp 1: multiply by 1/8",
                 "clamp 2: max", "clamp 2: min", "clamp 2: multiply by 3/32",
                 "clamp 3: max", "clamp 3: min", "clamp 3: multiply by 1/32",
                 "add clamp 2", "add clamp 3", "add 1/2")
# hard sigmoid (ONNX HardSigmoid; MobileNetV3's h-sigmoid = relu6(x + 3) / 6)
_HARD_SIGMOID = ("multiply by alpha", "add beta", "max 0", "min 1")

# Extra ALU passes of an activation applied right after a layer (on its accumulator,
# before the requantisation). ReLU and ReLU6 are the requantisation's own clamp (a MAX
# against 0, a MIN against 6's code), so they cost nothing extra.
ACTIVATION_RECIPES: dict[str, tuple[str, ...]] = {
    "none": (),
    "relu": (),
    "clip": (),
    "sigmoid": _PLAN_SIGMOID,
    "hardsigmoid": _HARD_SIGMOID,
    "hardswish": (*_HARD_SIGMOID, "multiply by x"),  # x * h-sigmoid(x) (Howard et al. 2019)
    "silu": (*_PLAN_SIGMOID, "multiply by x"),  # x * sigmoid(x) (EfficientNet's swish)
}


def activation_passes(activation: str) -> int:
    """Extra ALU passes over every output element of a folded ``activation``."""
    return len(ACTIVATION_RECIPES[activation])


def alu_passes(kind: str) -> int:
    """ALU passes over every output element of a layer of ``kind`` (a LayerKind value)."""
    return len(ALU_RECIPES[kind])


def has_recipe(kind: str) -> bool:
    return kind in ALU_RECIPES
