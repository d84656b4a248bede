"""Our adapter over OpenDP: the only module that imports it, pinned to the version it was written against.

One mechanism: the Laplace mechanism on the mean of values clamped to fixed bounds, over a group whose size is
known (bounded differential privacy: a neighbouring group has one firm's figures replaced, ``d_in = 2`` under
the symmetric distance). OpenDP builds the measurement and finds the smallest noise scale whose privacy loss is
at most ``epsilon`` (``binary_search_param``), then draws the noise from its own cryptographically secure
source. The caller stores what was drawn: the same release is shown again, never drawn anew.

>>> round(scale_for(100, (0.0, 1.0), 1.0), 6)
0.01
>>> release = laplace_mean([0.5] * 100, (0.0, 1.0), 1.0)
>>> release.n, release.epsilon, 0.0 <= release.value <= 1.0, round(release.scale, 6)
(100, 1.0, True, 0.01)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from importlib.metadata import version as _installed
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from types import ModuleType

#: The version this adapter was written and tested against (pyproject pins it): another one must be checked first.
OPENDP_VERSION = "0.16.0"


@lru_cache(maxsize=1)
def _opendp() -> ModuleType:
    """OpenDP, loaded on the first release (it brings SciPy and scikit-learn: serve starts without them)."""
    if _installed("opendp") != OPENDP_VERSION:  # pragma: no cover - the lock file holds it
        raise ImportError(f"smart365.collab.dp needs opendp=={OPENDP_VERSION}, not {_installed('opendp')}")
    import opendp.prelude as dp

    dp.enable_features("contrib")  # the Laplace mechanism over floats and binary_search_param live under "contrib"
    return dp

#: A neighbouring group: one firm's figures replaced by any others (two changes under the symmetric distance).
D_IN = 2


@lru_cache(maxsize=4096)
def _measurement(n: int, bounds: tuple[float, float], scale: float) -> Any:
    dp = _opendp()
    space = dp.vector_domain(dp.atom_domain(bounds=(float(bounds[0]), float(bounds[1])), nan=False), size=n)
    return (space, dp.symmetric_distance()) >> dp.t.then_mean() >> dp.m.then_laplace(scale)


@lru_cache(maxsize=4096)
def scale_for(n: int, bounds: tuple[float, float], epsilon: float) -> float:
    """The Laplace scale OpenDP needs for the clamped mean of ``n`` values within ``epsilon`` (about
    ``(hi - lo) / (n · epsilon)``); kept per (n, bounds, ε), since it depends on nothing else.

    >>> round(scale_for(50, (0.0, 100.0), 1.0), 6)
    2.0
    """
    return float(_opendp().binary_search_param(lambda s: _measurement(n, bounds, s), d_in=D_IN, d_out=float(epsilon)))


@dataclass(frozen=True)
class DpMean:
    """A released mean: the noisy value, the group size, the privacy loss and the noise scale it was drawn with."""

    value: float
    n: int
    epsilon: float
    scale: float


def laplace_mean(values: Sequence[float], bounds: tuple[float, float], epsilon: float) -> DpMean:
    """The mean of ``values`` clamped to ``bounds`` with Laplace noise for ``epsilon``, clamped back to the
    bounds (post-processing costs no privacy).

    >>> r = laplace_mean([10.0, 20.0, 30.0, 40.0, 50.0], (0.0, 100.0), 1.0)
    >>> 0.0 <= r.value <= 100.0, r.n, round(r.scale, 3)
    (True, 5, 20.0)
    """
    lo, hi = float(bounds[0]), float(bounds[1])
    clamped = [min(hi, max(lo, float(v))) for v in values]
    n = len(clamped)
    scale = scale_for(n, (lo, hi), epsilon)
    noisy = float(_measurement(n, (lo, hi), scale)(clamped))
    return DpMean(min(hi, max(lo, noisy)), n, float(epsilon), scale)
