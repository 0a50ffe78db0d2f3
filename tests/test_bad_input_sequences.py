"""Property-based: whatever per-patient CSV files or sequence arrays a user hands
the sequence loaders, the answer is a clear error of our type (a ``ValueError``)
exactly when the input holds something refusable, and otherwise arrays equal to an
independent reference path (pandas for the CSV files, NumPy for the scaling).

Examples per property: ``HYPOTHESIS_PROFILE=ci|dev`` (``conftest.py``)."""

import os
import tempfile
import warnings

import numpy as np
import pandas as pd
from hypothesis import example, given
from hypothesis import strategies as st

import gil_jax
from data_prep import csv_sequences

F32_MAX = float(np.finfo(np.float32).max)
# A cell as a user's export holds it: ordinary, missing, +/-inf, beyond float32,
# tiny, an integer, or text.
CELLS = st.one_of(
    st.floats(-5, 5), st.just(np.nan), st.just(np.inf), st.just(-np.inf),
    st.sampled_from([1e300, -1e39, 3e38, 1e-300, 1e-45, 0.0]),
    st.integers(-3, 3), st.sampled_from(["abc", "1_000", "True"]))
# A whole column: one cell per row, or all missing, or one constant value.
COLUMNS = st.one_of(
    st.tuples(st.just("cells"), st.lists(CELLS, min_size=1, max_size=1)),
    st.tuples(st.just("empty"), st.just([np.nan])),
    st.tuples(st.just("constant"), st.lists(st.floats(-5, 5), min_size=1,
                                             max_size=1)))
PATIENTS = 4


def _frame(label: int, lengths: list[int], kinds: list, cells: list) -> pd.DataFrame:
  """One label file: patients ``label*100 + i`` with ``lengths[i]`` rows; the
  variable columns from ``kinds`` (cells drawn per row)."""
  rows = sum(lengths)
  ids = np.repeat([f"p{label * 100 + i}" for i in range(len(lengths))], lengths)
  out = {"id": ids}
  for j, (kind, first) in enumerate(kinds):
    if kind == "cells":
      column = [cells[(j * 7 + r) % len(cells)] for r in range(rows)]
      column[0] = first[0]
    else:
      column = first * rows
    out[f"v{j}"] = pd.Series(column, dtype=object)
  return pd.DataFrame(out)


def _refusable(frames: list[pd.DataFrame]) -> bool:
  """The oracle: a cell that is text, infinite or beyond float32, or a file with
  no observed cell or whose observed cells (more than one) all hold one value."""
  for frame in frames:
    values = []
    for c in frame.columns[1:]:
      for v in frame[c]:
        if isinstance(v, str):
          return True
        v = float(v)
        if np.isinf(v) or abs(v) > F32_MAX:
          return True
        if not np.isnan(v):
          values.append(v)
    if not values or (len(values) > 1 and min(values) == max(values)):
      return True
  return False


def _reference(path: str, steps: int) -> np.ndarray:
  """The file through pandas: ``[patients, steps, variables]`` float32, NaN-padded."""
  frame = pd.read_csv(path, dtype={"id": str}, keep_default_na=False,
                      na_values=[""])
  values = frame.drop(columns="id").astype(np.float64).to_numpy()
  out = []
  for rows in frame.groupby("id", sort=False).indices.values():
    x = np.full((steps, values.shape[1]), np.nan, np.float32)
    x[:len(rows)] = values[rows]
    out.append(x)
  return np.stack(out)


@given(lengths=st.lists(st.lists(st.integers(1, 3), min_size=PATIENTS,
                                 max_size=PATIENTS), min_size=2, max_size=2),
       kinds=st.lists(COLUMNS, min_size=1, max_size=3),
       cells=st.lists(CELLS, min_size=1, max_size=12))
@example(lengths=[[1, 2, 3, 2], [3, 1, 2, 2]],
         kinds=[("cells", [0.5]), ("constant", [1.0]), ("empty", [np.nan])],
         cells=[0.1, -2.0, np.nan, 3.0, 1e-300])
def test_csv_sequences_refuse_exactly_the_refusable_or_match_pandas(lengths, kinds,
                                                                    cells):
  frames = [_frame(label, lengths[label], kinds, cells) for label in (0, 1)]
  with tempfile.TemporaryDirectory() as d:
    for label, frame in enumerate(frames):
      frame.to_csv(os.path.join(d, f"test_{label}.csv"), index=False, na_rep="")
    try:
      with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)   # constant / empty columns
        raw = csv_sequences.load_csv_sequences(d, splits=("test",))["test"]
    except ValueError:
      assert _refusable(frames)
      return
    assert not _refusable(frames)
    steps = raw.x.shape[1]
    expected = np.concatenate([_reference(os.path.join(d, f"test_{label}.csv"),
                                          steps) for label in (0, 1)])
  assert raw.x.dtype == np.float32 and not np.isinf(raw.x).any()
  np.testing.assert_array_equal(raw.x, expected)
  np.testing.assert_array_equal(raw.length, np.concatenate(lengths))
  np.testing.assert_array_equal(raw.y, np.repeat([0, 1], PATIENTS))


SEQ_VALUES = st.one_of(
    st.floats(-5, 5), st.just(np.nan), st.just(np.inf),
    st.sampled_from([1e300, 3e38, -3e38, 1e-300, 0.0]))


@given(values=st.lists(SEQ_VALUES, min_size=1, max_size=16),
       lengths=st.lists(st.integers(0, 4), min_size=12, max_size=12),
       dtype=st.sampled_from([np.float64, np.float32, np.float16, np.int64,
                              object]),
       constant=st.booleans())
@example(values=[0.5, -1.0, np.nan, 2.0], lengths=[4, 3, 2, 1] * 3,
         dtype=np.float64, constant=False)
def test_sequence_preparation_refuses_clearly_or_scales_as_numpy(values, lengths,
                                                                 dtype, constant):
  n, t, d = 12, 4, 2
  x = np.resize(np.asarray(values, np.float64), n * t * d).reshape(n, t, d)
  if constant:
    x[..., 1] = 7.0                            # a variable with no spread
  with np.errstate(all="ignore"):             # 1e300 as float16 is inf: refused
    x = x.astype(dtype)
  raw = gil_jax.RawSequences(
      x=x, y=np.arange(n, dtype=np.int32) % 2,
      length=np.asarray(lengths, np.int64), num_classes=2,
      feature_names=("a", "b"), name="s")
  idx = np.arange(n)
  indices = (idx[idx % 4 < 2], idx[idx % 4 == 2], idx[idx % 4 == 3])
  try:
    with warnings.catch_warnings():
      warnings.simplefilter("error", RuntimeWarning)   # an overflow is a bug here
      prepared = gil_jax.prepare_sequences(raw, indices=indices)
  except ValueError:
    return
  source = np.asarray(raw.x, np.float64)
  valid = np.arange(t)[None, :] < np.asarray(lengths)[:, None]
  observed = ~np.isnan(source) & valid[..., None]
  # The reference: every variable standardised with the mean and std of its
  # observed training cells, computed in float64 on values divided by the
  # largest magnitude (exact for any finite input).
  train = np.where(observed, source, np.nan)[indices[0]].reshape(-1, d)
  big = np.nanmax(np.abs(train), axis=0)
  big = np.where(big > 0, big, 1.0)
  shift = np.nanmean(train / big, axis=0) * big
  scale = np.nanstd(train / big, axis=0) * big
  scale = np.where(scale > 0, scale, 1.0)
  for split, rows in zip((prepared.train, prepared.val, prepared.test), indices):
    assert np.isfinite(split.x).all()
    np.testing.assert_array_equal(split.m > 0, observed[rows])
    np.testing.assert_allclose(split.x[observed[rows]],
                               ((source[rows] - shift) / scale)[observed[rows]],
                               rtol=1e-5, atol=1e-5)
