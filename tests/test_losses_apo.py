"""Tests of the APO loss (SPEC §3 eq. 8-11) against values computed by hand."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from driftalign.losses import apo_loss


def _case():
    """B = 2, N = 3, beta = 0.5.

    Row 0: policy chosen -10, ref chosen -12          -> r+ = 0.5 * 2 = 1.0
           policy rejected [-8, -15, -9], ref [-8, -13, -11] -> r = [0, -1, 1]
           weights [1, 2, 0.5], all valid.
           L = -log( e^1 / (e^1 + 1 e^0 + 2 e^-1 + 0.5 e^1) )
             = log(1 + 1 e^-1 + 2 e^-2 + 0.5 e^0) = log(1.5 + 0.367879 + 0.270671)
             = log(2.138550) = 0.760128
           accuracy 0 (r+ = 1 is not above r_3 = 1); weighted mean of r = (0 - 2 + 0.5) / 3.5 = -0.428571
           -> weighted margin 1.428571
    Row 1: policy chosen -5, ref chosen -6             -> r+ = 0.5
           policy rejected [-7, 0, -1], ref [-6, 0, -2] -> r = [-0.5, 0, 0.5]
           mask [T, F, T], weights [1, 1, 0]: only negative 0 takes part.
           L = log(1 + e^(-0.5 - 0.5)) = log(1 + e^-1) = softplus(-1) = 0.313262
           accuracy 1; weighted margin 0.5 - (-0.5) = 1.0
    """
    pc = torch.tensor([-10.0, -5.0])
    pr = torch.tensor([[-8.0, -15.0, -9.0], [-7.0, 0.0, -1.0]])
    rc = torch.tensor([-12.0, -6.0])
    rr = torch.tensor([[-8.0, -13.0, -11.0], [-6.0, 0.0, -2.0]])
    w = torch.tensor([[1.0, 2.0, 0.5], [1.0, 1.0, 0.0]])
    m = torch.tensor([[True, True, True], [True, False, True]])
    return pc, pr, rc, rr, w, m


def test_hand_computed_values_with_weights_and_mask():
    pc, pr, rc, rr, w, m = _case()
    losses, metrics = apo_loss(pc, pr, rc, rr, beta=0.5, weights=w, mask=m)
    expected = torch.tensor([math.log(1.5 + math.exp(-1) + 2 * math.exp(-2)), math.log(1 + math.exp(-1))])
    assert torch.allclose(losses, expected, atol=1e-6)
    assert losses[0].item() == pytest.approx(0.760128, abs=1e-6)
    assert losses[1].item() == pytest.approx(0.313262, abs=1e-6)
    assert torch.allclose(metrics["chosen_rewards"], torch.tensor([1.0, 0.5]))
    assert torch.allclose(metrics["rejected_rewards"], torch.tensor([[0.0, -1.0, 1.0], [-0.5, 0.0, 0.0]]))
    assert metrics["valid"].tolist() == [[True, True, True], [True, False, False]]
    assert torch.allclose(metrics["margins"], torch.tensor([[1.0, 2.0, 0.0], [1.0, 0.0, 0.0]]))
    assert torch.allclose(metrics["weighted_margin"], torch.tensor([1.0 + 1.5 / 3.5, 1.0]), atol=1e-6)
    assert metrics["accuracy"].tolist() == [0.0, 1.0]
    assert metrics["num_negatives"].tolist() == [3, 1]


def test_default_weights_are_one():
    pc, pr, rc, rr, _, _ = _case()
    losses, _ = apo_loss(pc, pr, rc, rr, beta=0.5)
    # Row 0 with w = 1: log(1 + e^-1 + e^-2 + e^0)
    assert losses[0].item() == pytest.approx(math.log(2 + math.exp(-1) + math.exp(-2)), abs=1e-6)


def test_single_negative_equals_dpo_and_trl_sigmoid_formula():
    torch.manual_seed(0)
    pc, rc = torch.randn(5) * 3, torch.randn(5) * 3
    pr, rr = torch.randn(5, 1) * 3, torch.randn(5, 1) * 3
    beta = 0.1
    losses, _ = apo_loss(pc, pr, rc, rr, beta=beta)
    # DPO (Rafailov et al. eq. 7): -log sigmoid(beta * ((pc - rc) - (pr - rr)))
    dpo = -F.logsigmoid(beta * ((pc - rc) - (pr[:, 0] - rr[:, 0])))
    # TRL 1.16 DPOTrainer, loss_type="sigmoid": delta_score = chosen_logratios - rejected_logratios,
    # per_sequence_loss = -F.logsigmoid(self.beta * delta_score)
    chosen_logratios, rejected_logratios = pc - rc, pr[:, 0] - rr[:, 0]
    trl = -F.logsigmoid(beta * (chosen_logratios - rejected_logratios))
    assert torch.allclose(losses, dpo, atol=1e-6)
    assert torch.allclose(losses, trl, atol=1e-6)


def test_gradients_flow_only_through_policy_terms():
    pc, pr, rc, rr, w, m = _case()
    pc, pr = pc.clone().requires_grad_(), pr.clone().requires_grad_()
    rc, rr = rc.clone().requires_grad_(), rr.clone().requires_grad_()
    losses, metrics = apo_loss(pc, pr, rc.detach(), rr.detach(), beta=0.5, weights=w, mask=m)
    losses.sum().backward()
    assert rc.grad is None and rr.grad is None
    assert not metrics["chosen_rewards"].requires_grad
    # dL/d pc = beta * (softmax_0 - 1); row 1: softmax_0 = 1 / (1 + e^-1)
    p0 = 1 / (1 + math.exp(-1))
    assert pc.grad[1].item() == pytest.approx(0.5 * (p0 - 1), abs=1e-6)
    # masked / zero-weight negatives get exactly zero gradient, never NaN
    assert pr.grad[1, 1].item() == 0.0 and pr.grad[1, 2].item() == 0.0
    assert torch.isfinite(pr.grad).all()
    assert pr.grad[1, 0].item() == pytest.approx(0.5 * (1 - p0), abs=1e-6)


def test_invariant_to_order_of_negatives():
    pc, pr, rc, rr, w, m = _case()
    perm = torch.tensor([2, 0, 1])
    a, _ = apo_loss(pc, pr, rc, rr, beta=0.5, weights=w, mask=m)
    b, _ = apo_loss(pc, pr[:, perm], rc, rr[:, perm], beta=0.5, weights=w[:, perm], mask=m[:, perm])
    assert torch.allclose(a, b, atol=1e-7)


def test_all_masked_row_has_zero_loss_and_zero_finite_gradient():
    pc = torch.tensor([-3.0], requires_grad=True)
    pr = torch.tensor([[float("nan"), -2.0]], requires_grad=True)  # padding garbage must not leak
    rc, rr = torch.tensor([-4.0]), torch.tensor([[0.0, -1.0]])
    losses, metrics = apo_loss(pc, pr, rc, rr, beta=1.0, mask=torch.tensor([[False, False]]))
    assert losses.item() == 0.0
    losses.sum().backward()
    assert pc.grad.item() == 0.0
    assert torch.equal(pr.grad, torch.zeros_like(pr))
    assert metrics["accuracy"].item() == 1.0 and metrics["weighted_margin"].item() == 0.0
    assert metrics["num_negatives"].item() == 0


def test_large_magnitudes_are_stable():
    pc = torch.tensor([-5000.0, 0.0], requires_grad=True)
    pr = torch.tensor([[-9000.0, 4000.0], [-1e4, -1e4]], requires_grad=True)
    rc = torch.tensor([-9000.0, 0.0])
    rr = torch.tensor([[-5000.0, -4000.0], [0.0, 0.0]])
    losses, _ = apo_loss(pc, pr, rc, rr, beta=1.0)
    # row 0: r+ = 4000, r = [-4000, 8000]: L = log(e^4000 + e^-4000 + e^8000) - 4000 ~= 4000
    # row 1: r+ = 0, r = [-1e4, -1e4]: L = log(1 + 2 e^-1e4) ~= 0
    assert torch.allclose(losses, torch.tensor([4000.0, 0.0]))
    losses.sum().backward()
    assert torch.isfinite(pc.grad).all() and torch.isfinite(pr.grad).all()


def test_bad_input_is_rejected_with_clear_message():
    pc, pr, rc, rr, w, m = _case()
    with pytest.raises(ValueError, match="beta"):
        apo_loss(pc, pr, rc, rr, beta=0.0)
    with pytest.raises(ValueError, match="weights must have shape"):
        apo_loss(pc, pr, rc, rr, beta=0.5, weights=w[:, :2])
    with pytest.raises(ValueError, match=">= 0"):
        apo_loss(pc, pr, rc, rr, beta=0.5, weights=-w)
    with pytest.raises(ValueError, match="same shapes"):
        apo_loss(pc, pr, rc, rr[:, :2], beta=0.5)


def test_chosen_nll_is_length_normalised():
    """log pi(t+) = -12 over 4 tokens -> 3.0; -5 over 0 tokens (empty answer) is divided by 1 -> 5.0."""
    from driftalign.losses import chosen_nll

    logps = torch.tensor([-12.0, -5.0], requires_grad=True)
    nll = chosen_nll(logps, torch.tensor([4, 0]))
    assert nll.tolist() == [3.0, 5.0]
    nll.sum().backward()
    assert logps.grad.tolist() == [-0.25, -1.0]
    with pytest.raises(ValueError, match="same shape"):
        chosen_nll(logps, torch.tensor([4]))


# ---- the opt-in DPOP anchor (`--anchor dpop`; Pal et al. 2024, losses.apo.dpop_penalty) ----------------------


def _dpop_case():
    """B = 2, N = 2, beta = 0.5, lambda = 2.

    Row 0 (t+ fell below the reference): policy chosen -12, ref -10 -> penalty max(0, -10 + 12) = 2,
           r+ = 0.5 * (-2) = -1 (eq. 8), r+_DPOP = -1 - 0.5 * 2 * 2 = -3.
           policy rejected [-9, -14], ref [-8, -12] -> r = [-0.5, -1].
           L = logsumexp([-3, -0.5, -1]) + 3 = log(1 + e^2.5 + e^2) = log(20.571550) = 3.023909
           (the paper's eq. 11 alone: log(1 + e^0.5 + e^0) = 1.294377).
    Row 1 (t+ above the reference: the hinge is 0): policy chosen -9, ref -10 -> penalty 0, r+ = 0.5;
           same negatives -> L = log(1 + e^-1 + e^-1.5) = 0.464369, as without the anchor.
    """
    pc = torch.tensor([-12.0, -9.0])
    rc = torch.tensor([-10.0, -10.0])
    pr = torch.tensor([[-9.0, -14.0], [-9.0, -14.0]])
    rr = torch.tensor([[-8.0, -12.0], [-8.0, -12.0]])
    return pc, pr, rc, rr


def test_dpop_penalty_is_a_hinge_on_the_chosen_log_prob():
    from driftalign.losses import dpop_penalty

    pc = torch.tensor([-12.0, -9.0, -10.0], requires_grad=True)
    rc = torch.tensor([-10.0, -10.0, -10.0])
    pen = dpop_penalty(pc, rc)
    assert pen.tolist() == [2.0, 0.0, 0.0]                      # below the reference; above; equal
    pen.sum().backward()
    assert pc.grad.tolist() == [-1.0, 0.0, 0.0]                 # no gradient at or above the reference
    with pytest.raises(ValueError, match="same shape"):
        dpop_penalty(pc, rc[:2])


def test_dpop_anchor_hand_computed_values():
    pc, pr, rc, rr = _dpop_case()
    losses, metrics = apo_loss(pc, pr, rc, rr, beta=0.5, dpop_lambda=2.0)
    assert losses[0].item() == pytest.approx(math.log(1 + math.exp(2.5) + math.exp(2.0)), abs=1e-6)
    assert losses[0].item() == pytest.approx(3.023909, abs=1e-6)
    assert losses[1].item() == pytest.approx(0.464369, abs=1e-6)   # the hinge/zero case: the paper's loss
    plain, plain_metrics = apo_loss(pc, pr, rc, rr, beta=0.5)
    assert plain[0].item() == pytest.approx(1.294377, abs=1e-6)
    assert plain[1].item() == losses[1].item()
    # rewards/margins/accuracy stay eq. 8's (without the penalty); the penalty is its own metric
    assert torch.equal(metrics["chosen_rewards"], plain_metrics["chosen_rewards"])
    assert metrics["chosen_rewards"].tolist() == [-1.0, 0.5]
    assert metrics["accuracy"].tolist() == [0.0, 1.0]
    assert metrics["dpop_penalty"].tolist() == [2.0, 0.0]
    assert "dpop_penalty" not in plain_metrics
    with pytest.raises(ValueError, match="dpop_lambda"):
        apo_loss(pc, pr, rc, rr, beta=0.5, dpop_lambda=-1.0)


def test_dpop_anchor_pushes_a_fallen_chosen_log_prob_up_and_leaves_the_rest_alone():
    """Row 0: dL/d log pi(t+) = beta * (1 + lambda) * (p0 - 1), p0 = softmax_0([-3, -0.5, -1]) = 1 / 20.571550:
    1.5 * (0.048611 - 1) = -1.427084 — descent raises log pi(t+), (1 + lambda) times harder per unit of
    preference gradient than eq. 11 alone (beta * (p0' - 1) = 0.5 * (1/3.648721 - 1) = -0.362965).
    Row 1 (hinge 0) and rows exactly at the reference get the paper's gradient, bit for bit."""
    pc, pr, rc, rr = _dpop_case()
    pc = torch.cat([pc, torch.tensor([-10.0])]).requires_grad_()          # row 2: policy == reference
    pr, rc, rr = torch.cat([pr, pr[:1]]), torch.cat([rc, rc[:1]]), torch.cat([rr, rr[:1]])
    grads = []
    for lam in (2.0, 0.0):
        pc.grad = None
        apo_loss(pc, pr, rc, rr, beta=0.5, dpop_lambda=lam)[0].sum().backward()
        grads.append(pc.grad.clone())
    anchored, plain = grads
    assert anchored[0].item() == pytest.approx(1.5 * (1 / (1 + math.exp(2.5) + math.exp(2.0)) - 1), abs=1e-6)
    assert anchored[0].item() == pytest.approx(-1.427084, abs=1e-6)
    assert plain[0].item() == pytest.approx(0.5 * (1 / (1 + math.exp(0.5) + 1) - 1), abs=1e-6)
    assert anchored[0] < plain[0] < 0                                      # both push t+ up; the anchor harder
    assert anchored[1].item() == plain[1].item() and anchored[2].item() == plain[2].item()
    # one SGD step on the anchored loss moves the fallen t+ back towards its reference log-prob
    stepped = pc.detach() - 0.1 * anchored
    assert stepped[0] > pc[0]


def test_dpop_with_one_negative_is_smaugs_dpop_loss():
    """N = 1, w = 1: -log sigmoid(beta * ((pc - rc) - (pr - rr) - lambda * max(0, rc - pc))) (Pal et al. 2024)."""
    torch.manual_seed(0)
    pc, rc = torch.randn(6) * 3, torch.randn(6) * 3
    pr, rr = torch.randn(6, 1) * 3, torch.randn(6, 1) * 3
    beta, lam = 0.1, 50.0
    losses, _ = apo_loss(pc, pr, rc, rr, beta=beta, dpop_lambda=lam)
    dpop = -F.logsigmoid(beta * ((pc - rc) - (pr[:, 0] - rr[:, 0]) - lam * torch.clamp(rc - pc, min=0)))
    assert (rc > pc).any() and (rc < pc).any()                            # both sides of the hinge are covered
    assert torch.allclose(losses, dpop, atol=1e-5)


def test_zero_lambda_is_the_papers_loss_exactly():
    pc, pr, rc, rr, w, m = _case()
    a, ma = apo_loss(pc, pr, rc, rr, beta=0.5, weights=w, mask=m)
    b, mb = apo_loss(pc, pr, rc, rr, beta=0.5, weights=w, mask=m, dpop_lambda=0.0)
    assert torch.equal(a, b) and ma.keys() == mb.keys()
