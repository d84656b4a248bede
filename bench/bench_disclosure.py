"""Peer benchmarks: how many attack sequences recover a firm's value from the releases.

Runs ``--sequences`` sequences of each attack of :mod:`smart365.sim.disclosure_attacks` (differencing: a group
released before and after the target joins; tracker: nested groups whose difference is the target plus the
attacker's colluders; averaging: the same releases asked 30 times and fresh ones forced by a colluder joining and
leaving, each pair differenced and the estimates averaged) against

1. the benchmark's releases (:func:`smart365.collab.benchmarks.decide_cells`: suppression under 5 firms,
   dominance, quartile only under n·ε = 50, the OpenDP Laplace mean with ε = 1 drawn once per membership, a
   budget of 3 fresh DP means per firm and KPI), and
2. the control: raw means of the same groups, which every attack breaks.

Group sizes are drawn on both sides of the DP threshold (4–12, 40–70, 80–150 firms), OEE values in 35–90 %.
Reported per attack: sequences, estimates the attack could make (none where no mean is released), estimates
within 1 % of the range of the target's true value (**recovered**), exact recoveries, and how often guessing
with no attack at all (the group's released mean, else the middle of the range) is as close (**by chance**).

Usage::

    .venv/bin/python bench/bench_disclosure.py --sequences 10000 > bench/output/bench_disclosure.txt
"""

from __future__ import annotations

import argparse
import platform
import random
import time

from smart365.sim.disclosure_attacks import TOLERANCE, Publisher, run_all


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sequences", type=int, default=10_000, help="attack sequences of each kind")
    parser.add_argument("--seed", type=int, default=20261207)
    args = parser.parse_args()
    print(f"# bench_disclosure: {args.sequences:,} sequences of each attack, seed {args.seed}, "
          f"tolerance {TOLERANCE:.0%} of the KPI's range; Python {platform.python_version()}")  # fmt: skip
    for name, publisher in (("Smart365 releases", Publisher()), ("raw means (control)", Publisher(protected=False))):
        started = time.perf_counter()
        scores = run_all(publisher, random.Random(args.seed), args.sequences)
        seconds = time.perf_counter() - started
        print(f"\n## {name} ({seconds:.1f} s)")
        print(f"{'attack':<14}{'sequences':>10}{'estimates':>11}{'recovered':>11}{'exact':>8}{'by chance':>11}")
        for attack, s in scores.items():
            print(f"{attack:<14}{s.sequences:>10,}{s.estimates:>11,}{s.recovered:>11,}{s.exact:>8,}{s.chance:>11,}")
        total = sum(s.recovered for s in scores.values())
        chance = sum(s.chance for s in scores.values())
        exact = sum(s.exact for s in scores.values())
        print(f"recovered {total:,} of {sum(s.sequences for s in scores.values()):,} sequences "
              f"(exact {exact:,}; the no-attack guess is as close {chance:,} times)")  # fmt: skip


if __name__ == "__main__":
    main()
