"""Train / validation splits, written once: stratified by class, three-way, and grouped by lesion.

Every split in ftlab comes from here (lesson 01's folders, lesson 02's lesions, lesson 04's clips,
the CLI, and :func:`ftlab.train.finetune`'s inner *selection* split), so "which photos did the
model see?" has one answer. Each function takes an explicit ``seed``: the same labels and seed
give the same split on every machine.

Why not ``sklearn.model_selection`` directly? Its splitters do the bulk of what these do (the
tests check the per-class counts against ``StratifiedShuffleSplit`` and the lesion rule against
``GroupShuffleSplit``), but the course needs three guarantees they do not give: a class with two
or more items always gets at least one in validation (else its recall is never measured: a
small bring-your-own-photos folder hits this), a class with a single item trains instead of
raising, and a grouped split keeps at least one lesion of every class in training.
"""

from __future__ import annotations

import numpy as np


def stratified_split(labels, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices ``(train, val)``: per class ``round(n * fraction)`` to val, at least 1 when n ≥ 2.

    A class with one item (or ``fraction == 0``) keeps everything in training.

    Example:
        >>> train, val = stratified_split([0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 2], 0.2, seed=0)
        >>> len(train), len(val)
        (9, 2)
    """
    labels = np.asarray(labels)
    rng = np.random.default_rng(seed)
    train, val = [], []
    for label in np.unique(labels):
        members = np.flatnonzero(labels == label)
        n_val = int(round(len(members) * fraction))
        if fraction > 0 and len(members) >= 2:
            n_val = min(max(n_val, 1), len(members) - 1)
        else:
            n_val = 0  # nothing to hold out, or a lone item: it trains
        order = rng.permutation(members)
        val.extend(order[:n_val].tolist())
        train.extend(order[n_val:].tolist())
    return np.array(sorted(train), dtype=np.int64), np.array(sorted(val), dtype=np.int64)


def stratified_three_way(labels, val_fraction: float, test_fraction: float, seed: int):
    """Indices ``(train, val, test)``, class by class; a class of three or more is in every split.

    Example:
        >>> train, val, test = stratified_three_way([0] * 10 + [1] * 10, 0.2, 0.2, seed=0)
        >>> len(train), len(val), len(test)
        (12, 4, 4)
    """
    rng = np.random.default_rng(seed)
    labels = np.asarray(labels)
    parts = ([], [], [])
    for label in np.unique(labels):
        idx = rng.permutation(np.flatnonzero(labels == label))
        n = len(idx)
        n_test = max(1, int(round(n * test_fraction))) if n >= 3 else 0
        n_val = max(1, int(round(n * val_fraction))) if n >= 3 else 0
        parts[2].append(idx[:n_test])
        parts[1].append(idx[n_test:n_test + n_val])
        parts[0].append(idx[n_test + n_val:])
    return tuple(np.sort(np.concatenate(p)).astype(int) for p in parts)


def grouped_split(labels, groups, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices ``(train, val)`` with every group (lesion) wholly on one side, stratified by class.

    Per class, whole lesions go to validation until it holds about ``fraction`` of the class's
    images (at least one lesion when the class has two or more; training keeps at least one).

    Example:
        >>> tr, va = grouped_split([0, 0, 0, 0, 1, 1], ["a", "a", "b", "c", "d", "e"], 0.5, seed=0)
        >>> sorted(set(tr) | set(va)) == list(range(6)), len(set(tr) & set(va))
        (True, 0)
    """
    labels = np.asarray(labels)
    groups = np.asarray(groups)
    rng = np.random.default_rng(seed)
    val = []
    group_label = {}
    for g, y in zip(groups, labels, strict=True):  # a lesion's class: its first image's (reported if mixed)
        group_label.setdefault(g, y)
    for label in np.unique(labels):
        class_groups = sorted({g for g, y in group_label.items() if y == label})
        if len(class_groups) < 2:
            continue
        sizes = {g: int(np.sum(groups == g)) for g in class_groups}
        target = max(1, int(round(sum(sizes.values()) * fraction)))
        taken, chosen = 0, 0
        for g in rng.permutation(class_groups):
            if taken >= target or chosen == len(class_groups) - 1:  # training keeps at least one lesion
                break
            if taken > 0 and taken + sizes[g] > 1.5 * target:  # too big a lesion to top up with
                continue
            val.append(g)
            taken, chosen = taken + sizes[g], chosen + 1
    in_val = np.isin(groups, np.array(val, dtype=groups.dtype))
    return np.flatnonzero(~in_val), np.flatnonzero(in_val)


__all__ = ["grouped_split", "stratified_split", "stratified_three_way"]
