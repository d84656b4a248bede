"""Modules imported at their first use, for the big numeric libraries only some requests need.

SciPy, scikit-learn and LightGBM take about 90 MB once imported; a process that serves pages and collects
data should not pay for them until a model is fitted or a solver runs. A module that needs one writes::

    if TYPE_CHECKING:
        from sklearn import linear_model
    else:
        linear_model = lazy("sklearn.linear_model")

so the type checker sees the real module and the running code imports it on the first attribute read.
"""

from __future__ import annotations

import importlib
import types
from typing import Any


class _LazyModule(types.ModuleType):
    """Stands in for a module until an attribute is read, then imports it and takes its namespace."""

    def __getattr__(self, attr: str) -> Any:
        module = importlib.import_module(self.__name__)
        self.__dict__.update(module.__dict__)  # later reads find the names without coming here
        return getattr(module, attr)


def lazy(name: str) -> types.ModuleType:
    """The module ``name``, imported when one of its attributes is first read.

    >>> import sys
    >>> _ = sys.modules.pop("colorsys", None)
    >>> colorsys = lazy("colorsys")
    >>> "colorsys" in sys.modules
    False
    >>> colorsys.rgb_to_hsv(1.0, 0.0, 0.0)
    (0.0, 1.0, 1.0)
    >>> "colorsys" in sys.modules
    True
    """
    return _LazyModule(name)
