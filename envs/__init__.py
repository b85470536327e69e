"""Gymnasium environments over the accelerator model (no RL library imports here).

Importing this package registers ``fusiongym/Fusion-v0``::

    import gymnasium, envs
    env = gymnasium.make("fusiongym/Fusion-v0")  # ResNet-18, MobileNetV1, SqueezeNet; dlfusion16
    env = gymnasium.make("fusiongym/Fusion-v0", networks=["resnet18", "synthetic:3"], hw="pynq")
"""

from gymnasium.envs.registration import register, registry

ENV_ID = "fusiongym/Fusion-v0"

if ENV_ID not in registry:
    register(id=ENV_ID, entry_point="envs.fusion_env:FusionEnv")

__all__ = ["ENV_ID"]
