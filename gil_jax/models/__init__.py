"""Predictor networks (Flax modules) and their registry.

* :mod:`~gil_jax.models.base`: :class:`Model`, what the trainer needs from a network,
  and :func:`register_model`;
* :mod:`~gil_jax.models.mlp`: the MLP (``model="mlp"``);
* :mod:`~gil_jax.models.lstm`: the LSTM whose input kernels are the encoder
  (``"lstm"``);
* :mod:`~gil_jax.models.grud`: GRU-D, the time-series baseline (``"grud"``);
* :mod:`~gil_jax.models.brits`: BRITS, bidirectional recurrent imputation trained
  with the classifier (``"brits"``).
"""

from gil_jax.models import brits, grud, lstm, mlp  # noqa: F401  (registers the models)
from gil_jax.models.base import Model, make_model, model_names, register_model
from gil_jax.models.grud import GRUD
from gil_jax.models.lstm import LSTMFeatures, LSTMPredictor
from gil_jax.models.mlp import MLPPredictor

__all__ = ["GRUD", "LSTMFeatures", "LSTMPredictor", "MLPPredictor", "Model",
           "make_model", "model_names", "register_model"]
