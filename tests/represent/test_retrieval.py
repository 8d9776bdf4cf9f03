"""Recall@1, MAP@R and the linear probe on cases worked by hand, and their refusals."""
import numpy as np
import pytest

from stages.represent.retrieval import labelled_subset, linear_probe, map_at_r, recall_at_1

# four points on a circle: classes a a b b; 0 and 1 near each other, 2 and 3 opposite
ANGLES = np.radians([0, 20, 100, 200])
POINTS = np.stack([np.cos(ANGLES), np.sin(ANGLES)], 1)


def test_recall_at_1_counts_the_nearest_other_item():
    labels = np.array([0, 0, 1, 1])
    # nearest (cosine): 0→1, 1→0, 2→1 (80° vs 100°), 3→2 (100° vs 160° and 180°)
    assert recall_at_1(POINTS, labels) == pytest.approx(3 / 4)
    assert recall_at_1(POINTS * np.array([[1.0], [5.0], [0.1], [2.0]]), labels) == pytest.approx(3 / 4)  # lengths do not count


def test_map_at_r_by_hand():
    labels = np.array([0, 0, 0, 1])
    angles = np.radians([0, 40, 90, 20])
    pts = np.stack([np.cos(angles), np.sin(angles)], 1)
    # query 0 (R = 2): 3 (b, 20°), 1 (a, 40°) → precision at 2 is 1/2, counted once: (0 + 1/2) / 2 = 0.25
    # query 1 (R = 2): 3 (b, 20°), 0 (a, 40°) → 0.25;  query 2 (R = 2): 1 (a, 50°), 3 (b, 70°) → (1 + 0) / 2 = 0.5
    # query 3: no other item of class b, skipped
    assert map_at_r(pts, labels) == pytest.approx((0.25 + 0.25 + 0.5) / 3)
    labels = np.array([0, 0, 0, 1, 1])
    perfect = np.array([[1, 0], [1, 0.01], [1, 0.02], [-1, 0], [-1, 0.01]], dtype=float)
    assert map_at_r(perfect, labels) == pytest.approx(1.0) and recall_at_1(perfect, labels) == 1.0


def test_map_at_r_skips_singletons_and_refuses_bad_shapes():
    assert map_at_r(POINTS[:3], np.array([0, 0, 1])) == pytest.approx(1.0)  # class 1 has no other item
    with pytest.raises(ValueError, match="no query has another item"):
        map_at_r(POINTS[:2], np.array([0, 1]))
    with pytest.raises(ValueError, match="N labels"):
        recall_at_1(POINTS, np.array([0, 1]))


def test_labelled_subset_takes_the_fraction_of_every_class_and_at_least_one():
    labels = np.array([0] * 50 + [1] * 10 + [2] * 3)
    keep = labelled_subset(labels, 0.1, np.random.default_rng(0))
    assert np.bincount(labels[keep]).tolist() == [5, 1, 1]
    assert len(labelled_subset(labels, 1.0, np.random.default_rng(0))) == len(labels)
    with pytest.raises(ValueError, match=r"in \(0, 1\]"):
        labelled_subset(labels, 0.0, np.random.default_rng(0))


def test_linear_probe_separates_separable_features_and_not_noise():
    rng = np.random.default_rng(0)
    labels = np.repeat(np.arange(3), 20)
    centres = np.eye(3) * 5
    train = centres[labels][:, None, :] + rng.normal(size=(60, 2, 3))  # (N, V, d)
    test_labels = np.repeat(np.arange(3), 10)
    test = centres[test_labels] + rng.normal(size=(30, 3))
    assert linear_probe(train, labels, test, test_labels, 1.0, 1, seed=0) > 0.95
    assert linear_probe(train, labels, test, test_labels, 0.1, 3, seed=0, views=1) > 0.9
    noise = rng.normal(size=(60, 2, 3))
    assert linear_probe(noise, labels, rng.normal(size=(30, 3)), test_labels, 1.0, 1, seed=0) < 0.7
