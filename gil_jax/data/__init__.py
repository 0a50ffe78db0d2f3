"""Data: raw arrays with NaN -> checked, split, scaled splits of ``(x, m, y)``.

The flow, one module each:

* :mod:`~gil_jax.data.containers`: :class:`RawTabular` / :class:`RawSequences` (what a
  loader returns, NaN = missing), :class:`Split` and :class:`Prepared` (what a model
  trains on);
* :mod:`~gil_jax.data.checks`, :mod:`~gil_jax.data.splitting`,
  :mod:`~gil_jax.data.scaling`: the checks, the train / validation / test rows and
  the observed-entry statistics used by
* :mod:`~gil_jax.data.tables` (:func:`prepare_tabular`) and
  :mod:`~gil_jax.data.sequences` (:func:`prepare_sequences`);
* :mod:`~gil_jax.data.transforms`: mean imputation, carry-forward, mask features;
* :mod:`~gil_jax.data.missingness`: simulated MCAR / MAR masks;
* :mod:`~gil_jax.data.folds`: stratified K-fold cross-validation;
* :mod:`~gil_jax.data.frame_encoding`: a pandas DataFrame as a float matrix with NaN.
"""

from gil_jax.data.containers import (DataFileNotFoundError, Prepared, RawSequences,
                                     RawTabular, Split, require_file)
from gil_jax.data.checks import validate_tabular
from gil_jax.data.sequences import (prepare_sequences, scale_sequences,
                                    validate_sequences)
from gil_jax.data.splitting import grouped_split, stratified_split
from gil_jax.data.tables import prepare_tabular
from gil_jax.data.transforms import carry_forward, mean_imputed, with_mask_features

__all__ = [
    "DataFileNotFoundError", "Prepared", "RawSequences", "RawTabular", "Split",
    "carry_forward", "grouped_split", "mean_imputed", "prepare_sequences",
    "prepare_tabular", "require_file", "scale_sequences", "stratified_split",
    "validate_sequences", "validate_tabular", "with_mask_features",
]
