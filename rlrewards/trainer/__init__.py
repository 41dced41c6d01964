"""``RecipeGRPOTrainer``, the trainer every recipe uses: the generic ``RecipeTrainerCore`` (rewards from config,
advantage estimator, auxiliary loss: ``rlrewards/trainer/recipe_trainer.py``) over the extensions that score more in
the same forwards (RLPR's sequences scored by the policy: ``rlrewards/trainer/policy_scoring.py``, on when the
estimator asks; LaSeR's slot token: ``rlrewards/trainer/slot_token.py``) and the refill of dropped groups
(``rlrewards/trainer/refill.py``), each a no-op unless its estimator or option asks for it
(``recipe_trainer_options`` resolves the options from a recipe's config)."""

from rlrewards.trainer.hooks import (
    ADVANTAGE_ESTIMATORS,
    AUX_LOSSES,
    AdvantageOutput,
    AuxLossOutput,
    RolloutBatch,
)
from rlrewards.trainer.policy_scoring import PolicyScoringMixin
from rlrewards.trainer.recipe_trainer import RecipeTrainerCore
from rlrewards.trainer.refill import GroupRefillMixin
from rlrewards.trainer.slot_token import SlotTokenMixin, recipe_trainer_options


class RecipeGRPOTrainer(RecipeTrainerCore, PolicyScoringMixin, SlotTokenMixin, GroupRefillMixin):
    """``trl.GRPOTrainer`` with the recipes' extension points; keyword arguments ``advantage_estimator``,
    ``aux_loss``, ``aux_loss_coef``, ``aux_loss_name`` (the core) and ``slot_token_id`` (the slot token). The policy
    scoring comes before the slot token: its scores are on the batch even when the slot defers the estimator."""


__all__ = [
    "ADVANTAGE_ESTIMATORS",
    "AUX_LOSSES",
    "AdvantageOutput",
    "AuxLossOutput",
    "RecipeGRPOTrainer",
    "RolloutBatch",
    "recipe_trainer_options",
]
