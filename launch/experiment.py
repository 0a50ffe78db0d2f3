"""Runs a launcher config: data -> methods x runs -> ``results.json`` and models.

``launch.train`` calls :func:`run` once per grid setting, ``launch.sweep`` once per
(setting, method) task.  The ``results.json`` schema is in :mod:`launch.results`;
the saved models are described in :mod:`launch.saved_models`.
"""

from __future__ import annotations

import os
import time
from typing import NamedTuple

import jax
import ml_collections
from absl import logging

from gil_jax import data as data_lib
from gil_jax.data import folds as folds_lib
from gil_jax.training import callbacks as callbacks_lib
from gil_jax.training import checkpoint as ckpt_lib
from gil_jax.training import fit as fit_lib
from gil_jax.methods import MethodSpec, method_spec, transform_fitted
from launch import datasets
from launch import history
from launch import imputation_mse
from launch import resume as resume_lib
from launch import results as results_lib
from launch import saved_models
from launch import translation
from launch import validation

# scikit-learn's OpenMP/BLAS threads while this process also runs XLA: one.  With
# scikit-learn's default of one thread per core, its threads spin while competing
# with XLA's for the same cores, and a fit on a busy machine takes many times as
# long for the same model.  Override with the environment variable
# GIL_SKLEARN_THREADS (e.g. on a large idle machine).
SKLEARN_THREADS = int(os.environ.get("GIL_SKLEARN_THREADS", "1"))


def sklearn_threads():
  """Context bounding scikit-learn's thread pools to :data:`SKLEARN_THREADS`."""
  from threadpoolctl import threadpool_limits  # local: only fitting needs it
  return threadpool_limits(limits=SKLEARN_THREADS)


class RunData(NamedTuple):
  """The runs of a config and their data, before any method's transforms."""
  runs: list[dict]                   # per run: seed (+ mask_seed, split_seed, fold)
  datasets: list[data_lib.Prepared]  # the distinct datasets, folds varying fastest
  # One dataset shared by every run (no mask seeds, split seeds or folds), or
  # one per run (the runs of one dataset share its object).
  prepared: data_lib.Prepared | list[data_lib.Prepared]

  @property
  def shared(self) -> bool:
    return not isinstance(self.prepared, list)

  @property
  def per_run(self) -> list[data_lib.Prepared]:
    return [self.prepared] * len(self.runs) if self.shared else self.prepared


def load_run_data(config: ml_collections.ConfigDict) -> RunData:
  """One dataset per mask seed x split seed x fold (every method sees the same
  masks and splits), or the config's one dataset; each trained with every seed."""
  mask_seeds, split_seeds = list(config.mask_seeds), list(config.split_seeds)
  # K-fold cross-validation: each fold is a dataset (x mask seeds x split seeds).
  fold_ids = list(range(datasets.cv_folds_of(config)))
  if not (mask_seeds or split_seeds or fold_ids):
    prepared = datasets.load_data(config)
    return RunData([{"seed": s} for s in config.seeds], [prepared], prepared)
  # Runs of a method whose data have equal shapes train as one vmapped program
  # (folds of unequal size in a few such groups).
  variants = [dict(([("mask_seed", m)] if m is not None else [])
                   + ([("split_seed", p)] if p is not None else [])
                   + ([("fold", k)] if k is not None else []))
              for m in (mask_seeds or [None]) for p in (split_seeds or [None])
              for k in (fold_ids or [None])]
  data = datasets.load_variants(config, variants)
  runs = [dict(v, seed=s) for v in variants for s in config.seeds]
  return RunData(runs, data, [d for d in data for _ in config.seeds])


def run(config: ml_collections.ConfigDict, workdir: str, *, resume: bool = False,
        profile_dir: str | None = None, results_path: str | None = None) -> dict:
  """Trains every method of ``config`` over its seeds; writes ``workdir/results.json``.

  The seeds of one method run as one vmapped program, sharded over all local devices
  when there are several.  With ``config.checkpoint_every_call`` the full state is
  checkpointed under ``workdir/checkpoints/METHOD`` and ``resume`` continues it.
  ``results_path`` replaces ``workdir/results.json`` (``launch.sweep`` runs each
  method of a setting as its own task, all in one workdir).  Across processes
  (``jax.distributed``) all of them train and only process 0 writes files.
  """
  # Bad values and an unusable workdir fail before any data or training.
  validation.check_config(config, datasets.DATASETS)
  validation.check_workdir(workdir)
  if resume and not config.checkpoint_every_call:
    raise ValueError("resume needs config.checkpoint_every_call (nothing is saved "
                     "to resume from without it)")
  data = load_run_data(config)
  results = _results_header(config, data)
  # All processes' devices: one device per host still shards over the hosts.
  mesh = fit_lib.runs_mesh() if jax.device_count() > 1 else None
  if mesh is not None:
    logging.info("sharding runs over %d devices (%d processes)", mesh.devices.size,
                 jax.process_count())
  results_path = results_path or os.path.join(workdir, "results.json")
  # What a checkpoint must agree on besides the trainer's own fingerprint (see
  # launch/resume.py): the config's data fields and the data themselves.
  fingerprint = None
  if config.checkpoint_every_call:
    fingerprint = {"experiment": resume_lib.run_fingerprint(config),
                   "data_digest": ckpt_lib.data_digest(
                       *[(p.train, p.val, p.test) for p in data.datasets])}
  for method in config.methods:
    results["methods"][method] = done = _run_method(
        config, method, data, workdir, resume=resume, mesh=mesh,
        fingerprint=fingerprint, profile_dir=profile_dir)
    if jax.process_index() == 0:
      results_lib.write_json(results, results_path)
    logging.info("[%s] done in %.0f s: test %s", method, done["wall_seconds"],
                 ", ".join(f"{k} {100 * v['mean']:.2f} +/- {100 * v['std']:.2f}"
                           for k, v in done["test"].items()))
  return results


def _results_header(config: ml_collections.ConfigDict, data: RunData) -> dict:
  """``results.json`` before any method: the config, runs and data summary."""
  first = data.datasets[0]
  s = first.summary
  logging.info("data %s: rows %s, features %d, missing rate %s, all-missing rows %s, "
               "dropped columns %s", config.dataset, s["rows"], s["features"],
               {k: round(v, 4) for k, v in s["missing_rate"].items()},
               s["all_missing_rows"], s["dropped_columns"])
  results = {"config": config.to_dict(), "dataset": config.dataset,
             "num_classes": first.num_classes, "data_summary": s,
             # launch.evaluate matches another set's variables by these names.
             "feature_names": list(first.feature_names), "runs": data.runs,
             "methods": {}}
  k = datasets.cv_folds_of(config)
  if k:
    # Folds vary fastest in ``data.datasets``: the first K are one partition.
    results["cv_folds"] = k
    results["cv_test_rows"] = [d.summary["rows"]["test"] for d in data.datasets[:k]]
    logging.info("%d-fold cross-validation: test rows per fold %s", k,
                 results["cv_test_rows"])
  return results


def _run_method(config: ml_collections.ConfigDict, method: str, data: RunData,
                workdir: str, *, resume: bool, mesh, fingerprint: dict | None,
                profile_dir: str | None) -> dict:
  """Trains (or fits) ``method`` on every run, saves its models; its results entry."""
  spec = method_spec(method)
  start = time.perf_counter()
  logging.info("[%s] start: %d run(s)%s", method, len(data.runs),
               "" if spec.custom in translation.CUSTOM_FITTERS
               else f", {config.train.num_steps} steps each")
  data_m, per_run, fitted = _transformed(config, method, spec, data)
  transform_seconds = time.perf_counter() - start
  mse = imputation_mse.measure(config, spec, results_lib.variants_of(data.runs),
                               per_run)
  primary = jax.process_index() == 0
  seeds = [r["seed"] for r in data.runs]
  if spec.custom in translation.CUSTOM_FITTERS:
    with sklearn_threads():
      fits = [translation.CUSTOM_FITTERS[spec.custom](
                  p, seed, config.train.selection_metric)
              for p, seed in zip(per_run, seeds)]
    if primary:
      saved_models.save_fitted(workdir, method,
                               [saved_models.custom_state(spec, f, p)
                                for f, p in zip(fits, per_run)])
  else:
    fits = _train(config, method, data, data_m, per_run, workdir, resume=resume,
                  mesh=mesh, fingerprint=fingerprint, profile_dir=profile_dir)
    if primary and any(fitted.values()):
      # One file per distinct dataset: the runs of a dataset share its state
      # object, which save_fitted writes once.
      states = {i: saved_models.imputers_state(f) for i, f in fitted.items()}
      saved_models.save_fitted(workdir, method,
                               [states[id(p)] for p in data.per_run])
    if primary:
      history.write_history(workdir, method, data.runs, fits)
    # Every process calls orbax (it synchronises them); only process 0 writes.
    saved_models.save_models(workdir, method, fits, [p.scaler for p in per_run],
                             [p.train_mean for p in per_run])
  for r, fit in zip(data.runs, fits):
    logging.info("[%s %s] best step %d  val %s  test %s", method, r,
                 fit.best_step, fit.val, fit.test)
  out = {
      "test": results_lib.summarise([f.test for f in fits], data.runs),
      "val": results_lib.summarise([f.val for f in fits], data.runs),
      "best_step": [f.best_step for f in fits],
      "wall_seconds": time.perf_counter() - start,
      "transform_seconds": transform_seconds,
  }
  if mse is not None:
    out["imputation_mse"] = mse
  if "test_score" in (getattr(fits[0], "history", None) or {}):   # not hgb
    out["test_selected"] = results_lib.test_selected(
        fits, config.train.selection_metric)
  return out


def _transformed(config: ml_collections.ConfigDict, method: str, spec: MethodSpec,
                 data: RunData):
  """The method's inputs: each distinct dataset transformed once (the runs of one
  dataset share it).

  Returns:
    ``(data_m, per_run, fitted)``: what ``fit_many`` takes (one dataset, or one
    per run), the same as a list with one entry per run, and the imputers fitted
    on each distinct dataset (keyed by the untransformed dataset's ``id``).
  """
  imputer_options = config.get("imputer_options", ml_collections.ConfigDict())
  cache: dict[int, data_lib.Prepared] = {}
  fitted: dict[int, dict] = {}
  each = [data.prepared] if data.shared else data.prepared
  for i, p in enumerate(each):
    if id(p) not in cache:
      t0 = time.perf_counter()
      with sklearn_threads():
        cache[id(p)], fitted[id(p)] = transform_fitted(
            p, spec.transforms, imputer_options=imputer_options.to_dict())
      if spec.transforms:
        logging.info("[%s] transformed dataset %d/%d (%s) in %.1f s", method,
                     i + 1, len(each), "+".join(spec.transforms),
                     time.perf_counter() - t0)
  if data.shared:
    data_m = cache[id(data.prepared)]
    return data_m, [data_m] * len(data.runs), fitted
  per_run = [cache[id(p)] for p in data.prepared]
  return per_run, per_run, fitted


def _train(config: ml_collections.ConfigDict, method: str, data: RunData, data_m,
           per_run: list, workdir: str, *, resume: bool, mesh,
           fingerprint: dict | None, profile_dir: str | None) -> list:
  """Trains ``method``'s runs with its JAX trainer; one fit per run."""
  trainer = translation.make_trainer(config, method, per_run[0].train.x.shape[-1],
                                     per_run[0].num_classes)
  seeds = [r["seed"] for r in data.runs]
  # Runs whose data differ in shape (K folds of unequal size) cannot be
  # stacked: each group of equal shapes is one vmapped program.
  groups = ([list(range(len(seeds)))] if data.shared
            else folds_lib.equal_shape_groups(per_run))
  fits = [None] * len(seeds)
  # The first progress line comes after the first host call, which compiles the
  # programs first: on a CPU that can take minutes, so say so.
  logging.info("[%s] compiling %d program(s) for %d group(s) of runs (minutes on "
               "a CPU for large models); progress follows every %d steps", method,
               2 * len(groups), len(groups), config.steps_per_call)
  for g, idx in enumerate(groups):
    ckpt_dir = (resume_lib.checkpoint_dir(workdir, method)
                if config.checkpoint_every_call else None)
    if ckpt_dir is not None and len(groups) > 1:
      ckpt_dir = os.path.join(ckpt_dir, f"shape_group_{g}")
    saved = ckpt_dir is not None and bool(ckpt_lib.saved_steps(ckpt_dir))
    if resume and not saved:
      logging.warning("[%s] --resume: no checkpoint of this method in %s; "
                      "training it from step 0", method, ckpt_dir)
    callbacks = []
    if ckpt_dir is not None:
      callbacks.append(callbacks_lib.Checkpointing(
          ckpt_dir, resume=resume and saved,
          extra=None if fingerprint is None else dict(fingerprint, method=method),
          on_resume=lambda step: logging.info(
              "resumed %s from step %d (of %d)", method, step,
              config.train.num_steps)))
    callbacks.append(callbacks_lib.Progress(history.progress_logger(method,
                                                                    len(idx))))
    if profile_dir is not None:
      callbacks.append(callbacks_lib.Profiling(os.path.join(profile_dir, method)))
    group_fits = fit_lib.fit_many(
        trainer.config, data_m if data.shared else [data_m[i] for i in idx],
        [seeds[i] for i in idx], callbacks=callbacks,
        steps_per_call=config.steps_per_call, mesh=mesh, trainer=trainer,
        batching=config.batching)
    for i, fit in zip(idx, group_fits):
      fits[i] = fit
  return fits
