"""Pure functions of the drift measurement, checked against values computed by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest

from driftalign.drift.agreement import (
    binary_counts,
    cohen_kappa,
    fleiss_kappa,
    js_divergence,
    mean_pairwise_cosine_distance,
    mean_pairwise_js,
)
from driftalign.data.schema import Trajectory
from driftalign.drift.laterality import laterality_counts, mention_sides, merge_sides
from driftalign.drift.refusal import is_refusal
from driftalign.drift.steps import position_window, split_steps, step_at_offset
from driftalign.drift.teacher_metrics import precision_recall_f1


def test_fleiss_kappa_hand_computed() -> None:
    """3 subjects, 3 raters, 2 categories; counts [[3,0],[2,1],[0,3]].

    P_i = (sum n_ij^2 - 3) / 6: (9-3)/6 = 1, (4+1-3)/6 = 1/3, 1  -> P_bar = 7/9
    p_j = (5/9, 4/9) -> P_e = 25/81 + 16/81 = 41/81
    kappa = (7/9 - 41/81) / (1 - 41/81) = (63/81 - 41/81) / (40/81) = 22/40 = 0.55
    """
    assert fleiss_kappa(np.array([[3, 0], [2, 1], [0, 3]])) == pytest.approx(0.55)


def test_fleiss_kappa_wikipedia_example() -> None:
    """Fleiss (1971) worked example as on Wikipedia: 10 subjects, 14 raters, 5 categories -> 0.210."""
    counts = np.array([[0, 0, 0, 0, 14], [0, 2, 6, 4, 2], [0, 0, 3, 5, 6], [0, 3, 9, 2, 0], [2, 2, 8, 1, 1],
                       [7, 7, 0, 0, 0], [3, 2, 6, 3, 0], [2, 5, 3, 2, 2], [6, 5, 2, 1, 0], [0, 2, 2, 3, 7]])
    assert fleiss_kappa(counts) == pytest.approx(0.20993, abs=1e-5)


def test_fleiss_kappa_edge_cases() -> None:
    assert fleiss_kappa(np.array([[2, 0], [0, 2]])) == pytest.approx(1.0)
    assert math.isnan(fleiss_kappa(np.array([[3, 0], [3, 0]])))  # one category only: undefined
    with pytest.raises(ValueError, match="same number"):
        fleiss_kappa(np.array([[2, 0], [1, 2]]))


def test_binary_counts() -> None:
    assert binary_counts(np.array([[1, 0, 1], [0, 0, 0]])).tolist() == [[1, 2], [3, 0]]


def test_cohen_kappa_hand_computed() -> None:
    """a = 1100, b = 1000: p_o = 3/4, p_e = (1/2)(1/4) + (1/2)(3/4) = 1/2, kappa = (3/4-1/2)/(1/2) = 0.5."""
    assert cohen_kappa(np.array([1, 1, 0, 0]), np.array([1, 0, 0, 0])) == pytest.approx(0.5)
    assert math.isnan(cohen_kappa(np.zeros(4), np.zeros(4)))


def test_js_divergence_hand_computed() -> None:
    """p = (1, 0), q = (1/2, 1/2): m = (3/4, 1/4);
    KL(p||m) = log2(4/3) = 0.415037; KL(q||m) = 1/2 log2(2/3) + 1/2 log2(2) = 0.207519
    JS = (0.415037 + 0.207519) / 2 = 0.311278."""
    assert js_divergence([1, 0], [0.5, 0.5]) == pytest.approx(0.311278, abs=1e-6)
    assert js_divergence([2, 0], [0, 5]) == pytest.approx(1.0)
    assert js_divergence([1, 3], [2, 6]) == pytest.approx(0.0)
    with pytest.raises(ValueError):
        js_divergence([0, 0], [1, 0])


def test_mean_pairwise_js_skips_empty() -> None:
    """Pairs of (1,0), (0,1), (1,0): JS = 1, 0, 1 -> mean 2/3; the empty distribution is ignored."""
    dists = [np.array([1, 0]), np.array([0, 1]), np.array([1, 0]), np.array([0, 0])]
    assert mean_pairwise_js(dists) == pytest.approx(2 / 3)
    assert math.isnan(mean_pairwise_js([np.array([1, 0])]))


def test_mean_pairwise_cosine_distance() -> None:
    """(1,0), (0,1), (1,1)/sqrt2: distances 1, 1 - 1/sqrt2, 1 - 1/sqrt2 -> mean (3 - sqrt2) / 3."""
    v = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    assert mean_pairwise_cosine_distance(v) == pytest.approx((3 - math.sqrt(2)) / 3)
    assert math.isnan(mean_pairwise_cosine_distance(v[:1]))


def test_precision_recall_f1() -> None:
    assert precision_recall_f1(3, 1, 2) == pytest.approx((0.75, 0.6, 2 * 0.75 * 0.6 / 1.35))
    p, r, f1 = precision_recall_f1(0, 0, 2)
    assert math.isnan(p) and r == 0 and math.isnan(f1)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Small left effusion. No pneumothorax.", ["Small left effusion.", "No pneumothorax."]),
        ("- Cardiomegaly\n- Mild edema\n* Lines in place", ["Cardiomegaly", "Mild edema", "Lines in place"]),
        ("1. Opacity at the right base.\n2) Effusion.\n(3) Edema", ["Opacity at the right base.", "Effusion.", "Edema"]),
        ("## Findings:\n**Impression:**\nThere is **no** pneumonia.", ["There is no pneumonia."]),
        ("A 2.5 cm nodule, e.g. a granuloma. Is it new? Yes!", ["A 2.5 cm nodule, e.g. a granuloma.", "Is it new?", "Yes!"]),
        ("Impression: small effusion.", ["Impression: small effusion."]),
        ("", []),
        ("  \n\n - \n", []),
    ],
)
def test_split_steps(text: str, expected: list[str]) -> None:
    assert [s.text for s in split_steps(text)] == expected


def test_split_steps_spans_point_into_the_source() -> None:
    text = "Findings:\n- Left effusion. Right **apical** pneumothorax.\n"
    steps = split_steps(text)
    assert [text[s.start : s.end].strip() for s in steps] == ["Left effusion.", "Right **apical** pneumothorax."]
    assert step_at_offset(steps, text.index("pneumothorax")) == 1
    assert step_at_offset(steps, 0) is None


@pytest.mark.parametrize(
    ("index", "n", "windows", "expected"),
    [(0, 1, 5, 2), (0, 4, 5, 0), (1, 4, 5, 1), (2, 4, 5, 3), (3, 4, 5, 4), (9, 10, 5, 4), (0, 10, 5, 0), (5, 10, 5, 2)],
)
def test_position_window(index: int, n: int, windows: int, expected: int) -> None:
    """Centre (j + 0.5) / n in window floor(centre * W): e.g. j=2, n=4 -> 0.625 -> 3."""
    assert position_window(index, n, windows) == expected


def test_position_window_rejects_bad_index() -> None:
    with pytest.raises(ValueError):
        position_window(4, 4, 5)


@pytest.mark.parametrize(
    ("text", "asserts_findings", "expected"),
    [
        ("I'm sorry, but I can't provide a diagnosis from this image.", False, True),
        ("As an AI, I cannot interpret medical images.", False, True),
        ("As an AI I am not a doctor; the image shows a small left effusion.", True, False),
        ("I cannot provide medical advice.", False, True),
        ("", False, True),
        ("Cannot exclude pneumonia at the left base.", True, False),
        ("Cannot exclude pneumonia at the left base.", False, False),
        ("Small right pleural effusion; no pneumothorax.", True, False),
    ],
)
def test_refusal_detector(text: str, asserts_findings: bool, expected: bool) -> None:
    trajectory = Trajectory(study_id="s", teacher="t", prompt="p", response=text)
    assert is_refusal(trajectory, asserts_findings) is expected


def test_refusal_flag_in_meta_wins_and_disclaimers_with_findings_are_answers() -> None:
    disclaimer = "I cannot provide a diagnosis, but there is a small left pleural effusion."
    assert is_refusal(Trajectory(study_id="s", teacher="t", prompt="p", response=disclaimer), True) is False
    assert is_refusal(Trajectory(study_id="s", teacher="t", prompt="p", response=disclaimer), False) is True
    flagged = Trajectory(study_id="s", teacher="t", prompt="p", response="Effusion.", meta={"refusal": True})
    assert is_refusal(flagged, True) is True


def test_laterality_counts_hand_computed() -> None:
    """Answer: effusion {right}, pneumothorax {left}, edema {bilateral}, opacity {left}.
    Reference: effusion {left}, pneumothorax {left}, edema {bilateral}, no side for opacity.
    Comparable: effusion, pneumothorax, edema (3); mismatched: effusion (right not in {left}) -> (3, 1)."""
    answer = {"Pleural Effusion": frozenset({"right"}), "Pneumothorax": frozenset({"left"}),
              "Edema": frozenset({"bilateral"}), "Lung Opacity": frozenset({"left"})}
    reference = {"Pleural Effusion": frozenset({"left"}), "Pneumothorax": frozenset({"left"}),
                 "Edema": frozenset({"bilateral"})}
    assert laterality_counts(answer, reference) == (3, 1)
    assert laterality_counts({"Edema": frozenset({"left"})}, {"Edema": frozenset({"bilateral"})}) == (1, 1)


def test_merge_and_mention_sides() -> None:
    per_step = mention_sides(["Small left pleural effusion.", "Right pleural effusion.", "No pneumothorax."])
    assert per_step[0] == {"Pleural Effusion": frozenset({"left"})} and per_step[2] == {}
    assert merge_sides(per_step) == {"Pleural Effusion": frozenset({"left", "right"})}
