"""Values beyond float32's range: GILClassifier fits and predicts finite
probabilities, or refuses a value it cannot represent, naming its column; no NaN
leaves predict_proba."""

import numpy as np
import pandas as pd
import pytest

from gil_jax.estimator import GILClassifier


def _data(scale, n=240):
  rng = np.random.default_rng(0)
  x = rng.normal(size=(n, 3))
  y = (x[:, 0] > 0).astype(int)
  x[:, 0] *= scale
  x[rng.random(x.shape) < 0.2] = np.nan
  return x, y


def _clf():
  return GILClassifier(method="zero", hidden=(8,), num_steps=40, eval_every=20,
                       batch_size=32, random_state=0)


def test_a_column_beyond_float32_trains_and_predicts_finite_probabilities():
  x, y = _data(1e300)                        # standardises fine, overflows float32
  probs = _clf().fit(x, y).predict_proba(x)
  assert np.isfinite(probs).all()
  np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-6)


def test_a_new_value_too_far_from_training_is_refused_by_column_name():
  x, y = _data(1.0)
  frame = pd.DataFrame(x, columns=["age", "dose", "weight"])
  clf = _clf().fit(frame, y)
  far = frame.iloc[:3].copy()
  far.loc[far.index[1], "dose"] = 1e300
  with pytest.raises(ValueError, match=r"column 'dose'"):
    clf.predict_proba(far)
