"""Rule rewards on hand-written and hostile strings."""

from hypothesis import given, settings
from hypothesis import strategies as st

from ch02_r1_pipeline.rewards import (
    accuracy_reward,
    consistency_reward,
    format_reward,
    is_mixed,
)

GOOD = "<think>(3+4)*2 = 7*2 = 14</think><answer>14</answer>"


def test_accuracy_reward_checks_the_ground_truth():
    completions = [GOOD, "<think></think><answer>15</answer>", "14", "<answer>۱۴</answer>"]
    assert accuracy_reward(completions, answer=["14", "14", "14", "14"]) == [1.0, 0.0, 0.0, 1.0]
    assert accuracy_reward([GOOD], answer=["۱۴"]) == [1.0]  # Persian ground truth


def test_format_reward_wants_the_whole_template():
    assert format_reward([GOOD, "<answer>14</answer>", GOOD + " extra"]) == [1.0, 0.0, 0.0]


def test_consistency_reward_is_the_share_in_the_prompts_script():
    persian_prompt = "(۳+۴)*۲?"
    clean = "<think>(۳+۴)*۲ = ۷*۲ = ۱۴</think><answer>۱۴</answer>"
    mixed = "<think>(۳+۴)*۲ = 7*2 = ۱۴</think><answer>۱۴</answer>"
    rewards = consistency_reward([clean, mixed, GOOD], prompts=[persian_prompt] * 3)
    assert rewards[0] == 1.0
    assert 0.0 < rewards[1] < 1.0
    assert rewards[2] == 0.0
    assert is_mixed(mixed) and not is_mixed(clean) and not is_mixed(GOOD)


def test_trl_conversational_completions_are_accepted():
    chat = [[{"role": "assistant", "content": GOOD}]]
    assert accuracy_reward(chat, answer=[14]) == [1.0]
    assert format_reward(chat) == [1.0]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(st.text(), st.sampled_from([GOOD, "<think>", "</answer>", "۱"]),
                          st.none(), st.integers()), min_size=1, max_size=5),
       st.one_of(st.text(max_size=20), st.none(), st.integers()))
def test_rewards_never_raise_on_hostile_input(completions, truth):
    n = len(completions)
    for rewards in (accuracy_reward(completions, answer=[truth] * n),
                    format_reward(completions),
                    consistency_reward(completions, prompts=[str(truth)] * n)):
        assert len(rewards) == n
        assert all(0.0 <= r <= 1.0 for r in rewards)


def test_rewards_do_not_evaluate_text_as_code():
    payload = "<think>__import__('os').system('echo pwned')</think><answer>1+1</answer>"
    assert accuracy_reward([payload], answer=[2]) == [0.0]
