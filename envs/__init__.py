"""Gymnasium environments over the accelerator model (no RL library imports here).

Importing this package registers ``fusiongym/Fusion-v0``::

    import gymnasium, envs
    env = gymnasium.make("fusiongym/Fusion-v0")  # ResNet-18, MobileNetV1, SqueezeNet; mlu100
    env = gymnasium.make("fusiongym/Fusion-v0", networks=["resnet18", "synthetic:3"], hw="pynq")

and ``fusiongym/Place-v0`` (:class:`envs.placement_env.PlacementEnv`: placements of several
requests at once, core counts as fractions of the chip)::

    env = gymnasium.make("fusiongym/Place-v0", workloads=["resnet18x2", "mobilenet_v2+resnet18"])
"""

from gymnasium.envs.registration import register, registry

ENV_ID = "fusiongym/Fusion-v0"
PLACE_ENV_ID = "fusiongym/Place-v0"

if ENV_ID not in registry:
    register(id=ENV_ID, entry_point="fusiongym.envs.fusion_env:FusionEnv")
if PLACE_ENV_ID not in registry:
    register(id=PLACE_ENV_ID, entry_point="fusiongym.envs.placement_env:PlacementEnv")

__all__ = ["ENV_ID", "PLACE_ENV_ID"]
