"""Exercises 2.8-2.10 build the core of chapter 2: the SFT loss, rejection sampling's filter and
one whole GRPO update. Each checker's reference is the course's own code (checked here against
the path the chapter trains with), accepts a solution written from the exercise's text, and
rejects plausible wrong ones, including a solution that edits its inputs."""

import copy
import re

import torch
import torch.nn.functional as F

from ch01_what_is_reasoning.model import GPT, GPTConfig
from ch01_what_is_reasoning.tokenizer import CharTokenizer
from ch01_what_is_reasoning.training import PromptCompletionBatches, make_optimizer
from ch01_what_is_reasoning.verifier import verify
from ch02_r1_pipeline import exercises as ex
from ch02_r1_pipeline.grpo import GRPOConfig, GRPOTrainer, completion_logprobs
from ch02_r1_pipeline.grpo_loss import group_advantages
from ch02_r1_pipeline.rewards import consistency_reward
from ch02_r1_pipeline.sft import keep_for_sft
from ch02_r1_pipeline.tasks import rl_prompts
from course.exercises import FAILED, NOT_DONE, PASSED

TOK = CharTokenizer()


def stub(*args, **kwargs):
    raise NotImplementedError


def status(checker, fn):
    return checker(fn).status


# ------------------------------------------------------------------ 2.8 the SFT loss
def sft_from_the_text(logits, ids, prompt_lengths, lengths):
    """Written from the exercise's text: shift, keep completion targets only, token mean."""
    total, count = 0.0, 0
    for b in range(ids.shape[0]):
        targets = ids[b, prompt_lengths[b]:lengths[b]]
        predictions = logits[b, prompt_lengths[b] - 1:lengths[b] - 1]
        total = total + F.cross_entropy(predictions, targets, reduction="sum")
        count += len(targets)
    return total / count


def _sft_broken(kind):
    def loss(logits, ids, prompt_lengths, lengths):
        B, T, V = logits.shape
        start = {"prompt_in_loss": [1] * B, "first_token_left_out": [p + 1 for p in prompt_lengths]
                 }.get(kind, list(prompt_lengths))
        end = [T] * B if kind == "padding_in_loss" else list(lengths)
        rows = []
        for b in range(B):
            if kind == "not_shifted":
                pred, tgt = logits[b, start[b]:end[b]], ids[b, start[b]:end[b]]
            else:
                pred, tgt = logits[b, start[b] - 1:end[b] - 1], ids[b, start[b]:end[b]]
            rows.append(F.cross_entropy(pred, tgt, reduction="none"))
        if kind == "mean_of_rows":
            return torch.stack([r.mean() for r in rows]).mean()
        if kind == "sum":
            return torch.cat(rows).sum()
        if kind == "detached":
            return torch.tensor(torch.cat(rows).mean().item())
        return torch.cat(rows).mean()
    return loss


SFT_BROKEN = ["prompt_in_loss", "padding_in_loss", "not_shifted", "first_token_left_out",
              "mean_of_rows", "sum", "detached"]


def sft_ignore_index_in_place(logits, ids, prompt_lengths, lengths):
    """cross_entropy's ignore_index, written into the caller's ids (targets is a view of them)."""
    targets = ids[:, 1:]
    position = torch.arange(1, ids.shape[1])[None, :]
    targets[(position < torch.tensor(prompt_lengths)[:, None])
            | (position >= torch.tensor(lengths)[:, None])] = -100
    return F.cross_entropy(logits[:, :-1].reshape(-1, logits.shape[-1]), targets.reshape(-1),
                           ignore_index=-100)


def sft_log_of_softmax(logits, ids, prompt_lengths, lengths):
    """log(softmax(...)): a probability that rounds to 0 gives -inf (log_softmax does not)."""
    logp = torch.log(torch.softmax(logits[:, :-1], dim=-1)).gather(-1, ids[:, 1:, None]).squeeze(-1)
    position = torch.arange(1, ids.shape[1])[None, :]
    mask = (position >= torch.tensor(prompt_lengths)[:, None]) & (position < torch.tensor(lengths)[:, None])
    return -(logp * mask).sum() / mask.sum()


def sft_padding_is_id_0(logits, ids, prompt_lengths, lengths):
    """Padding found by its id (0), not by `lengths`."""
    targets = ids[:, 1:]
    position = torch.arange(1, ids.shape[1])[None, :]
    mask = (position >= torch.tensor(prompt_lengths)[:, None]) & (targets != 0)
    per_token = F.cross_entropy(logits[:, :-1].reshape(-1, logits.shape[-1]), targets.reshape(-1),
                                reduction="none")
    return (per_token * mask.reshape(-1)).sum() / mask.sum()


def sft_log_sum_exp_by_hand(logits, ids, prompt_lengths, lengths):
    """log(sum(exp(logits))) without subtracting the max: inf for logits in the hundreds."""
    logp = logits - logits.exp().sum(-1, keepdim=True).log()
    return sft_from_the_text_on_logp(logp, ids, prompt_lengths, lengths)


def sft_from_the_text_on_logp(logp, ids, prompt_lengths, lengths):
    total, count = 0.0, 0
    for b in range(ids.shape[0]):
        targets = ids[b, prompt_lengths[b]:lengths[b]]
        rows = logp[b, prompt_lengths[b] - 1:lengths[b] - 1]
        total = total - rows.gather(-1, targets[:, None]).sum()
        count += len(targets)
    return total / count


SFT_EDGES = [sft_ignore_index_in_place, sft_log_of_softmax, sft_padding_is_id_0, sft_log_sum_exp_by_hand]


def test_the_sft_loss_checker_rejects_losses_wrong_on_confident_logits_padding_or_their_ids():
    for broken in SFT_EDGES:
        v = ex.check_sft_loss(broken)
        assert v.status == FAILED, broken.__name__
        if broken is sft_ignore_index_in_place:
            assert "changed its input `ids` (argument 2)" in v.message


def test_the_sft_reference_is_the_loss_the_course_trains_with():
    pairs = [("(3+4)*2?", "<think>(3+4)*2 = 7*2 = 14</think><answer>14</answer>"),
             ("1+1?", "<answer>2</answer>"), ("(۳+۴)?", "<think>۳+۴ = ۷</think><answer>۷</answer>")]
    batches = PromptCompletionBatches(pairs, TOK, 128)
    x, y, mask, _ = batches.sample(6, torch.Generator().manual_seed(0))
    torch.manual_seed(0)
    model = GPT(GPTConfig(TOK.vocab_size, 128, n_layer=1, n_head=2, n_embd=32))
    logits = model(x)
    # what chapter 1's `train` computes for this batch
    per_token = F.cross_entropy(logits.float().reshape(-1, logits.shape[-1]), y.reshape(-1),
                                reduction="none")
    trained = (per_token * mask.reshape(-1)).sum() / mask.sum()
    ids = torch.cat([x, y[:, -1:]], dim=1)
    lengths = [int((row != TOK.pad_id).sum()) for row in ids]
    prompts = {p + c: len(TOK.encode(p, bos=True)) for p, c in pairs}
    prompt_lengths = [prompts[TOK.decode(row.tolist())] for row in ids]
    logits_full = torch.cat([logits, logits[:, -1:]], dim=1)     # the last column is never a prediction
    assert torch.allclose(ex.completion_only_loss(logits_full, ids, prompt_lengths, lengths), trained)


def test_the_sft_loss_checker_accepts_the_text_and_rejects_every_broken_version(capsys):
    assert status(ex.check_sft_loss, ex.completion_only_loss) == PASSED
    assert status(ex.check_sft_loss, sft_from_the_text) == PASSED
    assert status(ex.check_sft_loss, stub) == NOT_DONE
    for kind in SFT_BROKEN:
        assert status(ex.check_sft_loss, _sft_broken(kind)) == FAILED, kind
    printed = capsys.readouterr().out
    assert "loss (value)" in printed and "gradient of the loss wrt logits" in printed


# ------------------------------------------------------------------ 2.9 rejection sampling
def filter_from_the_text(prompts, completions, answers):
    kept = []
    for prompt, completion, answer in zip(prompts, completions, answers):
        v = verify(completion, answer)
        if v.correct and v.well_formed and v.thinking and \
                consistency_reward([completion], prompts=[prompt])[0] == 1.0:
            kept.append((prompt, completion))
    return kept


def _filter_broken(kind):
    def keep(prompts, completions, answers):
        kept = []
        for prompt, completion, answer in zip(prompts, completions, answers):
            v = verify(completion, answer)
            share = consistency_reward([completion], prompts=[prompt])[0]
            ok = {"keeps_wrong": v.well_formed and v.thinking and share == 1.0,
                  "ignores_format": v.correct and v.thinking and share == 1.0,
                  "keeps_empty_thinking": v.correct and v.well_formed and v.thinking is not None
                  and share == 1.0,
                  "keeps_mixed": v.correct and v.well_formed and bool(v.thinking),
                  "half_consistent": v.correct and v.well_formed and bool(v.thinking) and share >= 0.5,
                  "string_answer": str(v.answer) == str(answer) and v.well_formed and bool(v.thinking)
                  and share == 1.0,
                  "drops_persian": v.correct and v.well_formed and bool(v.thinking) and share == 1.0
                  and not any(ch in "۰۱۲۳۴۵۶۷۸۹" for ch in prompt)}.get(kind)
            if ok and not (kind == "dedupes" and (prompt, completion) in kept):
                kept.append((prompt, completion))
        return kept
    if kind == "dedupes":
        return lambda p, c, a: list(dict.fromkeys(filter_from_the_text(p, c, a)))
    if kind == "edits_its_input":
        def editing(prompts, completions, answers):
            completions.sort()   # "tidies" the teacher's samples
            return filter_from_the_text(prompts, completions, answers)
        return editing
    return keep


FILTER_BROKEN = ["keeps_wrong", "ignores_format", "keeps_mixed",
                 "half_consistent", "drops_persian", "dedupes", "edits_its_input"]


def test_the_filter_keeps_exactly_the_right_clean_one_script_samples():
    prompts, completions, answers = ex._rejection_cases()[16]     # every edge case in one batch
    kept = keep_for_sft(prompts, completions, answers)
    # twins kept twice; newlines and tabs around the blocks are fine, and ٣ is no digit of ours
    assert [completions.index(c) for _, c in kept["kept"]] == [0, 1, 9, 0, 0, 12, 15]
    assert kept["correct"] == 10 and kept["consistent"] == 7     # wrong, unthought, untidy: out


def filter_by_regex_without_dotall(prompts, completions, answers):
    """Its own well-formedness test, a regex whose "." stops at a newline."""
    pattern = re.compile(r"\s*<think>(.+?)</think>\s*<answer>\s*(\S+)\s*</answer>\s*")
    return [(p, c) for p, c in filter_from_the_text(prompts, completions, answers)
            if pattern.fullmatch(c)]


def filter_with_isdigit(prompts, completions, answers):
    """Its own one-script test with str.isdigit(): ٣ in the thinking is taken for a digit."""
    kept = []
    for prompt, completion in filter_from_the_text(prompts, completions, answers):
        script = "0123456789" if any(ch in "0123456789" for ch in prompt) else "۰۱۲۳۴۵۶۷۸۹"
        if all(ch in script for ch in verify(completion).thinking if ch.isdigit()):
            kept.append((prompt, completion))
    return kept


def filter_lists_its_inputs_and_sorts(prompts, completions, answers):
    """Turns the tuples into lists to sort them: the pairs come back out of order."""
    rows = sorted(zip(prompts, completions, answers), key=lambda row: row[1])
    return filter_from_the_text(*zip(*rows)) if rows else []


FILTER_EDGES = [filter_by_regex_without_dotall, filter_with_isdigit, filter_lists_its_inputs_and_sorts]


def test_the_rejection_checker_rejects_filters_wrong_on_whitespace_or_other_digits():
    for broken in FILTER_EDGES:
        assert status(ex.check_rejection_filter, broken) == FAILED, broken.__name__


def test_the_rejection_checker_accepts_the_text_and_rejects_every_broken_version():
    assert status(ex.check_rejection_filter, filter_from_the_text) == PASSED
    assert status(ex.check_rejection_filter, stub) == NOT_DONE
    for kind in FILTER_BROKEN:
        assert status(ex.check_rejection_filter, _filter_broken(kind)) == FAILED, kind


# ------------------------------------------------------------------ 2.10 one GRPO update
def update_from_the_text(model, optimizer, prompt_ids, completion_ids, finished, rewards):
    n, group = rewards.shape
    adv = (rewards - rewards.mean(1, keepdim=True)) / (rewards.std(1, keepdim=True) + 1e-4)
    rows = [i for i in range(n * group)
            if finished[i] and rewards[i // group].max() > rewards[i // group].min()]
    if not rows:
        return None
    logp, mask, _ = completion_logprobs(model, [list(prompt_ids[i]) for i in rows],
                                        [list(completion_ids[i]) for i in rows], 0)
    ratio = torch.exp(logp - logp.detach())
    a = adv.reshape(-1)[rows][:, None]
    per_token = -torch.min(ratio * a, torch.clamp(ratio, 0.8, 1.28) * a)
    loss = (per_token * mask).sum() / mask.sum()
    optimizer.zero_grad()
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    optimizer.step()
    return loss


def _update_broken(kind):
    def update(model, optimizer, prompt_ids, completion_ids, finished, rewards):
        n, group = rewards.shape
        if kind == "no_std":
            adv = rewards - rewards.mean(1, keepdim=True)
        elif kind == "batch_baseline":
            adv = (rewards - rewards.mean()) / (rewards.std() + 1e-4)
        else:
            adv = group_advantages(rewards)
        rows = [i for i in range(n * group)
                if (finished[i] or kind == "keeps_truncated")
                and (kind == "keeps_equal_groups" or rewards[i // group].max() > rewards[i // group].min())]
        if not rows:
            return None
        prompts = [list(prompt_ids[i]) for i in rows]
        completions = [list(completion_ids[i]) for i in rows]
        if kind == "prompt_in_loss":
            completions = [p[1:] + c for p, c in zip(prompts, completions)]
            prompts = [p[:1] for p in prompts]
        logp, mask, _ = completion_logprobs(model, prompts, completions, 0)
        a = adv.reshape(-1)[rows][:, None]
        if kind == "plain_logp":
            per_token = -a * logp
        else:
            per_token = -torch.exp(logp - logp.detach()) * a
        loss = (per_token * mask).sum() / (1 if kind == "sum" else mask.sum())
        optimizer.zero_grad()
        loss.backward()
        if kind != "no_clipping":
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        return loss
    return update


UPDATE_BROKEN = ["no_std", "batch_baseline", "keeps_truncated", "keeps_equal_groups",
                 "prompt_in_loss", "plain_logp", "sum", "no_clipping"]


def update_without_zero_grad(model, optimizer, prompt_ids, completion_ids, finished, rewards):
    """Right on a fresh model; in training it adds the previous step's gradients to its own."""
    zero_grad = optimizer.zero_grad
    optimizer.zero_grad = lambda *a, **k: None
    try:
        return update_from_the_text(model, optimizer, prompt_ids, completion_ids, finished, rewards)
    finally:
        optimizer.zero_grad = zero_grad


def update_centres_the_rewards_in_place(model, optimizer, prompt_ids, completion_ids, finished,
                                        rewards):
    """Right values, but the caller's rewards (the trainer logs them) are centred in place."""
    rewards -= rewards.mean(1, keepdim=True)
    return update_from_the_text(model, optimizer, prompt_ids, completion_ids, finished, rewards)


def update_zero_grad_after_backward(model, optimizer, prompt_ids, completion_ids, finished, rewards):
    """zero_grad() between backward() and step(): the step moves nothing."""
    step = optimizer.step

    def zero_then_step(*a, **k):
        optimizer.zero_grad()
        return step(*a, **k)
    optimizer.step = zero_then_step
    try:
        return update_from_the_text(model, optimizer, prompt_ids, completion_ids, finished, rewards)
    finally:
        optimizer.step = step


UPDATE_EDGES = [update_without_zero_grad, update_centres_the_rewards_in_place,
                update_zero_grad_after_backward]


def test_the_grpo_step_checker_rejects_updates_that_keep_stale_gradients_or_edit_the_rewards():
    for broken in UPDATE_EDGES:
        v = ex.check_grpo_step(broken)
        assert v.status == FAILED, broken.__name__
    assert "changed its input `rewards`" in ex.check_grpo_step(update_centres_the_rewards_in_place).message


def test_the_update_reference_is_the_trainers_update():
    torch.manual_seed(0)
    model = GPT(GPTConfig(TOK.vocab_size, 128, n_layer=1, n_head=2, n_embd=32)).eval()
    ours = copy.deepcopy(model)

    def length_reward(completions, **kwargs):
        return [float(len(c) % 3) for c in completions]

    cfg = GRPOConfig(prompts_per_step=2, group_size=4, max_new_tokens=60,
                     reward_weights={"length": 1.0}, seed=1)
    trainer = GRPOTrainer(model, TOK, rl_prompts, cfg, rewards={"length": length_reward})
    seen = {}
    rollouts = trainer.rollouts

    def recording(prompts):
        seen["out"] = rollouts(prompts)
        return seen["out"]

    trainer.rollouts = recording
    stats = trainer.train_step()
    prompt_ids, completion_ids, texts, finished = seen["out"]
    assert stats["kept_fraction"] > 0               # the case has something to learn
    rewards = torch.tensor(length_reward(texts)).view(2, 4)
    optimizer = make_optimizer(ours, cfg.lr, weight_decay=0.0)
    ex.grpo_update(ours, optimizer, prompt_ids, completion_ids, finished, rewards, TOK.pad_id)
    assert all(torch.equal(a, b) for a, b in zip(ours.parameters(), model.parameters()))


def test_the_grpo_step_checker_accepts_the_text_and_rejects_every_broken_version(capsys):
    assert status(ex.check_grpo_step, lambda *a: ex.grpo_update(*a)) == PASSED
    assert status(ex.check_grpo_step, update_from_the_text) == PASSED
    assert status(ex.check_grpo_step, stub) == NOT_DONE
    for kind in UPDATE_BROKEN:
        assert status(ex.check_grpo_step, _update_broken(kind)) == FAILED, kind
    assert "parameters after the update" in capsys.readouterr().out


def test_the_new_cases_are_the_same_every_time():
    for cases in (ex._sft_cases, ex._rejection_cases, ex._grpo_cases):
        first, second = cases(), cases()
        assert len(first) == len(second)
        assert repr(first) == repr(second)
