"""What a resumed run must agree on, and the checks of ``WORKDIR/checkpoints``.

A checkpoint holds a *fingerprint* of the run that wrote it
(:func:`gil_jax.training.checkpoint.fingerprint`): the trainer config, seeds, shapes and
steps per host call, plus what the launcher adds: :func:`run_fingerprint` (every
field of the experiment config that defines a run's data and schedule: dataset,
every ``data`` field, scaling, placeholder, split fields and seeds, mask seeds,
``steps_per_call``, the train and exploration settings, imputer options ...), the
method's name and a digest of its data.  Resuming after changing any of them would
restore one run's parameters and score them on another's data.

:func:`check_checkpoints` runs before any data is loaded, so that a wrong
``--resume`` or a workdir holding an earlier run's checkpoints stops the launcher
at once, naming what differs; the full comparison (data digest, shapes) follows in
:func:`gil_jax.training.fit.fit_many` when each method restores its state.
"""

from __future__ import annotations

import os
import shutil

import ml_collections

from gil_jax.training import checkpoint as ckpt_lib

# Config fields that do not change any run's numbers: which methods run (each
# method has its own checkpoints), the grid (expanded into one config per
# setting before this), and whether checkpoints are written.
NOT_IN_FINGERPRINT = ("methods", "grid", "checkpoint_every_call")


def run_fingerprint(config: ml_collections.ConfigDict) -> dict:
  """The experiment config's fields that define a run (all but
  :data:`NOT_IN_FINGERPRINT`), as JSON-like values."""
  return ckpt_lib.jsonable({k: v for k, v in config.to_dict().items()
                             if k not in NOT_IN_FINGERPRINT})


def checkpoint_dir(workdir: str, method: str | None = None) -> str:
  """``WORKDIR/checkpoints`` (absolute), or the one of ``method`` under it."""
  root = os.path.join(os.path.abspath(workdir), "checkpoints")
  return root if method is None else os.path.join(root, method)


def _saved_dirs(workdir: str, method: str) -> list[str]:
  """The directories of ``method``'s checkpoints that hold any: its own, and
  those of its groups of equal shapes (``shape_group_G``: K folds of unequal
  size, see :func:`launch.experiment.run`)."""
  directory = checkpoint_dir(workdir, method)
  if not os.path.isdir(directory):
    return []
  dirs = [directory] + [os.path.join(directory, d)
                        for d in sorted(os.listdir(directory))
                        if d.startswith("shape_group_")]
  return [d for d in dirs if ckpt_lib.saved_steps(d)]


def saved_methods(workdir: str) -> dict[str, list[int]]:
  """``{method: [steps]}`` of the checkpoints under ``WORKDIR/checkpoints`` (the
  union over a method's groups of equal shapes)."""
  root = checkpoint_dir(workdir)
  if not os.path.isdir(root):
    return {}
  out = {}
  for method in sorted(os.listdir(root)):
    steps = sorted({s for d in _saved_dirs(workdir, method)
                    for s in ckpt_lib.saved_steps(d)})
    if steps:
      out[method] = steps
  return out


def check_checkpoints(config: ml_collections.ConfigDict, workdir: str, *,
                      resume: bool, overwrite: bool) -> dict[str, list[int]]:
  """Checks ``WORKDIR/checkpoints`` against the command; returns what is saved.

  * ``resume``: needs ``config.checkpoint_every_call``; every method's newest
    checkpoint must have been written with the same :func:`run_fingerprint`
    (else a ``ValueError`` naming each field that differs, with both values).
  * no ``resume``: checkpoints of an earlier run are an error (orbax would skip
    every step up to them without a word, and a later ``--resume`` would restore
    the earlier run); ``overwrite`` deletes ``WORKDIR/checkpoints`` instead.

  Returns:
    ``{method: [steps]}`` saved under ``WORKDIR/checkpoints`` (after any
    ``overwrite``: empty).
  """
  if resume and overwrite:
    raise ValueError("--resume continues the checkpoints that --overwrite would "
                     "delete: give one of them")
  saved = saved_methods(workdir)
  root = checkpoint_dir(workdir)
  if resume:
    if not config.checkpoint_every_call:
      raise ValueError("--resume needs --config.checkpoint_every_call=True (as in "
                       "the run it continues; without it nothing is saved)")
    expected = run_fingerprint(config)
    for method, directory in [(m, d) for m in saved
                              for d in _saved_dirs(workdir, m)]:
      found = ckpt_lib.read_fingerprint(directory)
      if found is None:
        continue          # unreadable: fit_many falls back or says why
      step, fingerprint = found
      if "experiment" not in fingerprint:
        raise ValueError(f"--resume: the checkpoints in {root} predate the run "
                         "fingerprint, so they cannot be checked against this "
                         "config; rerun with --overwrite")
      diffs = ckpt_lib.differences(fingerprint["experiment"], expected, "config.")
      if diffs:
        raise ValueError(
            f"--resume: the checkpoint of {method} (step {step}) in {root} was "
            f"written by a different run: {ckpt_lib.describe_differences(diffs)}; "
            "rerun with the original values, or with --overwrite to start afresh")
    return saved
  if saved:
    if overwrite:
      # Every host of a multi-host run deletes: whoever comes second finds less.
      shutil.rmtree(root, ignore_errors=True)
      return {}
    listed = ", ".join(f"{m} up to step {max(s)}" for m, s in saved.items())
    raise ValueError(f"{root} holds checkpoints of an earlier run ({listed}): pass "
                     "--resume to continue that run, or --overwrite to delete them "
                     "and start afresh")
  return saved
