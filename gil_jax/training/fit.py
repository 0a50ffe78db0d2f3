"""Many runs as one vmapped program: stack them, run host calls, score each run.

:func:`fit_many` is three steps, each a function here:

1. :func:`stack_runs`: the runs' keys, hyper-parameters and data stacked on a leading
   run axis (optionally sharded over a device mesh) -> a :class:`RunGroup`;
2. :func:`run_calls`: host calls of ``steps_per_call`` steps each, with
   :mod:`~gil_jax.training.callbacks` between them (checkpoints, progress,
   profiling);
3. :func:`score`: each run's best-on-validation parameters, scored on validation
   and test -> one :class:`FitResult` per run.
"""

from __future__ import annotations

import functools
import math
import time
from typing import Any, NamedTuple, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from gil_jax import metrics as metrics_lib
from gil_jax.config import HParams, TrainConfig, default_hparams
from gil_jax.data.containers import Prepared, Split
from gil_jax.training.callbacks import Callback, to_host
from gil_jax.training.step import Trainer, make_trainer


class FitResult(NamedTuple):
  """One run's outcome: best-on-validation parameters and their metrics.

  Attributes:
    params: the predictor's best-on-validation parameters.
    best_step: the step they were reached at.
    history: name -> ``np.ndarray [num_evals]`` (losses, ``val_score``, ...).
    val: :func:`gil_jax.metrics.classification_metrics` on validation.
    test: the same on test, of the same (best-on-validation) parameters.
    seconds: wall time of the whole group of runs it belonged to.
    source_params: the network the importance source exports at the end of
      training (GIL's actor, ``gil_meta``'s importance network), else ``None``.
  """
  params: Any
  best_step: int
  history: dict
  val: dict
  test: dict
  seconds: float
  source_params: Any = None


class RunGroup(NamedTuple):
  """Runs stacked for one vmapped program (see :func:`stack_runs`).

  Attributes:
    config, trainer: shared by the runs.
    seeds, hparams: one per run (unpadded).
    keys, stacked_hparams: per padded run, stacked on axis 0 (and placed).
    train, val, monitor: the device splits (run axis 0 if per-run data, else
      shared); ``monitor`` is the test split when ``config.track_test``, else
      ``None``.
    splits: per run, the host ``(train, val, test)`` splits it is scored on.
    data_axis: 0 with one dataset per run, else ``None``.
    evals_per_call: evaluations per host call.
    put_runs: places a run-stacked tree (sharded over the mesh, if any).
    runs_sharding: the run axis' sharding, or ``None`` without a mesh.
    mesh: the device mesh the runs are sharded over, or ``None``.
    batching: ``"vmap"`` or ``"loop"`` (see :func:`fit_many`).
    run_counts: with ``"loop"``, how many runs each device's loop runs (per
      device with a mesh, else a scalar).
  """
  config: TrainConfig
  trainer: Trainer
  seeds: list[int]
  hparams: list[HParams]
  keys: Any
  stacked_hparams: Any
  train: Split
  val: Split
  monitor: Split | None
  splits: list[tuple[Split, Split, Split]]
  data_axis: int | None
  evals_per_call: int
  put_runs: Any
  runs_sharding: Any
  mesh: Any = None
  batching: str = "vmap"
  run_counts: Any = None

  @property
  def num_runs(self) -> int:
    return len(self.seeds)


def runs_mesh(devices: Sequence[jax.Device] | None = None) -> jax.sharding.Mesh:
  """A 1-D mesh over ``devices`` (default: all) whose axis ``runs`` carries runs.

  Runs are independent, so with automatic sharding propagation XLA partitions the
  vmapped program along the run axis with no communication.
  """
  devices = list(jax.devices() if devices is None else devices)
  return jax.sharding.Mesh(np.array(devices), ("runs",),
                           axis_types=(jax.sharding.AxisType.Auto,))


def evals_per_call(num_evals: int, target: int) -> int:
  """Largest divisor of ``num_evals`` not above ``target``: one compiled chunk size."""
  target = max(1, min(target, num_evals))
  return max(d for d in range(1, target + 1) if num_evals % d == 0)


def _stack(trees):
  return jax.tree.map(lambda *v: np.stack(v), *trees)


def stack_runs(config: TrainConfig, prepared: Prepared | Sequence[Prepared],
               seeds: Sequence[int], *, hparams: Sequence[HParams] | None = None,
               mesh: jax.sharding.Mesh | None = None, trainer: Trainer | None = None,
               steps_per_call: int = 500, batching: str = "vmap") -> RunGroup:
  """The runs of ``seeds`` (and of one dataset each, or one shared) stacked.

  With ``mesh`` the run axis is padded to a multiple of its size (padded runs
  repeat run 0) and sharded over it.
  """
  seeds = [int(s) for s in seeds]
  if batching not in BATCHING:
    raise ValueError(f"batching must be one of {BATCHING}, got {batching!r}")
  if not seeds:
    raise ValueError("fit_many needs at least one seed")
  per_run_data = not isinstance(prepared, Prepared)
  datasets = list(prepared) if per_run_data else [prepared]
  if per_run_data and len(datasets) != len(seeds):
    raise ValueError(f"{len(datasets)} datasets for {len(seeds)} seeds")
  splits = [(p.train, p.val, p.test) for p in datasets]
  if len({tuple(jax.tree.map(np.shape, s) for s in sp[:2]) for sp in splits}) > 1:
    raise ValueError("runs of one group must share data shapes; got different ones")
  if trainer is None:
    trainer = make_trainer(config, splits[0][0].x.shape[-1], datasets[0].num_classes)
  hparams = list(hparams) if hparams is not None else [default_hparams(config)] * len(seeds)
  if len(hparams) != len(seeds):
    raise ValueError(f"{len(hparams)} hyper-parameter sets for {len(seeds)} seeds")
  if config.track_test and not len(splits[0][2].y):
    raise ValueError("track_test needs a non-empty test split")
  if config.selection_metric == "auroc":
    _check_auroc_defined(splits, seeds, datasets[0].num_classes)

  devices = 1 if mesh is None else mesh.devices.size
  per_device = -(-len(seeds) // devices)
  if batching == "loop":
    # Two slots per device or more: XLA simplifies an axis of size one, and the
    # loop's body would then compile otherwise.  The extra slots are never run.
    per_device = max(per_device, 2)
  idx = list(range(len(seeds))) + [0] * (devices * per_device - len(seeds))
  # The runs each device's loop runs (the rest of its slots are padding).
  run_counts = np.clip(len(seeds) - per_device * np.arange(devices), 0,
                       per_device).astype(np.int32)
  keys = np.stack([np.asarray(jax.random.key_data(jax.random.key(seeds[i])))
                   for i in idx])
  data_idx = idx if per_run_data else [0]
  train = _stack([splits[i][0] for i in data_idx])
  val = _stack([splits[i][1] for i in data_idx])
  test = _stack([splits[i][2] for i in data_idx]) if config.track_test else None
  if not per_run_data:
    train, val, test = jax.tree.map(lambda v: v[0], (train, val, test))
  if mesh is None:
    runs_sharding = None
    put_runs = lambda t: jax.tree.map(jnp.asarray, t)
    train, val, test = jax.tree.map(jnp.asarray, (train, val, test))
  else:
    runs_sharding = _runs_sharding(mesh)
    data_sharding = (runs_sharding if per_run_data else jax.sharding.NamedSharding(
        mesh, jax.sharding.PartitionSpec()))
    put_runs = lambda t: jax.device_put(t, runs_sharding)
    train, val, test = jax.device_put((train, val, test), data_sharding)
  return RunGroup(
      config=config, trainer=trainer, seeds=seeds, hparams=hparams,
      keys=put_runs(keys), stacked_hparams=put_runs(_stack([hparams[i] for i in idx])),
      train=train, val=val, monitor=test,
      splits=[splits[i if per_run_data else 0] for i in range(len(seeds))],
      data_axis=0 if per_run_data else None,
      evals_per_call=evals_per_call(config.num_evals,
                                    math.ceil(steps_per_call / config.eval_every)),
      put_runs=put_runs, runs_sharding=runs_sharding, mesh=mesh, batching=batching,
      run_counts=put_runs(run_counts) if mesh is not None else run_counts[0])


BATCHING = ("vmap", "loop")


def _index(tree, i):
  return jax.tree.map(lambda v: jax.lax.dynamic_index_in_dim(v, i, keepdims=False),
                      tree)


def _set(stacked, tree, i):
  return jax.tree.map(lambda o, v: jax.lax.dynamic_update_index_in_dim(o, v, i, 0),
                      stacked, tree)


def _loop_programs(trainer: Trainer, data_axis: int | None, num_evals: int):
  """``init_many`` and ``run_many`` as loops over the runs.

  The trip count ``num_runs`` is an argument, a runtime value: XLA compiles one loop
  body with one run's shapes whatever the group, and cannot specialise a group of
  one (it removes a loop it knows runs once, and the code around it then fuses
  otherwise).  ``run_many`` updates the stacked state in place (it is donated).
  """
  def data_of(data, i):
    return _index(data, i) if data_axis == 0 else data

  def init_many(keys, train, hparams, num_runs):
    num_runs = jnp.reshape(num_runs, (-1,))[0]
    def init_one(i):
      return trainer.init_fn(keys[i], data_of(train, i), _index(hparams, i))
    out = jax.tree.map(lambda v: jnp.zeros((keys.shape[0],) + v.shape, v.dtype),
                       jax.eval_shape(init_one, 0))
    return jax.lax.fori_loop(0, num_runs,
                             lambda i, out: _set(out, init_one(i), i), out)

  def run_many(state, train, val, *test_and_num_runs):
    *test, num_runs = test_and_num_runs
    num_runs = jnp.reshape(num_runs, (-1,))[0]
    def run_one(i, state):
      data = data_of((train, val, *test), i)
      return trainer.run_fn(_index(state, i), data[0], data[1], num_evals,
                            *data[2:])
    runs = jax.tree.leaves(state)[0].shape[0]
    history = jax.tree.map(lambda v: jnp.zeros((runs,) + v.shape, v.dtype),
                           jax.eval_shape(run_one, 0, state)[1])

    def body(i, carry):
      state, history = carry
      new_state, new_history = run_one(i, state)
      return _set(state, new_state, i), _set(history, new_history, i)
    return jax.lax.fori_loop(0, num_runs, body, (state, history))

  return init_many, run_many


@functools.lru_cache(maxsize=64)
def _programs(trainer: Trainer, data_axis: int | None, num_evals: int,
              monitor: bool, mesh: jax.sharding.Mesh | None, batching: str):
  """``init_many(keys, train, hparams)`` and ``run_many(state, train, val, *test)``
  over a group of runs, jitted (cached: compiled once).

  ``batching="vmap"`` batches the runs in one program: XLA's CPU backend then picks
  kernels and fusions by the batched shapes, so a run's last bits depend on how
  many runs share it (training amplifies them to tenths of a point).
  ``batching="loop"`` runs them one after another inside one program
  (:func:`_loop_programs`): each run's computation has one run's shapes whatever
  the group, so its numbers depend only on its own config, data and seeds.  With a
  ``mesh`` each device loops over its own runs (``jax.shard_map``).
  """
  if batching == "vmap":          # stack_runs has checked the value
    return _vmapped(trainer, data_axis, num_evals, monitor,
                    None if mesh is None else _runs_sharding(mesh))

  init_many, run_many = _loop_programs(trainer, data_axis, num_evals)
  if mesh is not None:
    spec = jax.sharding.PartitionSpec
    runs = spec(mesh.axis_names[0])
    data = runs if data_axis == 0 else spec()
    init_many = jax.shard_map(init_many, mesh=mesh,
                              in_specs=(runs, data, runs, runs), out_specs=runs,
                              check_vma=False)
    run_many = jax.shard_map(run_many, mesh=mesh,
                             in_specs=(runs,) + (data,) * (3 if monitor else 2)
                             + (runs,), out_specs=(runs, runs), check_vma=False)
  return jax.jit(init_many), jax.jit(run_many, donate_argnums=0)


def _runs_sharding(mesh: jax.sharding.Mesh) -> jax.sharding.NamedSharding:
  return jax.sharding.NamedSharding(mesh,
                                    jax.sharding.PartitionSpec(mesh.axis_names[0]))


def _check_auroc_defined(splits, seeds, num_classes: int) -> None:
  """Validation AUROC, the selection metric, needs both classes in every run's
  validation split; without one it is undefined at every evaluation and the
  first evaluation would be kept silently."""
  for i, (_, val, _) in enumerate(splits):
    missing = sorted(set(range(num_classes)) - set(np.unique(val.y).tolist()))
    if missing:
      raise ValueError(
          f"run {i} (seed {seeds[i]}): its validation split ({len(val.y)} rows) "
          f"holds no row of class(es) {missing}, so validation AUROC, the "
          "selection metric, is undefined; give validation more rows (a larger "
          "validation share, fewer folds) or select on accuracy")


@functools.lru_cache(maxsize=64)
def _vmapped(trainer: Trainer, data_axis: int | None, num_evals: int,
             monitor: bool, runs_sharding: jax.sharding.Sharding | None):
  """``init`` and ``run`` vmapped over runs and jitted (cached: compiled once).

  With ``runs_sharding``, ``init_many``'s state is sharded over runs like
  ``run_many``'s: left to XLA, leaves equal in every run (zeros) come out
  replicated, and the second host call would compile ``run_many`` again.
  """
  init_many = jax.jit(jax.vmap(trainer.init_fn, in_axes=(0, data_axis, 0)),
                      out_shardings=runs_sharding)

  def run(state, train, val, *test):
    return trainer.run_fn(state, train, val, num_evals, *test)

  in_axes = (0, data_axis, data_axis) + ((data_axis,) if monitor else ())
  run_many = jax.jit(jax.vmap(run, in_axes=in_axes), donate_argnums=0)
  return init_many, run_many


def run_calls(group: RunGroup, callbacks: Sequence[Callback] = ()
              ) -> tuple[Any, list[dict]]:
  """Initialises the runs and trains them to ``num_steps`` in host calls.

  Returns:
    The final (stacked) state and the history: per host call, name -> host array
    ``[runs, evals_per_call]``.
  """
  init_many, run_many = _programs(group.trainer, group.data_axis,
                                  group.evals_per_call, group.monitor is not None,
                                  group.mesh, group.batching)
  loop = (group.run_counts,) if group.batching == "loop" else ()
  state = init_many(group.keys, group.train, group.stacked_hparams, *loop)
  history: list[dict] = []
  for callback in callbacks:
    state, history = callback.start(group, state, history)
  # Where training stands, from the state itself: the loop below runs exactly the
  # calls left, so a resumed run ends at num_steps, never past it.
  start_step = int(np.asarray(to_host(state.step)).reshape(-1)[0])
  steps_per_call = group.evals_per_call * group.config.eval_every
  first_call, off_schedule = divmod(start_step, steps_per_call)
  total_calls = group.config.num_evals // group.evals_per_call
  if off_schedule or first_call > total_calls or first_call != len(history):
    raise ValueError(
        f"a checkpoint stopped at step {start_step} with {len(history)} calls of "
        f"history, which does not fit this schedule ({total_calls} calls of "
        f"{steps_per_call} steps up to {group.config.num_steps})")
  monitor = () if group.monitor is None else (group.monitor,)
  for call in range(first_call, total_calls):
    for callback in callbacks:
      callback.before_call(group, call, first_call, total_calls)
    state, metrics = run_many(state, group.train, group.val, *monitor, *loop)
    metrics = to_host(metrics)
    history.append({k: np.asarray(v)[:group.num_runs] for k, v in metrics.items()})
    for callback in callbacks:
      callback.after_call(group, call, state, history)
  return state, history


def predict_in_batches(trainer: Trainer, params, split: Split,
                       batch: int = 8192) -> np.ndarray:
  """Class probabilities for a split, in fixed-size chunks to bound device memory."""
  out = [np.asarray(trainer.predict(
      params, jax.tree.map(lambda v: jnp.asarray(v[i:i + batch]), split)))
         for i in range(0, len(split.y), batch)]
  return np.concatenate(out, 0)


def score(group: RunGroup, state, history: list[dict],
          seconds: float) -> list[FitResult]:
  """One :class:`FitResult` per run of ``group`` from its final state."""
  history = {k: np.concatenate([c[k] for c in history], axis=1) for k in history[0]}
  finite = np.isfinite(history["loss"]).all(axis=1)
  if not finite.all():
    bad = [s for s, ok in zip(group.seeds, finite) if not ok]
    raise FloatingPointError(f"training loss became non-finite (source "
                             f"{group.config.source}, seeds {bad})")
  best_params = to_host(state.best_params)
  best_step = np.asarray(to_host(state.best_step))
  source = group.trainer.source
  exported = None if source is None else source.export(state.source)
  exported = None if exported is None else to_host(exported)
  results = []
  for i, (_, val, test) in enumerate(group.splits):
    params = jax.tree.map(lambda v: v[i], best_params)
    predict = functools.partial(predict_in_batches, group.trainer, params)
    results.append(FitResult(
        params=params, best_step=int(best_step[i]),
        history={k: v[i] for k, v in history.items()},
        val=metrics_lib.classification_metrics(val.y, predict(val)),
        test=metrics_lib.classification_metrics(test.y, predict(test)),
        seconds=seconds,
        source_params=(None if exported is None
                       else jax.tree.map(lambda v: v[i], exported))))
  return results


def fit_many(config: TrainConfig, prepared: Prepared | Sequence[Prepared],
             seeds: Sequence[int], *, hparams: Sequence[HParams] | None = None,
             callbacks: Sequence[Callback] = (), steps_per_call: int = 500,
             mesh: jax.sharding.Mesh | None = None,
             trainer: Trainer | None = None,
             batching: str = "vmap") -> list[FitResult]:
  """Trains ``len(seeds)`` runs as one vmapped program and scores each.

  Runs differ by seed, and optionally by data (a list of ``Prepared`` of equal
  shapes, e.g. one per mask seed) and by scalar hyper-parameters.

  With ``batching="loop"`` a run's numbers are a function of its own config, data
  and seed only: identical, bit for bit, whether it trains alone, among 5 or among
  20 runs, or sharded over devices (the runs are a loop inside one program).  With
  ``"vmap"`` (the default until every committed result is regenerated with
  ``"loop"``) the runs are one batched program: XLA's CPU backend chooses kernels and
  fusions by the batched shapes, so a run's last bits depend on how many runs share
  it, and training amplifies them (up to tenths of a point): compare such runs only
  within one call.  On a CPU the loop is as fast; on an accelerator vmap is faster.

  Args:
    config: configuration shared by all runs (shapes, source, schedule).
    prepared: one dataset for every run, or one per run.
    seeds: one seed per run (initialisation, batches, the source's randomness).
    hparams: optional per-run :class:`~gil_jax.config.HParams`
      (:func:`~gil_jax.config.default_hparams`).
    callbacks: :class:`~gil_jax.training.callbacks.Callback` s around each host
      call (checkpoints, progress, profiling), in order.
    steps_per_call: about how many steps one host call runs.
    mesh: optional 1-D device mesh; runs are sharded over its axis (padded to a
      multiple of its size), so N devices train N groups of runs in parallel.
    trainer: a :class:`~gil_jax.training.step.Trainer` to use instead of
      ``make_trainer(config, ...)`` (e.g. a baseline's own), built for ``config``
      and the data's feature and class counts.
    batching: ``"vmap"`` or ``"loop"`` (above).

  Returns:
    One :class:`FitResult` per seed, in order.
  """
  start = time.perf_counter()
  group = stack_runs(config, prepared, seeds, hparams=hparams, mesh=mesh,
                     trainer=trainer, steps_per_call=steps_per_call,
                     batching=batching)
  state, history = run_calls(group, callbacks)
  return score(group, state, history, time.perf_counter() - start)


def fit(config: TrainConfig, prepared: Prepared, seed: int, *,
        callbacks: Sequence[Callback] = (), steps_per_call: int = 500,
        batching: str = "vmap") -> FitResult:
  """Trains one run and scores its best-on-validation parameters (see fit_many)."""
  return fit_many(config, prepared, [seed], callbacks=callbacks,
                  steps_per_call=steps_per_call, batching=batching)[0]
