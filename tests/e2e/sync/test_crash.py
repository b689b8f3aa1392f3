"""kill -9 at random points of `mogulsync sync run`, re-run: every row exactly once."""

from __future__ import annotations

from tests.e2e.sync._crash import (
    build_project,
    chartmogul_state,
    expected_state,
    gated_emulator,
    trials,
)

TRIALS = 10


def test_kill_9_then_rerun_delivers_every_row_exactly_once(tmp_path):
    """After 10 kills at random points mid-run and a final run, ChartMogul equals the model."""
    build_project(tmp_path)
    with gated_emulator() as (server, gate):
        killed = trials(tmp_path, server, gate, TRIALS, seed=3)
        state = chartmogul_state(server.base_url, server.api_key)
    # a run is killed while the emulator holds one of its writes: it cannot have ended first
    assert killed == TRIALS, f"only {killed} of {TRIALS} runs were killed mid-run"
    for kind, wanted in expected_state().items():
        counts = state[kind]
        assert set(counts) == wanted, kind
        assert [key for key, n in counts.items() if n > 1] == [], f"duplicate {kind}"
