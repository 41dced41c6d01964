"""LaSeR's measured c_ref is saved with every checkpoint and the model, and read back on resume and by evaluation."""

import json

import pytest
from trainer_helpers import digit_fraction, grpo_args, small_dataset

from rlrewards.models.tiny import RESERVED
from rlrewards.recipes.laser import laser_estimator, laser_self_reward_loss
from rlrewards.recipes.laser_eval import measured_c_ref
from rlrewards.trainer import RecipeGRPOTrainer
from rlrewards.trainer.recipe_trainer import RECIPE_STATE_FILE


def recording_estimator(seen: list):
    """``laser`` with c_ref: auto and no mixing (the slot is wanted only to measure c_ref), recording per batch
    whether it was handed slot log-probs, i.e. whether it measured c_ref."""
    inner = laser_estimator(c_ref="auto", reasoning_warmup=0, self_reward_warmup=1000)

    def estimate(batch):
        seen.append(batch.slot_logps is not None)
        return inner(batch)

    for name in ("needs_slot_logps", "state_dict", "load_state_dict"):
        if hasattr(inner, name):
            setattr(estimate, name, getattr(inner, name))
    return estimate


def laser_trainer(model, tokenizer, out, seen, max_steps):
    return RecipeGRPOTrainer(
        model=model,
        reward_funcs=[digit_fraction],
        args=grpo_args(out, max_steps=max_steps, save_strategy="steps", save_steps=1),
        train_dataset=small_dataset(),
        processing_class=tokenizer,
        advantage_estimator=recording_estimator(seen),
        aux_loss=laser_self_reward_loss(beta_v=0.1),
        aux_loss_coef=0.1,
        aux_loss_name="laser_self_reward",
        slot_token_id=tokenizer.convert_tokens_to_ids(RESERVED[0]),
    )


def logged_c_refs(trainer) -> list[float]:
    return [entry["laser/c_ref"] for entry in trainer.state.log_history if "laser/c_ref" in entry]


def test_resume_reuses_the_saved_c_ref_instead_of_measuring_the_trained_policy(tiny_model, tiny_tokenizer, tmp_path):
    seen: list[bool] = []
    first = laser_trainer(tiny_model, tiny_tokenizer, tmp_path / "a", seen, max_steps=2)
    first.train()
    c_ref = logged_c_refs(first)[0]
    assert seen == [True, False]  # measured once, on the first generation batch
    for step in (1, 2):
        saved = json.loads((tmp_path / "a" / f"checkpoint-{step}" / RECIPE_STATE_FILE).read_text())
        assert saved == {"c_ref": pytest.approx(c_ref)}

    # A new process: fresh estimator (c_ref unknown), weights of step 1 (lr 1e-2: a different policy).
    seen.clear()
    resumed = laser_trainer(tiny_model, tiny_tokenizer, tmp_path / "b", seen, max_steps=2)
    resumed.train(resume_from_checkpoint=str(tmp_path / "a" / "checkpoint-1"))
    assert seen == [False]  # step 2 ran without measuring
    assert logged_c_refs(resumed) and all(value == pytest.approx(c_ref) for value in logged_c_refs(resumed))
    assert resumed.recipe_state() == {"c_ref": pytest.approx(c_ref)}


def test_evaluation_reads_the_c_ref_saved_with_the_model_before_the_metrics_log(tmp_path):
    model = tmp_path / "model"
    model.mkdir()
    (tmp_path / "metrics.jsonl").write_text(
        json.dumps({"train/laser/c_ref": -20.0}) + "\n" + json.dumps({"train/laser/c_ref": -9.0}) + "\n"
    )
    assert measured_c_ref(model, tmp_path) == -9.0  # a model saved before recipe_state.json: the log
    (model / RECIPE_STATE_FILE).write_text(json.dumps({"c_ref": -20.0}))
    assert measured_c_ref(model, tmp_path) == -20.0
    assert measured_c_ref("org/hub-model", tmp_path) == -9.0
