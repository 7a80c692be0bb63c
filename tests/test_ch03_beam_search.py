"""Beam search against the step verifier, on scripted steps (a stand-in for `generate` that
writes what each test says) and on a tiny random model that writes junk."""

from __future__ import annotations

from collections import defaultdict

import pytest
import torch
from helpers import make_model

from ch01_what_is_reasoning.arithmetic import END_THINK, THINK, Problem
from ch01_what_is_reasoning.sampling import Generation
from ch01_what_is_reasoning.verifier import verify
from ch03_four_methods import beam_search as beam_module
from ch03_four_methods import budget_forcing
from ch03_four_methods.beam_search import STEP_TOKENS, BeamResult, beam_search, beam_search_problems

PROMPT = "(3+4)*2?"          # (3+4)*2 = 7*2 = 14
RIGHT = f"{THINK}(3+4)*2 = 7*2 = 14{END_THINK}<answer>14</answer>"


def script(monkeypatch, tok, steps: dict[str, list[str]]):
    """Replace `generate` with one that continues the thinking written so far with the next
    scripted text (expansion j of a beam gets option j), stopping at the end token as ch01's
    `generate` does. Answers repeat the trace's last rewrite. Returns the calls made."""
    calls = []

    def fake(model, prompts, *, max_new_tokens, eos_id, **kw):
        seen = defaultdict(int)
        texts = []
        for p in prompts:
            thinking = tok.decode(p).split(THINK, 1)[1]
            if eos_id == tok.eos_id:   # answering after </think><answer>
                texts.append(thinking.split(END_THINK)[0].split(" = ")[-1] + "</answer>")
                continue
            options = steps.get(thinking, ["9" * 60])   # unscripted: junk with no "=" (beam dies)
            texts.append(options[seen[thinking] % len(options)])
            seen[thinking] += 1
        tokens, finished = [], []
        for ids in ([*tok.encode(t), tok.eos_id] if eos_id == tok.eos_id else tok.encode(t)
                    for t in texts):
            stop = ids.index(eos_id) if eos_id in ids else None
            tokens.append(ids[:stop] if stop is not None else ids[:max_new_tokens])
            finished.append(stop is not None)
        calls.append((prompts, eos_id, tokens, finished))
        return Generation(tokens, finished)

    monkeypatch.setattr(beam_module, "generate", fake)
    monkeypatch.setattr(budget_forcing, "generate", fake)
    return calls


def model_prefers(monkeypatch, tok, text: str):
    """Make the tie-breaking log-probability favour traces containing `text`."""
    def fake(model, sequences, n_prompt, pad_id=0):
        return [float(text in tok.decode(s[n_prompt:])) for s in sequences]
    monkeypatch.setattr(beam_module, "sequence_logprobs", fake)


def sampled(calls) -> int:
    return sum(len(t) + f for _, _, tokens, finished in calls for t, f in zip(tokens, finished))


@pytest.fixture
def model(tok):
    return make_model(tok.vocab_size, block_size=64)


def test_an_invalid_step_is_dropped_for_a_valid_one(monkeypatch, tok, model):
    calls = script(monkeypatch, tok, {
        "": ["(3+4)*2 =", "(3+4)*2 ="],
        "(3+4)*2 = ": ["8*2 =", "7*2 ="],               # wrong arithmetic first, listed first
        "(3+4)*2 = 7*2 = ": ["14</think>", "14</think>"],
        "(3+4)*2 = 8*2 = ": ["16</think>", "16</think>"],
    })
    model_prefers(monkeypatch, tok, "8*2")             # the verifier must overrule the model
    result = beam_search(model, tok, PROMPT, beam_width=1, expansions=2)
    assert isinstance(result, BeamResult)
    assert result.completion == RIGHT and result.score == 1.0
    assert verify(result.completion, 14).correct and verify(result.completion).well_formed
    # The wrong beam was never expanded: no call continued "8*2".
    assert not any("8*2" in tok.decode(p) for prompts, *_ in calls for p in prompts)


def test_a_complete_but_wrong_trace_loses_to_a_later_valid_one(monkeypatch, tok, model):
    script(monkeypatch, tok, {
        "": ["(3+4)*2 ="],
        "(3+4)*2 = ": ["16</think>", "7*2 ="],          # a skipped step with a wrong value closes first
        "(3+4)*2 = 7*2 = ": ["14</think>"],
    })
    model_prefers(monkeypatch, tok, "16")
    result = beam_search(model, tok, PROMPT, beam_width=2, expansions=2)
    assert result.completion == RIGHT and result.score == 1.0


def test_ties_in_the_verifier_score_go_to_the_likelier_trace(monkeypatch, tok, model):
    script(monkeypatch, tok, {"": ["(3+4)*2 ="], "(3+4)*2 = ": ["16</think>", "15</think>"]})
    for liked in ("16", "15"):   # both skip a step: the same score, 1 of 3 checks before it
        model_prefers(monkeypatch, tok, liked)
        result = beam_search(model, tok, PROMPT, beam_width=1, expansions=2, max_steps=2)
        assert verify(result.completion).answer == int(liked)
        assert result.score == pytest.approx(1 / 3)


def test_tokens_generated_counts_every_expansion_and_answer(monkeypatch, tok, model):
    calls = script(monkeypatch, tok, {
        "": ["(3+4)*2 =", "(3+4)*2 =", "(3+4)*2 ="],
        "(3+4)*2 = ": ["7*2 =", "8*2 =", "6*2 ="],
        "(3+4)*2 = 7*2 = ": ["14</think>", "15</think>", "14</think>"],
    })
    result = beam_search(model, tok, PROMPT, beam_width=2, expansions=3)
    # 3 copies of step 0 (8 tokens + "=") are one beam; it gets 3 expansions (4 + 1 each); the two
    # survivors get 3 each: under 7*2 three closings of 3 tokens, under the other one 60 junk
    # tokens cut at STEP_TOKENS; 2 distinct closings answered ("14</answer>" + end token).
    assert result.tokens_generated == sampled(calls) == 3 * 9 + 3 * 5 + 3 * 3 + 3 * STEP_TOKENS + 2 * 4
    assert result.completion == RIGHT


def test_beams_die_at_the_step_token_budget(monkeypatch, tok, model):
    script(monkeypatch, tok, {"": ["(3+4)*2 ="]})        # then 60 digits without "=": too long
    result = beam_search(model, tok, PROMPT, beam_width=2, expansions=2, max_steps=5)
    assert result.score == 0.0 and result.completion == f"{THINK}(3+4)*2 = "
    assert not verify(result.completion).well_formed


def test_beam_search_problems_reports_accuracy_tokens_and_completions(monkeypatch, tok, model):
    script(monkeypatch, tok, {"": ["(3+4)*2 ="], "(3+4)*2 = ": ["7*2 ="], "(3+4)*2 = 7*2 = ": ["14</think>"]})
    problem = Problem(3, (("+", 4), ("*", 2)))
    assert problem.prompt() == PROMPT
    run = beam_search_problems(model, tok, [problem, problem], beam_width=1, expansions=1)
    accuracy, mean_tokens, completions = run
    assert accuracy == 1.0 and completions == [RIGHT, RIGHT]
    assert mean_tokens == 9 + 5 + 3 + 4


def n_tokens(tok, text: str) -> int:
    """Tokens of a rendered completion: <pad>, <bos> and <eos> are shown verbatim, not encoded."""
    for name in ("<pad>", "<bos>", "<eos>"):
        text = text.replace(name, "a")
    return len(tok.encode(text))


def test_never_raises_on_a_tiny_random_model_and_stays_within_limits(tok, tiny_model):
    problems = [Problem(3, (("+", 4),)), Problem(12, (("-", 5), ("*", 1)))]
    for seed, (width, expansions, steps) in enumerate([(4, 4, 12), (2, 3, 3), (1, 1, 1)]):
        for p in problems:
            result = beam_search(tiny_model, tok, p.prompt(), beam_width=width, expansions=expansions,
                                 max_steps=steps, generator=torch.Generator().manual_seed(seed))
            assert 0.0 <= result.score <= 1.0 and result.completion.startswith(THINK)
            per_sample = STEP_TOKENS + 1 + budget_forcing.ANSWER_TOKENS + 1
            assert 0 < result.tokens_generated <= steps * width * expansions * per_sample
            # Prompt and completion fit the model's context (32 tokens), forced tags included.
            assert len(tok.encode(p.prompt(), bos=True)) + n_tokens(tok, result.completion) <= 32


def test_seeded_search_is_deterministic(tok, tiny_model):
    def run():
        return beam_search(tiny_model, tok, "3+4?", temperature=1.0,
                           generator=torch.Generator().manual_seed(7))
    assert run() == run()


@pytest.mark.parametrize("kw", [dict(beam_width=0), dict(expansions=-1), dict(max_steps=1.5)])
def test_invalid_arguments_raise(tok, tiny_model, kw):
    with pytest.raises(ValueError, match="must be a whole number"):
        beam_search(tiny_model, tok, "3+4?", **kw)


def test_sequence_logprobs_matches_unpadded_scoring(tok, tiny_model):
    prompt = tok.encode("3+4?" + THINK, bos=True)
    sequences = [prompt + tok.encode("7"), prompt + tok.encode("3+4 = 7"), list(prompt)]
    got = beam_module.sequence_logprobs(tiny_model, sequences, len(prompt), tok.pad_id)
    for s, value in zip(sequences, got):   # left padding in the batch changes nothing
        alone = tiny_model.token_logprobs(torch.tensor([s]))[0, len(prompt) - 1:].sum().item()
        assert value == pytest.approx(alone, abs=1e-4)
    assert got[2] == 0.0
