"""GRPO math, not just shapes."""

import pytest
import torch

from ch02_r1_pipeline.grpo_loss import group_advantages, grpo_loss, k3_kl


def _logp(n=4, t=5, seed=0):
    g = torch.Generator().manual_seed(seed)
    return (-torch.rand(n, t, generator=g) * 3).requires_grad_(True)


def test_equal_rewards_give_zero_advantage_and_zero_gradient():
    rewards = torch.full((2, 4), 0.7)
    adv = group_advantages(rewards).reshape(-1)
    assert torch.all(adv == 0)
    logp = _logp(8)
    loss, _ = grpo_loss(logp, logp.detach(), adv, torch.ones(8, 5))
    loss.backward()
    assert torch.all(logp.grad == 0)


def test_advantages_are_relative_to_each_group():
    rewards = torch.tensor([[1.0, 0.0, 0.0, 0.0], [5.0, 5.0, 6.0, 4.0]])
    adv = group_advantages(rewards, scale_by_std=False)
    torch.testing.assert_close(adv.sum(1), torch.zeros(2))
    torch.testing.assert_close(adv[0], torch.tensor([0.75, -0.25, -0.25, -0.25]))
    scaled = group_advantages(rewards)
    torch.testing.assert_close(scaled[1], adv[1] / (rewards[1].std() + 1e-4))


def test_k3_is_nonnegative_and_zero_when_policy_equals_reference():
    g = torch.Generator().manual_seed(1)
    a, b = torch.randn(1000, generator=g), torch.randn(1000, generator=g)
    assert torch.all(k3_kl(a, b) >= 0)
    assert torch.all(k3_kl(a, a) == 0)


def test_mu_one_beta_zero_gradient_equals_reinforce_with_group_mean_baseline():
    rewards = torch.tensor([[1.0, 0.0, 1.0, 0.0, 0.0, 1.0]])
    adv = group_advantages(rewards, scale_by_std=False).reshape(-1)
    mask = torch.ones(6, 5)
    mask[2, 3:] = 0
    logp = _logp(6)
    loss, _ = grpo_loss(logp, logp.detach(), adv, mask, loss_type="dapo")
    loss.backward()
    ours = logp.grad.clone()
    logp.grad = None
    reinforce = -((rewards.reshape(-1) - rewards.mean())[:, None] * logp * mask).sum() / mask.sum()
    reinforce.backward()
    torch.testing.assert_close(ours, logp.grad)


def test_dr_grpo_and_dapo_agree_when_every_completion_has_max_length():
    logp, old = _logp(), _logp(seed=2).detach()
    adv = torch.tensor([1.0, -0.5, 0.3, -0.8])
    mask = torch.ones(4, 5)
    a, _ = grpo_loss(logp, old, adv, mask, loss_type="dapo")
    b, _ = grpo_loss(logp, old, adv, mask, loss_type="dr_grpo", max_completion_length=5)
    torch.testing.assert_close(a, b)
    mask[0, 2:] = 0  # once lengths differ, they do not
    a, _ = grpo_loss(logp, old, adv, mask, loss_type="dapo")
    b, _ = grpo_loss(logp, old, adv, mask, loss_type="dr_grpo", max_completion_length=5)
    assert not torch.isclose(a, b)


@pytest.mark.parametrize("advantage, log_ratio, has_gradient", [
    (1.0, 0.5, False),    # A > 0, ratio above 1 + eps: clipped, no gradient
    (1.0, -0.5, True),    # A > 0, ratio below 1 - eps: the unclipped term is the min
    (-1.0, -0.5, False),  # A < 0, ratio below 1 - eps: clipped, no gradient
    (-1.0, 0.5, True),    # A < 0, ratio above 1 + eps: still pushed down
    (1.0, 0.05, True),    # inside the trust region
])
def test_clipping_stops_the_gradient_exactly_where_it_should(advantage, log_ratio, has_gradient):
    old = torch.tensor([[-1.0]])
    logp = (old + log_ratio).clone().requires_grad_(True)
    loss, stats = grpo_loss(logp, old, torch.tensor([advantage]), torch.ones(1, 1),
                            eps_low=0.2, eps_high=0.2)
    loss.backward()
    assert (logp.grad.abs().item() > 0) == has_gradient
    assert stats["clip_fraction"] == (0.0 if has_gradient else 1.0)


def test_clip_higher_widens_only_the_upper_bound():
    old = torch.tensor([[-1.0]])
    logp = (old + 0.25).clone().requires_grad_(True)  # ratio 1.28...
    loss, _ = grpo_loss(logp, old, torch.tensor([1.0]), torch.ones(1, 1), eps_low=0.2, eps_high=0.3)
    loss.backward()
    assert logp.grad.abs().item() > 0


def test_kl_term_needs_a_reference_and_is_reported():
    logp = _logp()
    with pytest.raises(ValueError, match="ref_logp"):
        grpo_loss(logp, logp.detach(), torch.zeros(4), torch.ones(4, 5), beta=0.1)
    _, stats = grpo_loss(logp, logp.detach(), torch.zeros(4), torch.ones(4, 5), beta=0.1,
                         ref_logp=logp.detach() - 0.5)
    assert stats["kl"] > 0


def test_unknown_loss_type_is_refused():
    logp = _logp()
    with pytest.raises(ValueError, match="loss_type"):
        grpo_loss(logp, logp.detach(), torch.zeros(4), torch.ones(4, 5), loss_type="ppo")
