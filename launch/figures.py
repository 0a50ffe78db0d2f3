r"""Figures of a finished MNIST-style grid: importance maps, t-SNE, imputation MSE.

  python -m launch.figures --workdir=runs/mnist_mcar --out=docs/figures/mnist \
      [--figures=importance,tsne,mse] [--tsne_rate=0.9] \
      [--tsne_methods=auto|gil,mean,gain] [--num_images=2000] [--max_runs=0] \
      [--tsne_threads=1] [--image_shape=H,W]

``--workdir`` is a grid written by ``launch.train`` (``WORKDIR/<field>_<value>/
results.json`` per setting, e.g. ``missing_rate_0.9``) or a single run
(``WORKDIR/results.json``), or several of them comma-separated: settings with the
same label (missing rate) are merged, for methods run into separate workdirs.  Writes into ``--out``:

* ``importance_maps.png``: per missing rate, the learned GIL importance
  ``a = pi_theta(s)`` averaged over test images, as an image (side ``sqrt(d)``).
  Rows: the mean over all entries; the mean over observed entries only
  (``m = 1``), the only ones whose importance reaches the encoder gradient (missing
  entries hold the placeholder 0, so ``x * a`` is 0 there); and the standard
  deviation over images of the observed entries' importance (how per-sample it
  is).  Averaged over the runs of a setting (``--max_runs``), each on its own
  masks.  The state uses the saved predictor (best on validation) and the actor at
  the end of training.
* ``tsne_<rate>.png``: t-SNE of the encoder features ``zeta`` on test images for GIL
  and imputation baselines at one missing rate, coloured by digit (paper Figure 3).
* ``imputation_mse_vs_accuracy.png`` / ``.csv`` and ``imputation_mse_pearson.csv``:
  per rate, test imputation MSE against test accuracy for every method with an
  ``imputation_mse`` entry, one point per run; Pearson's r over those points
  (all methods and runs of a rate) as in the paper's Table 4.

A figure whose inputs are missing (no saved GIL models, no ``imputation_mse``
entries, no setting at the t-SNE rate) is skipped with a message.
"""

from __future__ import annotations

import csv
import math
import os
from collections.abc import Sequence
from typing import Any, NamedTuple

import jax
import ml_collections
import numpy as np
from absl import app, flags, logging

from gil_jax import data as data_lib
from gil_jax.models.mlp import policy_state
from gil_jax.sources.policy.networks import Actor
from gil_jax.methods import method_spec, transform
from launch import datasets
from launch import results as results_lib
from launch import saved_models
from launch import translation
from launch import user_errors

FIGURES = ("importance", "tsne", "mse")
# Second t-SNE method for --tsne_methods=auto: the first with saved models.
TSNE_FALLBACKS = ("gain", "mice", "knn", "zero")
MSE_CSV_FIELDS = ("setting", "missing_rate", "method", "run", "mask_seed", "seed",
                  "imputation_mse", "test_accuracy")
PEARSON_CSV_FIELDS = ("setting", "missing_rate", "n_points", "n_methods",
                      "pearson_r", "p_value")


class Setting(NamedTuple):
  """One setting of a grid: one run directory, or several merged (methods run apart)."""
  label: str                 # e.g. "MR 90%"
  missing_rate: float | None
  workdir: str
  results: dict
  method_dirs: dict[str, str] | None = None   # method -> its run directory

  def dir_of(self, method: str) -> str:
    """The run directory holding ``method``'s results and saved models."""
    return (self.method_dirs or {}).get(method, self.workdir)


class SkipFigure(Exception):
  """A figure's inputs are missing; the message says which."""


# ------------------------------------------------------------------ discovery


def _rate_label(rate: float | None, fallback: str) -> str:
  return fallback if rate is None else f"MR {100 * rate:g}%"


def _settings_of(workdir: str) -> list[Setting]:
  """The settings of one grid (sub-directories with ``results.json``) or one run."""
  if not os.path.isdir(workdir):
    raise data_lib.DataFileNotFoundError(f"workdir {workdir!r} does not exist")
  if os.path.isfile(os.path.join(workdir, "results.json")):
    dirs = [workdir]
  else:
    dirs = sorted(os.path.join(workdir, d) for d in os.listdir(workdir)
                  if os.path.isfile(os.path.join(workdir, d, "results.json")))
  if not dirs:
    raise data_lib.DataFileNotFoundError(
        f"no results.json in {workdir!r} or its sub-directories; is it a finished "
        "launch.train workdir (e.g. runs/mnist_mcar with missing_rate_0.9/...)?")
  out = []
  for d in dirs:
    results = results_lib.load_results(d)
    rate = results["config"].get("data", {}).get("missing_rate")
    rate = None if rate is None else float(rate)
    label = _rate_label(rate, os.path.basename(os.path.normpath(d)))
    if results["config"].get("data", {}).get("mechanism", "mcar") != "mcar":
      label = f"{results['config']['data']['mechanism'].upper()} {label}"
    out.append(Setting(label,
                       rate, d, results, {m: d for m in results["methods"]}))
  return out


def find_settings(workdir: str | Sequence[str]) -> list[Setting]:
  """The settings of one or more grids (or single runs), merged by setting.

  Several workdirs are for methods run apart on the same settings (e.g. the
  imputers in a second workdir): settings with the same label are merged, and
  must have the same runs (mask seeds, seeds) and no method twice.  Sorted by
  ``config.data.missing_rate`` where the configs have one.

  Raises:
    FileNotFoundError: a workdir does not exist or holds no results.
    ValueError: merged settings differ in their runs or share a method.
  """
  workdirs = [workdir] if isinstance(workdir, str) else list(workdir)
  merged: dict[str, Setting] = {}
  for w in workdirs:
    for s in _settings_of(w):
      if s.label not in merged:
        merged[s.label] = s
        continue
      first = merged[s.label]
      if first.results["runs"] != s.results["runs"]:
        raise ValueError(f"{s.label}: {s.workdir} and {first.workdir} have "
                         "different runs (mask seeds / seeds); cannot merge")
      both = set(first.results["methods"]) & set(s.results["methods"])
      if both:
        raise ValueError(f"{s.label}: method(s) {sorted(both)} in both "
                         f"{first.workdir} and {s.workdir}")
      results = dict(first.results,
                     methods={**first.results["methods"], **s.results["methods"]})
      merged[s.label] = first._replace(
          results=results, method_dirs={**first.method_dirs, **s.method_dirs})
  return sorted(merged.values(),
                key=lambda s: (s.missing_rate is None, s.missing_rate or 0.0,
                               s.workdir))


def has_models(workdir: str, method: str) -> bool:
  return os.path.isdir(os.path.join(os.path.abspath(workdir), "models", method))


def image_shape(num_features: int,
                shape: Sequence[int] | None = None) -> tuple[int, int]:
  """``shape`` if given (checked), else ``(s, s)`` with ``s = sqrt(num_features)``."""
  if shape:
    h, w = (int(v) for v in shape)
    if h * w != num_features:
      raise ValueError(f"image shape {h}x{w} does not hold {num_features} features")
    return h, w
  side = math.isqrt(num_features)
  if side * side != num_features:
    raise ValueError(f"{num_features} features are not a square image; pass "
                     "--image_shape=H,W")
  return side, side


def subsample(n: int, max_rows: int, seed: int = 0) -> np.ndarray:
  """Sorted indices of at most ``max_rows`` of ``n`` rows (all if ``max_rows <= 0``)."""
  if max_rows <= 0 or max_rows >= n:
    return np.arange(n)
  return np.sort(np.random.default_rng(seed).choice(n, max_rows, replace=False))


def _take(split: data_lib.Split, idx: np.ndarray) -> data_lib.Split:
  return split._replace(**{k: getattr(split, k)[idx] for k in ("x", "m", "y")})


def _run_params(tree, i: int):
  return jax.tree.map(lambda v: v[i], tree)


def _config(results: dict) -> ml_collections.ConfigDict:
  return ml_collections.ConfigDict(results["config"])


def _run_data(config, run: dict, cache: dict) -> data_lib.Prepared:
  """The dataset of one run (its mask / split seed), loaded once per variant."""
  key = (run.get("mask_seed"), run.get("split_seed"))
  if key not in cache:
    cache[key] = datasets.load_data(config, mask_seed=run.get("mask_seed"),
                                    split_seed=run.get("split_seed"))
  return cache[key]


def _check_mlp(config, what: str) -> None:
  if config.train.model != "mlp":
    raise SkipFigure(f"{what} needs the MLP predictor; this run used "
                     f"{config.train.model!r}")


# ------------------------------------------------------------ importance maps


def mean_importance_maps(importance: np.ndarray, mask: np.ndarray
                         ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
  """Per-feature importance statistics over rows (test images).

  Args:
    importance: ``[n, d]`` actions ``a`` in [0, 1].
    mask: ``[n, d]``, 1 = observed.

  Returns:
    ``(mean_all, mean_observed, std_observed)``, each ``[d]``: the mean over all
    rows, and the mean and (population) standard deviation over the rows where the
    feature is observed (NaN for a feature never observed).  The standard deviation
    shows how much the importance varies between samples, the only part that
    survives Adam's per-parameter normalisation.
  """
  importance = np.asarray(importance, np.float64)
  mask = np.asarray(mask, np.float64)
  counts = mask.sum(0)
  seen = counts > 0
  denom = np.maximum(counts, 1.0)
  mean_obs = (importance * mask).sum(0) / denom
  var_obs = (np.square(importance - mean_obs) * mask).sum(0) / denom
  return (importance.mean(0), np.where(seen, mean_obs, np.nan),
          np.where(seen, np.sqrt(var_obs), np.nan))


def gil_importance(setting: Setting, num_images: int = 2000, max_runs: int = 0,
                   seed: int = 0, method: str = "gil"
                   ) -> tuple[np.ndarray, np.ndarray]:
  """GIL's importance on test images: ``(a [runs * n, d], m [runs * n, d])``.

  Runs are those of ``results["runs"]`` (the first ``max_runs`` when positive),
  each on its own masks, with its best-on-validation predictor and final actor.
  """
  results = setting.results
  if method not in results["methods"]:
    raise SkipFigure(f"{setting.label}: no {method!r} in "
                     f"{setting.workdir}/results.json")
  if not has_models(setting.dir_of(method), method):
    raise SkipFigure(f"{setting.label}: no saved {method!r} models under "
                     f"{setting.workdir}/models")
  config = _config(results)
  _check_mlp(config, "the importance map")
  saved = saved_models.load_models(setting.dir_of(method), method)
  if "importance_network" not in saved:
    raise SkipFigure(f"{setting.label}: the saved {method!r} models hold no actor")
  runs = results["runs"][:max_runs] if max_runs > 0 else results["runs"]
  cache: dict = {}
  imps, masks = [], []
  for i, run in enumerate(runs):
    prepared = _run_data(config, run, cache)
    test, _ = method_test_split(prepared, method, config)
    test = _take(test, subsample(len(test.y), num_images, seed))
    d = test.x.shape[-1]
    trainer = translation.make_trainer(config, method, d, prepared.num_classes)
    logits, zeta = trainer.predictor.model.module.apply(
        _run_params(saved["params"], i), test.x)
    state = policy_state(test.x, test.m, zeta, jax.nn.softmax(logits))
    actor = Actor(action_dim=d, hidden=tuple(config.train.actor_hidden))
    a = actor.apply(_run_params(saved["importance_network"], i), state)
    imps.append(np.asarray(a))
    masks.append(test.m)
  return np.concatenate(imps), np.concatenate(masks)


def plot_importance_maps(maps: Sequence[tuple[str, np.ndarray, np.ndarray,
                                               np.ndarray]],
                         shape: tuple[int, int], path: str) -> None:
  """One column per setting; rows: mean over all entries, mean and std over observed.

  ``maps`` holds ``(label, *mean_importance_maps(...))`` per setting; each row has
  one colour scale shared by its panels.
  """
  import matplotlib.pyplot as plt
  n = len(maps)
  rows = (("mean, all entries", 1, "viridis"),
          ("mean, observed (m = 1)", 2, "viridis"),
          ("std over images, observed", 3, "magma"))
  fig, axes = plt.subplots(len(rows), n, figsize=(2.6 * n + 1.4, 2.6 * len(rows)),
                           squeeze=False, constrained_layout=True)
  for r, (row_label, k, cmap) in enumerate(rows):
    values = np.concatenate([m[k] for m in maps])
    vmin, vmax = float(np.nanmin(values)), float(np.nanmax(values))
    for c, item in enumerate(maps):
      ax = axes[r, c]
      im = ax.imshow(item[k].reshape(shape), cmap=cmap, vmin=vmin, vmax=vmax)
      ax.set_xticks([])
      ax.set_yticks([])
      if r == 0:
        ax.set_title(item[0])
      if c == 0:
        ax.set_ylabel(row_label)
    fig.colorbar(im, ax=list(axes[r]), shrink=0.9)
  fig.suptitle("GIL importance pi(s) on test images")
  fig.savefig(path, dpi=120)
  plt.close(fig)


def importance_figure(settings: Sequence[Setting], out: str, num_images: int,
                      max_runs: int, seed: int,
                      shape: Sequence[int] | None = None) -> str:
  maps = []
  for s in settings:
    try:
      a, m = gil_importance(s, num_images, max_runs, seed)
    except SkipFigure as e:
      logging.warning("importance maps: skipping %s", e)
      print(f"importance maps: skipping {e}")
      continue
    maps.append((s.label, *mean_importance_maps(a, m)))
  if not maps:
    raise SkipFigure("no setting has saved GIL models (predictor and actor)")
  path = os.path.join(out, "importance_maps.png")
  plot_importance_maps(maps, image_shape(len(maps[0][1]), shape), path)
  return path


# ---------------------------------------------------------------------- t-SNE


def method_test_split(prepared: data_lib.Prepared, method: str, config
                      ) -> tuple[data_lib.Split, data_lib.Prepared]:
  """``(test, prepared)`` as ``method`` saw them in training.

  Imputers are refitted on the training split with the config's options and the
  launcher's seed (on CPU this reproduced the training imputation exactly; the saved
  GAIN model scored its results.json accuracy), ``mean`` is filled with the
  training mean, other methods see the stored inputs.
  """
  spec = method_spec(method)
  if spec.custom is not None or spec.model is not None:
    raise SkipFigure(f"method {method!r} has no MLP encoder features")
  if spec.transforms:
    logging.info("imputing for %s (%s) ...", method, ", ".join(spec.transforms))
    options = config.get("imputer_options", ml_collections.ConfigDict()).to_dict()
    prepared = transform(prepared, spec.transforms, imputer_options=options)
  return prepared.test, prepared


def encoder_features(setting: Setting, method: str, run_index: int = 0,
                     num_images: int = 2000, seed: int = 0,
                     cache: dict | None = None) -> tuple[np.ndarray, np.ndarray]:
  """``(zeta [n, e], y [n])``: encoder features of one run on test images."""
  results = setting.results
  if (method not in results["methods"]
      or not has_models(setting.dir_of(method), method)):
    raise SkipFigure(f"{setting.label}: no saved {method!r} models under "
                     f"{setting.workdir}/models")
  config = _config(results)
  _check_mlp(config, "t-SNE of encoder features")
  run = results["runs"][run_index]
  prepared = _run_data(config, run, {} if cache is None else cache)
  test, prepared = method_test_split(prepared, method, config)
  test = _take(test, subsample(len(test.y), num_images, seed))
  saved = saved_models.load_models(setting.dir_of(method), method)
  trainer = translation.make_trainer(config, method, test.x.shape[-1],
                                     prepared.num_classes)
  _, zeta = trainer.predictor.model.module.apply(
      _run_params(saved["params"], run_index), test.x)
  return np.asarray(zeta), np.asarray(test.y)


def tsne_embed(features: np.ndarray, seed: int = 0, threads: int = 1
               ) -> np.ndarray:
  """2-D t-SNE (PCA initialisation, perplexity 30 or less for few points).

  ``threads`` bounds scikit-learn's OpenMP threads (0: its default, all cores).
  One thread is the default: on a machine busy with training runs, OpenMP's
  busy-waiting threads made t-SNE of 100 points take 6 s instead of 0.4 s.
  """
  from sklearn.manifold import TSNE
  from threadpoolctl import threadpool_limits
  n = len(features)
  perplexity = float(min(30.0, max(2.0, (n - 1) / 3.0)))
  tsne = TSNE(n_components=2, perplexity=perplexity, init="pca", random_state=seed)
  with threadpool_limits(limits=threads or None, user_api="openmp"):
    return tsne.fit_transform(np.asarray(features, np.float64))


def resolve_tsne_methods(setting: Setting, methods: Sequence[str]) -> list[str]:
  """``auto`` -> gil, mean and the first of :data:`TSNE_FALLBACKS` with models."""
  if list(methods) != ["auto"]:
    return list(methods)
  out = ["gil", "mean"]
  for m in TSNE_FALLBACKS:
    if m in setting.results["methods"] and has_models(setting.dir_of(m), m):
      out.append(m)
      break
  return out


def plot_tsne(panels: Sequence[tuple[str, np.ndarray, np.ndarray]], title: str,
              path: str) -> None:
  import matplotlib.pyplot as plt
  n = len(panels)
  fig, axes = plt.subplots(1, n, figsize=(4.2 * n, 4.6), squeeze=False,
                           constrained_layout=True)
  classes = np.unique(np.concatenate([p[2] for p in panels]))
  cmap = plt.get_cmap("tab10" if len(classes) <= 10 else "tab20")
  for ax, (name, emb, y) in zip(axes[0], panels):
    for k, c in enumerate(classes):
      sel = y == c
      ax.scatter(emb[sel, 0], emb[sel, 1], s=3, color=cmap(k % cmap.N),
                 label=str(c), rasterized=True)
    ax.set_title(name)
    ax.set_xticks([])
    ax.set_yticks([])
  axes[0, -1].legend(title="class", markerscale=4, loc="center left",
                     bbox_to_anchor=(1.0, 0.5), frameon=False)
  fig.suptitle(title)
  fig.savefig(path, dpi=120)
  plt.close(fig)


def tsne_figure(settings: Sequence[Setting], out: str, rate: float,
                methods: Sequence[str], num_images: int, seed: int,
                run_index: int = 0, threads: int = 1) -> str:
  match = [s for s in settings if s.missing_rate is not None
           and math.isclose(s.missing_rate, rate)]
  if not match:
    raise SkipFigure(f"no setting with missing rate {rate:g} (have "
                     f"{[s.missing_rate for s in settings]})")
  setting = match[0]
  if run_index >= len(setting.results["runs"]):
    raise ValueError(f"--tsne_run={run_index}: {setting.workdir} has "
                     f"{len(setting.results['runs'])} runs (0 to "
                     f"{len(setting.results['runs']) - 1})")
  cache: dict = {}
  panels = []
  for method in resolve_tsne_methods(setting, methods):
    try:
      zeta, y = encoder_features(setting, method, run_index, num_images, seed, cache)
    except SkipFigure as e:
      logging.warning("t-SNE: skipping %s", e)
      print(f"t-SNE: skipping {e}")
      continue
    logging.info("t-SNE of %s (%d x %d) ...", method, *zeta.shape)
    panels.append((method, tsne_embed(zeta, seed, threads), y))
  if not panels:
    raise SkipFigure(f"{setting.label}: none of the methods has saved models")
  run = ", ".join(f"{k} {v}" for k, v in setting.results["runs"][run_index].items())
  path = os.path.join(out, f"tsne_{100 * rate:g}.png")
  plot_tsne(panels, f"t-SNE of encoder features zeta, {setting.label}, "
            f"{len(panels[0][2])} test images ({run})", path)
  return path


# ------------------------------------------------- imputation MSE vs accuracy


def mse_accuracy_rows(settings: Sequence[Setting]) -> list[dict[str, Any]]:
  """One row per setting, method with ``imputation_mse`` and run (per_run order)."""
  rows = []
  for s in settings:
    runs = s.results["runs"]
    for method, res in s.results["methods"].items():
      if "imputation_mse" not in res:
        continue
      mses = res["imputation_mse"]["per_run"]
      accs = res["test"]["accuracy"]["per_run"]
      for i, (mse, acc) in enumerate(zip(mses, accs)):
        run = runs[i] if i < len(runs) else {}
        rows.append({"setting": s.label, "missing_rate": s.missing_rate,
                     "method": method, "run": i, "mask_seed": run.get("mask_seed"),
                     "seed": run.get("seed"), "imputation_mse": float(mse),
                     "test_accuracy": float(acc)})
  return rows


def pearson_by_setting(rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
  """Pearson's r (and p-value) of imputation MSE vs accuracy, per setting.

  Over all points of a setting (every method and run), as the paper's Table 4;
  NaN with fewer than 3 points or a constant variable.
  """
  from scipy import stats
  out = []
  for label in dict.fromkeys(r["setting"] for r in rows):
    pts = [r for r in rows if r["setting"] == label]
    x = np.array([r["imputation_mse"] for r in pts])
    y = np.array([r["test_accuracy"] for r in pts])
    if len(pts) >= 3 and np.ptp(x) > 0 and np.ptp(y) > 0:
      res = stats.pearsonr(x, y)
      r_value, p_value = float(res.statistic), float(res.pvalue)
    else:
      r_value = p_value = float("nan")
    out.append({"setting": label, "missing_rate": pts[0]["missing_rate"],
                "n_points": len(pts),
                "n_methods": len({r["method"] for r in pts}),
                "pearson_r": r_value, "p_value": p_value})
  return out


def _write_csv(rows: Sequence[dict[str, Any]], fields: Sequence[str],
               path: str) -> None:
  with open(path, "w", newline="") as f:
    writer = csv.DictWriter(f, fieldnames=list(fields))
    writer.writeheader()
    for row in rows:
      writer.writerow({k: ("" if row[k] is None else
                           f"{row[k]:.6g}" if isinstance(row[k], float) else row[k])
                       for k in fields})


def plot_mse_accuracy(rows: Sequence[dict[str, Any]],
                      pearson: Sequence[dict[str, Any]], path: str) -> None:
  import matplotlib.pyplot as plt
  n = len(pearson)
  fig, axes = plt.subplots(1, n, figsize=(4.2 * n, 4.0), squeeze=False,
                           constrained_layout=True)
  methods = list(dict.fromkeys(r["method"] for r in rows))
  cmap = plt.get_cmap("tab10")
  markers = "osD^vP*X<>"
  for ax, pr in zip(axes[0], pearson):
    pts = [r for r in rows if r["setting"] == pr["setting"]]
    for k, method in enumerate(methods):
      sel = [r for r in pts if r["method"] == method]
      if sel:
        ax.scatter([r["imputation_mse"] for r in sel],
                   [100 * r["test_accuracy"] for r in sel], color=cmap(k % 10),
                   marker=markers[k % len(markers)], label=method)
    ax.set_title(f"{pr['setting']}: r = {pr['pearson_r']:.2f} "
                 f"(p = {pr['p_value']:.2g}, n = {pr['n_points']})")
    ax.set_xlabel("test imputation MSE")
    ax.set_ylabel("test accuracy (%)")
    ax.legend(fontsize="small")
  fig.suptitle("Imputation error vs prediction accuracy (Pearson over runs and "
               "methods)")
  fig.savefig(path, dpi=120)
  plt.close(fig)


def mse_figure(settings: Sequence[Setting], out: str) -> str:
  rows = mse_accuracy_rows(settings)
  if not rows:
    raise SkipFigure("no method has 'imputation_mse' in results.json (recorded only "
                     "for simulated masks: loaders with a missing_rate)")
  pearson = pearson_by_setting(rows)
  _write_csv(rows, MSE_CSV_FIELDS, os.path.join(out, "imputation_mse_vs_accuracy.csv"))
  _write_csv(pearson, PEARSON_CSV_FIELDS,
             os.path.join(out, "imputation_mse_pearson.csv"))
  for pr in pearson:
    print(f"{pr['setting']}: Pearson r = {pr['pearson_r']:.3f} "
          f"(p = {pr['p_value']:.3g}, {pr['n_points']} points, "
          f"{pr['n_methods']} methods)")
  path = os.path.join(out, "imputation_mse_vs_accuracy.png")
  plot_mse_accuracy(rows, pearson, path)
  return path


# ------------------------------------------------------------------------ CLI


def check_options(figures: Sequence[str], *, num_images: int, max_runs: int,
                  tsne_rate: float, tsne_run: int, tsne_threads: int,
                  shape: Sequence[int | str] | None) -> None:
  """Raises ValueError naming the first bad option, before any result is read."""
  unknown = set(figures) - set(FIGURES)
  if unknown:
    raise ValueError(f"unknown figures {sorted(unknown)}; choose from {FIGURES}")
  for name, value in (("num_images", num_images), ("max_runs", max_runs),
                      ("tsne_run", tsne_run), ("tsne_threads", tsne_threads)):
    if value < 0:
      raise ValueError(f"--{name} must be >= 0, got {value}")
  if not 0.0 <= tsne_rate <= 1.0:
    raise ValueError(f"--tsne_rate is a missing rate in [0, 1], got {tsne_rate}")
  if shape:
    try:
      sides = [int(v) for v in shape]
    except ValueError:
      sides = []
    if len(sides) != 2 or min(sides) < 1:
      raise ValueError(f"--image_shape is H,W (two positive integers), got "
                       f"{','.join(str(v) for v in shape)!r}")


def make_figures(workdir: str | Sequence[str], out: str, figures: Sequence[str] = FIGURES, *,
                 num_images: int = 2000, max_runs: int = 0, seed: int = 0,
                 tsne_rate: float = 0.9, tsne_methods: Sequence[str] = ("auto",),
                 tsne_run: int = 0, tsne_threads: int = 1,
                 shape: Sequence[int] | None = None) -> dict[str, str]:
  """Writes the requested figures; returns ``{figure: path}`` of those written."""
  check_options(figures, num_images=num_images, max_runs=max_runs,
                tsne_rate=tsne_rate, tsne_run=tsne_run, tsne_threads=tsne_threads,
                shape=shape)
  import matplotlib
  matplotlib.use("Agg")
  settings = find_settings(workdir)
  os.makedirs(out, exist_ok=True)
  written = {}
  for name in figures:
    try:
      if name == "importance":
        written[name] = importance_figure(settings, out, num_images, max_runs, seed,
                                          shape)
      elif name == "tsne":
        written[name] = tsne_figure(settings, out, tsne_rate, tsne_methods,
                                    num_images, seed, tsne_run, tsne_threads)
      else:
        written[name] = mse_figure(settings, out)
    except SkipFigure as e:
      print(f"skipping figure {name!r}: {e}")
      continue
    print(f"wrote {written[name]}")
  return written


FLAGS = flags.FLAGS


def define_flags() -> None:
  """The CLI flags; defined only when run as a program, so that importing this
  module next to other launchers (which define ``workdir``/``out``) is safe."""
  flags.DEFINE_list("workdir", None, "launch.train grid workdirs (or single runs), "
                    "comma-separated; settings of the same label are merged "
                    "(methods run into separate workdirs).")
  flags.DEFINE_string("out", None, "Directory for the PNG and CSV files.")
  flags.DEFINE_list("figures", list(FIGURES), "Figures to draw: importance, tsne, mse.")
  flags.DEFINE_integer("num_images", 2000, "Test images per run (0 = all).")
  flags.DEFINE_integer("max_runs", 0, "Importance maps: average over the first N runs "
                       "of each setting (0 = all).")
  flags.DEFINE_integer("seed", 0, "Seed of the image subsample and of t-SNE.")
  flags.DEFINE_float("tsne_rate", 0.9, "Missing rate of the t-SNE figure.")
  flags.DEFINE_list("tsne_methods", ["auto"], "Methods of the t-SNE figure; 'auto' = "
                    "gil, mean and the first of gain, mice, knn, zero with models.  "
                    "Imputers (knn, mice, gain) are refitted on the training split.")
  flags.DEFINE_integer("tsne_run", 0, "Index into results['runs'] for t-SNE.")
  flags.DEFINE_integer("tsne_threads", 1, "OpenMP threads of t-SNE (0 = all cores).")
  flags.DEFINE_list("image_shape", None, "H,W of the importance maps (default: "
                    "sqrt(d) x sqrt(d)).")
  flags.mark_flags_as_required(["workdir", "out"])


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"Too many command-line arguments: {argv[1:]}")
  make_figures(FLAGS.workdir, FLAGS.out, FLAGS.figures,
               num_images=FLAGS.num_images, max_runs=FLAGS.max_runs,
               seed=FLAGS.seed, tsne_rate=FLAGS.tsne_rate,
               tsne_methods=FLAGS.tsne_methods, tsne_run=FLAGS.tsne_run,
               tsne_threads=FLAGS.tsne_threads, shape=FLAGS.image_shape)


if __name__ == "__main__":
  define_flags()
  user_errors.run(main)
