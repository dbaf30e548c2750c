"""`raftzmq scenario figure8` (simulator schedule): with the Figure 8 mutant two nodes apply different entries at
one index and both the scenario and `raftzmq check` on its logs exit 1; with the built-in core the same script is
clean (exit 0). The live-process version: tests/test_scenario_figure8_live.py."""
from __future__ import annotations

from click.testing import CliRunner

from raftzmq.cli import main


def test_figure8_mutant_breaks_state_machine_safety_and_builtin_does_not(tmp_path):
    runner = CliRunner()
    bad = runner.invoke(main, ["scenario", "figure8", "--core", "raftzmq.lab.conform.mutants:CommitsOldTerm",
                               "--log-dir", str(tmp_path / "bad")])
    assert bad.exit_code == 1, bad.output
    assert "(h) state-machine-safety" in bad.output and "commits index" in bad.output
    check = runner.invoke(main, ["check", str(tmp_path / "bad")])
    assert check.exit_code == 1 and "state-machine-safety" in check.output, check.output
    good = runner.invoke(main, ["scenario", "figure8", "--log-dir", str(tmp_path / "good")])
    assert good.exit_code == 0, good.output
    assert "S5 could not win" in good.output and "verdict: clean" in good.output
    assert runner.invoke(main, ["check", str(tmp_path / "good")]).exit_code == 0


def test_figure8_refuses_a_core_that_cannot_load():
    out = CliRunner().invoke(main, ["scenario", "figure8", "--core", "no_such_module:Core"])
    assert out.exit_code == 2 and "cannot import no_such_module" in out.output
