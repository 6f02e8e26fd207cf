"""DEER's pure functions (driftalign.rl) against hand-computed values.

Every expected number is derived in the test's docstring or comment, not read back from the code.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from driftalign.constants import OBSERVATIONS
from driftalign.labeling import label_reports
from driftalign.rl import (
    binary_labels,
    diagnostic_diversity,
    ditpo_loss,
    draw_by_rank,
    group_advantages,
    log_rank_probabilities,
    rank_by_diversity,
    tfidf_token_weights,
    token_advantages,
)

# ---------------------------------------------------------------- diagnostic diversity (eq. 3-4)


def test_diversity_is_the_sum_of_population_stds():
    """Columns with p = 3/4 and 1/4 ones: population std sqrt(p(1-p)) = sqrt(3)/4 = 0.4330 each."""
    labels = [[1, 0], [1, 1], [0, 0], [1, 0]]
    assert diagnostic_diversity(labels) == pytest.approx(2 * math.sqrt(3) / 4)   # 0.8660
    # K = 2, one class split 1:1 -> 0.5 (ddof = 0; ddof = 1 would give 0.7071), two agreeing classes -> 0
    assert diagnostic_diversity(np.array([[1, 0, 1], [0, 0, 1]])) == pytest.approx(0.5)
    assert diagnostic_diversity(torch.tensor([[1, 1], [1, 1], [1, 1]])) == 0.0
    assert diagnostic_diversity([[0, 1, 1]]) == 0.0                                # K = 1: nothing to disagree with


def test_diversity_rejects_non_binary_or_empty_labels():
    with pytest.raises(ValueError, match="binary"):
        diagnostic_diversity([[1, -1], [0, 0]])
    with pytest.raises(ValueError, match=r"\[K, C\]"):
        diagnostic_diversity(np.zeros((0, 14)))


def test_diversity_of_labelled_report_samples():
    """Two samples: 'Small left pleural effusion.' (PE 1) and 'No pleural effusion. Mild pulmonary
    edema.' (PE 0, Edema 1): PE splits 1:1 (0.5), Edema splits 1:1 (0.5), the other 12 agree -> D = 1."""
    samples = ["Small left pleural effusion.", "No pleural effusion. Mild pulmonary edema."]
    labels_KC = binary_labels(label_reports(samples))
    assert labels_KC.shape == (2, 14)
    assert diagnostic_diversity(labels_KC) == pytest.approx(1.0)


def test_binary_labels_follow_the_uncertain_policy():
    """'Possible ... pneumonia' is Pneumonia -1: 1 under POSITIVE (the DEER default), 0 under NEGATIVE."""
    labels = label_reports(["Possible right lower lobe pneumonia.", "No acute cardiopulmonary process."])
    pna = OBSERVATIONS.index("Pneumonia")
    assert binary_labels(labels)[:, pna].tolist() == [1, 0]
    assert binary_labels(labels, "negative")[:, pna].tolist() == [0, 0]
    # POSITIVE: Pneumonia and No Finding both split 1:1 -> D = 1.0; NEGATIVE: only No Finding -> 0.5
    assert diagnostic_diversity(binary_labels(labels)) == pytest.approx(1.0)
    assert diagnostic_diversity(binary_labels(labels, "negative")) == pytest.approx(0.5)
    with pytest.raises(ValueError, match="binary labels"):
        binary_labels(labels, "own")


# ---------------------------------------------------------------- log-rank probabilities (eq. 5)


def test_log_rank_probabilities_hand_values():
    """n = 3: weights 1/ln 2 = 1.442695, 1/ln 3 = 0.910239, 1/ln 4 = 0.721348; sum 3.074282."""
    p = log_rank_probabilities(3)
    assert p.dtype == torch.float64 and p.shape == (3,)
    assert p.tolist() == pytest.approx([1.442695 / 3.074282, 0.910239 / 3.074282, 0.721348 / 3.074282], abs=1e-6)
    assert p.tolist() == pytest.approx([0.469279, 0.296082, 0.234640], abs=1e-6)
    assert log_rank_probabilities(1).tolist() == [1.0]
    p100 = log_rank_probabilities(100)
    assert float(p100.sum()) == pytest.approx(1.0) and bool((p100[:-1] > p100[1:]).all())
    with pytest.raises(ValueError):
        log_rank_probabilities(0)


def test_rank_by_diversity_is_descending_and_stable():
    assert rank_by_diversity(np.array([0.5, 1.0, 0.5, 0.0])).tolist() == [1, 0, 2, 3]


def test_draw_by_rank_without_replacement_is_seeded_and_log_rank_distributed():
    a = draw_by_rank(10, 4, np.random.default_rng(7))
    assert len(set(a.tolist())) == 4 and a.tolist() == draw_by_rank(10, 4, np.random.default_rng(7)).tolist()
    assert sorted(draw_by_rank(5, 5, np.random.default_rng(0)).tolist()) == [0, 1, 2, 3, 4]
    # a single draw out of 3 lands on rank 1 with P = 0.4693 (sd 0.007 at 5,000 draws; tolerance ~3 sd)
    rng = np.random.default_rng(0)
    firsts = np.array([draw_by_rank(3, 1, rng)[0] for _ in range(5_000)])
    assert np.bincount(firsts, minlength=3) / 5_000 == pytest.approx([0.4693, 0.2961, 0.2346], abs=0.02)
    with pytest.raises(ValueError, match="without replacement"):
        draw_by_rank(3, 4, rng)


# ---------------------------------------------------------------- advantages (eq. 2)


def test_group_advantages_use_the_sample_std_like_trl():
    """r = (1, 0, 0, 1): mean 0.5, sample std sqrt(4 * 0.25 / 3) = 0.577350 -> A = +-0.5 / 0.577450."""
    a = group_advantages(torch.tensor([1.0, 0.0, 0.0, 1.0]))
    assert a.tolist() == pytest.approx([0.865876, -0.865876, -0.865876, 0.865876], abs=1e-5)
    # r = (3, 1): mean 2, sample std sqrt(2) = 1.414214 -> +-1 / 1.414314 = +-0.707057
    assert group_advantages(torch.tensor([3.0, 1.0])).tolist() == pytest.approx([0.707057, -0.707057], abs=1e-5)
    exact = group_advantages(torch.tensor([3.0, 1.0]), eps=0.0)
    assert exact.tolist() == pytest.approx([1 / math.sqrt(2), -1 / math.sqrt(2)])


def test_group_advantages_equal_rewards_give_zeros_and_one_completion_is_an_error():
    assert group_advantages(torch.full((8,), 0.37)).tolist() == [0.0] * 8
    with pytest.raises(ValueError, match="at least 2"):
        group_advantages(torch.tensor([1.0]))


# ---------------------------------------------------------------- TF-IDF token weights


def test_tfidf_weights_hand_values():
    """o_1 = [5, 7, 5], o_2 = [5, 9], alpha 4: token 5 in both -> 1; 7: 1 + 4 * (1/3) * ln 2 =
    1.924196; 9: 1 + 4 * (1/2) * ln 2 = 2.386294."""
    w1, w2 = tfidf_token_weights([[5, 7, 5], [5, 9]])
    assert w1.tolist() == pytest.approx([1.0, 1.924196, 1.0], abs=1e-6)
    assert w2.tolist() == pytest.approx([1.0, 2.386294], abs=1e-6)


def test_tfidf_weights_repeated_tokens_alpha_and_degenerate_groups():
    """o_1 = [7, 7, 8], o_2 = [8], o_3 = [8, 3]: G = 3. 7: TF 2/3, IDF ln 3 -> 1 + 4 * 2/3 * 1.098612
    = 3.929632; 8 is everywhere -> 1; 3: TF 1/2, IDF ln 3 -> 1 + 2 * 1.098612 = 3.197225."""
    w = tfidf_token_weights([[7, 7, 8], [8], [8, 3]])
    assert [x.tolist() for x in w] == [pytest.approx([3.929632, 3.929632, 1.0], abs=1e-6), [1.0],
                                       pytest.approx([1.0, 3.197225], abs=1e-6)]
    assert tfidf_token_weights([[7, 7, 8], [8]], alpha=0.0)[0].tolist() == [1.0, 1.0, 1.0]
    assert tfidf_token_weights([[1, 2, 3]])[0].tolist() == [1.0, 1.0, 1.0]      # G = 1: IDF ln 1 = 0
    assert tfidf_token_weights([[], [4]])[0].numel() == 0
    with pytest.raises(ValueError):
        tfidf_token_weights([[1]], alpha=-1.0)


def test_token_advantages_multiply_and_pad():
    a = token_advantages(torch.tensor([1.0, -2.0]), [torch.tensor([1.0, 3.0]), torch.tensor([0.5])])
    assert a.tolist() == [[1.0, 3.0], [-1.0, 0.0]]
    padded = token_advantages(torch.tensor([1.0, -2.0]), [torch.tensor([1.0, 3.0]), torch.tensor([0.5])], pad_to=4)
    assert padded.tolist() == [[1.0, 3.0, 0.0, 0.0], [-1.0, 0.0, 0.0, 0.0]]
    with pytest.raises(ValueError, match="shorter"):
        token_advantages(torch.tensor([1.0]), [torch.tensor([1.0, 1.0])], pad_to=1)
    with pytest.raises(ValueError, match="one advantage per completion"):
        token_advantages(torch.tensor([1.0, 2.0]), [torch.tensor([1.0])])


# ---------------------------------------------------------------- DiTPO loss


def test_ditpo_loss_on_policy_is_minus_mean_sequence_advantage_with_hand_gradients():
    """ratio 1 (logps == old): loss = -(1/G) sum_i mean_t A_i^t. A = [[1, 3], [-1, pad]]:
    sequence means 2 and -1 -> loss -0.5. d loss / d logp_i^t = -A_i^t / (|o_i| G):
    -1/4, -3/4 for completion 1; +1/2 for completion 2; 0 on padding."""
    logps = torch.log(torch.tensor([[0.5, 0.25], [0.8, 0.9]])).requires_grad_()
    adv = torch.tensor([[1.0, 3.0], [-1.0, 0.0]])
    mask = torch.tensor([[1, 1], [1, 0]])
    loss, metrics = ditpo_loss(logps, logps.detach().clone(), adv, mask, clip_eps=0.2)
    assert loss.item() == pytest.approx(-0.5)
    loss.backward()
    assert logps.grad.flatten().tolist() == pytest.approx([-0.25, -0.75, 0.5, 0.0])
    assert float(metrics["clip_fraction"]) == 0.0 and float(metrics["ratio"]) == pytest.approx(1.0)


def test_ditpo_loss_with_unit_weights_is_grpo():
    """Token advantages all equal to A_i: loss = -mean_i A_i (on-policy), here -(0.8 - 0.2 - 0.6)/3 = 0."""
    g = torch.tensor([0.8, -0.2, -0.6])
    adv = token_advantages(g, [torch.ones(3), torch.ones(1), torch.ones(2)])
    mask = torch.tensor([[1, 1, 1], [1, 0, 0], [1, 1, 0]])
    logps = torch.full((3, 3), -1.0)
    loss, _ = ditpo_loss(logps, logps, adv, mask)
    assert float(loss) == pytest.approx(0.0, abs=1e-7)


@pytest.mark.parametrize(("ratio", "adv", "loss", "grad", "clipped"), [
    (1.5, 1.0, -1.2, 0.0, 1.0),    # A > 0, ratio above 1 + eps: clipped at 1.2, no gradient
    (1.5, -1.0, 1.5, 1.5, 0.0),    # A < 0, ratio above 1 + eps: the pessimistic unclipped term, gradient -A * ratio
    (0.5, -1.0, 0.8, 0.0, 1.0),    # A < 0, ratio below 1 - eps: clipped at 0.8, no gradient
    (0.5, 1.0, -0.5, -0.5, 0.0),   # A > 0, ratio below 1 - eps: unclipped, gradient -A * ratio
])
def test_ditpo_loss_clipping(ratio, adv, loss, grad, clipped):
    old = torch.tensor([[-1.0]])
    logps = (old + math.log(ratio)).requires_grad_()
    out, metrics = ditpo_loss(logps, old, torch.tensor([[adv]]), torch.tensor([[1]]), clip_eps=0.2)
    out.backward()
    assert out.item() == pytest.approx(loss)
    assert float(logps.grad) == pytest.approx(grad)
    assert float(metrics["clip_fraction"]) == clipped


def test_ditpo_loss_k3_kl_term():
    """A = 0, logp = ln 0.5, ref = ln 1: d = ref - logp = ln 2, k3 = 2 - ln 2 - 1 = 0.306853;
    kl_beta 0.1 -> loss 0.0306853 (both tokens valid, one sequence)."""
    logps = torch.log(torch.tensor([[0.5, 0.5]]))
    loss, metrics = ditpo_loss(logps, logps, torch.zeros(1, 2), torch.ones(1, 2),
                               ref_logps=torch.zeros(1, 2), kl_beta=0.1)
    assert float(loss) == pytest.approx(0.0306853, abs=1e-6)
    assert float(metrics["kl"]) == pytest.approx(0.306853, abs=1e-6)
    with pytest.raises(ValueError, match="ref_logps"):
        ditpo_loss(logps, logps, torch.zeros(1, 2), torch.ones(1, 2), kl_beta=0.1)


def test_ditpo_loss_empty_completion_and_shape_errors():
    """A completion with no valid token contributes 0 but still counts in the group mean (G = 2):
    loss = -(2 + 0) / 2 = -1."""
    logps = torch.zeros(2, 2)
    loss, _ = ditpo_loss(logps, logps, torch.tensor([[2.0, 2.0], [5.0, 5.0]]), torch.tensor([[1, 1], [0, 0]]))
    assert float(loss) == pytest.approx(-1.0)
    with pytest.raises(ValueError, match="mask"):
        ditpo_loss(logps, logps, logps, torch.ones(2, 3))
