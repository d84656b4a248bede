"""Alarm rules over hand-made sequences: raise, no chatter inside the hysteresis band, clear, on-delay."""

from __future__ import annotations

from smart365.monitoring.alarms import Rule, RuleState, evaluate
from smart365.telemetry.batch import Batch

S = 1_000_000  # one second in µs


def _run(rule: Rule, values: list[float], states: dict[int, RuleState] | None = None, t0: int = 0):  # type: ignore[no-untyped-def]
    batch = Batch.from_columns(rule.tag_id, [t0 + i * S for i in range(len(values))], values)
    return evaluate([rule], batch, states or {})


def test_high_alarm_raises_holds_inside_the_band_and_clears_below_it() -> None:
    rule = Rule(1, 10, "high", limit=80.0, deadband=5.0)
    # 81 raises; 79, 76, 81, 78 stay inside the band (75..80] or re-cross the limit: no new raise, no clear
    states, changes = _run(rule, [70, 81, 79, 76, 81, 78, 74.9, 76, 79])
    assert [(c.raised, c.ts_us // S, c.value) for c in changes] == [(True, 1, 81.0), (False, 6, 74.9)]
    assert states[1] == RuleState(active=False, pending_since_us=None, last_ts_us=8 * S)


def test_a_value_hovering_at_the_limit_does_not_chatter() -> None:
    rule = Rule(1, 10, "high", limit=100.0, deadband=2.0)
    hovering = [100.5, 99.6, 100.4, 99.1, 100.9, 98.5, 100.2]
    _, changes = _run(rule, hovering)
    assert [c.raised for c in changes] == [True]  # one raise, never cleared: it never fell below 98


def test_low_alarm_mirrors_the_high_one() -> None:
    rule = Rule(2, 11, "low", limit=10.0, deadband=1.0)
    _, changes = _run(rule, [12, 9.5, 10.5, 10.9, 11.2, 9.9])
    assert [(c.raised, c.ts_us // S) for c in changes] == [(True, 1), (False, 4), (True, 5)]


def test_state_alarm_with_an_on_delay_ignores_short_stops() -> None:
    rule = Rule(3, 12, "state", limit=2.0, delay_s=3)  # down (2) for 3 s or more
    # down for 2 s (too short), running, then down for 4 s
    _, changes = _run(rule, [1, 2, 2, 1, 2, 2, 2, 2, 2, 1])
    assert [(c.raised, c.ts_us // S) for c in changes] == [(True, 7), (False, 9)]


def test_state_carries_across_batches_and_a_replayed_batch_changes_nothing() -> None:
    rule = Rule(4, 13, "high", limit=50.0, deadband=5.0, delay_s=2)
    states, changes = _run(rule, [40, 51, 52])  # pending since t=1, not yet 2 s
    assert changes == [] and states[4].pending_since_us == 1 * S and not states[4].active
    states, changes = _run(rule, [53, 44], states, t0=3 * S)  # t=3: held 2 s → raise; t=4 clears
    assert [(c.raised, c.ts_us // S) for c in changes] == [(True, 3), (False, 4)]
    again, replayed = _run(rule, [53, 44], states, t0=3 * S)
    assert replayed == [] and again == states


def test_rules_on_other_tags_and_unsorted_rows() -> None:
    high, low = Rule(5, 20, "high", 10.0), Rule(6, 21, "low", 0.0)
    batch = Batch.from_columns([21, 20, 20, 99], [2 * S, 1 * S, 0, 0], [-1.0, 11.0, 5.0, 1e9])
    states, changes = evaluate([high, low], batch, {})
    assert [(c.rule_id, c.ts_us // S) for c in changes] == [(5, 1), (6, 2)]
    assert states[5].active and states[6].active
