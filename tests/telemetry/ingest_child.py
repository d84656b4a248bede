"""Child process for the crash test: appends numbered batches forever, printing ``ack <n>`` after each.

Batch ``n`` holds ``size`` points of tag ``n % 7`` at timestamps only it uses, so the parent can count
each batch's points after killing this process. Run as ``python ingest_child.py <store target> <size>``.
"""

from __future__ import annotations

import sys

import numpy as np

from smart365.telemetry.batch import Batch
from smart365.telemetry.store import open_store

T0 = 1_704_067_200_000_000


def batch_number(n: int, size: int) -> Batch:
    ts = T0 + (n * size + np.arange(size)) * 1_000
    return Batch.from_columns(n % 7, ts, np.full(size, float(n)))


def main(target: str, size: int) -> None:
    store = open_store(target)
    n = 0
    while True:
        store.append(batch_number(n, size))
        sys.stdout.write(f"ack {n}\n")
        sys.stdout.flush()
        n += 1


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]))
