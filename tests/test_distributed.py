"""Two CPU processes (gloo) against one.

Advantage hook: a prompt's group spans two processes; the estimator sees the gathered batch, each process gets its
own rows. Training: ``grpo``, ``tempo``, ``nsr`` (rows dropped from the loss) and ``laser`` trained for two steps
on two processes, each on half of every batch, end in the same advantages, losses and weights as one process on the
whole batch."""

import json
import os
import signal
import subprocess
import sys

import pytest
import torch
from conftest import REPO_ROOT
from trainer_helpers import (
    FIXED_GROUP_SIZE,
    FIXED_PROMPTS_PER_STEP,
    gathered_records,
    train_recipe_on_fixed_completions,
)

from rlrewards.algorithms.tempo import tempo_advantages


def launch_two_processes(out_dir, *worker_args: str, timeout: float = 600) -> None:
    """``tests/dist_worker.py <out_dir> <worker_args>`` under torchrun on 2 CPU processes (gloo). The whole process
    group is killed on timeout; a failure shows each failed rank's traceback."""
    env = {
        **os.environ,
        "PYTHONPATH": f"{REPO_ROOT / 'tests'}:{os.environ.get('PYTHONPATH', '')}",
        "OMP_NUM_THREADS": "1",
    }
    command = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",  # rendezvous on a free local port
        "--nproc_per_node",
        "2",
        str(REPO_ROOT / "tests" / "dist_worker.py"),
        str(out_dir),
        *worker_args,
    ]
    # A session of its own, so that a timeout takes torchrun and both workers down together.
    proc = subprocess.Popen(
        command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True
    )
    try:
        _, stderr = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        _, stderr = proc.communicate()
        pytest.fail(f"the 2-process run took over {timeout:.0f}s and was killed; stderr tail:\n{stderr[-3000:]}")
    if proc.returncode != 0:
        tracebacks = "\n".join(
            f"--- {path.name} ---\n{path.read_text()}" for path in sorted(out_dir.glob("rank*.traceback"))
        )
        written = sorted(path.name for path in out_dir.iterdir())  # results saved: the failure came after the work
        pytest.fail(
            f"the 2-process run failed (exit {proc.returncode}); files written: {written}\n"
            f"{tracebacks or '(no rank wrote a traceback)'}\n"
            f"--- torchrun stderr (tail) ---\n{stderr[-3000:]}"
        )


def run_two_processes(out_dir, estimator: str) -> list[dict]:
    launch_two_processes(out_dir, estimator)
    return [torch.load(out_dir / f"rank{r}.pt", weights_only=False) for r in (0, 1)]


def test_advantage_hook_gathers_across_processes_and_slices_local_rows(tmp_path):
    ranks = run_two_processes(tmp_path, "ramp")
    # Each rank left the process group at exit, before interpreter shutdown (rlrewards/trainer/process_group.py).
    assert [json.loads((tmp_path / f"rank{r}.exit").read_text()) for r in (0, 1)] == [{"initialized": False}] * 2
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


def test_refilled_groups_are_gathered_and_re_split_over_the_processes(tmp_path):
    ranks = run_two_processes(tmp_path, "refill")
    first, second = ranks[0]["attempts"]  # both processes saw the same two gathered batches
    assert all(torch.equal(a["ids"], b["ids"]) for a, b in zip(ranks[0]["attempts"], ranks[1]["attempts"]))
    assert len(ranks[1]["attempts"]) == 2
    # 3 groups of 4 over 2 x 6 rows: group 0 of the first batch is replaced by group 0 of the second; rank 0 trains
    # rows 4-9 of the first batch, rank 1 rows 10-11 of the first and 0-3 of the second
    assert ranks[0]["local_adv"].tolist() == [4.0, 5.0, 6.0, 7.0, 8.0, 9.0]
    assert ranks[1]["local_adv"].tolist() == [10.0, 11.0, 1000.0, 1001.0, 1002.0, 1003.0]
    expected = [(first, r) for r in range(4, 12)] + [(second, r) for r in range(4)]
    trained = [(record, i) for record in ranks for i in range(6)]
    for (batch, row), (record, i) in zip(expected, trained, strict=True):
        tokens = batch["ids"][row][batch["mask"][row].bool()].tolist()
        assert record["local_ids"][i][record["local_mask"][i].bool()].tolist() == tokens


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
    assert set(gathered["metrics"]) == {
        "tempo/branch_token_frac",
        "tempo/mean_branch_depth",
        "tempo/td_share",
        "tempo/td_share_at_branches",
        "tempo/branch_flip_frac",
    }


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


# --- Training: two processes, each on half of every batch, against one process on the whole batch --------------------

ROWS = FIXED_PROMPTS_PER_STEP * FIXED_GROUP_SIZE  # 12 completions a step: 6 per process, the 2nd group spans both
# dapo divides the summed token losses by the token count of the whole generation batch (gathered over processes)
# over the process count, so after DDP averages the gradients the objective is the one-process one whatever the
# split. TRL's bnpo (the tempo and laser recipes' loss type) divides by each process's own token count, so two
# processes optimise the mean of two per-half token means: a different objective whenever the halves hold different
# numbers of tokens, as they do here. grpo (per-sequence means, then the mean over rows) would also match, as TRL
# gives every process the same number of rows.
# Plain SGD without clipping makes the weights a linear function of the gradients, so comparing weights compares the
# DDP-averaged gradients themselves; Adam's first steps move each weight by about lr * sign(gradient), blind to a
# gradient off by a constant factor (a sum over processes instead of a mean, say).
COMMON = [
    "++trainer.loss_type=dapo",
    "++trainer.optim=sgd",
    "trainer.learning_rate=1e-2",
    "++trainer.max_grad_norm=1e9",
]
RECIPES = {
    "grpo": COMMON,
    "tempo": COMMON,
    # Drops the correct rows from the loss (AdvantageOutput.keep): dapo's token count is recounted over processes.
    "nsr": COMMON,
    # Mixing and the self-reward loss from the first step, with a fixed c_ref (scores near 0.5, away from the clamp)
    # and no std threshold (an untrained model's scores barely vary within a group).
    "laser": [
        *COMMON,
        "recipe.advantage.kwargs.c_ref=-10.0",
        "recipe.advantage.kwargs.reasoning_warmup=0",
        "recipe.advantage.kwargs.self_reward_warmup=0",
        "recipe.advantage.kwargs.std_threshold=0.0",
    ],
    # The std filter from step 2 (bound: step 1's mean group std), so step 2 drops groups and refills them from more
    # generation batches (rlrewards/trainer/refill.py), re-split over the processes. Reward = 0.9 * r alone: the
    # groups' stds then differ by >= 10% from the bound, far from any tie a float reordering could flip.
    "rlpr": [
        *COMMON,
        "recipe.advantage.kwargs.ema_start_step=1",
        "recipe.advantage.kwargs.filter_start_step=2",
        "recipe.advantage.kwargs.std_filter_beta=1.0",
        "recipe.advantage.kwargs.debias=false",
        "recipe.advantage.kwargs.format_coefficient=0.0",
    ],
}


@pytest.fixture(scope="module")
def two_process_training(tmp_path_factory):
    out_dir = tmp_path_factory.mktemp("two_process_training")
    launch_two_processes(out_dir, "recipes", json.dumps({"recipes": RECIPES, "per_device_batch": ROWS // 2}))
    return {
        recipe: [torch.load(out_dir / f"{recipe}.rank{r}.pt", weights_only=False) for r in (0, 1)] for recipe in RECIPES
    }


@pytest.mark.parametrize("recipe", list(RECIPES))
def test_two_process_training_equals_one_process(recipe, two_process_training, tmp_path):
    """Two optimizer steps of the recipe (its rewards, estimator, auxiliary loss and trainer settings from ``conf/``)
    on the tiny model: two gloo processes with 6 completions each against one process with all 12.

    Generation is replaced by fixed completions, a function of (prompt, position in its group) only
    (``trainer_helpers.fixed_completion``): sampling cannot be made to agree, since each process samples its own
    rows from its own random stream, while TRL's sampler gives both runs the same prompts in the same global order
    (seeded shuffle, process p holding rows 6p..6p+5), so both runs score and train on identical batches. The
    completions differ in length within a group and between the halves (which is what tells dapo from bnpo), split
    into right and wrong answers after a shared prefix (a TEMPO branch) and include an unfinished one (LaSeR).

    Tolerances: both runs compute in float32 the same sums in a different order (6-row vs 12-row batches padded to
    different widths, DDP's all-reduce of two half-batch gradients, a different row shuffle before the loss, 1 vs 2
    threads), so they agree to a few float32 ulps, far inside rtol=1e-5; a wrong slice, gather or normalisation
    would be off by O(1) in relative terms. Loss type and optimizer: see ``COMMON``."""
    single = train_recipe_on_fixed_completions(recipe, tmp_path, per_device_batch=ROWS, overrides=RECIPES[recipe])
    ranks = two_process_training[recipe]
    assert [r["world"] for r in ranks] == [2, 2] and single["world"] == 1
    assert single["loss_type"] == "dapo" and all(r["loss_type"] == "dapo" for r in ranks)
    tight = dict(rtol=1e-5, atol=1e-6)
    for step in (0, 1):
        one, two = gathered_records([single], step), gathered_records(ranks, step)
        assert one["completion_ids"].shape == (ROWS, two["completion_ids"].shape[1])
        assert torch.equal(one["completion_ids"], two["completion_ids"]), f"step {step}: different completions"
        assert torch.equal(one["completion_mask"], two["completion_mask"])
        # The two halves hold different numbers of tokens, so a per-process normalisation could not go unnoticed.
        halves = one["completion_mask"].sum(dim=1).split(ROWS // 2)
        assert halves[0].sum() != halves[1].sum()
        torch.testing.assert_close(
            two["advantages"], one["advantages"], **tight, msg=labelled(f"step {step}, advantages")
        )
        torch.testing.assert_close(two["loss"], one["loss"], **tight, msg=labelled(f"step {step}, loss"))
        assert one["advantages"].abs().sum() > 0
    logged_steps = [[e for e in run["log_history"] if "loss" in e] for run in (single, *ranks)]
    refills = [[e.get("refill/generation_batches") for e in steps] for steps in logged_steps]
    assert refills[0] == refills[1] == refills[2]  # the same extra generation batches, when the recipe refills
    for key in ("loss", "grad_norm"):  # the logged loss is the mean over processes, the norm that of the mean gradient
        logged = [torch.tensor([e[key] for e in run["log_history"] if key in e]) for run in (single, *ranks)]
        assert len(logged[0]) == 2 and torch.equal(logged[1], logged[2])
        torch.testing.assert_close(logged[1], logged[0], **tight, msg=labelled(f"logged {key}"))
    # Weights: updates of up to ~1.5e-2 agree to ~4e-9 (an ulp of the weights) in practice; 1e-7 leaves 25x headroom.
    initial = single["initial_params"]
    for name, value in single["params"].items():
        assert torch.equal(ranks[0]["initial_params"][name], initial[name])
        assert torch.equal(ranks[0]["params"][name], ranks[1]["params"][name]), f"ranks disagree on {name}"
        torch.testing.assert_close(
            ranks[0]["params"][name] - initial[name],
            value - initial[name],
            rtol=1e-5,
            atol=1e-7,
            msg=labelled(f"update of {name}"),
        )
    assert max((value - initial[name]).abs().max() for name, value in single["params"].items()) > 1e-3
    _check_recipe_is_active(recipe, single)
    if recipe == "laser":  # on two processes too, the estimator ran inside the loss forward (its gathers included)
        assert all(record["estimated_in_loss_forward"] for rank in ranks for record in rank["records"])


def labelled(label: str):
    """An assert_close message that keeps torch's own description of the mismatch."""
    return lambda message: f"{label}: {message}"


def _check_recipe_is_active(recipe: str, run: dict) -> None:
    """The runs above would agree trivially if the recipe's own part did nothing; make sure it acted."""
    logs = [e for e in run["log_history"] if "loss" in e]
    if recipe == "tempo":
        assert all(e["tempo/td_share"] > 0 for e in logs)
        record = gathered_records([run], 0)
        advantages, mask = record["advantages"], record["completion_mask"].bool()
        assert advantages.dim() == 2  # per token: the TD term makes some completion's tokens differ
        assert any(row[valid].unique().numel() > 1 for row, valid in zip(advantages, mask, strict=True))
    elif recipe == "nsr":  # fixed completions 0 and 2 of each group are right: dropped, the wrong ones kept
        for step in (0, 1):
            record = gathered_records([run], step)
            lengths = record["completion_mask"].sum(dim=1)
            right = torch.arange(lengths.numel()) % FIXED_GROUP_SIZE % 2 == 0
            assert (lengths[right] == 0).all() and (lengths[~right] > 0).all()
    elif recipe == "laser":
        assert all(e["laser/mixing_active"] == 1.0 and e["laser/mixed_frac"] > 0 for e in logs)
        assert all(e["aux/laser_self_reward/loss"] > 0 for e in logs)
        assert all(record["estimated_in_loss_forward"] for record in run["records"])


def test_the_rlpr_run_above_refilled_its_second_step(two_process_training):
    """The rlpr case of the comparison above exercises the refill: step 2 needed more generation batches."""
    for rank in two_process_training["rlpr"]:
        logged = [e for e in rank["log_history"] if "loss" in e]
        assert [e["refill/generation_batches"] for e in logged] == [1.0, 4.0]
        assert logged[1]["rlpr/filtered_frac"] > 0 and logged[1]["refill/kept_groups_frac"] == 1.0
