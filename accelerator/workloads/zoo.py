"""Built-in networks, layer for layer as their reference implementations define them.

Conventions (so that every network is described the same way):

- input 224x224, batch 1, unless the model says otherwise (DCGAN starts from z);
- BatchNorm is folded into the convolution before it (no layer), and a ReLU / ReLU6 is
  folded into its producer (``activation="relu"`` / ``"clip"``), as VTA applies it in the
  ALU right after the GEMM;
- a residual sum is a real ADD layer with two inputs; the ReLU after it is folded into it;
- dropout is an inference no-op and softmax runs on the host, so neither is a layer;
- layers are listed in the order the reference ``forward()`` runs them, so a fused group
  (a contiguous run in this order) is a group a real compiler could form.

Layer names follow torchvision's module names (``layer2.0.conv1``) where there is one, so
they are stable strings that a person can look up.

Published MAC counts (tests check ours against them): ResNet-18 1.82 G, ResNet-34 3.6 G,
ResNet-50 4.1 G, MobileNetV1 569 M, MobileNetV2 300 M, VGG-16 15.5 G, AlexNet 0.71 G,
SqueezeNet 1.1 0.35 G, GoogLeNet 1.5 G (EfficientNet-B0 and MobileNetV3-Large: see
:mod:`accelerator.workloads.se_nets`). ``resnet18`` is torchvision's; ``resnet18_vta`` is the MXNet/TVM
variant whose convolutions VTA benchmarks (it has one more 1x1 shortcut conv). The
transformers (ViT-B/16, BERT-base, GPT-2 prefill) are built in
:mod:`accelerator.workloads.transformers`, which cites theirs.
"""

from __future__ import annotations

import random
from functools import lru_cache
from typing import Callable

from fusiongym.accelerator.workloads.network import Network, NetworkBuilder, WorkloadError
from fusiongym.accelerator.workloads.se_nets import efficientnet_b0, mobilenet_v3_large
from fusiongym.accelerator.workloads.transformers import bert_base, gpt2_prefill, tiny_transformer, vit_b16

IMAGENET_INPUT = (3, 224, 224)
IMAGENET_CLASSES = 1000


# ---- ResNet (He et al. 2016; torchvision) ---------------------------------------------------
def _resnet_stem(b: NetworkBuilder) -> int:
    x = b.conv(None, 64, kernel=7, stride=2, padding=3, name="conv1")
    return b.pool(x, kernel=3, stride=2, padding=1, name="maxpool")


def _basic_block(b: NetworkBuilder, x: int, c_out: int, stride: int, prefix: str,
                 project: bool = False) -> int:
    c_in = b.shape(x)[0]
    y = b.conv(x, c_out, 3, stride, name=f"{prefix}.conv1")
    y = b.conv(y, c_out, 3, 1, activation="none", name=f"{prefix}.conv2")
    if project or stride != 1 or c_in != c_out:
        x = b.conv(x, c_out, 1, stride, activation="none", name=f"{prefix}.downsample")
    return b.add(y, x, activation="relu", name=f"{prefix}.add")


def _bottleneck(b: NetworkBuilder, x: int, width: int, stride: int, prefix: str) -> int:
    """torchvision's Bottleneck (ResNet v1.5): the stride sits in the 3x3, not the first 1x1."""
    c_in, c_out = b.shape(x)[0], 4 * width
    y = b.conv(x, width, 1, 1, name=f"{prefix}.conv1")
    y = b.conv(y, width, 3, stride, name=f"{prefix}.conv2")
    y = b.conv(y, c_out, 1, 1, activation="none", name=f"{prefix}.conv3")
    if stride != 1 or c_in != c_out:
        x = b.conv(x, c_out, 1, stride, activation="none", name=f"{prefix}.downsample")
    return b.add(y, x, activation="relu", name=f"{prefix}.add")


def _resnet(name: str, blocks_per_stage: tuple[int, ...], bottleneck: bool,
            project_first_blocks: bool = False) -> Network:
    b = NetworkBuilder(name, IMAGENET_INPUT)
    x = _resnet_stem(b)
    for stage, n_blocks in enumerate(blocks_per_stage):
        width = 64 * 2**stage
        for i in range(n_blocks):
            stride = 2 if stage > 0 and i == 0 else 1
            prefix = f"layer{stage + 1}.{i}"
            if bottleneck:
                x = _bottleneck(b, x, width, stride, prefix)
            else:
                x = _basic_block(b, x, width, stride, prefix,
                                 project=project_first_blocks and i == 0)
    x = b.global_pool(x, name="avgpool")
    b.dense(x, IMAGENET_CLASSES, activation="none", name="fc")
    return b.build()


def resnet18() -> Network:
    return _resnet("resnet18", (2, 2, 2, 2), bottleneck=False)


def resnet18_vta() -> Network:
    """ResNet-18 as in TVM's ``relay.testing.resnet`` (an MXNet port), whose layers VTA's
    benchmarks use (FACTS.md C1..C12): the first block of *every* stage has a 1x1 projection
    shortcut, so stage 1 also has a stride-1 64->64 1x1 conv (C3), which torchvision's
    ResNet-18 lacks. The MXNet model is pre-activation (BN + ReLU before each conv); with BN
    folded and the ReLU on the sum, the layer shapes and MACs are the same as here."""
    return _resnet("resnet18_vta", (2, 2, 2, 2), bottleneck=False, project_first_blocks=True)


def resnet34() -> Network:
    return _resnet("resnet34", (3, 4, 6, 3), bottleneck=False)


def resnet50() -> Network:
    return _resnet("resnet50", (3, 4, 6, 3), bottleneck=True)


# ---- MobileNets ---------------------------------------------------------------------------
# (output channels, stride) of each depthwise-separable block, Howard et al. 2017, Table 1
_MOBILENET_V1_BLOCKS = ((64, 1), (128, 2), (128, 1), (256, 2), (256, 1), (512, 2),
                        (512, 1), (512, 1), (512, 1), (512, 1), (512, 1), (1024, 2), (1024, 1))


def mobilenet_v1() -> Network:
    """MobileNetV1 1.0-224. The paper uses BN + ReLU after every conv (TF ports use ReLU6)."""
    b = NetworkBuilder("mobilenet_v1", IMAGENET_INPUT)
    x = b.conv(None, 32, 3, 2, name="conv0")
    for i, (c_out, stride) in enumerate(_MOBILENET_V1_BLOCKS, start=1):
        c = b.shape(x)[0]
        x = b.conv(x, c, 3, stride, groups=c, name=f"block{i}.dw")
        x = b.conv(x, c_out, 1, 1, name=f"block{i}.pw")
    x = b.global_pool(x, name="avgpool")
    b.dense(x, IMAGENET_CLASSES, activation="none", name="fc")
    return b.build()


# (expansion t, output channels c, repeats n, first stride s), Sandler et al. 2018, Table 2
_MOBILENET_V2_SETTINGS = ((1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2),
                          (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1))


def mobilenet_v2() -> Network:
    """MobileNetV2 1.0-224 (torchvision): ReLU6 = ``clip``; the projection 1x1 is linear and
    the residual add has no activation (the "linear bottleneck")."""
    b = NetworkBuilder("mobilenet_v2", IMAGENET_INPUT)
    x = b.conv(None, 32, 3, 2, activation="clip", name="features.0")
    block = 1
    for t, c_out, repeats, first_stride in _MOBILENET_V2_SETTINGS:
        for i in range(repeats):
            stride = first_stride if i == 0 else 1
            c_in = b.shape(x)[0]
            prefix = f"features.{block}"
            y = x
            if t != 1:
                y = b.conv(y, c_in * t, 1, 1, activation="clip", name=f"{prefix}.expand")
            hidden = b.shape(y)[0]
            y = b.conv(y, hidden, 3, stride, groups=hidden, activation="clip",
                       name=f"{prefix}.dw")
            y = b.conv(y, c_out, 1, 1, activation="none", name=f"{prefix}.project")
            x = b.add(x, y, name=f"{prefix}.add") if stride == 1 and c_in == c_out else y
            block += 1
    x = b.conv(x, 1280, 1, 1, activation="clip", name=f"features.{block}")
    x = b.global_pool(x, name="avgpool")
    b.dense(x, IMAGENET_CLASSES, activation="none", name="classifier")
    return b.build()


# ---- VGG / AlexNet / SqueezeNet -----------------------------------------------------------
def vgg16() -> Network:
    """VGG-16 (configuration D, no BN). torchvision's adaptive 7x7 avg-pool is the identity at
    224x224, so it is not a layer; fc6 reads the 512x7x7 map directly."""
    b = NetworkBuilder("vgg16", IMAGENET_INPUT)
    x: int | None = None
    for stage, (c_out, n_convs) in enumerate(((64, 2), (128, 2), (256, 3), (512, 3), (512, 3)),
                                             start=1):
        for i in range(1, n_convs + 1):
            x = b.conv(x, c_out, 3, 1, name=f"conv{stage}_{i}")
        x = b.pool(x, kernel=2, stride=2, name=f"pool{stage}")
    x = b.dense(x, 4096, name="fc6")
    x = b.dense(x, 4096, name="fc7")
    b.dense(x, IMAGENET_CLASSES, activation="none", name="fc8")
    return b.build()


def alexnet() -> Network:
    """torchvision's AlexNet (the single-GPU "one weird trick" variant: 64/192/384/256/256
    filters, not the paper's two-GPU 96/256/384/384/256). The adaptive 6x6 avg-pool is the
    identity at 224x224."""
    b = NetworkBuilder("alexnet", IMAGENET_INPUT)
    x = b.conv(None, 64, 11, 4, padding=2, name="conv1")
    x = b.pool(x, kernel=3, stride=2, name="pool1")
    x = b.conv(x, 192, 5, 1, padding=2, name="conv2")
    x = b.pool(x, kernel=3, stride=2, name="pool2")
    x = b.conv(x, 384, 3, 1, name="conv3")
    x = b.conv(x, 256, 3, 1, name="conv4")
    x = b.conv(x, 256, 3, 1, name="conv5")
    x = b.pool(x, kernel=3, stride=2, name="pool5")
    x = b.dense(x, 4096, name="fc6")
    x = b.dense(x, 4096, name="fc7")
    b.dense(x, IMAGENET_CLASSES, activation="none", name="fc8")
    return b.build()


def _fire(b: NetworkBuilder, x: int, squeeze: int, expand: int, prefix: str) -> int:
    s = b.conv(x, squeeze, 1, 1, name=f"{prefix}.squeeze")
    e1 = b.conv(s, expand, 1, 1, name=f"{prefix}.expand1x1")
    e3 = b.conv(s, expand, 3, 1, name=f"{prefix}.expand3x3")
    return b.concat(e1, e3, name=f"{prefix}.concat")


def squeezenet1_1() -> Network:
    """SqueezeNet 1.1 (torchvision): max-pools use ceil_mode; the classifier is a 1x1 conv
    to 1000 channels (with ReLU) followed by a global average pool."""
    b = NetworkBuilder("squeezenet1_1", IMAGENET_INPUT)
    x = b.conv(None, 64, 3, 2, padding=0, name="conv1")
    fires = {3: (16, 64), 4: (16, 64), 6: (32, 128), 7: (32, 128),
             9: (48, 192), 10: (48, 192), 11: (64, 256), 12: (64, 256)}
    for index in range(2, 13):  # torchvision's features.N numbering
        if index in fires:
            x = _fire(b, x, *fires[index], prefix=f"features.{index}")
        elif index in (2, 5, 8):
            x = b.pool(x, kernel=3, stride=2, ceil_mode=True, name=f"features.{index}")
    x = b.conv(x, IMAGENET_CLASSES, 1, 1, name="classifier.conv")
    b.global_pool(x, name="classifier.avgpool")
    return b.build()


# ---- GoogLeNet (Inception v1) --------------------------------------------------------------
# (1x1, 3x3 reduce, 3x3, "5x5" reduce, "5x5", pool projection) per inception block,
# Szegedy et al. 2015, Table 1 (= torchvision's googlenet)
_INCEPTION_BLOCKS = {
    "inception3a": (64, 96, 128, 16, 32, 32), "inception3b": (128, 128, 192, 32, 96, 64),
    "inception4a": (192, 96, 208, 16, 48, 64), "inception4b": (160, 112, 224, 24, 64, 64),
    "inception4c": (128, 128, 256, 24, 64, 64), "inception4d": (112, 144, 288, 32, 64, 64),
    "inception4e": (256, 160, 320, 32, 128, 128), "inception5a": (256, 160, 320, 32, 128, 128),
    "inception5b": (384, 192, 384, 48, 128, 128),
}


def _inception(b: NetworkBuilder, x: int, prefix: str) -> int:
    c1, r3, c3, r5, c5, pool_proj = _INCEPTION_BLOCKS[prefix]
    b1 = b.conv(x, c1, 1, 1, name=f"{prefix}.branch1")
    b2 = b.conv(b.conv(x, r3, 1, 1, name=f"{prefix}.branch2.0"), c3, 3, 1,
                name=f"{prefix}.branch2.1")
    # torchvision's "5x5" branch is a 3x3 (a known deviation it keeps for its weights)
    b3 = b.conv(b.conv(x, r5, 1, 1, name=f"{prefix}.branch3.0"), c5, 3, 1,
                name=f"{prefix}.branch3.1")
    p = b.pool(x, kernel=3, stride=1, padding=1, ceil_mode=True, name=f"{prefix}.branch4.0")
    b4 = b.conv(p, pool_proj, 1, 1, name=f"{prefix}.branch4.1")
    return b.concat(b1, b2, b3, b4, name=f"{prefix}.concat")


def googlenet() -> Network:
    """GoogLeNet (Inception v1) as torchvision builds it for inference: no auxiliary
    classifiers, BN after every conv, ceil_mode max-pools, the "5x5" branch a 3x3 (hence
    1.50 G MACs, where the paper's 5x5 gives 1.59 G)."""
    b = NetworkBuilder("googlenet", IMAGENET_INPUT)
    x = b.conv(None, 64, 7, 2, padding=3, name="conv1")
    x = b.pool(x, kernel=3, stride=2, ceil_mode=True, name="maxpool1")
    x = b.conv(x, 64, 1, 1, name="conv2")
    x = b.conv(x, 192, 3, 1, name="conv3")
    x = b.pool(x, kernel=3, stride=2, ceil_mode=True, name="maxpool2")
    for stage, pool in (("3", (3, 2)), ("4", (2, 2)), ("5", None)):
        for block in sorted(k for k in _INCEPTION_BLOCKS if k.startswith(f"inception{stage}")):
            x = _inception(b, x, block)
        if pool:
            x = b.pool(x, kernel=pool[0], stride=pool[1], ceil_mode=True,
                       name=f"maxpool{int(stage)}")
    x = b.global_pool(x, name="avgpool")
    b.dense(x, IMAGENET_CLASSES, activation="none", name="fc")
    return b.build()


# ---- DCGAN generator ----------------------------------------------------------------------
def dcgan(ngf: int = 128) -> Network:
    """The DCGAN generator (Radford et al. 2016, Figure 1): z (100) -> 4x4x1024 -> 8x8x512
    -> 16x16x256 -> 32x32x128 -> 64x64x3.

    ``ngf=128`` gives the paper's 1024 channels after the projection; the PyTorch example
    uses ``ngf=64`` (512 channels, a quarter of the MACs). The paper's "project and reshape"
    of z is written as a 4x4 stride-1 transposed convolution of a 1x1x100 input, which is
    the same arithmetic as a dense layer to 4*4*1024 and is how the PyTorch example builds
    it. The final tanh is not modelled (no ``tanh`` activation; it touches 12 K elements).
    """
    name = "dcgan" if ngf == 128 else f"dcgan_ngf{ngf}"
    b = NetworkBuilder(name, (100, 1, 1))
    x = b.conv_transpose(None, ngf * 8, kernel=4, stride=1, padding=0, name="project")
    for i, c_out in enumerate((ngf * 4, ngf * 2, ngf), start=1):
        x = b.conv_transpose(x, c_out, kernel=4, stride=2, padding=1, name=f"deconv{i}")
    b.conv_transpose(x, 3, kernel=4, stride=2, padding=1, activation="none", name="deconv4")
    return b.build()


# ---- small networks for fast tests elsewhere ---------------------------------------------
def tiny_chain() -> Network:
    """Five small convolutions on a 16x32x32 input, no branches."""
    b = NetworkBuilder("tiny_chain", (16, 32, 32))
    x = b.conv(None, 16, 3, 1, name="conv1")
    x = b.conv(x, 32, 3, 2, name="conv2")
    x = b.conv(x, 32, 3, 1, name="conv3")
    x = b.conv(x, 64, 1, 1, name="conv4")
    b.conv(x, 64, 3, 2, name="conv5")
    return b.build()


def tiny_residual() -> Network:
    """Six layers with one residual add (the stem output skips over two convs)."""
    b = NetworkBuilder("tiny_residual", (16, 32, 32))
    stem = b.conv(None, 32, 3, 1, name="stem")
    y = b.conv(stem, 32, 3, 1, name="block.conv1")
    y = b.conv(y, 32, 3, 1, activation="none", name="block.conv2")
    x = b.add(y, stem, activation="relu", name="block.add")
    x = b.conv(x, 64, 3, 2, name="down")
    b.conv(x, 64, 1, 1, name="head")
    return b.build()


# ---- synthetic networks (DLFusion studied synthesized layers) -----------------------------
SYNTHETIC_KINDS = ("chain", "residual", "mixed")
SYNTHETIC_DEFAULT_LAYERS = 12
_CHANNELS = (16, 32, 48, 64, 96, 128, 192, 256, 384, 512)
_INPUT_SIZES = (14, 28, 56, 112)
MIN_SPATIAL = 7


@lru_cache(maxsize=256)
def synthetic(seed: int, n_layers: int = SYNTHETIC_DEFAULT_LAYERS, kind: str = "mixed") -> Network:
    """A random but valid network with exactly ``n_layers`` layers, the same for a seed.

    ``kind`` picks the building blocks: ``chain`` (convolutions of kernel 1/3/5, depthwise
    convolutions and pools), ``residual`` (two-conv blocks with an ADD, a 1x1 projection on
    the skip when the shape changes, plus single convs) or ``mixed`` (both, and two-branch
    concat blocks). Channels are in 16..512, input maps 14..112 pixels square, and stride-2
    layers never shrink a map below 7x7. Half of the seeds end in a classifier head (a
    global pool + a dense layer). The name, ``synthetic:SEED:NLAYERS[:KIND]``, is what
    :func:`get_network` accepts to rebuild the same network.
    """
    if kind not in SYNTHETIC_KINDS:
        raise WorkloadError(f"synthetic kind {kind!r} is not one of {', '.join(SYNTHETIC_KINDS)}")
    if n_layers < 1:
        raise WorkloadError(f"synthetic network needs n_layers >= 1, got {n_layers}")
    rng = random.Random(f"fusiongym-synthetic:{seed}:{n_layers}:{kind}")
    dense_head = rng.random() < 0.5
    head_layers = 2 if dense_head and n_layers >= 3 else 0
    name = f"synthetic:{seed}:{n_layers}" + ("" if kind == "mixed" else f":{kind}")
    size = rng.choice(_INPUT_SIZES)
    b = NetworkBuilder(name, (rng.choice(_CHANNELS[:6]), size, size))
    x: int | None = None
    while len(b.layers) < n_layers - head_layers:
        budget = n_layers - head_layers - len(b.layers)
        x = _synthetic_block(b, rng, x, kind, budget)
    if head_layers:
        x = b.global_pool(x, name="head.gap")
        b.dense(x, rng.choice((10, 100, 1000)), activation="none", name="head.fc")
    return b.build()


def _synthetic_block(b: NetworkBuilder, rng: random.Random, x: int | None, kind: str,
                     budget: int) -> int:
    """Appends one block of at most ``budget`` layers; returns its output handle."""
    c, h, _ = b.shape(x)
    can_shrink = h // 2 >= MIN_SPATIAL
    choices = ["conv", "conv", "depthwise"] + (["pool"] if can_shrink and x is not None else [])
    if kind in ("residual", "mixed") and budget >= 3 and x is not None:
        choices += ["residual"] * (4 if kind == "residual" else 2)
    if kind == "mixed" and budget >= 3:
        choices += ["concat"]
    choice = rng.choice(choices)
    stride = 2 if can_shrink and rng.random() < 0.25 else 1
    n = len(b.layers)
    if choice == "conv":
        return b.conv(x, rng.choice(_CHANNELS), rng.choice((1, 3, 3, 5)), stride,
                      name=f"l{n}.conv")
    if choice == "depthwise":
        return b.conv(x, c, 3, stride, groups=c, name=f"l{n}.dw")
    if choice == "pool":
        mode = rng.choice(("max", "avg"))
        kernel, padding = rng.choice(((2, 0), (3, 1)))
        return b.pool(x, kernel, 2, padding, mode=mode, name=f"l{n}.{mode}pool")
    if choice == "residual":
        c_out = rng.choice(_CHANNELS) if stride == 2 or rng.random() < 0.3 else c
        needs_projection = stride != 1 or c_out != c
        if needs_projection and budget < 4:
            c_out, stride, needs_projection = c, 1, False
        y = b.conv(x, c_out, 3, stride, name=f"l{n}.res.conv1")
        y = b.conv(y, c_out, 3, 1, activation="none", name=f"l{n}.res.conv2")
        skip = b.conv(x, c_out, 1, stride, activation="none",
                      name=f"l{n}.res.proj") if needs_projection else x
        return b.add(y, skip, activation="relu", name=f"l{n}.res.add")
    # concat: an inception-style pair of branches, at most 512 channels together
    c1 = rng.choice(_CHANNELS[:7])
    c3 = rng.choice([ch for ch in _CHANNELS if c1 + ch <= 512])
    a = b.conv(x, c1, 1, 1, name=f"l{n}.cat.conv1x1")
    e = b.conv(x, c3, 3, 1, name=f"l{n}.cat.conv3x3")
    return b.concat(a, e, name=f"l{n}.cat")


# ---- registry -----------------------------------------------------------------------------
ZOO: dict[str, Callable[[], Network]] = {
    "resnet18": resnet18,
    "resnet18_vta": resnet18_vta,
    "resnet34": resnet34,
    "resnet50": resnet50,
    "mobilenet_v1": mobilenet_v1,
    "mobilenet_v2": mobilenet_v2,
    "vgg16": vgg16,
    "alexnet": alexnet,
    "squeezenet1_1": squeezenet1_1,
    "googlenet": googlenet,
    "efficientnet_b0": efficientnet_b0,
    "mobilenet_v3_large": mobilenet_v3_large,
    "dcgan": dcgan,
    "tiny_chain": tiny_chain,
    "tiny_residual": tiny_residual,
    "vit_b16": vit_b16,
    "bert_base": bert_base,
    "gpt2_prefill": gpt2_prefill,
    "tiny_transformer": tiny_transformer,
}


def zoo_names() -> list[str]:
    """Names of the built-in networks, in registry order (synthetic ones are not listed)."""
    return list(ZOO)


SYNTHETIC_PREFIX = "synthetic:"


@lru_cache(maxsize=4096)  # bounded: training may walk through many synthetic seeds
def get_network(name: str) -> Network:
    """A built-in network by name, or ``synthetic:SEED[:NLAYERS[:KIND]]``.

    Networks are immutable, so each is built once and shared.
    """
    if name in ZOO:
        return ZOO[name]()
    if name.startswith(SYNTHETIC_PREFIX):
        return _parse_synthetic(name)
    raise WorkloadError(f"unknown network {name!r}; valid: {', '.join(ZOO)}, "
                        "synthetic:SEED[:NLAYERS[:KIND]]")


def _parse_synthetic(name: str) -> Network:
    parts = name.split(":")[1:]
    usage = (f"bad synthetic network name {name!r}; use synthetic:SEED[:NLAYERS[:KIND]] "
             f"with integer SEED, NLAYERS >= 1 and KIND in {', '.join(SYNTHETIC_KINDS)}")
    if not 1 <= len(parts) <= 3:
        raise WorkloadError(usage)
    try:
        seed = int(parts[0])
        n_layers = int(parts[1]) if len(parts) > 1 else SYNTHETIC_DEFAULT_LAYERS
    except ValueError:
        raise WorkloadError(usage) from None
    kind = parts[2] if len(parts) > 2 else "mixed"
    if n_layers < 1 or kind not in SYNTHETIC_KINDS:
        raise WorkloadError(usage)
    return synthetic(seed, n_layers, kind)
