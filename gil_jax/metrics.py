"""Evaluation metrics: on-device scores for model selection, sklearn metrics for reports."""

from __future__ import annotations

import warnings

import jax
import jax.numpy as jnp
import numpy as np
from sklearn import metrics as skm

SELECTION_METRICS = ("accuracy", "auroc", "neg_loss")


def cross_entropy(logits: jax.Array, labels: jax.Array) -> jax.Array:
  """Per-sample softmax cross-entropy ``-log p(y | x)``."""
  logp = jax.nn.log_softmax(logits, axis=-1)
  return -jnp.take_along_axis(logp, labels[..., None], axis=-1)[..., 0]


def binary_auroc(scores: jax.Array, labels: jax.Array) -> jax.Array:
  """AUROC by the Mann-Whitney statistic with average ranks for ties (jittable)."""
  ranks = jax.scipy.stats.rankdata(scores)
  pos = (labels == 1).astype(jnp.float32)
  n_pos = pos.sum()
  n_neg = pos.shape[0] - n_pos
  u = (ranks * pos).sum() - n_pos * (n_pos + 1) / 2
  return u / jnp.maximum(n_pos * n_neg, 1.0)


def selection_score(metric: str, logits: jax.Array, labels: jax.Array) -> jax.Array:
  """Higher-is-better validation score used to keep the best parameters (jittable)."""
  if metric == "accuracy":
    return jnp.mean(jnp.argmax(logits, -1) == labels)
  if metric == "neg_loss":
    return -jnp.mean(cross_entropy(logits, labels))
  if metric == "auroc":
    if logits.shape[-1] != 2:
      raise ValueError("selection metric 'auroc' needs a binary task; use 'accuracy'")
    return binary_auroc(logits[:, 1] - logits[:, 0], labels)
  raise ValueError(
      f"unknown selection metric {metric!r}; choose from {SELECTION_METRICS}")


def classification_metrics(labels: np.ndarray, probs: np.ndarray) -> dict[str, float]:
  """Accuracy, AUROC and (binary tasks) AUPRC, as fractions in [0, 1].

  Accuracy takes the argmax (for two classes this is the 0.5 threshold).  AUROC is
  macro one-vs-rest for more than two classes.  A metric that is undefined on this
  split (e.g. AUROC with one class present) is NaN, with a warning.
  """
  labels = np.asarray(labels)
  probs = np.asarray(probs, np.float64)
  num_classes = probs.shape[-1]
  out = {"accuracy": float(np.mean(np.argmax(probs, -1) == labels))}
  if len(np.unique(labels)) < num_classes:
    warnings.warn("AUROC/AUPRC undefined: not every class occurs in this split")
    out["auroc"] = float("nan")
    if num_classes == 2:
      out["auprc"] = float("nan")
    return out
  if num_classes == 2:
    out["auroc"] = float(skm.roc_auc_score(labels, probs[:, 1]))
    out["auprc"] = float(skm.average_precision_score(labels, probs[:, 1]))
  else:
    probs = probs / probs.sum(-1, keepdims=True)  # float32 softmax may not sum to 1
    out["auroc"] = float(skm.roc_auc_score(labels, probs, multi_class="ovr",
                                           average="macro"))
  return out
