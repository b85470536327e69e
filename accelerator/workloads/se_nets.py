"""The squeeze-and-excitation networks of the zoo: EfficientNet-B0 and MobileNetV3-Large,
layer for layer as torchvision builds them (224x224, batch 1).

Both are inverted-residual networks (MobileNetV2's expand 1x1 -> depthwise -> linear
project 1x1) with a squeeze-and-excitation block after the depthwise convolution: a global
average pool, a 1x1 to ``squeeze`` channels, an activation, a 1x1 back, a gate, then the
map scaled channel by channel (a CHANNEL_MUL layer). BatchNorm folds into the convolution
before it and every activation into its producer, as in :mod:`accelerator.workloads.zoo`.

Published MAC counts (tests check ours within 3 %): EfficientNet-B0 0.39 G (Tan & Le 2019,
Table 2: 0.39 B FLOPS, which are multiply-adds; torchvision's EfficientNet_B0_Weights: 0.39
GFLOPS), MobileNetV3-Large 219 M (Howard et al. 2019, Table 3: 219 M MAdds; torchvision
0.22).
"""

from __future__ import annotations

from fusiongym.accelerator.workloads.network import Network, NetworkBuilder

IMAGENET_INPUT = (3, 224, 224)
IMAGENET_CLASSES = 1000

# (expand ratio, kernel, first stride, output channels, repeats): torchvision's
# efficientnet_b0 MBConv settings (= Tan & Le 2019, Table 1)
_EFFICIENTNET_B0_STAGES = ((1, 3, 1, 16, 1), (6, 3, 2, 24, 2), (6, 5, 2, 40, 2),
                           (6, 3, 2, 80, 3), (6, 5, 1, 112, 3), (6, 5, 2, 192, 4),
                           (6, 3, 1, 320, 1))


def efficientnet_b0() -> Network:
    """EfficientNet-B0: SiLU everywhere, SE squeeze = a quarter of the block's *input*
    channels with a SiLU inside and a sigmoid gate; a residual add where the shape allows
    (stochastic depth is a training-time no-op)."""
    b = NetworkBuilder("efficientnet_b0", IMAGENET_INPUT)
    x = b.conv(None, 32, 3, 2, activation="silu", name="features.0")
    for stage, (expand, kernel, first_stride, c_out, repeats) in enumerate(
            _EFFICIENTNET_B0_STAGES, start=1):
        for i in range(repeats):
            prefix = f"features.{stage}.{i}"
            stride = first_stride if i == 0 else 1
            c_in = b.shape(x)[0]
            y = x
            if expand != 1:
                y = b.conv(y, c_in * expand, 1, 1, activation="silu", name=f"{prefix}.expand")
            hidden = b.shape(y)[0]
            y = b.conv(y, hidden, kernel, stride, groups=hidden, activation="silu",
                       name=f"{prefix}.dw")
            y = b.squeeze_excite(y, max(1, c_in // 4), activation="silu", gate="sigmoid",
                                 prefix=f"{prefix}.se")
            y = b.conv(y, c_out, 1, 1, activation="none", name=f"{prefix}.project")
            x = b.add(x, y, name=f"{prefix}.add") if stride == 1 and c_in == c_out else y
    x = b.conv(x, 1280, 1, 1, activation="silu", name="features.8")
    x = b.global_pool(x, name="avgpool")
    b.dense(x, IMAGENET_CLASSES, activation="none", name="classifier")
    return b.build()


def _make_divisible(value: float, divisor: int = 8) -> int:
    """torchvision's channel rounding (to a multiple of 8, never more than 10 % down)."""
    rounded = max(divisor, int(value + divisor / 2) // divisor * divisor)
    return rounded + divisor if rounded < 0.9 * value else rounded


# (kernel, expanded channels, output channels, SE, activation, stride): Howard et al. 2019,
# Table 1 (= torchvision's mobilenet_v3_large settings); RE = ReLU, HS = hard swish
_MOBILENET_V3_LARGE_BLOCKS = (
    (3, 16, 16, False, "relu", 1), (3, 64, 24, False, "relu", 2),
    (3, 72, 24, False, "relu", 1), (5, 72, 40, True, "relu", 2),
    (5, 120, 40, True, "relu", 1), (5, 120, 40, True, "relu", 1),
    (3, 240, 80, False, "hardswish", 2), (3, 200, 80, False, "hardswish", 1),
    (3, 184, 80, False, "hardswish", 1), (3, 184, 80, False, "hardswish", 1),
    (3, 480, 112, True, "hardswish", 1), (3, 672, 112, True, "hardswish", 1),
    (5, 672, 160, True, "hardswish", 2), (5, 960, 160, True, "hardswish", 1),
    (5, 960, 160, True, "hardswish", 1),
)


def mobilenet_v3_large() -> Network:
    """MobileNetV3-Large 1.0-224: SE squeeze = expanded channels / 4 rounded to a multiple
    of 8, ReLU inside, hard-sigmoid gate; the classifier is 960 -> 1280 (hard swish) ->
    1000."""
    b = NetworkBuilder("mobilenet_v3_large", IMAGENET_INPUT)
    x = b.conv(None, 16, 3, 2, activation="hardswish", name="features.0")
    for n, (kernel, hidden, c_out, se, act, stride) in enumerate(
            _MOBILENET_V3_LARGE_BLOCKS, start=1):
        prefix = f"features.{n}"
        c_in = b.shape(x)[0]
        y = x
        if hidden != c_in:
            y = b.conv(y, hidden, 1, 1, activation=act, name=f"{prefix}.expand")
        y = b.conv(y, hidden, kernel, stride, groups=hidden, activation=act,
                   name=f"{prefix}.dw")
        if se:
            y = b.squeeze_excite(y, _make_divisible(hidden // 4), activation="relu",
                                 gate="hardsigmoid", prefix=f"{prefix}.se")
        y = b.conv(y, c_out, 1, 1, activation="none", name=f"{prefix}.project")
        x = b.add(x, y, name=f"{prefix}.add") if stride == 1 and c_in == c_out else y
    x = b.conv(x, 960, 1, 1, activation="hardswish", name="features.16")
    x = b.global_pool(x, name="avgpool")
    x = b.dense(x, 1280, activation="hardswish", name="classifier.0")
    b.dense(x, IMAGENET_CLASSES, activation="none", name="classifier.3")
    return b.build()
