"""ftlab.splits against scikit-learn's splitters, plus the guarantees sklearn does not give."""

import numpy as np
import pytest
from sklearn.model_selection import GroupShuffleSplit, StratifiedShuffleSplit

from ftlab import splits


def test_stratified_split_has_sklearns_per_class_counts_on_large_classes():
    labels = np.repeat(np.arange(5), [120, 80, 60, 150, 90])
    train, val = splits.stratified_split(labels, 0.2, seed=3)
    sk_train, sk_val = next(StratifiedShuffleSplit(n_splits=1, test_size=0.2, random_state=3).split(labels, labels))
    assert np.bincount(labels[val]).tolist() == np.bincount(labels[sk_val]).tolist() == [24, 16, 12, 30, 18]
    assert len(train) == len(sk_train) and not set(train) & set(val)
    assert sorted(np.r_[train, val].tolist()) == list(range(len(labels)))


def test_stratified_split_measures_every_class_where_sklearn_cannot():
    labels = np.array([0] * 20 + [1] * 2 + [2])  # a class of 2 and a lone item
    train, val = splits.stratified_split(labels, 0.2, seed=0)
    assert np.bincount(labels[val], minlength=3).tolist() == [4, 1, 0]  # the lone item trains
    with pytest.raises(ValueError):  # sklearn refuses a class with one member
        next(StratifiedShuffleSplit(n_splits=1, test_size=0.2, random_state=0).split(labels, labels))
    assert splits.stratified_split(labels, 0.2, seed=0)[1].tolist() == val.tolist()  # seeded


def test_three_way_split_puts_every_class_of_three_or_more_in_each_part():
    labels = np.repeat(np.arange(3), [50, 5, 3])
    parts = splits.stratified_three_way(labels, 0.2, 0.2, seed=1)
    assert [np.bincount(labels[p], minlength=3).tolist() for p in parts] == [[30, 3, 1], [10, 1, 1], [10, 1, 1]]
    assert sorted(np.concatenate(parts).tolist()) == list(range(len(labels)))


def test_grouped_split_never_splits_a_lesion_like_sklearns_group_split():
    rng = np.random.default_rng(0)
    groups = np.repeat(np.arange(200), rng.integers(1, 4, 200))
    labels = (groups % 4 == 0).astype(int)  # a lesion's images share its class
    train, val = splits.grouped_split(labels, groups, 0.25, seed=0)
    sk_train, sk_val = next(GroupShuffleSplit(n_splits=1, test_size=0.25, random_state=0).split(labels, labels, groups))
    for tr, va in ((train, val), (sk_train, sk_val)):
        assert not set(groups[tr]) & set(groups[va])
    # unlike GroupShuffleSplit it is stratified: each class sends about a quarter of its images
    for c in (0, 1):
        share = np.sum(labels[val] == c) / np.sum(labels == c)
        assert 0.2 < share < 0.3, (c, share)


def test_grouped_split_keeps_a_lesion_of_every_class_in_training():
    labels = np.array([0, 0, 0, 1, 1])
    groups = np.array(["a", "b", "c", "d", "e"])
    train, val = splits.grouped_split(labels, groups, 0.9, seed=0)
    assert set(labels[train]) == {0, 1} and set(labels[val]) == {0, 1}
