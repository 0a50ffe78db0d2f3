"""GILClassifier refuses labels it cannot order or that are missing, by name and
before training (they were a TypeError from sorting, or scikit-learn's "Input
contains NaN" that does not say which input)."""

import numpy as np
import pandas as pd
import pytest

from gil_jax.estimator import GILClassifier

X = np.random.default_rng(0).normal(size=(20, 2))
PAIRS = ["a", "b"] * 9


@pytest.mark.parametrize("y", [
    np.array(PAIRS + [None, "a"], dtype=object),
    pd.Series(PAIRS + [None, "a"]),
    pd.Series(PAIRS + [pd.NA, "a"], dtype="string"),
    pd.Categorical(PAIRS + [None, "a"]),
    np.array([0.0, 1.0] * 9 + [np.nan, 1.0]),
], ids=["object-None", "series-None", "string-NA", "categorical", "float-NaN"])
@pytest.mark.parametrize("frame", [False, True], ids=["array", "DataFrame"])
def test_missing_labels_are_refused_naming_y_and_the_row(y, frame):
  x = pd.DataFrame(X, columns=["u", "v"]) if frame else X
  with pytest.raises(ValueError, match=r"y holds 1 missing label.*row 18"):
    GILClassifier(num_steps=2, eval_every=1).fit(x, y)


def test_labels_of_kinds_that_cannot_be_ordered_are_refused():
  y = np.array(["a", 1] * 10, dtype=object)
  with pytest.raises(ValueError, match=r"y mixes labels of kinds \['int', 'str'\]"):
    GILClassifier(num_steps=2, eval_every=1).fit(X, y)
