"""A prompt's group spans two processes: the estimator sees the gathered batch, each process gets its own rows."""

import os
import socket
import subprocess
import sys

import torch
from conftest import REPO_ROOT

from rlrewards.algorithms.tempo import tempo_advantages


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def run_two_processes(out_dir, estimator: str) -> list[dict]:
    env = {
        **os.environ,
        "PYTHONPATH": f"{REPO_ROOT / 'tests'}:{os.environ.get('PYTHONPATH', '')}",
        "OMP_NUM_THREADS": "1",
    }
    command = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--nproc_per_node",
        "2",
        "--master_port",
        str(free_port()),
        str(REPO_ROOT / "tests" / "dist_worker.py"),
        str(out_dir),
        estimator,
    ]
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-4000:]
    return [torch.load(out_dir / f"rank{r}.pt", weights_only=False) for r in (0, 1)]


def test_advantage_hook_gathers_across_processes_and_slices_local_rows(tmp_path):
    ranks = run_two_processes(tmp_path, "ramp")
    assert [r["world"] for r in ranks] == [2, 2]
    assert all(r["group_size"] == 8 and r["ids"].shape[0] == 8 for r in ranks)
    # Both processes see the same gathered batch.
    assert torch.equal(ranks[0]["ids"], ranks[1]["ids"])
    assert torch.equal(ranks[0]["rewards"], ranks[1]["rewards"])
    for rank, record in enumerate(ranks):
        rows = slice(4 * rank, 4 * rank + 4)
        width = record["local_ids"].shape[1]
        assert torch.equal(record["local_ids"], record["ids"][rows, :width])
        assert torch.equal(record["local_adv"], record["adv"][rows, :width])
        assert record["local_row_id"].tolist() == [4.0 * rank + i for i in range(4)]
        assert (record["ids"][rows, width:] == 0).all()  # padded with the tiny tokenizer's pad id


def test_tempo_on_two_processes_equals_one_process_on_the_gathered_batch(tmp_path):
    ranks = run_two_processes(tmp_path, "tempo")
    gathered = ranks[0]
    assert torch.equal(gathered["ids"], ranks[1]["ids"])
    # The whole group (8 completions) spans both processes: 4 rows each.
    single = tempo_advantages(gathered["ids"], gathered["mask"], gathered["rewards"], group_size=8)
    assert single.abs().sum() > 0
    installed = torch.zeros_like(single)
    for rank, record in enumerate(ranks):
        width = record["local_adv"].shape[1]
        installed[4 * rank : 4 * rank + 4, :width] = record["local_adv"]
    torch.testing.assert_close(installed, single)
    assert set(gathered["metrics"]) == {"tempo/branch_token_frac", "tempo/mean_branch_depth", "tempo/td_share"}


def test_laser_mixing_in_the_loss_forward_on_two_processes_equals_one_process_on_the_gathered_batch(tmp_path):
    from rlrewards.algorithms.laser import mixed_advantages, self_reward_scores

    ranks = run_two_processes(tmp_path, "laser")
    gathered = ranks[0]
    for key in ("ids", "slot_logps", "grpo_adv", "adv"):
        assert torch.equal(gathered[key], ranks[1][key]), key
    # The group of 8 spans both processes; mixing reads the slot scores of all 8.
    scores = self_reward_scores(gathered["slot_logps"].float(), -4.8, 0.1)
    finished = torch.ones(8, dtype=torch.bool)
    expected = mixed_advantages(gathered["grpo_adv"], scores, finished, 8, tau=0.5, std_threshold=0.0)
    torch.testing.assert_close(gathered["adv"], expected)
    assert not torch.equal(expected, gathered["grpo_adv"])
    # Each process's loss received its own rows (in TRL's shuffled order) with their mixed advantages.
    rows = torch.cat([record["loss_rows"] for record in ranks])
    assert sorted(rows.tolist()) == list(range(8))
    for rank, record in enumerate(ranks):
        assert all(4 * rank <= r < 4 * rank + 4 for r in record["loss_rows"].tolist())
        torch.testing.assert_close(record["loss_adv"], expected[record["loss_rows"]])
