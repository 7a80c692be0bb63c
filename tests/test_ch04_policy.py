"""One GRPO loop, two backends: the course GPT and a (tiny, offline) Hugging Face Qwen2."""

import random

import pytest
import torch
from helpers import make_model

from ch01_what_is_reasoning.arithmetic import fact_completion, random_problem, step_by_step_completion
from ch01_what_is_reasoning.sampling import generate
from ch01_what_is_reasoning.tokenizer import CharTokenizer
from ch02_r1_pipeline.grpo import GRPOConfig, GRPOTrainer
from ch02_r1_pipeline.tasks import rl_prompts
from ch04_budget import policy
from ch04_budget.policy import (
    HFPolicy,
    HFTokenizer,
    Policy,
    PolicyGRPOTrainer,
    ToyPolicy,
    char_level_hf_tokenizer,
    load_real_model,
    real_model_prompt,
    tiny_hf_model,
)

TOK = CharTokenizer()
LOGGED = ("step", "reward", "accuracy", "format_rate", "consistency", "mixing_rate",
          "mean_response_tokens", "kept_fraction", "kl", "clip_fraction", "entropy", "seconds")


@pytest.fixture(scope="module")
def hf_tok():
    return HFTokenizer(char_level_hf_tokenizer())


def _hf_policy(seed=0):
    return HFPolicy(tiny_hf_model(TOK.vocab_size, seed=seed))


def _params(model):
    return torch.cat([p.detach().flatten().clone() for p in model.parameters()])


def _strip(history):
    return [{k: v for k, v in h.items() if not k.endswith("seconds")} for h in history]


def _digits(completions, **kw):
    return [sum(c.isdigit() for c in t) / 10 for t in completions]


# A reward on which random completions differ, so groups are kept and the model updates
# (accuracy and format are 0 for every completion of an untrained model). It is passed to the
# trainers as an argument: a student's own reward needs no monkeypatching.
DIGITS = {"digits": _digits}


@pytest.fixture
def digit_reward():
    return {"digits": 1.0}


# ---------------------------------------------------------------- the toy backend
def test_toy_policy_returns_the_gpts_logits():
    gpt = make_model(TOK.vocab_size)
    ids = torch.tensor([TOK.encode("(3+4)*2?", bos=True)])
    torch.testing.assert_close(ToyPolicy(gpt)(ids), gpt(ids), rtol=0, atol=0)


def test_toy_policy_samples_what_chapter_1_generates():
    gpt = make_model(TOK.vocab_size, scale=10.0)
    prompts = [TOK.encode(p, bos=True) for p in ("3+4?", "(3+4)*2?", "۳+۴?")]
    kw = dict(max_new_tokens=10, temperature=1.0, eos_id=TOK.eos_id, pad_id=TOK.pad_id)
    tokens, finished = ToyPolicy(gpt).sample(prompts, generator=torch.Generator().manual_seed(3), **kw)
    expected = generate(gpt, prompts, generator=torch.Generator().manual_seed(3), **kw)
    assert (tokens, finished) == (expected.tokens, expected.finished)


def test_both_backends_are_policies_and_raw_models_are_refused(hf_tok):
    gpt = make_model(TOK.vocab_size)
    assert isinstance(ToyPolicy(gpt), Policy) and isinstance(_hf_policy(), Policy)
    with pytest.raises(TypeError, match=r"ToyPolicy\(gpt\)"):
        PolicyGRPOTrainer(gpt, TOK, rl_prompts, GRPOConfig())


# ---------------------------------------------------------------- the HF tokenizer
def test_char_level_hf_tokenizer_has_the_course_ids(hf_tok):
    rng = random.Random(0)
    texts = ["<think></think><answer>7</answer>", "kab?", fact_completion("kab", 12, "persian", True)]
    for script in ("latin", "persian"):
        problem = random_problem(rng, 4, script)
        texts += [problem.prompt(), step_by_step_completion(problem, rng, correction=True, mixed=True)]
    for text in texts:
        ids = hf_tok.encode(text, bos=True)
        assert ids == TOK.encode(text, bos=True), text
        assert hf_tok.decode(ids + [TOK.eos_id, TOK.pad_id]) == text == TOK.decode(ids)
    assert (hf_tok.eos_id, hf_tok.pad_id, hf_tok.vocab_size) == (TOK.eos_id, TOK.pad_id, TOK.vocab_size)
    with pytest.raises(ValueError, match="cannot encode"):
        hf_tok.encode("3+4!")


def test_hf_tokenizer_pads_with_eos_and_skips_a_missing_bos():
    raw = char_level_hf_tokenizer()
    raw.pad_token, raw.bos_token = None, None  # like many real causal-LM tokenizers
    tok = HFTokenizer(raw)
    assert tok.pad_id == tok.eos_id == TOK.eos_id
    assert tok.encode("3+4?", bos=True) == TOK.encode("3+4?")


# ---------------------------------------------------------------- the HF backend
def test_hf_forward_ignores_right_padding():
    model = _hf_policy()
    ids = TOK.encode("(3+4)*2?", bos=True)
    padded = torch.tensor([ids + [TOK.pad_id] * 5])
    torch.testing.assert_close(model(padded)[:, : len(ids)], model(torch.tensor([ids])))


def test_hf_sample_returns_only_new_tokens_and_honest_finished_flags(hf_tok):
    model = _hf_policy()
    prompts = [hf_tok.encode(p, bos=True) for p in ("3+4?", "(3+4)*2?", "۳+۴?", "9*2-1?")] * 4
    tokens, finished = model.sample(prompts, max_new_tokens=30, temperature=1.0, eos_id=TOK.eos_id,
                                    pad_id=TOK.pad_id, generator=torch.Generator().manual_seed(0))
    assert len(tokens) == len(finished) == len(prompts)
    for row, done in zip(tokens, finished):
        assert TOK.eos_id not in row  # (a random model may sample <pad>: it is kept, as in ch01)
        assert done or len(row) == 30  # a row that did not finish used its whole budget
    assert any(finished) and not all(finished)
    # Greedy: the first new tokens are the step-by-step argmax continuation of the prompt alone
    # (no prompt tokens echoed, nothing shifted), even for a left-padded row of a batch.
    greedy, _ = model.sample(prompts[:4], max_new_tokens=5, temperature=0, eos_id=-1, pad_id=TOK.pad_id)
    for prompt, row in zip(prompts[:4], greedy):
        ids = list(prompt)
        for _ in range(5):
            ids.append(int(model(torch.tensor([ids]))[0, -1].argmax()))
        assert row == ids[len(prompt):]


def test_hf_sampling_is_seeded_and_greedy_is_deterministic(hf_tok):
    model = _hf_policy()
    prompts = [hf_tok.encode("(3+4)*2?", bos=True)] * 4
    kw = dict(max_new_tokens=12, eos_id=TOK.eos_id, pad_id=TOK.pad_id)

    def draw(seed):
        return model.sample(prompts, temperature=1.0, generator=torch.Generator().manual_seed(seed), **kw)

    state = torch.get_rng_state()
    assert draw(1) == draw(1) != draw(2)
    assert torch.equal(state, torch.get_rng_state())  # the global RNG is left alone
    greedy = model.sample(prompts, temperature=0, **kw)
    assert greedy == model.sample(prompts, temperature=0, **kw)
    assert all(row == greedy[0][0] for row in greedy[0])


def test_autocast_computes_in_bfloat16_and_keeps_float32_weights(hf_tok, digit_reward):
    model = HFPolicy(tiny_hf_model(TOK.vocab_size), autocast_dtype=torch.bfloat16)
    ids = torch.tensor([hf_tok.encode("(3+4)*2?", bos=True)])
    assert model(ids).dtype == torch.bfloat16
    torch.testing.assert_close(model(ids).float(), model.model(ids).logits, atol=0.1, rtol=0)
    cfg = GRPOConfig(group_size=2, prompts_per_step=2, max_new_tokens=8, lr=1e-2,
                     mask_truncated=False, reward_weights=digit_reward)
    PolicyGRPOTrainer(model, hf_tok, rl_prompts, cfg, DIGITS).train(2, progress=False)
    assert {p.dtype for p in model.parameters()} == {torch.float32}


# ---------------------------------------------------------------- one GRPO loop, two backends
def test_grpo_trains_a_hugging_face_model_and_resumes(hf_tok, digit_reward, tmp_path):
    cfg = GRPOConfig(group_size=2, prompts_per_step=2, max_new_tokens=12, lr=1e-2,
                     mask_truncated=False,  # a random model rarely stops within 12 tokens
                     reward_weights={"accuracy": 1.0, "format": 0.1, **digit_reward})
    start = _params(_hf_policy())
    straight = PolicyGRPOTrainer(_hf_policy(), hf_tok, rl_prompts, cfg, DIGITS)
    straight.train(3, progress=False)
    assert [h["step"] for h in straight.history] == [0, 1, 2]
    assert all(set(LOGGED) <= set(h) for h in straight.history)
    assert any(h["kept_fraction"] > 0 for h in straight.history)
    assert not torch.equal(_params(straight.model), start)

    first = PolicyGRPOTrainer(_hf_policy(), hf_tok, rl_prompts, cfg, DIGITS)
    first.train(2, progress=False)
    first.save(tmp_path / "grpo.pt")
    resumed = PolicyGRPOTrainer(_hf_policy(seed=5), hf_tok, rl_prompts, cfg, DIGITS)
    resumed.resume(tmp_path / "grpo.pt")
    resumed.train(1, progress=False)
    assert _strip(resumed.history) == _strip(straight.history)
    assert torch.equal(_params(resumed.model), _params(straight.model))


def test_toy_policy_reproduces_chapter_2_exactly(digit_reward):
    cfg = GRPOConfig(group_size=4, prompts_per_step=2, max_new_tokens=10, lr=1e-2, mu=2,
                     mask_truncated=False, reward_weights=digit_reward)
    ours = PolicyGRPOTrainer(ToyPolicy(make_model(TOK.vocab_size, block_size=64)), TOK, rl_prompts, cfg,
                             DIGITS)
    theirs = GRPOTrainer(make_model(TOK.vocab_size, block_size=64), TOK, rl_prompts, cfg, DIGITS)
    ours.train(3, progress=False)
    theirs.train(3, progress=False)
    assert all(h["kept_fraction"] > 0 for h in theirs.history)
    assert _strip(ours.history) == _strip(theirs.history)
    assert torch.equal(_params(ours.model), _params(theirs.model))


# ---------------------------------------------------------------- the real model (online only)
def test_load_real_model_explains_a_missing_gpu(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(RuntimeError, match="needs a CUDA GPU.*Colab"):
        load_real_model()


def test_load_real_model_explains_a_failed_download(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(RuntimeError, match="could not load 'course-tests/no-such-model'"):
        load_real_model("course-tests/no-such-model", device="cpu")


def test_real_model_prompt_asks_for_the_r1_format(hf_tok):
    plain = real_model_prompt("(3+4)*2?")
    assert "(3+4)*2?" in plain and "<think></think>" in plain and "<answer></answer>" in plain
    assert sum(c.isdigit() for c in plain) == 3  # only the problem's digits (consistency reward)
    raw = char_level_hf_tokenizer()
    raw.chat_template = "{% for m in messages %}user: {{ m['content'] }}\n{% endfor %}assistant:"
    assert real_model_prompt("3+4?", HFTokenizer(raw)).startswith("user: Solve 3+4?")
    assert policy.REAL_MODEL == "Qwen/Qwen2.5-0.5B-Instruct"
