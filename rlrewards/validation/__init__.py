"""The checks behind ``rlrewards.config.validate_config`` (cheap: no torch, transformers, trl or datasets) and
``rlrewards.config.validate_trainer_args`` (heavier: builds the recipe's parts and trl's GRPOConfig). Both run before
any model, tokenizer or dataset loads; every error is a ``ConfigError`` naming the key."""
