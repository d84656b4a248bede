"""Loaders for the public benchmarks kept in ``../shared/datasets`` (never downloaded at run time).

The folder is ``$SMART365_DATASETS`` when set, else ``shared/datasets`` beside the repository root.

>>> data = load_cmapss("FD001")  # doctest: +SKIP
>>> len(data.test_rul), data.train.unit.nunique()  # doctest: +SKIP
(100, 100)
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from smart365.core.errors import Invalid, NotFound
from smart365.core.i18n import N_

CMAPSS_SUBSETS = ("FD001", "FD002", "FD003", "FD004")
SETTINGS = ("setting_1", "setting_2", "setting_3")
SENSORS = tuple(f"s{i}" for i in range(1, 22))
CMAPSS_COLUMNS = ("unit", "cycle", *SETTINGS, *SENSORS)
#: Piecewise-linear target cap (Heimes 2008), as SOURCE.md recommends.
RUL_CAP = 125


MISSING_DATASET = N_(
    "Dataset file not found: {path}. Put the benchmark datasets there, or set SMART365_DATASETS to the folder "
    "that holds them (each dataset's SOURCE.md says where to get it)."
)


def datasets_root() -> Path:
    """The benchmark folder: ``$SMART365_DATASETS`` or the repository's sibling ``shared/datasets``."""
    env = os.environ.get("SMART365_DATASETS")
    if env:
        return Path(env)
    return Path(__file__).resolve().parents[3].parent / "shared" / "datasets"


def _require(path: Path) -> Path:
    if not path.is_file():
        raise NotFound(MISSING_DATASET, path=str(path))
    return path


@dataclass(frozen=True)
class CmapssData:
    """One C-MAPSS subset: run-to-failure ``train``, truncated ``test`` and the true RUL per test unit.

    ``train`` and ``test`` have the columns unit, cycle, setting_1..3, s1..s21, sorted by unit and cycle.
    ``test_rul[i]`` is the (uncapped) true RUL at the last cycle of the i-th test unit, in unit order.
    """

    subset: str
    train: pd.DataFrame
    test: pd.DataFrame
    test_rul: NDArray[np.float64]


def read_cmapss_file(path: Path) -> pd.DataFrame:
    """One NASA text file: space-separated, no header, trailing blanks."""
    frame = pd.read_csv(_require(path), sep=r"\s+", header=None, engine="c")
    if frame.shape[1] != len(CMAPSS_COLUMNS):
        raise Invalid(N_("Unexpected number of columns in {path}."), path=str(path))
    frame.columns = list(CMAPSS_COLUMNS)
    frame = frame.astype({"unit": np.int64, "cycle": np.int64})
    return frame.sort_values(["unit", "cycle"], kind="stable").reset_index(drop=True)


def load_cmapss(subset: str, root: Path | None = None) -> CmapssData:
    """Load ``train_FDxxx``, ``test_FDxxx`` and ``RUL_FDxxx`` of one subset."""
    if subset not in CMAPSS_SUBSETS:
        raise Invalid(N_("Unknown C-MAPSS subset {subset}."), subset=subset)
    folder = (root or datasets_root()) / "cmapss"
    train = read_cmapss_file(folder / f"train_{subset}.txt")
    test = read_cmapss_file(folder / f"test_{subset}.txt")
    rul = np.loadtxt(_require(folder / f"RUL_{subset}.txt"), dtype=float, ndmin=1)
    if rul.size != test.unit.nunique():
        raise Invalid(N_("RUL file does not match the test units in {path}."), path=str(folder))
    return CmapssData(subset, train, test, rul)


def rul_targets(frame: pd.DataFrame, cap: float | None = RUL_CAP) -> NDArray[np.float64]:
    """RUL at every row of run-to-failure trajectories: last cycle of the unit − cycle, capped at ``cap``.

    >>> f = pd.DataFrame({"unit": [1, 1, 1, 2, 2], "cycle": [1, 2, 3, 1, 2]})
    >>> rul_targets(f, cap=1).tolist(), rul_targets(f, cap=None).tolist()
    ([1.0, 1.0, 0.0, 1.0, 0.0], [2.0, 1.0, 0.0, 1.0, 0.0])
    """
    last = frame.groupby("unit")["cycle"].transform("max")
    rul = (last - frame["cycle"]).to_numpy(dtype=float)
    return np.minimum(rul, cap) if cap is not None else rul


def last_cycles(frame: pd.DataFrame) -> NDArray[np.intp]:
    """Row positions of each unit's last cycle, in unit order (the standard evaluation points).

    >>> last_cycles(pd.DataFrame({"unit": [1, 1, 2], "cycle": [1, 2, 1]})).tolist()
    [1, 2]
    """
    order = np.lexsort((frame["cycle"].to_numpy(), frame["unit"].to_numpy()))
    units = frame["unit"].to_numpy()[order]
    is_last = np.append(units[1:] != units[:-1], True)
    return np.asarray(order[is_last], dtype=np.intp)


# --- SKAB ------------------------------------------------------------------------------------------

SKAB_FOLDERS = ("valve1", "valve2", "other")
SKAB_SENSORS = (
    "Accelerometer1RMS", "Accelerometer2RMS", "Current", "Pressure",
    "Temperature", "Thermocouple", "Voltage", "Volume Flow RateRMS",
)  # fmt: skip
#: The SKAB protocol trains on the first 400 rows of each experiment and scores the rest.
SKAB_TRAIN_ROWS = 400


@dataclass(frozen=True)
class SkabExperiment:
    """One labelled SKAB experiment file: ``frame`` indexed by ``datetime`` with sensors, anomaly, changepoint."""

    name: str
    frame: pd.DataFrame

    def split(self, train_rows: int = SKAB_TRAIN_ROWS) -> tuple[pd.DataFrame, pd.DataFrame]:
        """SKAB's split: the first ``train_rows`` rows to fit, the rest to score (no shuffling)."""
        return self.frame.iloc[:train_rows], self.frame.iloc[train_rows:]


def read_skab_file(path: Path) -> pd.DataFrame:
    """One SKAB CSV (``;``-separated, 1 Hz), indexed by time; labels as 0/1 integers when present."""
    frame = pd.read_csv(_require(path), sep=";", parse_dates=["datetime"]).set_index("datetime")
    missing = [c for c in SKAB_SENSORS if c not in frame.columns]
    if missing:
        raise Invalid(N_("Unexpected number of columns in {path}."), path=str(path))
    for label in ("anomaly", "changepoint"):
        if label in frame.columns:
            frame[label] = frame[label].astype(np.int64)
    return frame


def load_skab(root: Path | None = None) -> list[SkabExperiment]:
    """The 34 labelled experiments (valve1, valve2, other), in folder then numeric file order.

    The separate ``anomaly-free`` run is not part of the standard protocol; see :func:`load_skab_normal`.
    """
    folder = (root or datasets_root()) / "skab"
    experiments = []
    for sub in SKAB_FOLDERS:
        for path in sorted((folder / sub).glob("*.csv"), key=lambda p: int(p.stem)):
            experiments.append(SkabExperiment(f"{sub}/{path.stem}", read_skab_file(path)))
    if not experiments:
        raise NotFound(MISSING_DATASET, path=str(folder))
    return experiments


def load_skab_normal(root: Path | None = None) -> pd.DataFrame:
    """The anomaly-free run (9,405 rows, no label columns)."""
    return read_skab_file((root or datasets_root()) / "skab" / "anomaly-free" / "anomaly-free.csv")


# --- SECOM -----------------------------------------------------------------------------------------

SECOM_FEATURES = 590


@dataclass(frozen=True)
class SecomData:
    """UCI SECOM: 590 anonymous process features (``f000``..``f589``, NaN where missing), ``fail`` (1 = the
    line test failed, 0 = passed; UCI's 1 / −1) and the test ``time``, all in file order."""

    features: pd.DataFrame
    fail: NDArray[np.int64]
    time: pd.Series


def load_secom(root: Path | None = None) -> SecomData:
    """``secom.data`` and ``secom_labels.data`` (label, then a quoted ``DD/MM/YYYY hh:mm:ss``)."""
    folder = (root or datasets_root()) / "secom"
    features = pd.read_csv(_require(folder / "secom.data"), sep=" ", header=None, engine="c")
    if features.shape[1] != SECOM_FEATURES:
        raise Invalid(N_("Unexpected number of columns in {path}."), path=str(folder / "secom.data"))
    features.columns = [f"f{i:03d}" for i in range(SECOM_FEATURES)]
    labels = pd.read_csv(_require(folder / "secom_labels.data"), sep=" ", header=None, names=["label", "time"])
    if len(labels) != len(features):
        raise Invalid(N_("Unexpected number of columns in {path}."), path=str(folder / "secom_labels.data"))
    time = pd.to_datetime(labels["time"], format="%d/%m/%Y %H:%M:%S")
    return SecomData(features.astype(float), (labels["label"].to_numpy() == 1).astype(np.int64), time)
