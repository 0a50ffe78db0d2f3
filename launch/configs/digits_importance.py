"""Does GIL's policy learn, and does held-out credit help?  Digits, 50 % MCAR.

  python -m launch.train --config=launch/configs/digits_importance.py \
      --workdir=runs/importance_digits_zero
  python -m launch.train --config=launch/configs/digits_importance.py:mean \
      --workdir=runs/importance_digits_mean

The default digits experiment (pixels / max, 50 % MCAR) with GIL, its two controls
(``gil_random``: the actor never used; ``gil_frozen``: the actor never trained), the
held-out-credit methods (``gil_heldout``, ``gil_l2rw``, ``gil_meta``), GIL-H, zero
and mean imputation, mean + mask and gradient boosting; 5 seeds, the policy
diagnostics recorded at every evaluation (docs/results/policy.md,
docs/results/importance.md).

The argument sets the placeholder of missing pixels: ``zero`` (default; then
``x * a`` is 0 on missing pixels whatever ``a`` is, and GIL-H = zero imputation) or
``mean`` (each pixel's observed training mean; then ``zero`` = ``mean`` imputation
and the importance can weigh the filled pixels too).
"""

import ml_collections

from launch.configs import digits_mcar


def get_config(placeholder: str = "zero") -> ml_collections.ConfigDict:
  c = digits_mcar.get_config()
  if placeholder not in ("zero", "mean"):
    raise ValueError(f"placeholder argument must be 'zero' or 'mean', got "
                     f"{placeholder!r}")
  methods = ["gil", "gil_random", "gil_frozen", "gil_heldout", "gil_l2rw",
             "gil_meta", "gil_h", "zero", "mean", "mean_mask", "hgb"]
  if placeholder == "mean":
    with c.ignore_type():
      c.placeholder = "mean"
    methods.remove("zero")           # zero trains on mean-filled pixels: = mean
  c.methods = tuple(methods)
  c.seeds = (0, 1, 2, 3, 4)
  c.train.diagnostics = True
  return c
