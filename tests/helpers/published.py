"""Published MAC counts of the zoo networks, and how close ours must be."""

MAC_TOLERANCE = 0.03  # published figures are rounded to 2-3 significant digits

# Multiply-accumulates at 224x224, batch 1, and where each figure is published.
# (torchvision's model docs list "GFLOPS" that are in fact GMACs: 1.81 for ResNet-18.)
PUBLISHED_MACS = {
    "resnet18": 1.82e9,  # He et al. 2016, Table 1 ("1.8 x 10^9 FLOPs"); torchvision 1.81
    "resnet18_vta": 1.82e9,  # the same network plus one 12.8 M-MAC 1x1 shortcut
    "resnet34": 3.6e9,  # He et al. 2016, Table 1 ("3.6 x 10^9"); torchvision 3.66
    "resnet50": 4.1e9,  # torchvision docs, ResNet50_Weights.IMAGENET1K_V1 (v1.5): 4.09
    "mobilenet_v1": 569e6,  # Howard et al. 2017, Table 1 / Table 8: 569 million mult-adds
    "mobilenet_v2": 300e6,  # Sandler et al. 2018, Table 4: 300 M multiply-adds; tv 0.30
    "vgg16": 15.5e9,  # torchvision docs, VGG16_Weights: 15.47; Simonyan & Zisserman
    "alexnet": 0.72e9,  # torchvision docs, AlexNet_Weights: 0.71 (the single-GPU variant)
    "squeezenet1_1": 0.35e9,  # torchvision docs, SqueezeNet1_1_Weights: 0.35
    # Szegedy et al. 2015 (Section 5: "1.5 billion multiply-adds"); torchvision docs,
    # GoogLeNet_Weights: 1.50 (its "5x5" branch is a 3x3; the paper's 5x5 gives 1.59 G)
    "googlenet": 1.5e9,
    "efficientnet_b0": 0.39e9,  # Tan & Le 2019, Table 2: 0.39 B FLOPS (= multiply-adds)
    "mobilenet_v3_large": 219e6,  # Howard et al. 2019, Table 3: 219 M MAdds
    # transformers, batch 1 (tests/test_transformers.py checks the exact hand counts)
    "vit_b16": 17.5e9,  # Liu et al. 2021 (Swin), Table 1: DeiT-B = ViT-B/16 at 224^2, 17.5 G
    "bert_base": 22.5e9 / 2,  # Jiao et al. 2020 (TinyBERT), Table 1: 22.5 G FLOPs, seq 128
    # Kaplan et al. 2020, Table 1: 2N + 2 n_layer n_ctx d_attn FLOPs per token, N = 85 M,
    # 256 tokens (they count one of the two attention products: ours is 2.7% above)
    "gpt2_prefill": 256 * (12 * 12 * 768**2 + 12 * 256 * 768),
}

# Parameter counts from the torchvision model docs; ours count weights only (no biases or
# BatchNorm parameters), one byte each at int8.
