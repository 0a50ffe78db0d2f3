"""gil_jax: Gradient Importance Learning (Gao et al., ICLR 2022) in JAX.

Data flow: ``data`` (arrays with NaN -> splits, masks) -> ``missingness`` (simulated
masks) -> ``train`` (batches -> predictor update with ``importance``-weighted encoder
gradients -> ``policy`` / ``ddpg`` / ``replay`` update) -> ``metrics``.
"""

__version__ = "0.1.0"
