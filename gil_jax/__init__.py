"""gil_jax: Gradient Importance Learning (Gao et al., ICLR 2022) in JAX.

Training on inputs with missing entries without imputing them first: the encoder's
kernel gradient of a batch is ``sum_b (x_b * a_b)^T delta_b`` (eq. 4), where the
importance ``a`` comes from a pluggable source (GIL's DDPG policy, a fixed rule,
held-out credit, a meta-learned network, or yours).

The data flow, one sub-package each:
``data`` (arrays with NaN -> splits, masks) -> ``models`` (Flax predictors) ->
``importance`` (the rule of eq. 4) -> ``predictor`` (a model, its optimizer and the
rule) -> ``sources`` (what produces ``a``) -> ``training`` (the step, the on-device
loop, many runs as one program) -> ``metrics``; ``methods`` and ``estimator`` put
data transforms, sources and models together; ``baselines`` are the paper's other
methods; ``authors`` holds the authors' code choices as switches.

The names below are the stable surface; everything else is importable from its
module.
"""

from gil_jax import data, metrics, models, sources, training  # noqa: F401
from gil_jax.authors.predictor import AuthorsPredictor
from gil_jax.config import (HParams, TrainConfig, default_hparams, from_options,
                            to_options)
from gil_jax.data import Prepared, RawSequences, RawTabular, Split
from gil_jax.data import prepare_sequences, prepare_tabular
from gil_jax.data.missingness import mar_mask, mcar_mask
from gil_jax.estimator import GILClassifier
from gil_jax.importance import (ImportanceDense, encoder_cotangents,
                                importance_matmul, importance_weighted_encoder)
from gil_jax.methods import (METHODS, MethodSpec, method_names, method_spec,
                             register_method)
from gil_jax.models import Model, register_model
from gil_jax.predictor import (Predictor, StepContext, make_optimizer,
                               make_predictor)
from gil_jax.sources import (ImportanceSource, make_source, register_source,
                             source_names)
from gil_jax.sources.constant import ConstConfig
from gil_jax.sources.credit import (draw_heldout_rows, heldout_credit,
                                    kernel_jacobian, own_loss_sensitivity,
                                    policy_diagnostics)
from gil_jax.sources.l2rw import L2RWConfig
from gil_jax.sources.meta import MetaConfig
from gil_jax.sources.policy.ddpg import make_ddpg
from gil_jax.sources.policy.exploration import Exploration
from gil_jax.sources.policy.heldout import HeldoutPolicyConfig
from gil_jax.sources.policy.source import GILDConfig, PolicyConfig
from gil_jax.training.callbacks import (Callback, Checkpointing, Profiling,
                                        Progress)
from gil_jax.training.fit import FitResult, fit, fit_many, runs_mesh
from gil_jax.training.state import TrainState
from gil_jax.training.step import Trainer, make_trainer

__version__ = "0.2.0"

__all__ = [
    # Configuration.
    "TrainConfig", "HParams", "default_hparams", "from_options", "to_options",
    "AuthorsPredictor",
    # Data.
    "RawTabular", "RawSequences", "Split", "Prepared", "prepare_tabular",
    "prepare_sequences", "mcar_mask", "mar_mask",
    # The rule (eq. 4).
    "importance_matmul", "ImportanceDense", "importance_weighted_encoder",
    "encoder_cotangents",
    # Models and the predictor.
    "Model", "register_model", "Predictor", "StepContext", "make_predictor",
    "make_optimizer",
    # Importance sources.
    "ImportanceSource", "register_source", "make_source", "source_names",
    "PolicyConfig", "GILDConfig", "HeldoutPolicyConfig", "Exploration",
    "L2RWConfig", "MetaConfig", "ConstConfig", "make_ddpg",
    # Exact credit.
    "kernel_jacobian", "own_loss_sensitivity", "heldout_credit",
    "draw_heldout_rows", "policy_diagnostics",
    # Training.
    "TrainState", "Trainer", "make_trainer", "fit", "fit_many", "FitResult",
    "runs_mesh", "Callback", "Checkpointing", "Progress", "Profiling",
    # Methods and the estimator.
    "METHODS", "MethodSpec", "method_names", "method_spec", "register_method",
    "GILClassifier",
    "__version__",
]
