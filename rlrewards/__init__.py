"""rlrewards: reproduce, compare and extend reward-design papers for RL on LLMs."""

__version__ = "0.1.0"
