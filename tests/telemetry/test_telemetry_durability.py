"""An append that returned survives a SIGKILL of the writer; one that did not is all or nothing."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np

from smart365.telemetry.store import open_store

CHILD = Path(__file__).with_name("ingest_child.py")
T0 = 1_704_067_200_000_000
SIZE = 20_000
ACKS_BEFORE_KILL = 12


def test_every_acknowledged_batch_survives_a_sigkill_mid_ingest(store_target: str) -> None:
    child = subprocess.Popen(
        [sys.executable, str(CHILD), store_target, str(SIZE)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert child.stdout is not None
    acked: list[int] = []
    for line in child.stdout:
        acked.append(int(line.split()[1]))
        if len(acked) == ACKS_BEFORE_KILL:
            os.kill(child.pid, signal.SIGKILL)  # the child is inside its next append now
            break
    acked += [int(line.split()[1]) for line in child.stdout]  # acks already written before the kill
    child.wait()
    stderr = child.stderr.read() if child.stderr else ""
    assert child.returncode == -signal.SIGKILL, stderr
    assert acked == list(range(len(acked)))

    with open_store(store_target) as store:
        stored = store.read(range(7), T0, T0 + 10**12)
    per_batch = np.bincount(stored.value.astype(np.int64), minlength=len(acked) + 1)
    assert per_batch[: len(acked)].tolist() == [SIZE] * len(acked)  # nothing acknowledged was lost
    assert set(per_batch[len(acked) :].tolist()) <= {0, SIZE}  # the interrupted batch is whole or absent
