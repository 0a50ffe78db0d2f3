"""Saving fitted scikit-learn baselines safely (skops), for external evaluation.

Gradient boosting and the fitted imputers (kNN's donors, MICE's and missForest's
regression chains, GAIN's generator) are saved after training so that
``launch.evaluate`` can score every method on another data set without refitting
anything on it.

Why skops and not joblib/pickle: a pickle file runs arbitrary code when it is
loaded, so a saved run could only be opened by someone who trusts whoever wrote
it (and every hand it passed through); saved runs are exactly what people share
for external validation.  ``skops.io`` stores objects as data and, on loading,
builds only types it was told to trust.  :func:`load` trusts skops' defaults
(numpy arrays, builtins, scikit-learn estimators it knows) plus the short,
explicit :data:`TRUSTED` list of the types our baselines hold; a file with any
other type is refused with an error naming it.  Trust is still needed in the
scikit-learn version: the file records the version that wrote it, and a model
loaded by another version is scored but may differ (scikit-learn does not
promise compatibility across versions), so :func:`load` warns about it.
"""

from __future__ import annotations

import json
import os
import warnings
from typing import Any

import sklearn
import skops.io as sio

# Types of our baselines that skops does not trust by default, each checked to be
# plain data when loaded by skops (no code runs on load):
TRUSTED: tuple[str, ...] = (
    "numpy.dtype",
    # HistGradientBoostingClassifier's trees (arrays of nodes).
    "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
    # IterativeImputer (MICE, missForest) and its chain of fitted regressions.
    "sklearn.impute._iterative.IterativeImputer",
    "sklearn.impute._iterative._ImputerTriplet",
    # missForest's trees.
    "sklearn.tree._tree.Tree",
)


def dump(obj: Any, path: str | os.PathLike) -> None:
  """Writes ``obj`` (dicts, lists, arrays, fitted estimators) to ``path``.

  ``obj`` is wrapped with the writing scikit-learn version.  The file is written
  to a temporary name first, so a stopped run never leaves half a file.
  """
  path = os.fspath(path)
  os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
  tmp = path + ".tmp"
  sio.dump({"sklearn_version": sklearn.__version__, "obj": obj}, tmp)
  os.replace(tmp, path)


def load(path: str | os.PathLike) -> Any:
  """Reads what :func:`dump` wrote, trusting only :data:`TRUSTED` beyond skops'
  defaults.

  Raises:
    FileNotFoundError: no such file.
    ValueError: the file holds a type that is not trusted (it may have been
      written by other code, or tampered with), or is not a skops file.
  """
  path = os.fspath(path)
  if not os.path.isfile(path):
    raise FileNotFoundError(f"saved model not found: {path!r}")
  try:
    untrusted = sio.get_untrusted_types(file=path)
  except Exception as e:  # skops raises zipfile / json errors on a bad file
    raise ValueError(f"{path!r} is not a readable skops file: {e}") from e
  refused = sorted(set(untrusted) - set(TRUSTED))
  if refused:
    raise ValueError(f"{path!r} holds types this project does not trust, not "
                     f"loaded: {refused}")
  wrapped = sio.load(path, trusted=list(untrusted))
  version = wrapped.get("sklearn_version")
  if version != sklearn.__version__:
    warnings.warn(f"{path!r} was written by scikit-learn {version}, loaded by "
                  f"{sklearn.__version__}: predictions may differ")
  return wrapped["obj"]


MANIFEST = "manifest.json"


def save_runs(directory: str | os.PathLike, objects: list, **info) -> None:
  """Saves one object per run in ``directory``, each distinct object once.

  Runs that share an object (e.g. the seeds of one dataset share its fitted
  imputer) share a file: ``directory/fitted_{j}.skops``; ``manifest.json``
  lists each run's file and ``info`` (JSON-able, e.g. the method).
  """
  directory = os.fspath(directory)
  os.makedirs(directory, exist_ok=True)
  files, seen = [], {}
  for obj in objects:
    if id(obj) not in seen:
      seen[id(obj)] = f"fitted_{len(seen)}.skops"
      dump(obj, os.path.join(directory, seen[id(obj)]))
    files.append(seen[id(obj)])
  manifest = dict(info, format="skops", sklearn_version=sklearn.__version__,
                  runs=files)
  tmp = os.path.join(directory, MANIFEST + ".tmp")
  with open(tmp, "w") as f:
    json.dump(manifest, f, indent=2)
  os.replace(tmp, os.path.join(directory, MANIFEST))


def load_runs(directory: str | os.PathLike) -> tuple[list, dict]:
  """``(objects per run, manifest)`` of :func:`save_runs` (files loaded once).

  Raises:
    FileNotFoundError: no manifest in ``directory``.
  """
  directory = os.fspath(directory)
  path = os.path.join(directory, MANIFEST)
  if not os.path.isfile(path):
    raise FileNotFoundError(f"no saved fitted models in {directory!r} (expected "
                            f"{MANIFEST}); was the run made before they were "
                            f"saved?")
  with open(path) as f:
    manifest = json.load(f)
  loaded = {name: load(os.path.join(directory, name))
            for name in dict.fromkeys(manifest["runs"])}
  return [loaded[name] for name in manifest["runs"]], manifest
