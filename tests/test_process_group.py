"""The trainer leaves the process group accelerate joined before the interpreter shuts down (a gloo process that
exits without ``destroy_process_group`` can abort at finalization: rlrewards/trainer/process_group.py). The same
check on two real processes is in test_distributed.py."""

from types import SimpleNamespace

import torch.distributed as dist
from trainer_helpers import digit_fraction, grpo_args, small_dataset

from rlrewards.models.tiny import build_tiny_model, build_tiny_tokenizer
from rlrewards.trainer import RecipeGRPOTrainer, process_group
from rlrewards.trainer.process_group import leave_process_group


def test_leave_process_group_destroys_the_initialized_group_once():
    dist.init_process_group("gloo", store=dist.HashStore(), rank=0, world_size=1)
    try:
        assert leave_process_group() is True
        assert not dist.is_initialized()
        assert leave_process_group() is False  # nothing left to leave
    finally:
        if dist.is_initialized():
            dist.destroy_process_group()


def test_a_non_gloo_group_is_left_alone(monkeypatch):
    # NCCL's teardown waits for pending collectives: the handler must not touch it (no NCCL on a CPU machine, so the
    # backend is what the check reads)
    dist.init_process_group("gloo", store=dist.HashStore(), rank=0, world_size=1)
    try:
        monkeypatch.setattr(dist, "get_backend", lambda *args: "nccl")
        assert leave_process_group() is False
        assert dist.is_initialized()
    finally:
        monkeypatch.undo()
        dist.destroy_process_group()


def test_building_a_recipe_trainer_registers_the_exit_handler_once(monkeypatch, tmp_path):
    registered = []
    monkeypatch.setattr(process_group, "_registered", False)
    monkeypatch.setattr(process_group, "atexit", SimpleNamespace(register=registered.append))
    tokenizer = build_tiny_tokenizer()
    for _ in range(2):
        RecipeGRPOTrainer(
            model=build_tiny_model(tokenizer, hidden_size=16, num_layers=1, num_heads=2, num_kv_heads=1),
            reward_funcs=[digit_fraction],
            args=grpo_args(tmp_path),
            train_dataset=small_dataset(8),
            processing_class=tokenizer,
        )
    assert registered == [leave_process_group]
