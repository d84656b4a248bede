"""Fitted scikit-learn trees as flat numeric arrays, and every row walked down every tree at once.

A forest saved this way is plain arrays in a :class:`~smart365.analytics.contract.ModelState` (never a
pickle), and scoring it needs no scikit-learn object: the isolation forest and the test-bed's random forest
both keep their trees like this.

>>> from sklearn.ensemble import RandomForestRegressor
>>> x = np.arange(40, dtype=float).reshape(20, 2)
>>> forest = RandomForestRegressor(n_estimators=5, random_state=0).fit(x, x[:, 0] * 2)
>>> trees = flatten(forest.estimators_, values=True)
>>> leaf, _depth = walk(trees, x[:3].astype(np.float32))
>>> bool(np.allclose(trees["value"][leaf].mean(axis=1)[:, 0], forest.predict(x[:3])))
True
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray


def flatten(
    estimators: Sequence[Any], features: Sequence[Sequence[int]] | None = None, values: bool = False
) -> dict[str, NDArray[Any]]:
    """All trees' nodes in one set of arrays (child indices made global, each tree's split features mapped
    to the table's columns through ``features``); with ``values``, each node's output (class shares for a
    classifier, the value for a regressor) as ``value``, one row per node."""
    left, right, feature, threshold, size, value, roots = [], [], [], [], [], [], []
    offset = 0
    for i, tree in enumerate(estimators):
        t = tree.tree_
        leaf = t.children_left == -1
        columns = np.asarray(features[i]) if features is not None else np.arange(t.n_features)
        roots.append(offset)
        left.append(np.where(leaf, -1, t.children_left + offset))
        right.append(np.where(leaf, -1, t.children_right + offset))
        feature.append(np.where(leaf, 0, columns[np.maximum(t.feature, 0)]))
        threshold.append(t.threshold)
        size.append(t.n_node_samples)
        if values:
            node_values = np.asarray(t.value[:, 0, :], dtype=float)
            if node_values.shape[1] > 1:  # class counts or shares (by version): shares, as predict_proba reads
                node_values = node_values / node_values.sum(axis=1, keepdims=True)
            value.append(node_values)
        offset += t.node_count
    trees = {
        "left": np.concatenate(left).astype(np.int64), "right": np.concatenate(right).astype(np.int64),
        "feature": np.concatenate(feature).astype(np.int64), "threshold": np.concatenate(threshold),
        "size": np.concatenate(size).astype(np.int64), "roots": np.asarray(roots, dtype=np.int64),
    }  # fmt: skip
    if values:
        trees["value"] = np.concatenate(value)
    return trees


def walk(trees: dict[str, NDArray[Any]], x: NDArray[np.float32]) -> tuple[NDArray[np.int64], NDArray[np.float64]]:
    """The leaf each row reaches in each tree, and how many splits it took there (rows × trees). ``x`` is
    float32, as scikit-learn compares it with the thresholds."""
    left, right, feature, thr = trees["left"], trees["right"], trees["feature"], trees["threshold"]
    node = np.broadcast_to(trees["roots"], (len(x), trees["roots"].size)).copy()
    depth = np.zeros(node.shape)
    rows = np.arange(len(x))[:, None]
    while True:
        inner = left[node] != -1
        if not inner.any():
            return node, depth
        go_left = x[rows, feature[node]].astype(float) <= thr[node]
        node = np.where(inner, np.where(go_left, left[node], right[node]), node)
        depth += inner
