"""What happens around each host call of :func:`gil_jax.training.fit.fit_many`.

A host call runs many steps on the device (``steps_per_call``); between calls the
host may checkpoint, report progress or profile.  Each is a :class:`Callback` with
three hooks, all optional:

* ``start(group, state, history) -> (state, history)``: before the first call (a
  checkpoint restores here);
* ``before_call(group, call, first_call, total_calls)``;
* ``after_call(group, call, state, history)``: ``history`` is the list of the calls'
  metrics so far (host arrays, one row per run).
"""

from __future__ import annotations

import time
import warnings
from typing import Any, Callable

import jax
import numpy as np

from gil_jax.training import checkpoint as ckpt_lib


class Callback:
  """A no-op callback; subclasses override the hooks they need."""

  def start(self, group, state, history: list[dict]) -> tuple[Any, list[dict]]:
    del group
    return state, history

  def before_call(self, group, call: int, first_call: int, total_calls: int) -> None:
    del group, call, first_call, total_calls

  def after_call(self, group, call: int, state, history: list[dict]) -> None:
    del group, call, state, history


def to_host(tree):
  """Device arrays -> numpy; across hosts, gathers the runs every host holds."""
  if jax.process_count() > 1:
    from jax.experimental import multihost_utils
    return multihost_utils.process_allgather(tree, tiled=True)
  return jax.device_get(tree)


class Checkpointing(Callback):
  """Saves the full state after every call (orbax); resumes from the newest good one.

  Args:
    directory: where the checkpoints go.  Without ``resume`` it must hold none
      (orbax would silently skip every step up to the newest).
    resume: continue from the newest good checkpoint, whose fingerprint (config,
      seeds, hyper-parameters, shapes, steps per call and ``extra``) must equal
      this group's; with no checkpoint there, a warning and step 0.
    keep: how many checkpoints to keep.
    extra: further entries that define the runs (e.g. the launcher's data config
      and a digest of the data), compared on resume.
    on_resume: called with the restored step.
  """

  def __init__(self, directory: str, *, resume: bool = False, keep: int = 3,
               extra: dict | None = None,
               on_resume: Callable[[int], None] | None = None):
    self.directory, self.resume, self.keep = directory, resume, keep
    self.extra, self.on_resume = extra, on_resume
    self.manager = None

  def start(self, group, state, history):
    if not self.resume and ckpt_lib.saved_steps(self.directory):
      raise ValueError(
          f"{self.directory} already holds checkpoints (steps "
          f"{ckpt_lib.saved_steps(self.directory)}) of an earlier run; pass "
          "resume=True to continue it, or remove the directory to start afresh")
    self.manager = ckpt_lib.Checkpointer(
        self.directory, keep=self.keep, fingerprint=ckpt_lib.fingerprint(
            group.config, group.seeds, group.hparams, group.train, group.val,
            evals_per_call=group.evals_per_call,
            extra=dict(self.extra or {}, batching=group.batching)))
    if not self.resume:
      return state, history
    restored = self.manager.restore_latest(state)
    if restored is None:
      warnings.warn(f"resume: no checkpoint in {self.directory}; training from "
                    "step 0")
      return state, history
    # The fresh state is the template: restored arrays take its shardings.
    saved, history = restored
    state = jax.tree.map(lambda like, v: jax.device_put(v, like.sharding), state,
                         saved)
    if self.on_resume is not None:
      self.on_resume(int(np.asarray(to_host(state.step)).reshape(-1)[0]))
    return state, history

  def after_call(self, group, call, state, history):
    self.manager.save(int(history[-1]["step"][0, -1]), state, history)


class Progress(Callback):
  """Calls ``report(info)`` after every host call.

  ``info`` holds ``step``, ``num_steps``, ``val_score`` / ``best_score`` / ``loss``
  (lists over runs), ``seconds`` (since the start) and ``start_step`` (0, or the
  resumed checkpoint's step).
  """

  def __init__(self, report: Callable[[dict], None]):
    self.report = report

  def start(self, group, state, history):
    self.t0 = time.perf_counter()
    self.start_step = int(np.asarray(to_host(state.step)).reshape(-1)[0])
    return state, history

  def after_call(self, group, call, state, history):
    n, last = group.num_runs, history[-1]
    self.report({
        "step": int(last["step"][0, -1]), "num_steps": group.config.num_steps,
        "val_score": last["val_score"][:, -1].tolist(),
        "best_score": np.asarray(to_host(state.best_score))[:n].tolist(),
        "loss": last["loss"][:, -1].tolist(),
        "seconds": time.perf_counter() - self.t0, "start_step": self.start_step})


class Profiling(Callback):
  """A ``jax.profiler`` trace of one host call in ``directory``: the second of this
  fit (the first one compiles), or the only one."""

  def __init__(self, directory: str):
    self.directory = directory
    self.active = False

  def before_call(self, group, call, first_call, total_calls):
    self.active = call == min(first_call + 1, total_calls - 1)
    if self.active:
      jax.profiler.start_trace(self.directory)

  def after_call(self, group, call, state, history):
    if self.active:
      jax.block_until_ready(state)
      jax.profiler.stop_trace()
      self.active = False
