"""Checkpoints of the full training state with orbax, for stopping and resuming.

The state saved is everything :func:`gil_jax.train.fit_many` needs to continue as if
it had never stopped: predictor, actor, critic, target networks, optimizer states,
replay buffer, RNG keys, step, hyper-parameters, best-on-validation parameters, plus
the history logged so far and a *fingerprint* of the run (config, seeds, data shapes).
Resuming with a different fingerprint is an error naming the field that differs; a
corrupt newest checkpoint is skipped, with a warning, for the previous good one.
"""

from __future__ import annotations

import dataclasses
import os
import warnings
from typing import Any, Sequence

import jax
import numpy as np
import orbax.checkpoint as ocp


def fingerprint(config, seeds: Sequence[int], hparams, train, val) -> dict:
  """What must agree between a checkpoint and the run that resumes from it."""
  cfg = dataclasses.asdict(config)
  cfg["exploration"] = dict(config.exploration._asdict())
  return {
      "config": _jsonable(cfg),
      "seeds": [int(s) for s in seeds],
      "hparams": [_jsonable({k: float(v) for k, v in h._asdict().items()})
                  for h in hparams],
      "train_shapes": _jsonable(jax.tree.map(lambda v: list(np.shape(v)), train)),
      "val_shapes": _jsonable(jax.tree.map(lambda v: list(np.shape(v)), val)),
  }


def _jsonable(obj):
  if isinstance(obj, dict):
    return {str(k): _jsonable(v) for k, v in obj.items()}
  if isinstance(obj, tuple) and hasattr(obj, "_asdict"):
    return _jsonable(obj._asdict())
  if isinstance(obj, (list, tuple)):
    return [_jsonable(v) for v in obj]
  if isinstance(obj, (np.integer,)):
    return int(obj)
  if isinstance(obj, (np.floating,)):
    return float(obj)
  return obj


def _diff(saved, current, path=""):
  """The first path at which two JSON-like values differ, or None."""
  if isinstance(saved, dict) and isinstance(current, dict):
    for key in sorted(set(saved) | set(current)):
      if key not in saved or key not in current:
        return f"{path}{key}"
      d = _diff(saved[key], current[key], f"{path}{key}.")
      if d is not None:
        return d
    return None
  if saved != current:
    return f"{path.rstrip('.')} (checkpoint: {saved!r}, now: {current!r})"
  return None


class Checkpointer:
  """Saves and restores the training state of a group of runs in one directory."""

  def __init__(self, directory: str, keep: int, fingerprint: dict):
    self.directory = os.path.abspath(directory)
    self.fingerprint = _jsonable(fingerprint)
    # Synchronous saves: the next training call donates the state's buffers.
    self.manager = ocp.CheckpointManager(
        self.directory,
        options=ocp.CheckpointManagerOptions(max_to_keep=keep, create=True,
                                             enable_async_checkpointing=False))

  def save(self, step: int, state: Any, history: list[dict]) -> None:
    meta = {"fingerprint": self.fingerprint,
            "history": [{k: np.asarray(v).tolist() for k, v in h.items()}
                        for h in history]}
    self.manager.save(step, args=ocp.args.Composite(
        state=ocp.args.StandardSave(_savable(state)),
        meta=ocp.args.JsonSave(meta)))

  def restore_latest(self, like: Any) -> tuple[Any, list[dict]] | None:
    """``(state, history)`` from the newest good checkpoint, or None if there is none.

    Raises:
      ValueError: the checkpoint belongs to a different run (names the field), or
        every checkpoint in the directory is unreadable.
    """
    steps = sorted(self.manager.all_steps(), reverse=True)
    if not steps:
      return None
    errors = []
    for step in steps:
      try:
        meta = self.manager.restore(step, args=ocp.args.Composite(
            meta=ocp.args.JsonRestore()))["meta"]
      except Exception as e:  # noqa: BLE001 - any read failure means "corrupt"
        errors.append(f"step {step}: {type(e).__name__}: {e}")
        warnings.warn(f"checkpoint {self.directory}/{step} is unreadable ({e}); "
                      f"trying an older one")
        continue
      diff = _diff(meta["fingerprint"], self.fingerprint)
      if diff is not None:
        raise ValueError(f"cannot resume from {self.directory}: the checkpoint was "
                         f"written by a different run; first difference: {diff}")
      try:
        abstract = jax.tree.map(ocp.utils.to_shape_dtype_struct, _savable(like))
        state = self.manager.restore(step, args=ocp.args.Composite(
            state=ocp.args.StandardRestore(abstract)))["state"]
      except Exception as e:  # noqa: BLE001
        errors.append(f"step {step}: {type(e).__name__}: {e}")
        warnings.warn(f"checkpoint {self.directory}/{step} is corrupt ({e}); "
                      f"trying an older one")
        continue
      history = [{k: np.asarray(v) for k, v in h.items()} for h in meta["history"]]
      return _unsavable(state, like), history
    raise ValueError(f"no readable checkpoint in {self.directory}: "
                     + "; ".join(errors))


def _savable(tree):
  """Plain nested dicts of arrays for orbax: NamedTuples become dicts and ``None``
  subtrees (e.g. no policy for plain methods) empty dicts."""
  if tree is None:
    return {}
  if isinstance(tree, tuple) and hasattr(tree, "_fields"):
    return {f: _savable(v) for f, v in zip(tree._fields, tree)}
  if isinstance(tree, dict):
    return {k: _savable(v) for k, v in tree.items()}
  if isinstance(tree, (list, tuple)):
    return {str(i): _savable(v) for i, v in enumerate(tree)}
  return tree


def _unsavable(saved, like):
  """Rebuilds the structure of ``like`` from the dict tree that orbax returns."""
  if like is None:
    return None
  if isinstance(like, tuple) and hasattr(like, "_fields"):
    return type(like)(*[_unsavable(saved[f], v) for f, v in zip(like._fields, like)])
  if isinstance(like, dict):
    return {k: _unsavable(saved[k], v) for k, v in like.items()}
  if isinstance(like, (list, tuple)):
    return type(like)(_unsavable(saved[str(i)], v) for i, v in enumerate(like))
  return saved
