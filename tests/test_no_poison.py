"""Nothing non-finite is trained on or saved, rewards keep their contract, and a student's
reward is part of the recipe: a poisoned run stops at once, naming what poisoned it."""

import json
import math
import shutil

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ch01_what_is_reasoning.arithmetic import random_problem
from ch01_what_is_reasoning.model import GPT, GPTConfig
from ch01_what_is_reasoning.tokenizer import CharTokenizer
from ch01_what_is_reasoning.training import PromptCompletionBatches, train
from ch02_r1_pipeline.grpo import GRPOConfig, GRPOTrainer, RewardError, score
from ch02_r1_pipeline.recipe import students_rewards
from ch02_r1_pipeline.rewards import ACCURACY_FORMAT, REWARDS, accuracy_reward
from ch02_r1_pipeline.runner import Pipeline
from course.cache import what_changed
from course.overrides import SettingError
from course.runtime import (
    CheckpointError,
    NonFiniteError,
    atomic_save,
    get_preset,
    load_state,
    non_finite_entries,
    save_checkpoint,
    write_json,
)

TOK = CharTokenizer()


def _model(seed=0):
    torch.manual_seed(seed)
    return GPT(GPTConfig(TOK.vocab_size, 128, n_layer=1, n_head=2, n_embd=32)).eval()


def _prompts(rng, n):
    return [(p.prompt(), p.answer) for p in (random_problem(rng, 2) for _ in range(n))]


def _trainer(reward=None, **config):
    rewards = {"mine": reward} if reward else None
    weights = {"mine": 1.0} if reward else dict(ACCURACY_FORMAT)
    cfg = GRPOConfig(prompts_per_step=2, group_size=2, max_new_tokens=8, reward_weights=weights,
                     **config)
    return GRPOTrainer(_model(), TOK, _prompts, cfg, rewards=rewards)


# ------------------------------------------------------------------ the rewards' contract
@pytest.mark.parametrize("returns, says", [
    (lambda cs: None, "returned None, a NoneType"),
    (lambda cs: 1.0, "returned 1.0, a float"),
    (lambda cs: "good", "returned 'good', a str"),
    (lambda cs: [None] * len(cs), "returned None for the completion"),
    (lambda cs: ["1.0"] * len(cs), "returned '1.0' for the completion"),
    (lambda cs: [1.0], "returned 1 values for 4 completions"),
    (lambda cs: [float("inf")] + [0.0] * (len(cs) - 1), "returned inf for the completion"),
    (lambda cs: [float("nan")] * len(cs), "returned nan for the completion"),
])
def test_a_reward_that_breaks_its_contract_stops_the_step_naming_it(returns, says):
    def reward(completions, **kwargs):
        return returns(completions)

    trainer = _trainer(reward)
    before = [p.detach().clone() for p in trainer.model.parameters()]
    with pytest.raises(RewardError) as err:
        trainer.train(1, progress=False, desc="my_stage")
    message = str(err.value)
    assert message.startswith("my_stage: reward 'mine'") and says in message, message
    assert all(torch.equal(a, b) for a, b in zip(before, trainer.model.parameters()))
    assert trainer.step == 0 and trainer.history == []


def test_a_reward_that_crashes_is_named_and_the_call_is_spelled_out():
    def reward(completions):   # no **kwargs: the trainer also passes prompts= and answer=
        return [0.0] * len(completions)

    with pytest.raises(RewardError, match=r"reward 'mine' raised TypeError.*prompts=\.\.\., answer=\.\.\."):
        _trainer(reward).train_step()


def test_a_reward_cannot_change_what_the_next_reward_sees():
    seen = []

    def greedy(completions, **kwargs):
        try:
            completions[0] = "<think>1+1 = 2</think><answer>2</answer>"   # would fool accuracy
        except TypeError:
            pass
        return [0.0] * len(completions)

    def spy(completions, **kwargs):
        seen.append(list(completions))
        return [0.0] * len(completions)

    texts = ["no answer", "also none"]
    score(texts, ["1+1?"] * 2, [2, 2], {"a_greedy": 1.0, "z_spy": 1.0},
          {**REWARDS, "a_greedy": greedy, "z_spy": spy})
    assert seen == [texts] and texts == ["no answer", "also none"]


# ------------------------------------------------------------------ non-finite training
def test_a_diverging_grpo_run_stops_at_the_step_and_saves_nothing(tmp_path):
    trainer = _trainer(lambda completions, **kw: [float(i % 2) * 1e3 for i in range(len(completions))],
                       lr=1e30)
    with pytest.raises(NonFiniteError, match=r"^r1_zero: step \d+: .*(NaN or infinite|the loss is)"):
        trainer.train(20, progress=False, desc="r1_zero")
    with torch.no_grad():
        next(trainer.model.parameters()).fill_(float("nan"))
    with pytest.raises(NonFiniteError, match=r"refusing to save state\.pt: model\."):
        trainer.save(tmp_path / "state.pt")
    assert list(tmp_path.iterdir()) == []          # no file, not even a temporary one


def test_pretraining_or_sft_that_diverges_stops_naming_the_run_and_step():
    model = _model()
    batches = PromptCompletionBatches([("1+1?", "<answer>2</answer>")] * 4, TOK, 128)
    with pytest.raises(NonFiniteError, match=r"^SFT test, step \d+: "):
        train(model, batches, steps=30, batch_size=2, lr=1e30, desc="SFT test", progress=False)


def test_training_refuses_negative_steps():
    batches = PromptCompletionBatches([("1+1?", "<answer>2</answer>")], TOK, 128)
    with pytest.raises(ValueError, match="r1_sft: steps must be >= 0, got -3"):
        train(_model(), batches, steps=-3, batch_size=1, lr=1e-3, desc="r1_sft", progress=False)


# ------------------------------------------------------------------ what is saved and loaded
def test_no_checkpoint_with_a_nan_weight_is_ever_written(tmp_path):
    model = _model()
    with torch.no_grad():
        model.lm_head.weight[0, 0] = float("nan")
    refused = r"refusing to save base\.pt: model\..*weight.* hold NaN or infinity"
    with pytest.raises(NonFiniteError, match=refused):
        save_checkpoint(tmp_path / "base.pt", model)
    assert list(tmp_path.iterdir()) == []


def test_a_poisoned_state_written_by_an_older_course_is_refused_on_load(tmp_path):
    path = tmp_path / "r1_zero.state.pt"
    torch.save({"trainer": {"model": {"w": torch.tensor([1.0, float("inf")])}}}, path)
    with pytest.raises(CheckpointError, match=r"trainer\.model\.w hold NaN or infinity"):
        load_state(path)


def test_two_saves_of_one_file_use_their_own_temporary_files(tmp_path, monkeypatch):
    names = []
    real_save = torch.save
    monkeypatch.setattr(torch, "save", lambda obj, f: (names.append(str(f)), real_save(obj, f)))
    atomic_save({"a": torch.ones(1)}, tmp_path / "x.pt")
    atomic_save({"a": torch.ones(1)}, tmp_path / "x.pt")
    assert len(set(names)) == 2 and all(n != str(tmp_path / "x.pt.tmp") for n in names)
    assert [p.name for p in tmp_path.iterdir()] == ["x.pt"]


def test_results_with_nan_are_refused_not_written_as_invalid_json(tmp_path):
    with pytest.raises(ValueError):
        write_json(tmp_path / "results.json", {"reward": float("nan")})
    assert not (tmp_path / "results.json").exists()
    write_json(tmp_path / "results.json", {"reward": 0.5})
    assert json.loads((tmp_path / "results.json").read_text()) == {"reward": 0.5}


# ------------------------------------------------------------------ fingerprints
def test_a_students_reward_is_in_the_recipe_by_its_code(monkeypatch, tmp_path):
    assert students_rewards(ACCURACY_FORMAT) == {}          # the course's own: by name only
    namespace = {}
    exec("def mine(completions, **kw):\n    return [1.0] * len(completions)\n", namespace)
    monkeypatch.setitem(REWARDS, "accuracy", namespace["mine"])
    first = students_rewards(ACCURACY_FORMAT)
    exec("def mine(completions, **kw):\n    return [0.5] * len(completions)\n", namespace)
    monkeypatch.setitem(REWARDS, "accuracy", namespace["mine"])
    second = students_rewards(ACCURACY_FORMAT)
    assert set(first) == {"accuracy"} and first != second  # same name, new body: new recipe

    pipeline = Pipeline(get_preset("tiny"), torch.device("cpu"), tmp_path, progress=False)
    recipe = pipeline.stage_recipe("r1_zero")
    assert recipe["rewards"] == second
    monkeypatch.setitem(REWARDS, "accuracy", accuracy_reward)
    assert "rewards" not in pipeline.stage_recipe("r1_zero")


def test_curve_settings_retrain_the_curve_not_the_stages_after_it(tmp_path):
    device = torch.device("cpu")
    default = Pipeline(get_preset("tiny"), device, tmp_path, progress=False)
    denser = Pipeline(get_preset("tiny"), device, tmp_path, progress=False,
                      overrides={"curve_every": 1})
    assert default.stage_recipe("r1_zero") != denser.stage_recipe("r1_zero")
    assert what_changed(default.stage_recipe("r1_zero"), denser.stage_recipe("r1_zero")) == "curve changed"
    for later in ("cold_start_data", "cold_start", "r1_reasoning_rl", "r1"):
        assert default.fingerprint(later) == denser.fingerprint(later), later


def test_every_non_finite_tensor_is_found_by_its_path():
    state = {"a": torch.tensor([1.0]), "b": [torch.tensor([math.inf]), torch.tensor([1])],
             "c": {"d": torch.tensor([math.nan])}, "e": 3}
    assert non_finite_entries(state) == ["b.0", "c.d"]


# ------------------------------------------------------------------ drawn settings, run for real
@pytest.fixture(scope="module")
def trained_base(tmp_path_factory):
    """A runs folder holding the tiny base (each drawn run copies it: only R1-Zero trains)."""
    root = tmp_path_factory.mktemp("runs")
    Pipeline(get_preset("tiny"), torch.device("cpu"), root, progress=False).run("base")
    return root


EXTREMES = st.sampled_from([0.0, 1e-12, 1e-3, 1.0, 1e6, 1e30, -1.0, -1e30])


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(lr=st.sampled_from([1e-12, 1e-4, 1.0, 1e3, 1e30]), accuracy=EXTREMES, format_=EXTREMES,
       temperature=st.sampled_from([1e-3, 0.5, 1.0, 50.0]), eps=st.sampled_from([0.0, 0.2, 10.0]))
def test_drawn_rl_settings_run_or_stop_by_name_and_never_cache_poison(trained_base, tmp_path, lr,
                                                                      accuracy, format_,
                                                                      temperature, eps):
    root = tmp_path / "runs"
    shutil.copytree(trained_base, root, dirs_exist_ok=True)
    overrides = {"r1_zero.lr": lr, "r1_zero.reward_weights.accuracy": accuracy,
                 "r1_zero.reward_weights.format": format_, "r1_zero.temperature": temperature,
                 "r1_zero.eps_high": eps}
    try:
        pipeline = Pipeline(get_preset("tiny"), torch.device("cpu"), root, progress=False,
                            overrides=overrides)
    except SettingError as err:      # refused before anything ran, naming the key
        assert str(err).startswith("r1_zero."), err
        return
    try:
        pipeline.run("r1_zero")
    except NonFiniteError as err:    # stopped, naming the stage and the step
        assert str(err).startswith("r1_zero: step "), err
    for path in root.rglob("*.pt"):  # whatever happened, every saved file is finite and loads
        load_state(path)
