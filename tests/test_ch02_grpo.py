"""The GRPO loop on a tiny model: it runs, logs what it promises, and skips what it should."""

import torch

from ch01_what_is_reasoning.arithmetic import random_problem
from ch01_what_is_reasoning.model import GPT, GPTConfig
from ch01_what_is_reasoning.tokenizer import CharTokenizer
from ch02_r1_pipeline.grpo import GRPOConfig, GRPOTrainer, completion_logprobs, score

TOK = CharTokenizer()


def _model(seed=0):
    torch.manual_seed(seed)
    return GPT(GPTConfig(TOK.vocab_size, 128, n_layer=1, n_head=2, n_embd=32)).eval()


def _prompts(rng, n):
    problems = [random_problem(rng, 2) for _ in range(n)]
    return [(p.prompt(), p.answer) for p in problems]


def _params(model):
    return torch.cat([p.detach().flatten().clone() for p in model.parameters()])


def test_completion_logprobs_match_token_logprobs():
    model = _model()
    prompt, completion = TOK.encode("3+4?", bos=True), TOK.encode("<think>3+4 = 7")
    ours, mask, _ = completion_logprobs(model, [prompt], [completion], TOK.pad_id)
    full = model.token_logprobs(torch.tensor([prompt + completion]))
    torch.testing.assert_close(ours[0], full[0, len(prompt) - 1:])
    assert mask.sum() == len(completion)


def test_a_step_logs_every_promised_statistic():
    trainer = GRPOTrainer(_model(), TOK, _prompts,
                          GRPOConfig(prompts_per_step=2, group_size=4, max_new_tokens=12))
    stats = trainer.train_step()
    for key in ("reward", "accuracy", "format_rate", "mean_response_tokens", "consistency", "kl",
                "clip_fraction", "entropy", "mixing_rate", "seconds"):
        assert key in stats
    assert trainer.history == [stats]


def test_groups_with_equal_rewards_change_nothing():
    model = _model()
    before = _params(model)
    # Zero weights: every reward is 0, every group is skipped.
    trainer = GRPOTrainer(model, TOK, _prompts, GRPOConfig(
        prompts_per_step=2, group_size=4, max_new_tokens=12,
        reward_weights={"accuracy": 0.0, "format": 0.0}))
    stats = trainer.train_step()
    assert stats["kept_fraction"] == 0.0
    assert torch.equal(before, _params(model))


def test_truncated_completions_are_masked():
    # 3 new tokens: an untrained model never finishes, so nothing is kept.
    trainer = GRPOTrainer(_model(), TOK, _prompts, GRPOConfig(
        prompts_per_step=2, group_size=4, max_new_tokens=3,
        reward_weights={"format": 1.0}))
    trainer.rollouts = _fake_rollouts(finished=False)
    stats = trainer.train_step()
    assert stats["kept_fraction"] == 0.0


def _fake_rollouts(finished):
    def rollouts(prompts):
        good = "<think>1</think><answer>1</answer>"
        texts = [good if i % 2 else "junk" for i in range(len(prompts) * 4)]
        prompt_ids = [TOK.encode(p, bos=True) for p in prompts for _ in range(4)]
        completion_ids = [TOK.encode(t) for t in texts]
        return prompt_ids, completion_ids, texts, [finished] * len(texts)
    return rollouts


def test_finished_rollouts_with_different_rewards_update_the_model():
    model = _model()
    before = _params(model)
    trainer = GRPOTrainer(model, TOK, _prompts, GRPOConfig(
        prompts_per_step=2, group_size=4, reward_weights={"format": 1.0}, lr=1e-2))
    trainer.rollouts = _fake_rollouts(finished=True)
    stats = trainer.train_step()
    assert stats["kept_fraction"] == 1.0
    assert not torch.equal(before, _params(model))


def test_score_weights_the_rewards():
    total, parts = score(["<think>x</think><answer>7</answer>", "7"], ["3+4?"] * 2, [7, 7],
                         {"accuracy": 1.0, "format": 0.1})
    assert total == [1.1, 0.0]
    assert parts["format"] == [1.0, 0.0]


def test_seeded_runs_repeat_exactly():
    runs = []
    for _ in range(2):
        trainer = GRPOTrainer(_model(), TOK, _prompts,
                              GRPOConfig(prompts_per_step=2, group_size=4, max_new_tokens=10))
        trainer.train(2, progress=False)
        runs.append([{k: v for k, v in h.items() if not k.endswith("seconds")} for h in trainer.history])
    assert runs[0] == runs[1]


def _length_reward(completions, **kw):
    return [len(c) / 10 for c in completions]


def test_a_run_resumed_from_its_checkpoint_continues_identically(tmp_path):
    # A reward that always differs within a group, so every step really updates the model;
    # a student's own reward plugs in by name, no monkeypatching.
    rewards = {"length": _length_reward}
    cfg = GRPOConfig(prompts_per_step=2, group_size=4, max_new_tokens=10, lr=1e-2, mu=2,
                     mask_truncated=False, reward_weights={"length": 1.0})
    straight = GRPOTrainer(_model(), TOK, _prompts, cfg, rewards=rewards)
    straight.train(4, progress=False)
    assert not torch.equal(_params(straight.model), _params(_model()))
    assert all(h["kept_fraction"] > 0 for h in straight.history)

    first = GRPOTrainer(_model(), TOK, _prompts, cfg, rewards=rewards)
    first.train(2, progress=False)
    first.save(tmp_path / "grpo.pt")
    resumed = GRPOTrainer(_model(seed=5), TOK, _prompts, cfg, rewards=rewards)  # different init, overwritten
    resumed.resume(tmp_path / "grpo.pt")
    resumed.train(2, progress=False)

    def strip(history):
        return [{k: v for k, v in h.items() if not k.endswith("seconds")} for h in history]

    assert strip(resumed.history) == strip(straight.history)
    assert torch.equal(_params(resumed.model), _params(straight.model))
    assert not (tmp_path / "grpo.pt.tmp").exists()


def test_log_probs_entropy_and_kl_are_those_of_the_sampling_temperature():
    """At T != 1 the rollouts come from softmax(logits / T): the ratio, the KL and the entropy
    must be scored under that distribution, checked here against an independent computation."""
    model, T = _model(), 0.7
    prompt, completion = TOK.encode("3+4?", bos=True), TOK.encode("<think>3+4 = 7")
    ours, mask, entropy = completion_logprobs(model, [prompt], [completion], TOK.pad_id,
                                              with_entropy=True, temperature=T)
    with torch.no_grad():
        logits = model(torch.tensor([prompt + completion]))[0, len(prompt) - 1:-1].double() / T
    probs = torch.softmax(logits, -1)
    expected = torch.log(probs[torch.arange(len(completion)), torch.tensor(completion)])
    torch.testing.assert_close(ours[0].double(), expected, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(entropy[0].double(), -(probs * probs.log()).sum(-1), rtol=1e-5, atol=1e-5)
    plain, _, _ = completion_logprobs(model, [prompt], [completion], TOK.pad_id)
    assert not torch.allclose(plain, ours)          # T = 1 would be another distribution


def test_the_trainer_scores_at_its_own_temperature(monkeypatch):
    from ch02_r1_pipeline import grpo as grpo_module

    seen = []
    real = grpo_module.completion_logprobs

    def spy(*args, **kwargs):
        seen.append(kwargs.get("temperature"))
        return real(*args, **kwargs)

    monkeypatch.setattr(grpo_module, "completion_logprobs", spy)
    trainer = GRPOTrainer(_model(), TOK, _prompts, GRPOConfig(
        prompts_per_step=2, group_size=4, reward_weights={"format": 1.0}, temperature=0.6,
        mu=2, beta=0.04))
    trainer.rollouts = _fake_rollouts(finished=True)
    trainer.train_step()
    assert seen and set(seen) == {0.6}   # old log-probs, reference and every update pass


def test_a_students_reward_plugs_in_by_name():
    def shorter_is_better(completions, **kw):
        return [-len(c) / 100 for c in completions]

    trainer = GRPOTrainer(_model(), TOK, _prompts, GRPOConfig(
        prompts_per_step=2, group_size=4, max_new_tokens=8, mask_truncated=False,
        reward_weights={"shorter": 1.0}), rewards={"shorter": shorter_is_better})
    stats = trainer.train_step()
    assert stats["kept_fraction"] > 0 and "accuracy" in stats   # the rule rewards are still logged
    try:
        GRPOTrainer(_model(), TOK, _prompts, GRPOConfig(reward_weights={"shorter": 1.0}))
    except ValueError as err:
        assert "no reward function named ['shorter']" in str(err) and "rewards=" in str(err)
    else:
        raise AssertionError("an unknown reward name was accepted")


def test_a_reward_must_return_one_value_per_completion():
    def broken(completions, **kw):
        return [1.0]

    try:
        score(["a", "b"], ["3+4?"] * 2, [7, 7], {"broken": 1.0},
              {"broken": broken, "accuracy": broken, "format": broken, "consistency": broken})
    except ValueError as err:
        assert "returned 1 values for 2 completions" in str(err)
    else:
        raise AssertionError("a reward with too few values was accepted")
