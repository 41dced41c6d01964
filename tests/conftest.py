import os
import tempfile
from pathlib import Path

import pytest

os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("WANDB_SILENT", "true")
# Tests never talk to the W&B service; the one that exercises W&B sets offline mode itself.
os.environ.setdefault("WANDB_MODE", "disabled")
# Test suites that tasks store while loading (LiveCodeBench's) go to a throwaway folder, not the user's cache.
os.environ["RLREWARDS_CACHE"] = tempfile.mkdtemp(prefix="rlrewards-test-cache-")

REPO_ROOT = Path(__file__).resolve().parent.parent
CONFIG_DIR = REPO_ROOT / "conf"
FIXTURES = Path(__file__).resolve().parent / "fixtures"


@pytest.fixture
def tiny_tokenizer():
    from rlrewards.models.tiny import build_tiny_tokenizer

    return build_tiny_tokenizer()


@pytest.fixture
def tiny_model(tiny_tokenizer):
    from rlrewards.models.tiny import build_tiny_model

    return build_tiny_model(
        tiny_tokenizer, hidden_size=32, num_layers=2, num_heads=2, num_kv_heads=1, intermediate_size=64, seed=0
    )
