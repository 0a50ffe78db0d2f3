"""A pandas DataFrame as a float matrix with NaN for missing values (one-hot categories).

The one place where a table with mixed column types becomes what the rest of the
library takes (:class:`gil_jax.data.RawTabular`'s ``x``): the table loaders of
``data_prep/`` and :class:`gil_jax.estimator.GILClassifier` both use it.

Column kinds (decided by :func:`fit_encoding` from the training frame):

* ``numeric`` (int, float, nullable ``Int64``/``Float64``): one column, as float;
  a missing value (NaN, ``None``, ``pd.NA``) stays NaN.
* ``boolean`` (``bool``, nullable ``boolean``, or an object column of Python bools):
  one 0/1 column, NaN where missing.
* ``categorical`` (``category`` dtype, or a string / object column holding strings):
  one-hot, one column per category seen in training (for a ``category`` dtype: per
  declared category, so folds of one frame encode alike).  A **missing category makes
  the whole group of its columns missing** (NaN), so a model given the mask knows the
  value is unknown rather than "none of these".  A category never seen in training is
  treated the same way (all-missing group) with ``handle_unknown="missing"``, the
  default, or raises with ``handle_unknown="error"``.

Anything else raises a ``ValueError`` naming the column: datetimes and other dtypes,
object columns mixing strings with numbers or holding other objects, string columns
with more than ``max_categories`` distinct values (identifiers or free text are not
categories; drop them or raise the limit), +/-inf values.

The fitted :class:`FrameEncoding` is plain data (names, kinds, category lists), so it
serialises to JSON (:meth:`FrameEncoding.to_json_dict`).
"""

from __future__ import annotations

import numbers
from typing import NamedTuple

import numpy as np
import pandas as pd

KINDS = ("numeric", "boolean", "categorical")
HANDLE_UNKNOWN = ("missing", "error")


class ColumnEncoding(NamedTuple):
  """How one input column becomes output columns."""
  name: str
  kind: str                         # one of KINDS
  categories: tuple = ()            # categorical only, in output order


class FrameEncoding(NamedTuple):
  """What :func:`fit_encoding` learned from a training frame."""
  columns: tuple[ColumnEncoding, ...]

  @property
  def input_names(self) -> tuple[str, ...]:
    return tuple(c.name for c in self.columns)

  @property
  def feature_names(self) -> tuple[str, ...]:
    """Names of the output columns: ``col`` or ``col=category``."""
    out = []
    for c in self.columns:
      if c.kind == "categorical":
        out.extend(f"{c.name}={v}" for v in c.categories)
      else:
        out.append(c.name)
    return tuple(out)

  @property
  def groups(self) -> tuple[tuple[int, ...], ...]:
    """Output column indices of each input column (a categorical's one-hot group)."""
    out, start = [], 0
    for c in self.columns:
      width = len(c.categories) if c.kind == "categorical" else 1
      out.append(tuple(range(start, start + width)))
      start += width
    return tuple(out)

  def to_json_dict(self) -> dict:
    return {"columns": [{"name": c.name, "kind": c.kind,
                         "categories": [_json_scalar(v) for v in c.categories]}
                        for c in self.columns]}

  @classmethod
  def from_json_dict(cls, d: dict) -> "FrameEncoding":
    return cls(columns=tuple(ColumnEncoding(c["name"], c["kind"],
                                            tuple(c["categories"]))
                             for c in d["columns"]))


def _json_scalar(v):
  if isinstance(v, (bool, np.bool_)):
    return bool(v)
  if isinstance(v, numbers.Integral):
    return int(v)
  if isinstance(v, numbers.Real):
    return float(v)
  return str(v)


def _is_str(v) -> bool:
  return isinstance(v, str)


def _column_kind(name: str, col: pd.Series, max_categories: int) -> ColumnEncoding:
  dtype = col.dtype
  if isinstance(dtype, pd.CategoricalDtype):
    return ColumnEncoding(name, "categorical", tuple(dtype.categories.tolist()))
  if pd.api.types.is_bool_dtype(dtype):
    return ColumnEncoding(name, "boolean")
  if (pd.api.types.is_numeric_dtype(dtype)
      and not pd.api.types.is_complex_dtype(dtype)):
    return ColumnEncoding(name, "numeric")
  if not (pd.api.types.is_object_dtype(dtype) or pd.api.types.is_string_dtype(dtype)):
    raise ValueError(
        f"column {name!r} has dtype {dtype}, which is neither numeric, boolean nor "
        "categorical; convert it (e.g. a date to a number of days) or drop it")
  values = col[col.notna()]
  types = {type(v) for v in values}
  if all(issubclass(t, (bool, np.bool_)) for t in types) and types:
    return ColumnEncoding(name, "boolean")
  if all(issubclass(t, str) for t in types):
    categories = sorted(set(values))
    if len(categories) > max_categories:
      raise ValueError(
          f"column {name!r} holds {len(categories)} distinct strings, more than "
          f"max_categories={max_categories}: identifiers or free text are not "
          "categories; drop the column, group its values, or raise max_categories")
    return ColumnEncoding(name, "categorical", tuple(categories))
  if all(issubclass(t, numbers.Real) and not issubclass(t, (bool, np.bool_))
         for t in types):
    return ColumnEncoding(name, "numeric")
  shown = sorted(t.__name__ for t in types)
  raise ValueError(
      f"column {name!r} is an object column holding {shown}: it is neither "
      "numeric nor categorical (strings only); convert it or drop it")


def column_names(frame: pd.DataFrame) -> tuple[str, ...]:
  """The frame's column names as strings (positions for unnamed columns)."""
  return tuple(str(c) for c in frame.columns)


def fit_encoding(frame: pd.DataFrame, max_categories: int = 100) -> FrameEncoding:
  """Learns each column's kind and categories from a (training) frame.

  Args:
    frame: the table; any missing marker pandas knows (NaN, None, pd.NA).
    max_categories: most distinct strings a string column may hold.

  Returns:
    A :class:`FrameEncoding` for :func:`encode`.
  """
  if not isinstance(frame, pd.DataFrame):
    raise TypeError(f"expected a pandas DataFrame, got {type(frame).__name__}")
  names = column_names(frame)
  if len(set(names)) != len(names):
    twice = sorted({n for n in names if names.count(n) > 1})
    raise ValueError(f"duplicate column names: {twice}")
  if frame.shape[1] == 0:
    raise ValueError("the frame has no columns")
  return FrameEncoding(columns=tuple(
      _column_kind(n, frame.iloc[:, j], max_categories)
      for j, n in enumerate(names)))


def check_columns(frame: pd.DataFrame, encoding: FrameEncoding) -> None:
  """Raises ``ValueError`` naming missing, unexpected or reordered columns."""
  got, want = column_names(frame), encoding.input_names
  if got == want:
    return
  missing = [n for n in want if n not in got]
  extra = [n for n in got if n not in want]
  if missing or extra:
    raise ValueError(
        "The feature names should match those that were passed during fit; "
        f"missing columns: {missing}; unexpected columns: {extra}")
  moved = [n for n, m in zip(got, want) if n != m]
  raise ValueError(
      "The feature names should match those that were passed during fit, in the "
      f"same order; reordered columns: {moved} (expected order {list(want)})")


def encode(frame: pd.DataFrame, encoding: FrameEncoding,
           handle_unknown: str = "missing") -> np.ndarray:
  """The frame as a float64 matrix ``[N, len(encoding.feature_names)]``, NaN = missing.

  Args:
    frame: a frame with the columns of the training frame, in the same order.
    encoding: from :func:`fit_encoding`.
    handle_unknown: ``"missing"`` (a category not seen in training makes its group
      missing) or ``"error"``.
  """
  if handle_unknown not in HANDLE_UNKNOWN:
    raise ValueError(f"handle_unknown must be one of {HANDLE_UNKNOWN}, got "
                     f"{handle_unknown!r}")
  if not isinstance(frame, pd.DataFrame):
    raise TypeError(f"expected a pandas DataFrame, got {type(frame).__name__}")
  check_columns(frame, encoding)
  blocks = []
  for j, spec in enumerate(encoding.columns):
    col = frame.iloc[:, j]
    missing = col.isna().to_numpy()
    if spec.kind == "categorical":
      values = col.astype(object)
      codes = np.asarray(pd.Index(list(spec.categories), dtype=object)
                         .get_indexer(values), np.int64)
      unknown = (codes < 0) & ~missing
      if unknown.any() and handle_unknown == "error":
        seen = sorted({str(v) for v in values[unknown]})[:10]
        raise ValueError(f"column {spec.name!r} holds categories not seen in "
                         f"training: {seen}")
      block = (codes[:, None] == np.arange(len(spec.categories))[None, :])
      block = block.astype(np.float64)
      block[codes < 0] = np.nan          # missing or unseen: the group is unknown
    else:
      try:
        if spec.kind == "boolean":
          values = col.astype(object).where(~missing, np.nan)
          bad = [v for v in values[~missing] if not isinstance(v, (bool, np.bool_))]
          if bad:
            raise ValueError(f"column {spec.name!r} was boolean in training but "
                             f"holds {type(bad[0]).__name__} values now")
          v = np.where(missing, np.nan, values.to_numpy() == True)  # noqa: E712
        else:
          v = pd.to_numeric(col.astype(object).where(~missing, np.nan),
                            errors="raise").to_numpy(np.float64)
      except (TypeError, ValueError) as e:
        if "column" in str(e):
          raise
        raise ValueError(f"column {spec.name!r} was numeric in training but holds "
                         f"non-numeric values now ({e})") from None
      v = np.asarray(v, np.float64)
      if np.isinf(v).any():
        row = int(np.flatnonzero(np.isinf(v))[0])
        raise ValueError(f"column {spec.name!r} holds {int(np.isinf(v).sum())} "
                         f"+/-inf values (first at row {row}); mark missing "
                         "entries with NaN instead")
      block = v[:, None]
    blocks.append(block)
  return np.concatenate(blocks, axis=1)


def encode_frame(frame: pd.DataFrame, max_categories: int = 100
                 ) -> tuple[np.ndarray, FrameEncoding]:
  """:func:`fit_encoding` then :func:`encode` on the same frame."""
  encoding = fit_encoding(frame, max_categories)
  return encode(frame, encoding), encoding

