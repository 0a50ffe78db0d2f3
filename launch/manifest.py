"""What the verdict rests on: the launches, the tables they make, the claims.

One manifest drives both scales of ``launch.reproduce``:

* a :class:`Launch` is one ``launch.train`` command (config file, workdir,
  ``--config.*`` overrides), exactly as a results page's "Commands" block shows it;
* a :class:`Table` is a committed results JSON (``docs/results/NAME.json``) and the
  launches whose ``results.json`` files were joined into it (``+`` in
  ``launch.paired_report``: each method from the first launch that ran it), plus one
  reduced launch that re-checks the same comparisons cheaply (``small``), or why
  there is none;
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
  diagnostics: str = ""


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
  return ("methods", "(" + ",".join(f'"{n}"' for n in names) + ",)")


_DIGITS = "launch/configs/digits_importance.py"
_W128 = ("train.meta_hidden", "(128,)")
_NO_DIAG = ("train.diagnostics", "False")
# Reduced launches run each run in its own program shape (``batching="loop"``), so
# their numbers do not depend on how many runs share a launch.
_LOOP = ("batching", "loop")

TABLES: tuple[Table, ...] = (
    Table(
        "policy_digits_zero", "docs/results/policy.md",
        (Launch(_DIGITS, "importance_w128/digits_zero", (_methods("gil_meta"), _W128)),
         Launch(_DIGITS, "importance_digits_zero")),
        small=Launch(_DIGITS, "digits_zero", (_LOOP,
            _methods("gil", "gil_random", "gil_frozen", "gil_l2rw", "gil_meta",
                     "zero", "mean", "mean_mask", "hgb"),
            _W128, _NO_DIAG)),
        small_note="the full launch without the diagnostics (they never change "
                   "training) and without gil_heldout"),
    Table(
        "policy_diagnostics_digits_zero", "docs/results/policy.md",
        (Launch(_DIGITS, "importance_digits_zero"),),
        diagnostics="gil",
        small=Launch(_DIGITS, "digits_zero_diagnostics", (_LOOP,
            _methods("gil"), ("seeds", "(0,1,2)"), ("train.num_steps", "500"))),
        small_note="gil alone, 3 seeds, 500 of the 1,000 steps"),
    Table(
        "policy_digits_mean_seeds20", "docs/results/policy.md",
        (Launch(_DIGITS + ":mean", "importance_digits_mean_seeds20", (
            _methods("gil_const", "gil_random", "gil", "gil_h", "mean"),
            ("seeds", SEEDS20), _NO_DIAG)),),
        small=Launch(_DIGITS + ":mean", "digits_mean_seeds10", (_LOOP,
            _methods("gil", "gil_random", "gil_const", "mean"),
            ("seeds", SEEDS10), _NO_DIAG)),
        small_note="10 of the 20 seeds, without gil_h (= mean here)"),
    Table(
        "tables_thyroid0387", "docs/results/tables.md",
        (Launch("launch/configs/thyroid0387.py", "tables/thyroid0387"),),
        small=Launch("launch/configs/thyroid0387.py", "thyroid0387", (_LOOP,
            _methods("gil", "mean", "mean_mask", "hgb"),
            ("train.num_steps", "1000"))),
        small_note="1,000 of the 2,000 steps, without mice and logreg"),
    Table(
        "importance_thyroid0387", "docs/results/importance.md",
        (Launch("launch/configs/thyroid0387.py", "importance_w128/thyroid0387",
                (_methods("gil_meta", "gil_meta_mask"), _W128)),
         Launch("launch/configs/thyroid0387.py", "importance_tables/thyroid0387", (
             _methods("gil_random", "gil_heldout", "gil_l2rw", "gil_meta",
                      "gil_l2rw_mask", "gil_meta_mask"),)),
         Launch("launch/configs/thyroid0387.py", "tables/thyroid0387")),
        small=Launch("launch/configs/thyroid0387.py", "thyroid0387_importance", (_LOOP,
            _methods("gil_l2rw", "gil_meta", "mean"), _W128,
            ("train.num_steps", "1000"))),
        small_note="gil_l2rw and gil_meta against mean, 1,000 of the 2,000 steps"),
    Table(
        "policy_authors_bn_mcar90", "docs/results/policy_authors.md",
        (Launch("launch/configs/mnist_authors.py:bn", "mnist_authors/bn",
                (("grid.settings", "(0.9,)"),)),),
        setting="missing_rate_0.9",
        small=Launch("launch/configs/mnist_authors.py:bn", "mnist_authors_bn", (_LOOP,
            _methods("gil_h", "zero"), ("grid.settings", "(0.9,)"), ("split.train_rows", "5000"),
            ("train.num_steps", "500"))),
        small_note="gil_h and zero, 5,000 of the 20,000 training images, 500 of "
                   "the 1,000 steps"),
    Table(
        "policy_authors_default_mcar90", "docs/results/policy_authors.md",
        (Launch("launch/configs/mnist_authors.py:default", "mnist_authors/default",
                (("grid.settings", "(0.9,)"),)),),
        setting="missing_rate_0.9",
        small=Launch("launch/configs/mnist_authors.py:default",
                     "mnist_authors_default", (_LOOP,
                         _methods("gil_h", "zero"),
                         ("grid.settings", "(0.9,)"), ("split.train_rows", "5000"),
                         ("train.num_steps", "500"))),
        small_note="gil_h and zero, 5,000 of the 20,000 training images, 500 of "
                   "the 1,000 steps"),
    Table(
        "physionet2012_five_splits", "docs/results/physionet2012.md",
        (Launch("launch/configs/physionet2012.py", "p12_five", (
            ("split_seeds", SEEDS5), ("seeds", "(0,)"))),),
        small_note="not re-run at small scale: LSTMs on 4,000 stays x 5 splits "
                   "take about 2 hours on 2 cores; checked on the committed runs"),
    Table(
        "importance_mnist_mcar50_full", "docs/results/importance.md",
        tuple(Launch("launch/configs/mnist_importance.py", f"importance_mnist_full50/{m}",
                     (("grid.settings", "(0.5,)"), _methods(m)))
              for m in ("mean", "gil", "gil_random", "gil_frozen", "gil_heldout",
                        "gil_l2rw", "gil_meta", "mean_mask")),
        setting="missing_rate_0.5",
        small_note="not re-run at small scale: full-scale MNIST (784-500-500, "
                   "54,000 images) takes hours on 2 cores; checked on the "
                   "committed runs"),
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
    lines.append(f"# {t.name}.json")
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
