from rlrewards.trainer.hooks import (
    ADVANTAGE_ESTIMATORS,
    AUX_LOSSES,
    AdvantageOutput,
    AuxLossOutput,
    RolloutBatch,
)
from rlrewards.trainer.recipe_trainer import RecipeGRPOTrainer

__all__ = [
    "ADVANTAGE_ESTIMATORS",
    "AUX_LOSSES",
    "AdvantageOutput",
    "AuxLossOutput",
    "RecipeGRPOTrainer",
    "RolloutBatch",
]
