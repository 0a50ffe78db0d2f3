"""Checkpoints of the full training state with orbax, for stopping and resuming.

The state saved is everything :func:`gil_jax.training.fit.fit_many` needs to continue as if
it had never stopped: predictor, actor, critic, target networks, optimizer states,
replay buffer, RNG keys, step, hyper-parameters, best-on-validation parameters, plus
the history logged so far and a *fingerprint* of the run (config, seeds, data shapes,
schedule of host calls, and whatever the caller adds: the launcher adds its data
config and a digest of the data).  Resuming with a different fingerprint is an error
naming every field that differs; a corrupt newest checkpoint is skipped, with a
warning, for the previous good one.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import warnings
from typing import Any, Sequence

import jax
import numpy as np
import orbax.checkpoint as ocp


def fingerprint(config, seeds: Sequence[int], hparams, train, val,
                evals_per_call: int | None = None, extra: dict | None = None) -> dict:
  """What must agree between a checkpoint and the run that resumes from it.

  Args:
    config: the runs' :class:`gil_jax.config.TrainConfig`.
    seeds, hparams: one per run.
    train, val: the (stacked) splits; their shapes enter the fingerprint.
    evals_per_call: evaluations per host call, i.e. the schedule of checkpoints: a
      checkpoint is only ever taken after a whole call, so resuming with another
      chunking would not end at ``num_steps``.
    extra: further entries that define the run (e.g. the launcher's data config and
      a digest of the data); each key becomes a top-level entry.
  """
  out = {
      "config": jsonable(config),
      "seeds": [int(s) for s in seeds],
      "hparams": [jsonable(jax.tree.map(float, h)) for h in hparams],
      "train_shapes": jsonable(jax.tree.map(lambda v: list(np.shape(v)), train)),
      "val_shapes": jsonable(jax.tree.map(lambda v: list(np.shape(v)), val)),
  }
  if evals_per_call is not None:
    out["evals_per_call"] = int(evals_per_call)
  for key, value in (extra or {}).items():
    if key in out:
      raise ValueError(f"fingerprint entry {key!r} is reserved")
    out[key] = jsonable(value)
  return out


def data_digest(*trees) -> str:
  """A digest of every array in ``trees`` (dtype, shape and bytes), e.g. of a run's
  splits: two runs whose configs agree but whose data differ (a data file replaced,
  a loader changed) have different digests."""
  h = hashlib.blake2b(digest_size=16)
  for leaf in jax.tree.leaves(trees):
    a = np.ascontiguousarray(np.asarray(leaf))
    h.update(f"{a.dtype.str}{a.shape}".encode())
    h.update(a.data)
  return h.hexdigest()


def jsonable(obj):
  """``obj`` with dicts, dataclasses, NamedTuples, tuples and numpy scalars turned
  into the JSON types they are stored as (so that a stored fingerprint compares
  equal).  A dataclass keeps its class name, so two sources' configs with equal
  fields still differ."""
  if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
    fields = {f.name: getattr(obj, f.name) for f in dataclasses.fields(obj)}
    return {"class": type(obj).__name__, **jsonable(fields)}
  if isinstance(obj, dict):
    return {str(k): jsonable(v) for k, v in obj.items()}
  if isinstance(obj, tuple) and hasattr(obj, "_asdict"):
    return jsonable(obj._asdict())
  if isinstance(obj, (list, tuple)):
    return [jsonable(v) for v in obj]
  if isinstance(obj, (np.integer,)):
    return int(obj)
  if isinstance(obj, (np.floating,)):
    return float(obj)
  return obj


def differences(saved, current, path: str = "") -> list[str]:
  """Every path at which two JSON-like values differ, with both values.

  Returns:
    ``["config.hidden (checkpoint: [16], now: [8, 16])", ...]``; empty if equal.
  """
  if isinstance(saved, dict) and isinstance(current, dict):
    out = []
    for key in sorted(set(saved) | set(current)):
      if key not in saved:
        out.append(f"{path}{key} (not in the checkpoint)")
      elif key not in current:
        out.append(f"{path}{key} (only in the checkpoint)")
      else:
        out += differences(saved[key], current[key], f"{path}{key}.")
    return out
  if saved != current:
    return [f"{path.rstrip('.')} (checkpoint: {saved!r}, now: {current!r})"]
  return []


def describe_differences(diffs: list[str], limit: int = 6) -> str:
  """``diffs`` as one line, at most ``limit`` of them named."""
  shown = "; ".join(diffs[:limit])
  return shown + (f"; and {len(diffs) - limit} more" if len(diffs) > limit else "")


def saved_steps(directory: str) -> list[int]:
  """The steps of the finished checkpoints in ``directory`` (ascending; [] if none
  or no such directory).  Unfinished saves (orbax's temporary folders) are not
  counted."""
  if not os.path.isdir(directory):
    return []
  return sorted(int(name) for name in os.listdir(directory)
                if name.isdigit() and os.path.isdir(os.path.join(directory, name)))


def read_fingerprint(directory: str) -> tuple[int, dict] | None:
  """``(step, fingerprint)`` of the newest checkpoint in ``directory`` whose
  metadata can be read, or None.  Reads no state (cheap: a pre-flight check)."""
  steps = saved_steps(directory)
  if not steps:
    return None
  manager = ocp.CheckpointManager(os.path.abspath(directory),
                                  options=ocp.CheckpointManagerOptions(create=False))
  try:
    for step in reversed(steps):
      try:
        meta = manager.restore(step, args=ocp.args.Composite(
            meta=ocp.args.JsonRestore()))["meta"]
      except Exception:  # noqa: BLE001 - unreadable: try an older one
        continue
      return step, meta["fingerprint"]
    return None
  finally:
    manager.close()


class Checkpointer:
  """Saves and restores the training state of a group of runs in one directory."""

  def __init__(self, directory: str, keep: int, fingerprint: dict):
    self.directory = os.path.abspath(directory)
    self.fingerprint = jsonable(fingerprint)
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
        errors.append(f"step {step}: {type(e).__name__}: {_short(e)}")
        warnings.warn(f"checkpoint {self.directory}/{step} is unreadable "
                      f"({_short(e)}); trying an older one (a good one found "
                      "replaces it)")
        continue
      diffs = differences(meta["fingerprint"], self.fingerprint)
      if diffs:
        raise ValueError(f"cannot resume from {self.directory}: its checkpoint (step "
                         f"{step}) was written by a different run: "
                         f"{describe_differences(diffs)}")
      try:
        abstract = jax.tree.map(ocp.utils.to_shape_dtype_struct, _savable(like))
        state = self.manager.restore(step, args=ocp.args.Composite(
            state=ocp.args.StandardRestore(abstract)))["state"]
      except Exception as e:  # noqa: BLE001
        errors.append(f"step {step}: {type(e).__name__}: {_short(e)}")
        warnings.warn(f"checkpoint {self.directory}/{step} is corrupt "
                      f"({_short(e)}); trying an older one (a good one found "
                      "replaces it)")
        continue
      history = [{k: np.asarray(v) for k, v in h.items()} for h in meta["history"]]
      # The newer, unreadable checkpoints go: orbax would otherwise skip every
      # save up to their step, and the next resume would fall back here again.
      for bad in steps[:steps.index(step)]:
        self.manager.delete(bad)
      return _unsavable(state, like), history
    raise ValueError(f"no readable checkpoint in {self.directory}: "
                     + "; ".join(errors))


def _short(error: Exception, limit: int = 300) -> str:
  """The first line of an error, cut to ``limit`` characters (TensorStore's
  messages run to pages)."""
  text = (str(error).strip().splitlines() or [type(error).__name__])[0]
  return text if len(text) <= limit else text[:limit] + " ..."


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
