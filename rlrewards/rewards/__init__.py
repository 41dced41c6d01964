"""Reward functions following TRL's contract, registered by name, and the safety wrapper around them."""

from rlrewards.rewards.core import REWARDS, SafeReward, build_reward_functions, completion_text

__all__ = ["REWARDS", "SafeReward", "build_reward_functions", "completion_text"]
