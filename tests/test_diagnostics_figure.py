"""launch.diagnostics_figure: history CSV -> per-run arrays -> summary numbers."""

import pytest

from launch import diagnostics_figure


def test_summary_averages_runs_and_takes_the_last_evaluation(tmp_path):
  path = tmp_path / "history_gil.csv"
  path.write_text("seed,step,diag_critic_cosine\n"
                  "0,50,0.1\n0,100,0.3\n1,50,0.5\n1,100,0.7\n")
  history = diagnostics_figure.read_history(str(path))
  assert history["diag_critic_cosine"].shape == (2, 2)     # [runs, evals]
  s = diagnostics_figure.summary({"gil": history})["gil"]["diag_critic_cosine"]
  assert s["mean_over_training"] == pytest.approx(0.4)
  assert s["last_evaluation"] == pytest.approx(0.5)
  assert "step" not in diagnostics_figure.summary({"gil": history})["gil"]


def test_runs_of_different_lengths_are_refused(tmp_path):
  path = tmp_path / "history_gil.csv"
  path.write_text("seed,step,x\n0,50,1\n0,100,2\n1,50,3\n")
  with pytest.raises(ValueError, match="different numbers of evaluations"):
    diagnostics_figure.read_history(str(path))


def test_a_method_can_come_from_another_workdir(tmp_path):
  (tmp_path / "a").mkdir()
  (tmp_path / "b").mkdir()
  (tmp_path / "a" / "history_gil.csv").write_text("seed,step,x\n0,50,1\n")
  (tmp_path / "b" / "history_gil_heldout.csv").write_text("seed,step,x\n0,50,2\n")
  h = diagnostics_figure.read_histories(
      str(tmp_path / "a"), ["gil", f"gil_heldout@{tmp_path / 'b'}"])
  assert set(h) == {"gil", "gil_heldout"}
  assert h["gil_heldout"]["x"][0, 0] == 2.0
  with pytest.raises(FileNotFoundError, match="gil_heldout"):
    diagnostics_figure.read_histories(str(tmp_path / "a"), ["gil_heldout"])
