"""The on-device training loop: blocks of steps, each followed by a validation pass.

Everything, replay buffer included, stays on the device inside ``lax.scan``; one host
call runs many steps (purejaxrl's shape), and ``vmap`` of the loop trains many runs
in one compiled program.
"""

from __future__ import annotations

from typing import Callable

import jax
import jax.numpy as jnp

from gil_jax import metrics as metrics_lib
from gil_jax.data.containers import Split
from gil_jax.training.state import TrainState


def make_run(config, step_fn: Callable, logits_fn: Callable,
             diagnose: Callable | None = None
             ) -> Callable[..., tuple[TrainState, dict]]:
  """The training loop around a step function.

  ``run(state, train, val, num_evals, monitor=None)`` scans ``num_evals`` blocks of
  ``config.eval_every`` calls of ``step_fn(state, train) -> (state, metrics)``; after
  each block it scores ``logits_fn(params, val)`` on the validation split and keeps
  the best parameters in the state (strictly better only: ties keep the earlier,
  fewer-step parameters).  Returns the state and per-block metrics (the steps'
  means, ``val_score`` and ``step``).  With ``monitor`` (a split, e.g. the test
  set), its score after each block is returned too, as ``test_score``; it never
  influences selection.  With ``diagnose(state, train) -> metrics``, its metrics
  after each block join the history with a ``diag_`` prefix (they read the state,
  never change it).
  """
  def run(state: TrainState, train: Split, val: Split, num_evals: int,
          monitor: Split | None = None):
    def block(state, _):
      state, step_metrics = jax.lax.scan(lambda s, _: step_fn(s, train), state, None,
                                         length=config.eval_every)
      score = metrics_lib.selection_score(config.selection_metric,
                                          logits_fn(state.params, val), val.y)
      improved = score > state.best_score
      state = state._replace(
          best_params=jax.tree.map(lambda b, p: jnp.where(improved, p, b),
                                   state.best_params, state.params),
          best_score=jnp.where(improved, score, state.best_score),
          best_step=jnp.where(improved, state.step, state.best_step))
      out = jax.tree.map(jnp.mean, step_metrics)
      out.update(val_score=score, step=state.step)
      if monitor is not None:
        out["test_score"] = metrics_lib.selection_score(
            config.selection_metric, logits_fn(state.params, monitor), monitor.y)
      if diagnose is not None:
        out.update({f"diag_{k}": v for k, v in diagnose(state, train).items()})
      return state, out

    return jax.lax.scan(block, state, None, length=num_evals)

  return run
