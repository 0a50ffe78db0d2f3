"""Property-based: whatever a user hands the estimator, the table preparation or
the training config, the answer is a clear error of our type (a ``ValueError``)
or a finite, well-formed result that matches a reference path.

Examples per property: ``HYPOTHESIS_PROFILE=ci`` (the default, few: the suite's
time) or ``dev`` (many, for a local run); the profiles are in ``conftest.py``."""

import math
import os
import tempfile

import hypothesis.extra.numpy as hnp
import numpy as np
import pandas as pd
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

import gil_jax
from gil_jax.config import from_options
from gil_jax.estimator import GILClassifier

# Values users send: ordinary, NaN (missing), +/-inf, beyond float32, tiny.
VALUES = st.one_of(
    st.floats(-5, 5), st.just(np.nan), st.just(np.inf), st.just(-np.inf),
    st.sampled_from([1e300, -1e300, 3e38, 1e39, 1e-300, 0.0]))
ROWS, COLS = 64, 4


def _labels():
  return np.arange(ROWS) % 2


def _fitted_or_refused(x):
  """A tiny estimator fitted on ``x``, or None when it refuses ``x`` (our error)."""
  clf = GILClassifier(method="zero", hidden=(4,), num_steps=10, eval_every=10,
                      batch_size=16, random_state=0)
  try:
    return clf.fit(x, _labels())
  except ValueError:
    return None


def _huge_column():
  x = np.random.default_rng(0).normal(size=(ROWS, COLS))
  x[:, 1] *= 1e300                       # standardises fine, overflows float32
  x[::7, 2] = np.nan
  return x


@given(x=hnp.arrays(np.float64, (ROWS, COLS), elements=VALUES))
@example(x=_huge_column())
def test_estimator_refuses_clearly_or_predicts_finite_probabilities(x):
  clf = _fitted_or_refused(x)
  if clf is None:
    return
  probs = clf.predict_proba(x)           # the rows it trained on are representable
  assert np.isfinite(probs).all()
  np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-6)
  # The reference path: the same model saved and loaded predicts the same.
  with tempfile.TemporaryDirectory() as d:
    clf.save(os.path.join(d, "m.npz"))
    again = GILClassifier.load(os.path.join(d, "m.npz")).predict_proba(x)
  np.testing.assert_array_equal(again, probs)


@given(x=hnp.arrays(np.float64, (ROWS, COLS), elements=VALUES),
       scaling=st.sampled_from(["standardize", "center", "max", "none"]))
def test_table_preparation_refuses_clearly_or_gives_finite_splits(x, scaling):
  raw = gil_jax.RawTabular(x=x, y=_labels().astype(np.int32), num_classes=2,
                           feature_names=tuple("abcd"), name="t")
  try:
    prepared = gil_jax.prepare_tabular(raw, scaling=scaling,
                                       drop_all_missing_columns=True)
  except ValueError:
    return
  for split in (prepared.train, prepared.val, prepared.test):
    assert np.isfinite(split.x).all()
    assert set(np.unique(split.m)) <= {0.0, 1.0}
    # Observed entries are the raw values through the training scaler.
    shift, scale = prepared.scaler
    observed = split.m > 0
    assert np.isfinite(shift).all() and np.isfinite(scale).all()
    assert observed.any() or not len(split.y)


@given(frame=st.fixed_dictionaries({
    "num": st.lists(VALUES, min_size=ROWS, max_size=ROWS),
    "cat": st.lists(st.sampled_from(["a", "b", None, "c"]), min_size=ROWS,
                    max_size=ROWS),
    "flag": st.lists(st.sampled_from([True, False, None]), min_size=ROWS,
                     max_size=ROWS)}),
       unseen=st.sampled_from(["a", "zzz", None]))
def test_dataframes_with_missing_and_unseen_categories(frame, unseen):
  df = pd.DataFrame({"num": frame["num"], "cat": pd.Series(frame["cat"], dtype=object),
                     "flag": pd.Series(frame["flag"], dtype="boolean")})
  clf = _fitted_or_refused(df)
  if clf is None:
    return
  new = df.head(3).copy()
  new.loc[new.index[0], "cat"] = unseen          # unseen categories count as missing
  probs = clf.predict_proba(new)
  assert np.isfinite(probs).all() and probs.shape == (3, 2)


NUMBERS = st.one_of(st.floats(allow_nan=True, allow_infinity=True),
                    st.integers(-3, 3))
OPTIONS = st.fixed_dictionaries({}, optional={
    "learning_rate": NUMBERS, "actor_lr": NUMBERS, "gamma": NUMBERS, "tau": NUMBERS,
    "batch_size": st.integers(-2, 300), "num_steps": st.integers(-5, 400),
    "eval_every": st.integers(-5, 400),
    "hidden": st.lists(st.integers(-2, 64), max_size=3).map(tuple),
    "critic_hidden": st.lists(st.integers(-2, 64), max_size=3).map(tuple),
    "exploration": st.fixed_dictionaries({"p2": NUMBERS, "p3": NUMBERS}),
    "selection_metric": st.sampled_from(["accuracy", "auroc", "f1"]),
    "optimizer": st.sampled_from(["adam", "sgd", "rmsprop"])})


@given(source=st.sampled_from(["plain", "gil", "gil_d", "gil_meta", "gil_l2rw"]),
       options=OPTIONS)
@settings(max_examples=60)
def test_training_config_refuses_clearly_or_holds_valid_values(source, options):
  try:
    config = from_options(source, options)
  except ValueError:
    return
  assert config.num_steps % config.eval_every == 0 and config.batch_size >= 1
  assert math.isfinite(config.learning_rate) and config.learning_rate > 0
  assert all(w >= 1 for w in config.hidden)
  hp = gil_jax.default_hparams(config)
  assert all(np.isfinite(v) for v in jax_leaves(hp))


def jax_leaves(tree):
  import jax
  return [float(v) for v in jax.tree.leaves(tree)]


@pytest.mark.parametrize("value", [np.nan, np.inf, -1.0, 0.0])
def test_a_bad_rate_is_named(value):
  with pytest.raises(ValueError, match="learning_rate"):
    from_options("gil", {"learning_rate": value})
