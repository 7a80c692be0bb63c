"""Chapter 2's rewards and settings inside TRL's GRPOTrainer, on a tiny random Qwen2, offline."""

import dataclasses
import subprocess
import sys

import pytest

from ch01_what_is_reasoning.tokenizer import CharTokenizer
from ch02_r1_pipeline.grpo import GRPOConfig
from ch02_r1_pipeline.rewards import REWARDS, _text, accuracy_reward, consistency_reward, format_reward
from ch04_budget import trl_bridge
from ch04_budget.policy import HFPolicy, HFTokenizer, char_level_hf_tokenizer, tiny_hf_model

trl = pytest.importorskip("trl")  # requirements.txt installs it: CI runs these tests

REPLY = {"role": "assistant", "content": "<answer>14</answer>", "reasoning_content": "7*2 = 14"}


def _spy(calls, function):
    """`function`, recording the keyword arguments TRL calls it with and what it returns."""
    def spy(completions, **kwargs):
        out = function(completions, **kwargs)
        calls.append({"completions": completions, **kwargs, "out": out})
        return out
    spy.__name__ = function.__name__  # TRL logs a reward under its function's name
    return spy


def _length(completions, **kwargs):
    """Varies within a group (the random model writes replies of different lengths), so the
    advantages are not all 0 and the weights must move."""
    return [len(_text(c)) / 16 for c in completions]


def _config(**kw):
    # Tiny: 2 prompts x 4 completions of <= 16 tokens per step; lr high enough to see a change.
    return GRPOConfig(**{"steps": 3, "prompts_per_step": 2, "group_size": 4, "max_new_tokens": 16,
                         "lr": 1e-3, **kw})


def test_trl_trains_the_tiny_qwen2_with_the_course_rewards(tmp_path):
    calls = {name: [] for name in REWARDS}
    spies = {name: _spy(calls[name], f) for name, f in REWARDS.items()}
    tok = trl_bridge.char_chat_tokenizer()
    model = tiny_hf_model(len(tok))
    before = [p.detach().clone() for p in model.parameters()]
    dataset = trl_bridge.course_dataset(8, seed=1, conversational=True)
    cfg = _config(reward_weights={"accuracy": 1.0, "format": 0.1, "length": 1.0}, mask_truncated=False)

    # The course's wrappers go in as they are: TRL gets the transformers model and tokenizer.
    trainer = trl_bridge.make_trainer(HFPolicy(model), HFTokenizer(tok), dataset, cfg, str(tmp_path),
                                      rewards={**spies, "length": _length}, disable_tqdm=True)
    assert isinstance(trainer, trl.GRPOTrainer) and trainer.processing_class is tok
    # consistency is not weighted: it comes last, at weight 0, so TRL logs it without training on it
    assert trainer.args.reward_weights == [1.0, 0.1, 1.0, 0.0]
    trainer.train()

    assert trainer.state.global_step == 3
    answers = dict(zip((p[0]["content"] for p in dataset["prompt"]), dataset["answer"]))
    for name in REWARDS:
        assert len(calls[name]) == 3, name  # once per step
        for call in calls[name]:
            completions, prompts, out = call["completions"], call["prompts"], call["out"]
            assert len(completions) == len(prompts) == len(call["answer"]) == 8  # 2 prompts x 4
            assert len(out) == 8 and all(isinstance(r, float) for r in out)
            # chat prompts in, chat replies out; every completion comes with its own prompt's answer
            assert all(c[0]["role"] == "assistant" and isinstance(c[0]["content"], str) for c in completions)
            assert [answers[p[-1]["content"]] for p in prompts] == call["answer"]
    logged = trainer.state.log_history[0]
    for name in ("accuracy_reward", "consistency_reward", "_length"):  # logged by function name
        assert f"rewards/{name}/mean" in logged
    moved = max((a - b).abs().max().item() for a, b in zip(model.parameters(), before))
    assert moved > 1e-4


def test_thinking_moved_to_reasoning_content_is_scored():
    # TRL's own response parser for Qwen3 templates splits a reply exactly as the issue saw it
    from trl.chat_template_utils import qwen3_template

    raw = "<think>\n7*2 = 14\n</think>\n\n<answer>14</answer>"
    parsed = char_level_hf_tokenizer().parse_response(raw, schema=qwen3_template,
                                                      prefix="<|im_start|>assistant\n")
    assert parsed == REPLY
    prompts = [[{"role": "user", "content": "7*2?"}]]
    for reply in ([parsed], parsed, [{**REPLY, "reasoning_content": None, "thinking": "7*2 = 14"}]):
        assert format_reward([reply]) == [1.0]
        assert accuracy_reward([reply], answer=[14]) == [1.0]
        assert accuracy_reward([reply], answer=[15]) == [0.0]
        assert consistency_reward([reply], prompts=prompts) == [1.0]
    # reading `content` alone (the pitfall) loses the thinking: no format, no consistency
    content_only = [[{"role": "assistant", "content": REPLY["content"]}]]
    assert format_reward(content_only) == [0.0]
    assert consistency_reward(content_only, prompts=prompts) == [0.0]


def test_the_answer_column_reaches_accuracy(tmp_path):
    def run(**overrides):
        calls = []
        tok = char_level_hf_tokenizer()
        dataset = trl_bridge.course_dataset(4, seed=2)  # plain-text prompts
        trainer = trl_bridge.make_trainer(tiny_hf_model(len(tok)), tok, dataset, _config(steps=1),
                                          str(tmp_path), rewards={"accuracy": _spy(calls, accuracy_reward)},
                                          disable_tqdm=True, **overrides)
        trainer.train()
        return trainer, calls, dict(zip(dataset["prompt"], dataset["answer"]))

    trainer, calls, answers = run()
    assert trainer.args.remove_unused_columns is False
    (call,) = calls
    assert call["answer"] == [answers[p] for p in call["prompts"]]
    # the scores are the course's accuracy of each completion against that answer
    assert call["out"] == accuracy_reward(call["completions"], answer=call["answer"])
    # transformers' default drops every column but `prompt`: accuracy would get no answer
    # and score every completion 0, silently
    _, calls, _ = run(remove_unused_columns=True)
    assert "answer" not in calls[0]


def test_char_tokenizer_chat_template_is_the_course_prompt():
    tok = trl_bridge.char_chat_tokenizer()
    user = [{"role": "user", "content": "(3+4)*2?"}]
    prompt = tok.apply_chat_template(user, tokenize=False, add_generation_prompt=True)
    assert prompt == "<bos>(3+4)*2?"  # the course's models answer right after the question
    ids = tok.apply_chat_template(user, add_generation_prompt=True, return_dict=True)["input_ids"]
    assert ids == CharTokenizer().encode("(3+4)*2?", bos=True)
    reply = "<think>7*2=14</think><answer>14</answer>"
    chat = tok.apply_chat_template(user + [{"role": "assistant", "content": reply}], tokenize=False)
    assert chat == prompt + reply + "<eos>"
    # without a template, a chat dataset is refused before TRL fails deep inside
    with pytest.raises(ValueError, match="chat template"):
        chats = trl_bridge.course_dataset(2, conversational=True)
        trl_bridge.make_trainer(None, char_level_hf_tokenizer(), chats, _config(), "unused")


def test_settings_table_maps_every_course_setting(tmp_path):
    table = trl_bridge.settings_table()
    rows = {s.course: s for s in trl_bridge.SETTINGS}
    course, trl_fields = GRPOConfig(), {f.name: f for f in dataclasses.fields(trl.GRPOConfig)}
    for field in dataclasses.fields(GRPOConfig):
        assert field.name in rows and field.name in table, field.name
        assert rows[field.name].course_default == getattr(course, field.name), field.name
    for s in trl_bridge.SETTINGS:  # the TRL side, against the installed TRL
        if s.trl is not None:
            assert s.trl in trl_fields and s.trl in table, s.trl
            assert trl_fields[s.trl].default == s.trl_default, s.trl
    # and trl_config sets what the table says
    args = trl_bridge.trl_config(GRPOConfig(), str(tmp_path), max_steps=7)
    assert (args.learning_rate, args.num_generations, args.per_device_train_batch_size) == (1e-4, 8, 64)
    assert (args.epsilon, args.epsilon_high, args.loss_type) == (0.2, 0.28, "dapo")
    assert (args.scale_rewards, args.mask_truncated_completions) == ("group", True)
    assert (args.use_bias_correction_kl, args.adam_beta2, args.remove_unused_columns) == (False, 0.95, False)
    assert args.reward_weights == [1.0, 0.1, 0.0] and args.max_steps == 7  # overrides win
    assert args.generation_batch_size == 64 and args.lr_scheduler_type == "constant"


def test_the_bridge_imports_without_trl():
    code = ("import sys; sys.modules['trl'] = None\n"  # an import of trl now fails
            "from ch04_budget import trl_bridge; print(trl_bridge.settings_table())")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "mask_truncated_completions" in out.stdout
