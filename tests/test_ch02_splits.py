"""The five evaluation splits and the R1 paper's pass@1 protocol (splits.py)."""

import torch

from ch01_what_is_reasoning.arithmetic import is_held_out, make_facts, step_by_step_completion
from ch01_what_is_reasoning.model import GPT, GPTConfig
from ch01_what_is_reasoning.tokenizer import CharTokenizer
from ch01_what_is_reasoning.verifier import verify
from ch02_r1_pipeline.splits import (
    EASY_OPS,
    HARDER_OPS,
    SPLITS,
    UNSEEN_OPS,
    eval_splits,
    evaluate_splits,
    signature,
    split_problems,
)
from ch02_r1_pipeline.tasks import held_out_problems
from course.runtime import ModelShape


def test_the_splits_ask_what_their_names_say():
    test = held_out_problems(60)
    splits = eval_splits(test)
    assert list(splits) == list(SPLITS)
    prompts, answers = splits["in_distribution"]
    assert prompts == [p.prompt() for p in test[::2]]
    for name, n_ops in (("harder", HARDER_OPS), ("easy", EASY_OPS), ("unseen", UNSEEN_OPS)):
        prompts, answers = splits[name]
        assert len(prompts) == 20 and len(answers) == 20
        # the number of operations is the number of + - * signs in the expression
        assert all(sum(p.count(op) for op in "+-*") == n_ops for p in prompts), (name, prompts[:3])
    seen, _ = make_facts()
    assert splits["knowledge"][1] == list(seen.values())[:20]   # as many facts as harder problems
    # chapter 3 scores its methods on the very problems chapter 2 scored
    problems = split_problems(test)
    for name in ("in_distribution", "harder", "easy", "unseen"):
        assert [p.prompt() for p in problems[name]] == splits[name][0], name
    # the cpu preset's 600 test problems ask every seen fact
    assert eval_splits(held_out_problems(600))["knowledge"][1] == list(seen.values())


def test_pass1_is_the_mean_over_k_samples_and_tokens_are_counted():
    torch.manual_seed(0)
    tok = CharTokenizer()
    model = GPT(GPTConfig.from_shape(ModelShape(1, 2, 16), tok.vocab_size, 64)).eval()
    splits = {"easy": (["1+2?", "3*3?"], [3, 9]), "knowledge": (["kiz?"], [5])}
    out = evaluate_splits(model, tok, splits, k=3, temperature=0.6, top_p=0.95)
    assert set(out["pass1"]) == set(out["tokens"]) == set(out["greedy"]) == {"easy", "knowledge"}
    assert all(0.0 <= v <= 1.0 for v in out["pass1"].values())
    assert all(v >= 1 for v in out["tokens"].values())
    assert out["k"] == 3 and out["temperature"] == 0.6 and out["top_p"] == 0.95
    # the same seed gives the same numbers (the evaluation is cached with the checkpoint)
    again = evaluate_splits(model, tok, splits, k=3)["pass1"]
    assert evaluate_splits(model, tok, splits, k=3)["pass1"] == again


def test_a_random_model_scores_what_the_verifier_says():
    tok = CharTokenizer()
    torch.manual_seed(1)
    model = GPT(GPTConfig.from_shape(ModelShape(1, 2, 16), tok.vocab_size, 64)).eval()
    splits = {"easy": (["1+2?"] * 4, [3] * 4)}
    out = evaluate_splits(model, tok, splits, k=2)
    assert out["greedy"]["easy"] in (0.0, 1.0)   # four copies of one prompt, greedy: all or none
    assert verify("<think>x</think><answer>3</answer>", 3).correct


def test_the_signature_changes_with_what_was_measured():
    splits = eval_splits(held_out_problems(30))
    assert signature(splits) == signature(eval_splits(held_out_problems(30)))
    assert signature(splits) != signature(splits, k=8)
    assert signature(splits) != signature(eval_splits(held_out_problems(60)))


def test_the_unseen_split_is_longer_than_any_training_problem_and_fits_the_context():
    from ch01_what_is_reasoning.corpus import CorpusMix
    from ch02_r1_pipeline.recipe import R1_SFT_OPS
    from ch02_r1_pipeline.tasks import RL_OPS

    assert UNSEEN_OPS > max(*R1_SFT_OPS, *RL_OPS, CorpusMix().max_ops)
    unseen = split_problems(held_out_problems(600))["unseen"]
    assert len(unseen) == 200 and all(is_held_out(p) and p.n_ops == UNSEEN_OPS for p in unseen)
    # every worked solution fits the context, so a wrong answer is never the context's fault
    tok = CharTokenizer()
    assert max(len(tok.encode(p.prompt(), bos=True)) + len(tok.encode(step_by_step_completion(p),
                                                                      eos=True))
               for p in unseen) <= 128
    # Persian digits as often as in every other split
    assert sum(p.script == "persian" for p in unseen) == 60
