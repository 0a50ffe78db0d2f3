"""GILClassifier: scikit-learn's estimator checks, DataFrames, bad input, persistence.

Every fit here is tiny (a few dozen rows, an 8-unit MLP, tens of steps): these tests
check the estimator's contract, not its accuracy (docs/results/tables.md does that).
"""

import pickle

import numpy as np
import pandas as pd
import pytest
from sklearn.model_selection import GridSearchCV, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer
from sklearn.utils.estimator_checks import parametrize_with_checks

from gil_jax import methods as methods_lib
from gil_jax.estimator import GILClassifier, estimator_methods

# Small and fast: the checks fit dozens of times on 10-300 rows.  Compiling the
# training program for each new data shape dominates the cost (about 5 s of CPU),
# so the tests below reuse one table shape where they can.
TINY = dict(hidden=(8,), num_steps=60, eval_every=20, batch_size=4,
            learning_rate=3e-2)


def expected_failed_checks(estimator):
  """scikit-learn checks that cannot apply to this estimator, and why.

  None: all 53 checks of scikit-learn 1.9 (``legacy=True``) pass, with NaN allowed
  in ``X`` (``allow_nan`` tag, so ``check_estimators_nan_inf`` is not among them).
  ``check_array_api_input`` skips itself: the estimator does not claim array-API
  support (it trains in JAX on numpy inputs).
  """
  return {}


@parametrize_with_checks([GILClassifier(method="zero", **TINY)],
                         expected_failed_checks=expected_failed_checks)
def test_sklearn_estimator_checks(estimator, check):
  check(estimator)


# --------------------------------------------------------------- DataFrames

def _table(n=48, seed=0):
  """Numeric, categorical (with missing), boolean and string columns; labels are
  strings and depend on ``x`` and on the category."""
  rng = np.random.RandomState(seed)
  x = rng.normal(size=n)
  color = rng.choice(["red", "green", "blue"], size=n).astype(object)
  frame = pd.DataFrame({
      "x": np.where(rng.rand(n) < 0.2, np.nan, x),
      "color": pd.Series(color).where(rng.rand(n) > 0.2),
      "flag": pd.array(rng.rand(n) < 0.5, dtype="boolean"),
      "size": pd.Categorical(rng.choice(["S", "L"], size=n)),
  })
  label = np.where(x + (color == "red") > 0.3, "sick", "well")
  return frame, label


def test_dataframe_with_categories_fits_and_predicts_string_labels():
  frame, label = _table()
  clf = GILClassifier(method="mean_mask", **TINY).fit(frame, label)
  assert list(clf.classes_) == ["sick", "well"]
  assert clf.n_features_in_ == 4
  assert list(clf.feature_names_in_) == ["x", "color", "flag", "size"]
  assert set(clf.predict(frame)) <= {"sick", "well"}
  proba = clf.predict_proba(frame)
  assert proba.shape == (48, 2) and np.allclose(proba.sum(1), 1)
  # decision_function is the log-odds of classes_[1].
  np.testing.assert_allclose(clf.decision_function(frame),
                             np.log(proba[:, 1] / proba[:, 0]), rtol=1e-5)
  assert 0 <= clf.best_step_ <= 60 and "auroc" in clf.validation_score_


def test_unseen_category_at_predict_time_counts_as_missing():
  frame, label = _table()
  clf = GILClassifier(method="zero", **TINY).fit(frame, label)
  unseen = frame.assign(color=["purple"] * len(frame))
  missing = frame.assign(color=[None] * len(frame))
  np.testing.assert_allclose(clf.predict_proba(unseen), clf.predict_proba(missing))
  strict = clf.set_params(handle_unknown="error")
  with pytest.raises(ValueError, match=r"'color' holds categories not seen.*purple"):
    strict.predict(unseen)


def test_bad_frames_at_predict_time_name_the_columns():
  frame, label = _table()
  clf = GILClassifier(method="zero", **TINY).fit(frame, label)
  with pytest.raises(ValueError, match=r"(?s)seen at fit time, yet now missing.*size"):
    clf.predict(frame.drop(columns="size"))
  with pytest.raises(ValueError, match="must be in the same order"):
    clf.predict(frame[["color", "x", "flag", "size"]])
  with pytest.raises(ValueError, match="categorical columns; pass a DataFrame"):
    clf.predict(frame.to_numpy())


def _rows(frame, label, idx):
  return frame.iloc[idx], label[idx]


@pytest.mark.parametrize("change, message", [
    (lambda f, y: (f.assign(x=np.nan), y), r"entirely missing.*\['x'\]"),
    (lambda f, y: (f.assign(x=np.where(np.arange(len(f)) == 3, np.inf, 0.0)), y),
     r"column 'x' holds 1 \+/-inf"),
    (lambda f, y: (f, np.full(len(y), "well")), "one class only"),
    (lambda f, y: (f.assign(note=[object()] * len(f)), y),
     r"column 'note' is an object column holding \['object'\]"),
    (lambda f, y: _rows(f, y, np.r_[np.flatnonzero(y == "sick")[:3],
                                    np.flatnonzero(y == "well")[:2]]),
     r"5 rows leave 3 training rows .* fewer than batch_size=4"),
    (lambda f, y: (f[["x"]].to_numpy(float) * np.inf, y), r"\+/-inf.*'column 0'"),
])
def test_bad_training_input_gets_a_clear_error(change, message):
  frame, label = _table()
  x, y = change(frame, label)
  with pytest.raises(ValueError, match=message):
    GILClassifier(method="zero", **TINY).fit(x, y)


def test_methods_come_from_the_launcher_table(monkeypatch):
  assert {"gil", "gil_d", "gil_h", "zero", "mean", "mean_mask"} <= set(
      estimator_methods())
  with pytest.raises(ValueError, match=r"fitted on the training rows.*Pipeline"):
    GILClassifier(method="mice").fit(*_table())
  with pytest.raises(ValueError, match="scikit-learn model"):
    GILClassifier(method="hgb").fit(*_table())
  with pytest.raises(ValueError, match="sequence model"):
    GILClassifier(method="grud").fit(*_table())
  # A method added to the table later works without touching the estimator.
  monkeypatch.setitem(methods_lib.METHODS, "new_mask_method", methods_lib.MethodSpec(
      "plain", transforms=("mask_features",)))
  assert "new_mask_method" in estimator_methods()
  clf = GILClassifier(method="new_mask_method", **TINY).fit(*_table())
  assert clf.num_model_features_ == 2 * 7        # 7 encoded columns + their mask
  assert clf.predict_proba(_table()[0]).shape == (48, 2)


def test_gil_trains_with_its_policy_and_round_trips_through_save_and_pickle(tmp_path):
  frame, label = _table()
  clf = GILClassifier(method="gil", **TINY).fit(frame, label)
  path = str(tmp_path / "gil.npz")
  clf.save(path)
  with np.load(path, allow_pickle=False) as f:     # nothing executable inside
    assert "header" in f.files
  for other in (GILClassifier.load(path), pickle.loads(pickle.dumps(clf))):
    np.testing.assert_array_equal(other.predict_proba(frame), clf.predict_proba(frame))
    assert other.get_params() == clf.get_params()
    assert list(other.classes_) == list(clf.classes_)
  np.save(tmp_path / "other.npy", np.zeros(3))
  with pytest.raises(ValueError, match="not a saved GILClassifier"):
    GILClassifier.load(str(tmp_path / "other.npy"))


def test_pipeline_cross_validation_and_grid_search():
  # Folds of 48 rows: the training program compiled for _table() is reused.
  x, y = _table(n=96, seed=3)
  pipe = make_pipeline(FunctionTransformer(), GILClassifier(method="zero", **TINY))
  scores = cross_val_score(pipe, x, y, cv=2, scoring="roc_auc")
  assert scores.shape == (2,) and np.all(scores > 0.6)
  search = GridSearchCV(GILClassifier(method="zero", **TINY),
                        {"placeholder": [0.0, 1.0]}, cv=2, scoring="roc_auc",
                        refit=False)
  search.fit(x, y)
  assert search.best_params_["placeholder"] in (0.0, 1.0)
  assert np.all(np.isfinite(search.cv_results_["mean_test_score"]))


def test_progress_is_printed_only_when_verbose(capsys):
  x, y = _table()
  GILClassifier(method="zero", **TINY).fit(x, y)
  assert capsys.readouterr().out == ""
  GILClassifier(method="zero", verbose=1, **TINY).fit(x, y)
  assert "[GILClassifier zero] step 60/60" in capsys.readouterr().out
