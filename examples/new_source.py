"""A new importance source in one file: defined, registered, and compared with its
controls through the launcher.

The source weights each filled-in entry by how complete its row is:

    a_bj = m_bj + (1 - m_bj) * r_b ** power,     r_b = share of row b observed

so a mostly observed row keeps most of its filled-in entries' gradient and a mostly
missing one loses it.  Registering it makes it a launcher method of its own; the run
below puts it beside its controls on digits with 50 % of the pixels missing and the
observed training mean as placeholder (with placeholder 0 every filled-in entry is 0
and no importance can change anything): a fixed weight on filled-in entries
(``gil_const``, c = 0.5), GIL-H (``gil_h``, c = 0) and mean imputation (``zero``
here, c = 1), 5 seeds each, and prints the paired differences.

  python examples/new_source.py [--workdir DIR]     # from the repository root

Runs in about a minute on 2 CPU cores.
"""

import argparse
import dataclasses
import tempfile

import gil_jax
from gil_jax.sources import ImportanceSource, no_observation, register_source
from launch import experiment, paired_report
from launch.configs import digits_mcar
from launch.results import format_table


@dataclasses.dataclass(frozen=True)
class CompletenessConfig:
  """Options of ``completeness``: the exponent on the row's observed share."""
  power: float = 1.0

  def __post_init__(self):
    if not self.power >= 0:
      raise ValueError(f"power must be >= 0, got {self.power}")


def completeness_factory(config: gil_jax.TrainConfig,
                         predictor: gil_jax.Predictor) -> ImportanceSource:
  power = config.source_config.power

  def propose(state, keys, ctx: gil_jax.StepContext):
    m = ctx.batch.m                                       # [B, d]
    r = m.mean(axis=-1, keepdims=True) ** power           # [B, 1]
    a = m + (1.0 - m) * r
    return a, state, {"importance": a.mean()}

  return ImportanceSource(init=lambda key, ctx: None, propose=propose,
                          observe=no_observation)


register_source("completeness", completeness_factory, config=CompletenessConfig)


def main():
  parser = argparse.ArgumentParser()
  parser.add_argument("--workdir", default=None)
  parser.add_argument("--steps", type=int, default=300)
  args = parser.parse_args()
  config = digits_mcar.get_config()
  with config.ignore_type():
    config.placeholder = "mean"
  config.methods = ("completeness", "gil_const", "gil_h", "zero")
  config.seeds = (0, 1, 2, 3, 4)
  config.train.num_steps = args.steps
  # A source's options are training options of the launcher config, by name.
  config.train.power = 2.0
  with tempfile.TemporaryDirectory() as tmp:
    results = experiment.run(config, args.workdir or tmp)
  print(format_table(results))
  for control in config.methods[1:]:
    d = paired_report.paired(results, "completeness", control, "accuracy")
    print(f"completeness - {control}: {100 * d['mean']:+.2f} +/- "
          f"{100 * d['se']:.2f} accuracy points ({d['wins']}/{d['n']} seeds)")


if __name__ == "__main__":
  main()
