import pytest

from rlrewards.registry import Registry
from rlrewards.rewards import REWARDS
from rlrewards.rewards.checkers import CHECKERS
from rlrewards.tasks.formats import ANSWER_FORMATS
from rlrewards.trainer import ADVANTAGE_ESTIMATORS, AUX_LOSSES


def test_register_and_get_round_trip():
    registry = Registry("widget")

    @registry.register("spinner")
    def spinner():
        return "spin"

    assert registry.get("spinner") is spinner
    assert "spinner" in registry
    assert registry.names() == ["spinner"]


def test_unknown_name_lists_known_names():
    registry = Registry("widget")
    registry.register("a")(object())
    registry.register("b")(object())
    with pytest.raises(KeyError, match=r"Unknown widget 'c'\. Known: a, b"):
        registry.get("c")


def test_dotted_path_imports_user_objects():
    assert REWARDS.get("rlrewards.rewards.core.format_reward") is REWARDS.get("format")
    with pytest.raises(KeyError, match="has no 'missing'"):
        REWARDS.get("rlrewards.rewards.core.missing")
    with pytest.raises(KeyError, match="module 'no_such_pkg' not found"):
        REWARDS.get("no_such_pkg.fn")


def test_registering_a_different_object_under_a_taken_name_fails():
    registry = Registry("widget")
    registry.register("x")(1)
    with pytest.raises(ValueError, match="already registered"):
        registry.register("x")(2)


@pytest.mark.parametrize(
    ("registry", "expected"),
    [
        (REWARDS, {"accuracy", "format"}),
        (CHECKERS, {"numeric", "math_verify", "exact"}),
        (ANSWER_FORMATS, {"answer_tag", "think_answer"}),
        (ADVANTAGE_ESTIMATORS, {"grpo"}),
        (AUX_LOSSES, {"entropy_bonus"}),
    ],
)
def test_builtin_registries_hold_their_parts(registry, expected):
    assert expected <= set(registry.names())
    for name in registry.names():
        assert registry.get(name) is registry.get(name)
