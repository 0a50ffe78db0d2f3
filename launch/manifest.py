"""What the verdict rests on: the launches, the tables they make, the claims.

One manifest drives both scales of ``launch.reproduce``:

* a :class:`Launch` is one ``launch.train`` command (config file, workdir,
  ``--config.*`` overrides), exactly as a results page's "Commands" block shows it;
* a :class:`Table` is a committed results JSON (``docs/results/NAME.json``) and the
  launches whose ``results.json`` files were joined into it (``+`` in
  ``launch.paired_report``: each method from the first launch that ran it), plus one
  reduced launch that re-checks the same comparisons cheaply (``small``), or why
  there is none;
* every results page's headline JSON is a table, whether or not a claim rests on
  it, so that ``--scale=full`` rebuilds them all; :data:`NOT_IN_MANIFEST` names
  those no list of launches can express;
* a :class:`Claim` is one sentence of the README's verdict and the comparison that
  supports it, decided by a rule stated in the claim (:mod:`launch.verdict`).

A user's own manifest (``--manifest=module``) defines ``TABLES`` and ``CLAIMS`` the
same way.
"""

from __future__ import annotations

import shlex
from typing import NamedTuple

SEEDS5 = "(0,1,2,3,4)"
SEEDS10 = "(0,1,2,3,4,5,6,7,8,9)"
SEEDS20 = "(" + ",".join(str(s) for s in range(20)) + ")"


class Launch(NamedTuple):
  """One ``python -m launch.train`` command."""
  config: str                                   # file[:argument]
  workdir: str                                  # relative to the runs folder
  overrides: tuple[tuple[str, str], ...] = ()   # (config field, value as typed)

  def flags(self, root: str) -> list[str]:
    """The command's flags with the workdir under ``root``."""
    return ([f"--config={self.config}", f"--workdir={root}/{self.workdir}"]
            + [f"--config.{k}={v}" for k, v in self.overrides])

  def command(self, root: str = "runs", module: str = "launch.train") -> str:
    """The command as a shell line (what a page's "Commands" block shows)."""
    words = ["python", "-m", module, f"--config={self.config}",
             f"--workdir={root}/{self.workdir}"]
    words += [f"--config.{k}={shlex.quote(v)}" for k, v in self.overrides]
    return " ".join(words)

  def results_path(self, root: str, setting: str = "") -> str:
    """Where ``launch.train`` writes this launch's ``results.json``."""
    parts = [root, self.workdir] + ([setting] if setting else [])
    return "/".join(parts + ["results.json"])


class Table(NamedTuple):
  """A committed results JSON, the launches behind it and its reduced re-check."""
  name: str                        # docs/results/NAME.json
  page: str                        # the results page that reports it
  launches: tuple[Launch, ...]     # joined in this order (first one wins a method)
  setting: str = ""                # grid setting folder, e.g. "missing_rate_0.9"
  small: Launch | None = None      # the reduced launch; None: see small_note
  small_note: str = ""             # what the reduction is, or why none
  # Diagnostics (``train.diagnostics``) of these methods are summarised into
  # ``docs/results/<diagnostics>.json`` by ``launch.diagnostics_figure``.
  diagnostics: tuple[str, ...] = ()
  # False: no committed JSON yet; ``--scale=full`` runs it and writes one.
  committed: bool = True


class Claim(NamedTuple):
  """One conclusion of the README's verdict and the comparison that decides it.

  ``kind`` (differences in percentage points of ``metric``, A - B over paired
  runs, ``se`` its standard error):

  * ``"greater"``: holds when A - B > 2 se (A beats B beyond noise);
  * ``"not_greater"``: holds when A - B <= max(2 se, margin) (A does not beat B
    by more than noise or the margin);
  * ``"tie"``: holds when |A - B| <= max(2 se, margin);
  * ``"within"``: ``a`` is a diagnostic of method ``b`` (a history column),
    averaged over training per run; holds when its mean lies in ``bounds``.

  ``paper`` is the key of the paper's claim it tests
  (:data:`launch.reproducibility_report.PAPER_CLAIMS`).

  ``a``/``b`` name methods of ``table``, or ``TABLE/METHOD`` for a method of
  another table run on the same seeds (runs are paired by their seeds).
  """
  claim: str
  table: str
  a: str
  b: str
  kind: str
  metric: str = "accuracy"
  margin: float = 0.0
  bounds: tuple[float, float] = (float("-inf"), float("inf"))
  paper: str = ""           # the paper's claim it bears on (launch/reproducibility_report.py)


def _methods(*names: str) -> tuple[str, str]:
  """A ``methods`` override for a reduced launch (the manifest's own commands)."""
  return ("methods", "(" + ",".join(f'"{n}"' for n in names) + ",)")


def _as_typed(methods: str) -> tuple[str, str]:
  """A ``methods`` override exactly as a page's command types it."""
  return ("methods", methods)


# The full launches, as the pages' "Commands" blocks give them (values as typed).
_DIGITS = "launch/configs/digits_importance.py"
_DIGITS_MEAN = _DIGITS + ":mean"
_P12 = "launch/configs/physionet2012.py"
_P12_IMP = "launch/configs/physionet2012_importance.py"
_MNIST_IMP = "launch/configs/mnist_importance.py"
_MNIST_SMALL = _MNIST_IMP + ":small"
_THYROID = "launch/configs/thyroid0387.py"
_ADULT = "launch/configs/adult.py"
_DIABETES = "launch/configs/diabetes130.py"
_W128 = ("train.meta_hidden", "(128,)")
_NO_DIAG = ("train.diagnostics", "False")
# Reduced launches run each run in its own program shape (``batching="loop"``), so
# their numbers do not depend on how many runs share a launch.
_LOOP = ("batching", "loop")
_META = _as_typed('("gil_meta",)')
_META_PAIR = _as_typed('("gil_meta","gil_meta_mask")')

# digits (policy.md, importance.md)
_DIGITS_ZERO = Launch(_DIGITS, "importance_digits_zero")
_DIGITS_ZERO_W128 = Launch(_DIGITS, "importance_w128/digits_zero", (_META, _W128))
_DIGITS_MEAN_RUN = Launch(_DIGITS_MEAN, "importance_digits_mean")
_DIGITS_MEAN_W128 = Launch(_DIGITS_MEAN, "importance_w128/digits_mean", (_META, _W128))
_DIGITS_MEAN20 = Launch(_DIGITS_MEAN, "importance_digits_mean_seeds20", (
    _as_typed('("gil_const","gil_random","gil","gil_h","mean")'),
    ("seeds", SEEDS20), _NO_DIAG))
_DIGITS_MEAN20_CREDIT = Launch(_DIGITS_MEAN, "importance_digits_mean_seeds20_credit", (
    _as_typed('("gil_l2rw","gil_meta")'), ("seeds", SEEDS20), _NO_DIAG))
_DIGITS_MEAN20_W128 = Launch(_DIGITS_MEAN, "importance_w128/digits_mean_seeds20", (
    _META, _W128, ("seeds", SEEDS20), _NO_DIAG))
_DIGITS_ZERO20 = Launch(_DIGITS, "importance_digits_zero_seeds20", (
    _as_typed('("gil","gil_random","gil_heldout","gil_l2rw","gil_meta","zero")'),
    ("seeds", SEEDS20), _NO_DIAG))
_DIGITS_ZERO20_W128 = Launch(_DIGITS, "importance_w128/digits_zero_seeds20", (
    _META, _W128, ("seeds", SEEDS20), _NO_DIAG))

# tables with natural missingness (tables.md, importance.md)
_TABLES_THYROID = Launch(_THYROID, "tables/thyroid0387")
_TABLES_ADULT = Launch(_ADULT, "tables/adult")
_TABLES_DIABETES = (
    Launch(_DIABETES, "tables/diabetes130",
           (_as_typed('("gil","mean","mean_mask","mice")'),)),
    Launch(_DIABETES, "tables/diabetes130_hgb", (_as_typed('("hgb",)'),)),
    Launch(_DIABETES, "tables/diabetes130_sklearn",
           (_as_typed('("hgb","logreg")'), ("seeds", "(0,)"))))


def _w128(dataset: str) -> Launch:
  return Launch(f"launch/configs/{dataset}.py", f"importance_w128/{dataset}",
                (_META_PAIR, _W128))


_IMP_THYROID = Launch(_THYROID, "importance_tables/thyroid0387", (_as_typed(
    '("gil_random","gil_heldout","gil_l2rw","gil_meta","gil_l2rw_mask","gil_meta_mask")'),))
_IMP_ADULT = (
    Launch(_ADULT, "importance_tables/adult", (_as_typed('("gil_random",)'),)),
    Launch(_ADULT, "importance_tables/adult_credit", (
        _as_typed('("gil_l2rw","gil_meta","gil_l2rw_mask","gil_meta_mask")'),)),
    Launch(_ADULT, "importance_tables/adult_heldout", (_as_typed('("gil_heldout",)'),)))
_IMP_DIABETES = (
    Launch(_DIABETES, "importance_tables/diabetes130_credit", (
        _as_typed('("gil_l2rw","gil_meta","gil_l2rw_mask","gil_meta_mask")'),)),
    Launch(_DIABETES, "importance_tables/diabetes130_heldout", (
        _as_typed('("gil_heldout","gil_random")'),)))
_IMP_THYROID20 = (
    Launch(_THYROID, "importance_w128/thyroid0387_splits20", (
        _META_PAIR, _W128, ("split_seeds", SEEDS20))),
    Launch(_THYROID, "importance_tables/thyroid0387_splits20", (
        _as_typed('("mean","mean_mask","gil_l2rw_mask","gil_meta","gil_meta_mask","hgb")'),
        ("split_seeds", SEEDS20))))

# PhysioNet 2012, protocol (b) (physionet2012.md, policy.md, importance.md)
_P12_FIVE = Launch(_P12, "p12_five", (("split_seeds", SEEDS5), ("seeds", "(0,)")))
_P12_GIL = Launch(_P12_IMP, "importance_p12", (_as_typed('("gil",)'),))
_P12_CONTROLS = Launch(_P12_IMP, "importance_p12_controls",
                       (_as_typed('("gil_random","gil_frozen")'),))
_P12_HELDOUT = Launch(_P12_IMP, "importance_p12_heldout", (_as_typed('("gil_heldout",)'),))
_P12_CREDIT = (
    Launch(_P12_IMP, "importance_w128/physionet2012", (_META, _W128)),
    Launch(_P12_IMP, "importance_w128/physionet2012_mask",
           (_as_typed('("gil_meta_mask",)'), _W128)),
    Launch(_P12_IMP, "importance_p12_credit", (_as_typed('("gil_l2rw","gil_meta")'),)),
    Launch(_P12_IMP, "importance_p12_mask", (_as_typed('("gil_l2rw_mask",)'),)),
    _P12_HELDOUT)

# MNIST: the paper's grid (mnist.md), scaled down (policy.md, importance.md,
# policy_authors.md) and at full scale (policy.md, importance.md)
_MNIST_STD = Launch("launch/configs/mnist_mcar.py", "mnist_std",
                    (_as_typed('("gil","input_space","mean")'),))
_MNIST_STD_IMP = Launch("launch/configs/mnist_mcar.py", "mnist_std_imp", (
    ("grid.settings", "(0.5,0.7)"), _as_typed('("gain","mice","knn")')))
_MNIST_STD_IMP90 = Launch("launch/configs/mnist_mcar.py", "mnist_std_imp90", (
    ("grid.settings", "(0.9,)"), _as_typed('("gain","mice","knn")')))
_MNIST_MAR = (
    Launch("launch/configs/mnist_mar.py", "mnist_mar", (_as_typed('("gil","mean")'),)),
    Launch("launch/configs/mnist_mar.py", "mnist_mar_imp", (_as_typed('("gain",)'),)),
    Launch("launch/configs/mnist_mar.py", "mnist_mar_more",
           (_as_typed('("knn","mice","input_space")'),)))
_MNIST_SMALL20 = (("train.meta_hidden", "(128,)"), _NO_DIAG, ("mask_seeds", SEEDS20))
_MNIST_SMALL20_50 = Launch(_MNIST_SMALL, "importance_mnist_small_seeds20", (
    ("grid.settings", "(0.5,)"), _as_typed('("gil_meta","zero")')) + _MNIST_SMALL20)
_MNIST_SMALL20_7090 = Launch(_MNIST_SMALL, "importance_mnist_small_seeds20", (
    ("grid.settings", "(0.7,0.9)"), _as_typed('("gil_meta","zero","mean")'))
    + _MNIST_SMALL20)
# One workdir per method at full scale, in the order the reports join them.
_MNIST_FULL_METHODS = ("mean", "gil", "gil_random", "gil_frozen", "gil_heldout",
                       "gil_l2rw", "gil_meta", "mean_mask")


def _mnist_full(rate: str) -> tuple[Launch, ...]:
  return tuple(Launch(_MNIST_IMP, f"importance_mnist_full{rate[2:]}0/{m}",
                      (("grid.settings", f"({rate},)"), ("methods", f'("{m}",)')))
               for m in _MNIST_FULL_METHODS)


_AUTHORS = "launch/configs/mnist_authors.py"
_SWITCHES = ("default", "bn", "l2", "reward", "one_draw", "near_one", "rl_decay", "all")
# The batch-norm run at 90 % ran its methods in another order (policy_authors.md).
_AUTHORS_METHODS = {("bn", "0.9"): _as_typed('("gil_h","zero","gil")')}


def _authors(switch: str, rate: str) -> Launch:
  extra = _AUTHORS_METHODS.get((switch, rate))
  return Launch(f"{_AUTHORS}:{switch}", f"mnist_authors/{switch}",
                (("grid.settings", f"({rate},)"),) + ((extra,) if extra else ()))


def _controls(rate: str) -> Launch:
  return Launch(f"{_AUTHORS}:default", "mnist_authors/controls", (
      _as_typed('("gil_random","gil_frozen")'), ("grid.settings", f"({rate},)")))


def _authors_small(switch: str) -> Launch:
  return Launch(f"{_AUTHORS}:{switch}", f"mnist_authors_{switch}", (
      _LOOP, _methods("gil_h", "zero"), ("grid.settings", "(0.9,)"),
      ("split.train_rows", "5000"), ("train.num_steps", "500")))


_AUTHORS_SMALL_NOTE = ("gil_h and zero, 5,000 of the 20,000 training images, 500 of "
                       "the 1,000 steps")
_NO_CLAIM = "no claim of the verdict rests on this table"

# The verdict's tables (their claims below), then every other results page's.
_VERDICT_TABLES: tuple[Table, ...] = (
    Table(
        "policy_digits_zero", "docs/results/policy.md",
        (_DIGITS_ZERO_W128, _DIGITS_ZERO),
        small=Launch(_DIGITS, "digits_zero", (_LOOP,
            _methods("gil", "gil_random", "gil_frozen", "zero"), _NO_DIAG)),
        small_note="the methods the verdict compares, without the diagnostics "
                   "(they never change training)"),
    Table(
        "policy_diagnostics_digits_zero", "docs/results/policy.md",
        (_DIGITS_ZERO,),
        diagnostics=("gil", "gil_heldout"),
        small=Launch(_DIGITS, "digits_zero_diagnostics", (_LOOP,
            _methods("gil"), ("seeds", "(0,1,2)"), ("train.num_steps", "500"))),
        small_note="gil alone, 3 seeds, 500 of the 1,000 steps"),
    Table(
        "policy_digits_mean_seeds20", "docs/results/policy.md",
        (_DIGITS_MEAN20,),
        small=Launch(_DIGITS_MEAN, "digits_mean_seeds10", (_LOOP,
            _methods("gil", "mean"), ("seeds", SEEDS10), _NO_DIAG)),
        small_note="gil and mean, 10 of the 20 seeds"),
    Table(
        "tables_thyroid0387", "docs/results/tables.md",
        (_TABLES_THYROID,),
        small=Launch(_THYROID, "thyroid0387", (_LOOP,
            _methods("gil", "mean", "mean_mask", "hgb"),
            ("train.num_steps", "1000"))),
        small_note="1,000 of the 2,000 steps, without mice and logreg"),
    Table(
        "importance_thyroid0387", "docs/results/importance.md",
        (_w128("thyroid0387"), _IMP_THYROID, _TABLES_THYROID),
        small=Launch(_THYROID, "thyroid0387_importance", (_LOOP,
            _methods("gil_l2rw", "gil_meta", "mean"), _W128,
            ("train.num_steps", "1000"))),
        small_note="gil_l2rw and gil_meta against mean, 1,000 of the 2,000 steps"),
    Table(
        "policy_authors_bn_mcar90", "docs/results/policy_authors.md",
        (_authors("bn", "0.9"),),
        setting="missing_rate_0.9",
        small=_authors_small("bn"), small_note=_AUTHORS_SMALL_NOTE),
    Table(
        "policy_authors_default_mcar90", "docs/results/policy_authors.md",
        (_authors("default", "0.9"),),
        setting="missing_rate_0.9",
        small=_authors_small("default"), small_note=_AUTHORS_SMALL_NOTE),
    Table(
        "physionet2012_five_splits", "docs/results/physionet2012.md",
        (_P12_FIVE,),
        small_note="not re-run at small scale: LSTMs on 4,000 stays x 5 splits "
                   "take about 2 hours on 2 cores; checked on the committed runs"),
    Table(
        "importance_mnist_mcar50_full", "docs/results/importance.md",
        _mnist_full("0.5"),
        setting="missing_rate_0.5",
        small_note="not re-run at small scale: full-scale MNIST (784-500-500, "
                   "54,000 images) takes hours on 2 cores; checked on the "
                   "committed runs"),
)

_PAGE_TABLES: tuple[Table, ...] = (
    # mnist.md: one JSON per setting, its methods run in several workdirs
    *(Table(f"mnist_mcar{rate[2:]}0", "docs/results/mnist.md",
            (_MNIST_STD, imputers), setting=f"missing_rate_{rate}", small_note=_NO_CLAIM)
      for rate, imputers in (("0.5", _MNIST_STD_IMP), ("0.7", _MNIST_STD_IMP),
                             ("0.9", _MNIST_STD_IMP90))),
    Table("mnist_mar", "docs/results/mnist.md", _MNIST_MAR, small_note=_NO_CLAIM),
    # physionet2012.md, protocol (a): the GRU-D entry is its rerun (p12_grud)
    Table("physionet2012_single_split", "docs/results/physionet2012.md",
          (Launch(_P12, "p12_grud", (_as_typed('("grud",)'),)), Launch(_P12, "p12_single")),
          small_note=_NO_CLAIM),
    # physionet2012.md, protocol (b) with BRITS and GP-VAE beside the other methods
    Table("physionet2012_sequence_baselines", "docs/results/physionet2012.md",
          (_P12_FIVE,
           Launch(_P12, "p12_five_brits", (("split_seeds", SEEDS5), ("seeds", "(0,)"),
                                           _as_typed('("brits",)'),
                                           ("train.hidden", "(108,)"))),
           Launch(_P12, "p12_five_gpvae", (("split_seeds", SEEDS5), ("seeds", "(0,)"),
                                           _as_typed('("gpvae",)'),
                                           ("imputer_options.gpvae.num_steps", "500")))),
          small_note=_NO_CLAIM),
    # tables.md
    Table("tables_adult", "docs/results/tables.md", (_TABLES_ADULT,), small_note=_NO_CLAIM),
    *(Table(f"tables_imputers_{name}", "docs/results/tables.md",
            (*launches, Launch(f"launch/configs/{name}.py", f"tables/{name}_imputers",
                               (("methods", '("em","miwae")'),))),
            small_note=_NO_CLAIM)
      for name, launches in (("thyroid0387", (_TABLES_THYROID,)),
                             ("adult", (_TABLES_ADULT,)),
                             ("diabetes130", _TABLES_DIABETES))),
    Table("tables_diabetes130", "docs/results/tables.md", _TABLES_DIABETES,
          small_note=_NO_CLAIM),
    # policy.md
    Table("policy_digits_mean", "docs/results/policy.md",
          (_DIGITS_MEAN_W128, _DIGITS_MEAN_RUN), small_note=_NO_CLAIM),
    Table("policy_physionet2012", "docs/results/policy.md",
          (_P12_GIL, _P12_CONTROLS, _P12_FIVE), small_note=_NO_CLAIM),
    *(Table(f"policy_mnist_mcar{rate[2:]}0_small", "docs/results/policy.md",
            (_authors("default", rate), _controls(rate)),
            setting=f"missing_rate_{rate}", small_note=_NO_CLAIM)
      for rate in ("0.9", "0.5")),
    Table("policy_diagnostics_digits_mean", "docs/results/policy.md",
          (_DIGITS_MEAN_RUN,), diagnostics=("gil", "gil_heldout"), small_note=_NO_CLAIM),
    Table("policy_diagnostics_physionet2012", "docs/results/policy.md",
          (_P12_GIL,), diagnostics=("gil",), small_note=_NO_CLAIM),
    Table("policy_diagnostics_physionet2012_heldout", "docs/results/policy.md",
          (_P12_HELDOUT,), diagnostics=("gil_heldout",), small_note=_NO_CLAIM),
    # policy_authors.md: one JSON per switch and rate
    *(Table(f"policy_authors_{switch}_mcar{rate[2:]}0", "docs/results/policy_authors.md",
            (_authors(switch, rate),), setting=f"missing_rate_{rate}",
            small_note=_NO_CLAIM)
      for rate in ("0.9", "0.5") for switch in _SWITCHES
      if (switch, rate) not in (("bn", "0.9"), ("default", "0.9"))),
    # importance.md (the tables' other methods from tables.md's runs)
    Table("importance_digits_zero", "docs/results/importance.md",
          (_DIGITS_ZERO_W128, _DIGITS_ZERO), small_note=_NO_CLAIM),
    Table("importance_digits_mean", "docs/results/importance.md",
          (_DIGITS_MEAN_W128, _DIGITS_MEAN_RUN), small_note=_NO_CLAIM),
    Table("importance_adult", "docs/results/importance.md",
          (_w128("adult"),) + _IMP_ADULT + (_TABLES_ADULT,), small_note=_NO_CLAIM),
    Table("importance_diabetes130", "docs/results/importance.md",
          (_w128("diabetes130"),) + _IMP_DIABETES + _TABLES_DIABETES,
          small_note=_NO_CLAIM),
    Table("importance_physionet2012", "docs/results/importance.md",
          _P12_CREDIT + (_P12_GIL, _P12_CONTROLS, _P12_FIVE), small_note=_NO_CLAIM),
    Table("importance_digits_mean_seeds20", "docs/results/importance.md",
          (_DIGITS_MEAN20_W128, _DIGITS_MEAN20, _DIGITS_MEAN20_CREDIT),
          small_note=_NO_CLAIM),
    Table("importance_digits_zero_seeds20", "docs/results/importance.md",
          (_DIGITS_ZERO20_W128, _DIGITS_ZERO20), small_note=_NO_CLAIM),
    Table("importance_thyroid0387_splits20", "docs/results/importance.md",
          _IMP_THYROID20, small_note=_NO_CLAIM),
    *(Table(f"importance_mnist_mcar{rate[2:]}0_small_seeds20", "docs/results/importance.md",
            (launch,), setting=f"missing_rate_{rate}", small_note=_NO_CLAIM)
      for rate, launch in (("0.5", _MNIST_SMALL20_50), ("0.7", _MNIST_SMALL20_7090),
                           ("0.9", _MNIST_SMALL20_7090))),
    Table("importance_mnist_mcar90_full", "docs/results/importance.md",
          _mnist_full("0.9"), setting="missing_rate_0.9", small_note=_NO_CLAIM),
    # docs/results/README.md: the README's quick start
    Table("quickstart_digits", "docs/results/README.md",
          (Launch("launch/configs/digits_mcar.py", "digits_mcar"),), small_note=_NO_CLAIM),
)

# The authors' mode at the paper's scale (784-500-500, all 54,000 training images,
# 3,000 steps), which the committed pages only have scaled down: batch norm on
# and off, 50 % and 90 % MCAR.
_AUTHORS_FULL_TABLES: tuple[Table, ...] = tuple(
    Table(f"policy_authors_full_{switch}_mcar{rate[2:]}0",
          "docs/results/policy_authors.md",
          (Launch(f"{_AUTHORS}:{switch}", f"mnist_authors_full/{switch}", (
              ("grid.settings", f"({rate},)"), ("train.hidden", "(500,500)"),
              ("train.num_steps", "3000"), ("split.train_rows", "0"))),),
          setting=f"missing_rate_{rate}", committed=False,
          small_note="not run yet: the paper's scale, for --scale=full")
    for switch in ("default", "bn") for rate in ("0.5", "0.9"))

TABLES: tuple[Table, ...] = _VERDICT_TABLES + _PAGE_TABLES + _AUTHORS_FULL_TABLES

# Committed results JSON of the pages that no list of launches describes, and why.
# (mnist.md's diagnostic runs, docs/results/mnist_diagnostics/, are no headline
# table and are left out.)
_RENAMED = ("its join renames a file's methods (paired_report's FILE@SUFFIX[:METHOD]), "
            "which a Launch cannot express")
NOT_IN_MANIFEST: tuple[tuple[str, str], ...] = (
    ("importance_mnist_mcar50_small", _RENAMED + " (gil_meta_w400)"),
    ("importance_mnist_mcar90_small", _RENAMED + " (gil_meta_w400)"),
    *((f"importance_meta_width_{d}", _RENAMED + " (gil_meta_w128)")
      for d in ("adult", "diabetes130", "digits_mean", "digits_zero",
                "physionet2012", "thyroid0387")),
    ("policy_digits_mean_const", _RENAMED + " (gil_const_c25, _c50, _c75)"),
    ("importance_mnist_mcar50_full_seeds20", ("concatenates the runs of several "
     "launches (paired_report's X|Y), which a Table's join cannot express")),
    ("policy_diagnostics_mnist90", ("diagnostics of two methods from two workdirs "
     "(launch.diagnostics_figure's METHOD@DIR); a Table summarises one method of "
     "its first launch")),
    ("sepsis2019", ("written by docs/results/sepsis2019_tables.py from two launches' "
     "placeholder settings, not a join of results.json files")),
    ("tables_estimator", ("written by launch.tables_estimator (GILClassifier through "
     "scikit-learn), not by launch.train")),
    ("mnist_mcar90_raw_pixels", ("an earlier session's run on raw pixels; "
     "mnist.md shows no command for it")),
    ("mnist_mcar90_raw_pixels_gain", ("an earlier session's run on raw pixels; "
     "mnist.md shows no command for it")),
    ("meta_lstm_physionet2012", _RENAMED + " (gil_meta_rerun, gil_meta_lr1e-3)"),
    ("meta_diagnostics_physionet2012", "written by launch.meta_diagnostics"),
    ("miwae_external", "written by launch.imputers_external"),
    ("sequence_baselines_external", ("written by "
     "docs/results/sequence_baselines_external.py from two launches")),
    ("verdict_small", "written by launch.reproduce (the verdict, not a results file)"),
)


CLAIMS: tuple[Claim, ...] = (
    Claim("The paper's reward cannot teach the policy: the exact effect of the "
          "importance on it is positive for (almost) every observed entry, so its "
          "optimum is a = 1", "policy_diagnostics_digits_zero",
          "diag_own_effect_positive", "gil", "within", bounds=(0.9, 1.0), paper="reward"),
    Claim("The critic agrees with that effect's sign at chance or worse",
          "policy_diagnostics_digits_zero", "diag_critic_sign_agreement", "gil",
          "within", bounds=(0.0, 0.55), paper="reward"),
    Claim("The actor ignores the mask (corr(a, m) about 0)",
          "policy_diagnostics_digits_zero", "diag_action_corr_with_mask", "gil",
          "within", bounds=(-0.1, 0.1), paper="reward"),
    Claim("Controls tie GIL: random importance instead of the actor",
          "policy_digits_zero", "gil", "gil_random", "tie", margin=1.0, paper="policy"),
    Claim("Controls tie GIL: the actor never trained",
          "policy_digits_zero", "gil", "gil_frozen", "tie", margin=1.0, paper="policy"),
    Claim("GIL beats no imputer beyond noise: not zero imputation (placeholder 0)",
          "policy_digits_zero", "gil", "zero", "not_greater", paper="beats"),
    Claim("GIL beats no imputer beyond noise: not mean imputation (mean placeholder)",
          "policy_digits_mean_seeds20", "gil", "mean", "not_greater", paper="beats"),
    Claim("GIL beats no imputer beyond noise: not mean imputation on a table with "
          "natural missingness", "tables_thyroid0387", "gil", "mean",
          "not_greater", metric="auroc", paper="beats"),
    Claim("GIL trails the LSTM baselines on PhysioNet 2012 over five splits "
          "(not above mean + mask)", "physionet2012_five_splits", "gil",
          "mean_mask", "not_greater", metric="auroc", paper="beats"),
    Claim("Gradient boosting beats every network on tables with natural "
          "missingness (here the best one, mean + mask)", "tables_thyroid0387",
          "hgb", "mean_mask", "greater", metric="auroc", paper="beats"),
    Claim("Mask-aware inputs win: mean + mask beats mean imputation on tables",
          "tables_thyroid0387", "mean_mask", "mean", "greater", metric="auroc", paper="beats"),
    Claim("Objectives that can be learned give at most a few tenths of a point "
          "over mean imputation: meta-gradients", "importance_thyroid0387",
          "gil_meta", "mean", "not_greater", metric="auroc", margin=0.5, paper="policy"),
    Claim("... and held-out credit reweighting (L2RW)", "importance_thyroid0387",
          "gil_l2rw", "mean", "not_greater", metric="auroc", margin=0.5, paper="policy"),
    Claim("... and nothing over mean imputation on full-scale MNIST (50 % MCAR)",
          "importance_mnist_mcar50_full", "gil_meta", "mean", "not_greater",
          margin=0.5, paper="policy"),
    Claim("The paper's GIL-H > zero gap comes back with the authors' batch norm "
          "(MNIST 90 % MCAR)", "policy_authors_bn_mcar90", "gil_h", "zero",
          "greater", paper="gil_h"),
    Claim("... by making zero imputation worse (batch norm on vs off)",
          "policy_authors_default_mcar90", "policy_authors_default_mcar90/zero",
          "policy_authors_bn_mcar90/zero", "greater", paper="gil_h"),
)


def table(name: str, tables: tuple[Table, ...] = TABLES) -> Table:
  """The table called ``name``."""
  for t in tables:
    if t.name == name:
      return t
  raise ValueError(f"no table {name!r} in the manifest; it has "
                   f"{[t.name for t in tables]}")


def check(tables: tuple[Table, ...], claims: tuple[Claim, ...]) -> None:
  """Every claim names a table of the manifest and a known kind."""
  kinds = ("greater", "not_greater", "tie", "within")
  names = {t.name for t in tables}
  if len(names) != len(tables):
    raise ValueError("two tables of the manifest share a name")
  for c in claims:
    if c.kind not in kinds:
      raise ValueError(f"claim {c.claim!r}: kind {c.kind!r} is not one of {kinds}")
    for ref in (c.table,) + tuple(m.partition("/")[0] for m in (c.a, c.b)
                                  if "/" in m):
      if ref not in names:
        raise ValueError(f"claim {c.claim!r} names table {ref!r}, which the "
                         f"manifest does not have")


BEGIN = "<!-- manifest commands: begin (python -m launch.reproduce --update_pages) -->"
END = "<!-- manifest commands: end -->"


def commands_block(tables: tuple[Table, ...], page: str) -> str:
  """The block a results page shows: each of its tables' launches (full scale,
  the committed runs) and reduced launch, as ``launch.reproduce`` runs them."""
  lines = [BEGIN, "", ("The runs behind this page's headline tables, from "
           "`launch/manifest.py` (`python -m launch.reproduce --scale=full` runs "
           "them all; `--scale=small` runs the reduced ones and re-checks the "
           "verdict):"), "", "```bash"]
  for t in tables:
    if t.page != page:
      continue
    lines.append(f"# {t.name}.json" + ("" if t.committed else " (not run yet)"))
    lines += [launch.command() for launch in t.launches]
    if t.small is not None:
      lines.append(f"# reduced ({t.small_note}):")
      lines.append(t.small.command("runs/reproduce/runs"))
    else:
      lines.append(f"# reduced: none, {t.small_note}")
  lines += ["```", "", END]
  return "\n".join(lines)


def with_commands_block(text: str, block: str) -> str:
  """``text`` with its manifest block replaced by ``block`` (appended if none)."""
  if BEGIN in text and END in text:
    head, rest = text.split(BEGIN, 1)
    return head + block + rest.split(END, 1)[1]
  return text.rstrip("\n") + "\n\n## Commands from the manifest\n\n" + block + "\n"
