"""Alarm rules and their evaluation over batches of points: pure, vectorised, no database.

A rule watches one tag. ``high`` raises when the value goes above ``limit`` and clears only once it falls
below ``limit - deadband`` (hysteresis: a value hovering at the limit does not chatter); ``low`` mirrors
it; ``state`` raises while the value equals ``limit`` (a state code such as 2 = down). ``delay_s`` is an
on-delay: the raise condition must hold that long without a break before the alarm raises.

:func:`evaluate` takes the rules, a batch and each rule's :class:`RuleState` from the previous batch,
and returns the new states and the raise/clear :class:`Transition` s in time order. Rows at or before a
rule's last seen timestamp are ignored, so a batch delivered twice raises nothing twice.

>>> rule = Rule(id=1, tag_id=7, kind="high", limit=80.0, deadband=5.0)
>>> batch = Batch.from_columns(7, [0, 1, 2, 3, 4], [70.0, 81.0, 78.0, 82.0, 74.0])
>>> states, changes = evaluate([rule], batch, {})
>>> [(t.raised, t.ts_us, t.value) for t in changes], states[1].active
([(True, 1, 81.0), (False, 4, 74.0)], False)
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Literal

import numpy as np

from smart365.telemetry.batch import F64, I64, Batch, Mask

Kind = Literal["high", "low", "state"]
KINDS: tuple[Kind, ...] = ("high", "low", "state")
Severity = Literal["critical", "warning", "info"]
SEVERITIES: tuple[Severity, ...] = ("critical", "warning", "info")
_NEVER = -(2**62)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class Rule:
    """What makes one tag's alarm raise and clear.

    >>> Rule(1, 7, "low", 10.0, deadband=2.0).conditions(np.array([9.0, 11.0, 12.5])) # raise, hold, clear
    (array([ True, False, False]), array([False, False,  True]))
    """

    id: int
    tag_id: int
    kind: Kind
    limit: float
    deadband: float = 0.0
    delay_s: float = 0.0
    severity: Severity = "warning"

    def conditions(self, values: F64) -> tuple[Mask, Mask]:
        """Per value: whether it asks to raise, and whether it allows clearing (neither = hold)."""
        if self.kind == "high":
            return values > self.limit, values < self.limit - self.deadband
        if self.kind == "low":
            return values < self.limit, values > self.limit + self.deadband
        matches = np.abs(values - self.limit) < 0.5  # state codes are whole numbers
        return matches, ~matches


@dataclass(frozen=True, slots=True)
class RuleState:
    """Where a rule stands between batches."""

    active: bool = False
    pending_since_us: int | None = None  # start of a raise condition still inside its on-delay
    last_ts_us: int = _NEVER


@dataclass(frozen=True, slots=True)
class Transition:
    """A rule raised (``raised``) or cleared at ``ts_us`` on ``value``."""

    rule_id: int
    tag_id: int
    raised: bool
    ts_us: int
    value: float

    @property
    def at(self) -> datetime:
        """The moment as an aware datetime (UTC)."""
        return _EPOCH + timedelta(microseconds=self.ts_us)


def evaluate(
    rules: Iterable[Rule], batch: Batch, states: Mapping[int, RuleState]
) -> tuple[dict[int, RuleState], list[Transition]]:
    """Run every rule over the batch's points of its tag; returns all rules' new states and the changes.

    >>> rule = Rule(2, 3, "state", 2.0, delay_s=10)  # down (2) for 10 s or more
    >>> seconds = [0, 5_000_000, 12_000_000, 20_000_000]
    >>> _, changes = evaluate([rule], Batch.from_columns(3, seconds, [2.0, 2.0, 2.0, 1.0]), {})
    >>> [(t.raised, t.ts_us // 1_000_000) for t in changes]
    [(True, 12), (False, 20)]
    """
    order = np.lexsort((batch.ts_us, batch.tag_id))
    tag_ids, ts, values = batch.tag_id[order], batch.ts_us[order], batch.value[order]
    new_states = dict(states)
    transitions: list[Transition] = []
    for rule in rules:
        lo, hi = np.searchsorted(tag_ids, [rule.tag_id, rule.tag_id + 1])
        if lo == hi:
            continue
        state, changes = evaluate_rule(rule, ts[lo:hi], values[lo:hi], states.get(rule.id, RuleState()))
        new_states[rule.id] = state
        transitions.extend(changes)
    transitions.sort(key=lambda t: t.ts_us)
    return new_states, transitions


def evaluate_rule(rule: Rule, ts: I64, values: F64, state: RuleState) -> tuple[RuleState, list[Transition]]:
    """One rule over one tag's points in time order (see the module docstring for the semantics)."""
    fresh = ts > state.last_ts_us
    ts, values = ts[fresh], values[fresh]
    if not len(ts):
        return state, []
    raw_up, down = rule.conditions(values)
    run_start = _run_starts(raw_up, ts, state.pending_since_us)
    up = raw_up & (ts - run_start >= int(rule.delay_s * 1_000_000))
    held = _hold(np.where(up, 1, np.where(down, -1, 0)), state.active)
    before = np.concatenate(([state.active], held[:-1]))
    changes = [
        Transition(rule.id, rule.tag_id, bool(held[i]), int(ts[i]), float(values[i]))
        for i in np.flatnonzero(held != before)
    ]
    pending = int(run_start[-1]) if raw_up[-1] else None
    return replace(state, active=bool(held[-1]), pending_since_us=pending, last_ts_us=int(ts[-1])), changes


def _run_starts(up: Mask, ts: I64, carried: int | None) -> I64:
    """For each row, when its current unbroken run of raise conditions began (carried over from before)."""
    index = np.arange(len(up))
    starts = up & np.concatenate(([True], ~up[:-1]))
    first_of_run = np.maximum.accumulate(np.where(starts, index, 0))
    run_start = ts[first_of_run]
    if carried is not None and up[0]:
        run_start = np.where(first_of_run == 0, carried, run_start)
    return run_start


def _hold(signal: np.ndarray, initial: bool) -> Mask:
    """Forward-fill a +1 (raise) / -1 (clear) / 0 (hold) signal into the alarm's active flag."""
    index = np.where(signal != 0, np.arange(len(signal)), -1)
    last = np.maximum.accumulate(index)
    return np.where(last >= 0, signal[np.maximum(last, 0)] > 0, initial)


def describe(rule: Rule, tag: str, unit: str | None = None) -> str:
    """A short, language-neutral condition text for lists and logs.

    >>> describe(Rule(1, 1, "high", 238, 2), "barrel_temp", "°C"), describe(Rule(2, 1, "state", 2), "state")
    ('barrel_temp > 238 °C', 'state = 2')
    """
    symbol = {"high": ">", "low": "<", "state": "="}[rule.kind]
    return f"{tag} {symbol} {rule.limit:g}{f' {unit}' if unit else ''}"
