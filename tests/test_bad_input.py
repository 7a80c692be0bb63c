"""Bad input fails where the mistake is made, with a message that says what to do."""

from __future__ import annotations

import os
import random
from pathlib import Path

import pytest
import torch
from helpers import make_model

from ch01_what_is_reasoning.model import GPT
from ch01_what_is_reasoning.sampling import filter_logits, generate
from ch01_what_is_reasoning.verifier import verify
from ch02_r1_pipeline.rewards import accuracy_reward, consistency_reward
from ch03_four_methods.voting import best_of_n, majority_vote
from course import runtime
from course.runtime import (
    CheckpointError,
    RunsFolderError,
    atomic_save,
    check_writable,
    load_checkpoint,
    load_state,
    pick_device,
    runs_dir,
    save_checkpoint,
)

RETRAIN = "Delete it or move it aside and rerun; the chapter retrains it."
GOOD = "<think>3*4 = 12</think><answer>12</answer>"


# --- 1. checkpoints and state files that cannot be used: one error, naming the file ---------

@pytest.fixture
def checkpoint(tmp_path, tok) -> Path:
    path = tmp_path / "base.pt"
    save_checkpoint(path, make_model(tok.vocab_size, seed=3), {"preset": "tiny"})
    return path


def _damage(path: Path, how: str) -> None:
    data = path.read_bytes()
    if how == "truncated":
        path.write_bytes(data[: len(data) // 2])
    elif how == "empty":
        path.write_bytes(b"")
    elif how == "flipped":  # a damaged middle: bytes overwritten, length unchanged
        middle = len(data) // 2
        path.write_bytes(data[:middle] + bytes(255 - b for b in data[middle:middle + 64])
                         + data[middle + 64:])
    elif how == "text":
        path.write_text("this is a note, not a checkpoint\n")
    elif how == "foreign":
        torch.save({"x": 1}, path)
    elif how == "not_a_dict":
        torch.save([1, 2, 3], path)


@pytest.mark.parametrize("how", ["truncated", "empty", "flipped", "text", "foreign", "not_a_dict"])
def test_unusable_checkpoint_raises_checkpoint_error_naming_the_file(checkpoint, how):
    _damage(checkpoint, how)
    with pytest.raises(CheckpointError) as info:
        load_checkpoint(checkpoint, "cpu", model_class=GPT)
    message = str(info.value)
    assert str(checkpoint) in message
    assert RETRAIN in message


def test_checkpoint_with_wrong_shapes_raises_checkpoint_error(checkpoint):
    state = torch.load(checkpoint, weights_only=True)
    state["config"]["n_embd"] = 32  # weights are 16 wide
    torch.save(state, checkpoint)
    with pytest.raises(CheckpointError, match="do not fit its config"):
        load_checkpoint(checkpoint, model_class=GPT)


def test_missing_checkpoint_is_still_file_not_found(tmp_path):
    with pytest.raises(FileNotFoundError, match="Train it first"):
        load_checkpoint(tmp_path / "nope.pt", model_class=GPT)


class _Payload:
    """Unpickling this would call open(marker, 'w'), which creates the marker file."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (open, (str(self.marker), "w"))


def test_payload_really_runs_code_under_plain_pickle(tmp_path):
    """The check the two tests below rely on: without weights_only the payload does run."""
    marker = tmp_path / "ran"
    torch.save({"x": _Payload(marker)}, tmp_path / "evil.pt")
    torch.load(tmp_path / "evil.pt", weights_only=False)["x"].close()
    assert marker.exists()


def test_crafted_checkpoint_is_refused_without_running_code(tmp_path, tok):
    marker, path = tmp_path / "ran", tmp_path / "evil.pt"
    model = make_model(tok.vocab_size)
    torch.save({"config": model.config.to_dict(), "model": model.state_dict(),
                "extra": {"note": _Payload(marker)}}, path)
    with pytest.raises(CheckpointError, match="weights_only=True") as info:
        load_checkpoint(path, model_class=GPT)
    assert str(path) in str(info.value)
    assert not marker.exists()


def test_crafted_state_file_is_refused_without_running_code(tmp_path):
    marker, path = tmp_path / "ran", tmp_path / "trainer_state.pt"
    torch.save({"step": 3, "rng": _Payload(marker)}, path)
    with pytest.raises(CheckpointError, match=RETRAIN):
        load_state(path)
    assert not marker.exists()


def test_trainer_state_round_trips_through_atomic_save_and_load_state(tmp_path, tok):
    rng = random.Random(5)
    rng.random()
    gen = torch.Generator().manual_seed(7)
    torch.rand(3, generator=gen)
    model = make_model(tok.vocab_size)
    optimizer = torch.optim.AdamW(model.parameters())
    model(torch.zeros(1, 4, dtype=torch.long)).sum().backward()
    optimizer.step()
    state = {"step": 12, "python_rng": rng.getstate(), "torch_rng": gen.get_state(),
             "history": [{"step": 0, "reward": 0.25}, {"step": 1, "reward": float("nan")}],
             "model": model.state_dict(), "optimizer": optimizer.state_dict()}
    path = tmp_path / "state.pt"
    atomic_save(state, path)
    back = load_state(path)
    assert back["step"] == 12
    assert back["history"][0] == {"step": 0, "reward": 0.25}
    restored = random.Random()
    restored.setstate(back["python_rng"])
    assert restored.random() == rng.random()
    torch.testing.assert_close(back["torch_rng"], gen.get_state())
    for k, v in model.state_dict().items():
        torch.testing.assert_close(back["model"][k], v, atol=0, rtol=0)
    fresh = torch.optim.AdamW(model.parameters())
    fresh.load_state_dict(back["optimizer"])


@pytest.mark.parametrize("how", ["truncated", "empty", "text"])
def test_unreadable_state_file_raises_checkpoint_error(tmp_path, how):
    path = tmp_path / "state.pt"
    atomic_save({"step": 1, "history": list(range(1000))}, path)
    _damage(path, how)
    with pytest.raises(CheckpointError, match=RETRAIN):
        load_state(path)


# --- 5. a checkpoint made with another tokenizer --------------------------------------------

def test_checkpoint_vocabulary_must_match_the_tokenizer(checkpoint, tok):
    load_checkpoint(checkpoint, vocab_size=tok.vocab_size, model_class=GPT)  # the matching tokenizer loads
    with pytest.raises(CheckpointError) as info:
        load_checkpoint(checkpoint, vocab_size=tok.vocab_size + 7, model_class=GPT)
    message = str(info.value)
    assert str(checkpoint) in message and "another tokenizer" in message
    assert str(tok.vocab_size) in message and str(tok.vocab_size + 7) in message


# --- 2. the runs folder is checked before any training ---------------------------------------

@pytest.mark.parametrize("root", ["/proc/forbidden", "/proc"])
def test_unwritable_runs_folder_is_reported_before_training(root):
    with pytest.raises(RunsFolderError) as info:
        runs_dir("ch01", root)
    message = str(info.value)
    assert str(Path(root) / "ch01") in message
    assert "--runs DIR" in message and "COURSE_RUNS_DIR" in message
    assert isinstance(info.value, OSError)


def test_runs_folder_under_a_file_is_reported(tmp_path):
    afile = tmp_path / "afile"
    afile.write_text("")
    with pytest.raises(RunsFolderError, match="COURSE_RUNS_DIR"):
        runs_dir("ch01", afile)


def test_runs_folder_from_the_environment_is_checked(monkeypatch):
    monkeypatch.setenv("COURSE_RUNS_DIR", "/proc/forbidden")
    with pytest.raises(RunsFolderError, match="/proc/forbidden"):
        runs_dir("ch02")


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() == 0,
                    reason="root writes to read-only folders anyway")
def test_read_only_runs_folder_is_reported(tmp_path):
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o500)
    try:
        with pytest.raises(RunsFolderError, match="COURSE_RUNS_DIR"):
            check_writable(folder)
    finally:
        folder.chmod(0o700)


def test_check_writable_creates_the_folder_and_leaves_nothing(tmp_path):
    folder = check_writable(tmp_path / "a" / "b")
    assert folder.is_dir() and not list(folder.iterdir())


# --- 3. an asked-for device the machine lacks ------------------------------------------------

def test_course_device_cuda_without_cuda_names_the_variable(monkeypatch, capsys):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(runtime, "_DEVICE_PRINTED", False)
    monkeypatch.setenv("COURSE_DEVICE", "cuda")
    with pytest.raises(ValueError, match="COURSE_DEVICE=cuda") as info:
        pick_device()
    assert "unset COURSE_DEVICE" in str(info.value)
    assert "device:" not in capsys.readouterr().out  # nothing printed before the error
    assert runtime._DEVICE_PRINTED is False


def test_prefer_cuda_without_cuda_is_refused(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(ValueError, match="CUDA GPU"):
        pick_device("cuda")


def test_course_device_mps_without_mps(monkeypatch):
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    monkeypatch.setenv("COURSE_DEVICE", "mps")
    with pytest.raises(ValueError, match="COURSE_DEVICE=mps.*MPS"):
        pick_device()


@pytest.mark.parametrize("name", ["tpu", "gpu", "cuda:x", "xla"])
def test_unknown_course_device(monkeypatch, name):
    monkeypatch.setenv("COURSE_DEVICE", name)
    with pytest.raises(ValueError, match="use cpu, cuda or mps"):
        pick_device()


def test_course_device_cpu_still_works_and_prints_once(monkeypatch, capsys):
    monkeypatch.setattr(runtime, "_DEVICE_PRINTED", False)
    monkeypatch.setenv("COURSE_DEVICE", "cpu")
    assert pick_device() == torch.device("cpu")
    assert pick_device() == torch.device("cpu")
    assert capsys.readouterr().out.count("device: cpu") == 1


# --- 4. sampling settings and token ids ------------------------------------------------------

V = 30


@pytest.fixture
def model():
    return make_model(V, block_size=32, seed=2)


@pytest.mark.parametrize("kw, match", [
    ({"temperature": -0.5}, "temperature must be >= 0 \\(0 = greedy\\)"),
    ({"temperature": float("nan")}, "temperature must be >= 0"),
    ({"temperature": 1.0, "top_p": 0.0}, "top_p must be in \\(0, 1\\]"),
    ({"temperature": 1.0, "top_p": -0.1}, "top_p must be in"),
    ({"temperature": 1.0, "top_p": 1.5}, "top_p must be in"),
    ({"temperature": 1.0, "top_p": float("nan")}, "top_p must be in"),
    ({"temperature": 1.0, "top_k": -1}, "top_k must be >= 0"),
    ({"max_new_tokens": -1}, "max_new_tokens must be >= 0"),
], ids=["neg_temp", "nan_temp", "top_p_0", "top_p_neg", "top_p_big", "top_p_nan", "top_k_neg",
        "neg_max_new"])
def test_bad_sampling_settings_raise(model, kw, match):
    kw = {"max_new_tokens": 5, **kw}
    with pytest.raises(ValueError, match=match):
        generate(model, [[1, 2, 3]], eos_id=1, **kw)


def test_bad_settings_raise_even_with_greedy(model):
    """A bad top_p is a mistake even when temperature 0 would never use it."""
    with pytest.raises(ValueError, match="top_p"):
        generate(model, [[1, 2]], max_new_tokens=3, eos_id=1, top_p=2.0)


def test_filter_logits_checks_its_settings():
    logits = torch.randn(2, V)
    with pytest.raises(ValueError, match="top_p"):
        filter_logits(logits, top_p=0.0)
    with pytest.raises(ValueError, match="top_k"):
        filter_logits(logits, top_k=-3)
    assert torch.equal(filter_logits(logits, top_k=0, top_p=1.0), logits)  # both off


@pytest.mark.parametrize("bad", [V, V + 70, -1])
def test_prompt_token_outside_the_vocabulary(model, bad):
    with pytest.raises(ValueError) as info:
        generate(model, [[1, 2], [3, bad, 4]], max_new_tokens=3, eos_id=1)
    message = str(info.value)
    assert f"token id {bad}" in message and f"vocabulary of {V} ids" in message
    assert "prompt 1" in message and "tokenizer" in message


def test_pad_id_outside_the_vocabulary(model):
    with pytest.raises(ValueError, match="pad_id 99"):
        generate(model, [[1, 2]], max_new_tokens=3, eos_id=1, pad_id=99)


def test_zero_new_tokens_is_allowed(model):
    out = generate(model, [[1, 2]], max_new_tokens=0, eos_id=1)
    assert out.tokens == [[]] and out.finished == [False]


# --- 6. reward columns that are not one value per completion ---------------------------------

def test_accuracy_reward_answer_list_of_the_wrong_length():
    with pytest.raises(ValueError, match="3 completions but len\\(answer\\) is 1"):
        accuracy_reward([GOOD] * 3, answer=[12])


def test_accuracy_reward_answer_must_be_a_list():
    with pytest.raises(TypeError, match="answer must be a list with one entry per completion"):
        accuracy_reward([GOOD] * 3, answer="12")
    with pytest.raises(TypeError, match="answer must be a list"):
        accuracy_reward([GOOD], answer=12)


def test_accuracy_reward_accepts_lists_tuples_and_none():
    assert accuracy_reward([GOOD, GOOD], answer=(12, "13")) == [1.0, 0.0]
    assert accuracy_reward([GOOD, GOOD], answer=None) == [0.0, 0.0]


def test_consistency_reward_prompts_of_the_wrong_length():
    with pytest.raises(ValueError, match="2 completions but len\\(prompts\\) is 3"):
        consistency_reward([GOOD] * 2, prompts=["1+2?"] * 3)
    with pytest.raises(TypeError, match="prompts must be a list"):
        consistency_reward([GOOD] * 2, prompts="1+2?")
    assert consistency_reward([GOOD], prompts=None) == [1.0]


# --- 7. verify never raises, whatever the expected value -------------------------------------

@pytest.mark.parametrize("expected", [
    "seven", float("nan"), float("inf"), -float("inf"), 3.5, 12.5, None, True, False,
    10 ** 5000, "1" * 5000, -12, "-12", "", " ", [12], {"a": 1}, b"12", 1e300, object(),
], ids=["seven", "nan", "inf", "-inf", "3.5", "12.5", "None", "True", "False", "5001-digit-int",
        "5000-digit-str", "-12", "'-12'", "empty", "space", "list", "dict", "bytes", "1e300",
        "object"])
def test_verify_never_raises_and_non_integers_never_match(expected):
    verdict = verify(GOOD, expected)
    assert verdict.answer == 12 and verdict.well_formed
    assert verdict.correct is False


@pytest.mark.parametrize("expected", [12, 12.0, "12", " 12 ", "۱۲", "012"])
def test_verify_integer_expected_values_match(expected):
    assert verify(GOOD, expected).correct is True


def test_verify_numpy_integers_match():
    np = pytest.importorskip("numpy")
    assert verify(GOOD, np.int64(12)).correct is True
    assert verify(GOOD, np.float64("nan")).correct is False


def test_verify_huge_int_completion_does_not_raise():
    assert verify(10 ** 5000, 12).has_answer is False  # str() of it is refused by Python


def test_verify_stays_fast_on_long_inputs_and_huge_expected():
    import time

    text = "<think>" + "9" * 2_000_000 + "</think><answer>" + "9" * 100_000 + "</answer>"
    start = time.perf_counter()
    for expected in (10 ** 5000, "9" * 100_000, float("nan"), "seven"):
        assert verify(text, expected).correct is False
    assert time.perf_counter() - start < 2.0


# --- 8. best-of-N with NaN scores, majority vote with odd answers ----------------------------

def _c(answer: int) -> str:
    return f"<think>x</think><answer>{answer}</answer>"


def test_best_of_n_nan_score_is_never_chosen_over_a_number():
    nan = float("nan")
    assert best_of_n([_c(1), _c(2), _c(3)], [nan, 0.5, nan]) == 1
    assert best_of_n([_c(1), _c(2)], [nan, -float("inf")]) == 1  # even -inf beats NaN
    assert best_of_n([_c(1), _c(2)], [0.2, nan]) == 0


def test_best_of_n_all_nan_is_a_tie_broken_by_votes_then_first():
    nan = float("nan")
    assert best_of_n([_c(1), _c(2), _c(2)], [nan, nan, nan]) == 1  # answer 2 has most votes
    assert best_of_n([_c(1), _c(2)], [nan, nan]) == 0


def test_best_of_n_non_number_score_names_it():
    with pytest.raises(TypeError, match="score 1 is 'high'"):
        best_of_n([_c(1), _c(2)], [0.5, "high"])
    with pytest.raises(TypeError, match="score 0 is None"):
        best_of_n([_c(1)], [None])


def test_majority_vote_with_odd_answers():
    nan = float("nan")
    assert majority_vote([nan, nan, 3]) == 3  # NaN is no answer, like None
    assert majority_vote([nan, None]) is None
    assert majority_vote(iter([2, 2, 5])) == 2  # any iterable
    with pytest.raises(TypeError, match="answers must be numbers or None"):
        majority_vote([[1], [1]])


# --- 9. GPT-2 variants that do not convert exactly are refused -------------------------------

def _tiny_gpt2(**kw):
    transformers = pytest.importorskip("transformers")
    torch.manual_seed(0)
    cfg = transformers.GPT2Config(vocab_size=40, n_positions=16, n_embd=16, n_layer=1, n_head=2,
                                  activation_function="gelu_new", bos_token_id=None,
                                  eos_token_id=None, **kw)
    return transformers.GPT2LMHeadModel(cfg).eval()


@pytest.mark.parametrize("kw, match", [
    ({"scale_attn_weights": False}, "scale_attn_weights=False"),
    ({"n_inner": 24}, "n_inner=24 \\(need None or 4 \\* n_embd = 64\\)"),
], ids=["unscaled_attention", "n_inner"])
def test_from_hf_refuses_variants_it_cannot_convert_exactly(kw, match):
    from ch01_what_is_reasoning.hf_interop import from_hf

    with pytest.raises(ValueError, match="does not convert exactly to the course GPT") as info:
        from_hf(_tiny_gpt2(**kw))
    assert info.match(match)


def test_from_hf_accepts_n_inner_equal_to_four_times_n_embd():
    from ch01_what_is_reasoning.hf_interop import from_hf

    hf = _tiny_gpt2(n_inner=64)
    idx = torch.randint(0, 40, (2, 10))
    with torch.no_grad():
        torch.testing.assert_close(from_hf(hf)(idx), hf(idx).logits, atol=1e-5, rtol=0)
