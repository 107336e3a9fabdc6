"""bench/turn_taking.py: the scoring rules on made-up trials, and the whole run on 2 questions."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from bench import turn_taking as tt


def _trial(pause_s: float | None, speech: list[tuple[float, float]]) -> tt.Trial:
    rate = tt.SAMPLE_RATE
    loud = np.concatenate([np.arange(round(a * rate), round(b * rate)) for a, b in speech])
    return tt.Trial(0, pause_s, b"", loud.astype(np.int64))


def test_false_ends_heard_only_when_the_silence_outlasts_the_reply_latency() -> None:
    trial = _trial(1.5, [(0.6, 1.6), (3.1, 4.0)])  # the customer pauses 1.6 → 3.1 s
    assert tt._false_ends(trial, tt.Outcome(decisions=[4.3])) == (False, False)
    assert tt._false_ends(trial, tt.Outcome(decisions=[2.5, 4.3])) == (True, False)  # resumes 0.6 s later
    assert tt._false_ends(trial, tt.Outcome(decisions=[1.9])) == (True, True)  # the bot would already speak


def _strategy(p50: float, p95: float, heard: float) -> dict[str, Any]:
    return {"turn_end_ms_p50": p50, "turn_end_ms_p95": p95, "heard_false_end_rate": heard}


def test_recommend_takes_the_strategy_within_the_latency_budget_least_often_heard_cutting_in() -> None:
    strategies = {
        "silence_0.2": _strategy(240, 260, 0.30),
        "silence_0.3": _strategy(340, 370, 0.25),
        "silence_0.8": _strategy(860, 870, 0.0),
        "smart_turn_v3": _strategy(380, 3300, 0.0),
    }
    assert tt.recommend(strategies) == "silence_0.3"  # 0.8 and smart turn's p95 break the budget
    strategies["smart_turn_v3"]["turn_end_ms_p95"] = 390
    assert tt.recommend(strategies) == "smart_turn_v3"
    assert tt.recommend({"a": _strategy(240, 260, 0.1), "b": _strategy(300, 320, 0.1)}) == "a"
    assert tt.recommend({"a": _strategy(600, 900, 0.0), "b": _strategy(500, 800, 0.2)}) == "b"


@pytest.mark.slow
async def test_run_on_two_questions() -> None:
    report = await tt.run(tt.select_questions(2))
    assert report["questions"] == 2
    strategies = report["strategies"]
    assert set(strategies) == {"silence_0.2", "silence_0.3", "silence_0.5", "silence_0.8", "smart_turn_v3"}
    for summary in strategies.values():
        assert set(summary["false_end_rate"]) == {"none", "0.3", "0.6", "1.0", "1.5"}
        assert summary["no_turn_end"] == 0
        assert 0 < summary["turn_end_ms_p50"] <= summary["turn_end_ms_p95"] < 4000
        assert summary["cpu_ms_per_turn"] > 0
    for stop_secs in tt.STOP_SECS:  # a silence timeout ends the turn just after its stop_secs
        p50 = strategies[f"silence_{stop_secs}"]["turn_end_ms_p50"]
        assert stop_secs * 1000 - 50 <= p50 < stop_secs * 1000 + 300

    def false_ends(name: str) -> float:
        return sum(v for v in strategies[name]["false_end_rate"].values() if v is not None)

    assert false_ends("silence_0.8") <= false_ends("silence_0.5") <= false_ends("silence_0.2")
    assert strategies["silence_0.2"]["false_end_rate"]["1.5"] == 1.0  # any short timeout ends a 1.5 s pause
    heard = {name: summary["heard_false_end_rate"] for name, summary in strategies.items()}
    assert heard["silence_0.8"] <= heard["silence_0.2"]
    assert report["smart_turn_infer_ms_p50"] > 0
    assert report["recommended"] in strategies
