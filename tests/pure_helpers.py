"""A PRM for the two-process PURE test (imported by name in the torchrun workers, hence a module of its own)."""

import json
import os
from pathlib import Path

from rlrewards.recipes.pure import ArithRulePRM

ROWS_DIR = "RLREWARDS_TEST_PRM_ROWS_DIR"


class RowRecordingPRM(ArithRulePRM):
    """The rule PRM; appends the rows each call scores to ``$RLREWARDS_TEST_PRM_ROWS_DIR/rank<r>.jsonl``."""

    def score(self, batch):
        path = Path(os.environ[ROWS_DIR]) / f"rank{os.environ.get('RANK', '0')}.jsonl"
        with path.open("a") as handle:
            handle.write(json.dumps(batch.row_ids()) + "\n")
        return super().score(batch)


def recorded_rows(directory, rank: int) -> list[list[int]]:
    path = Path(directory) / f"rank{rank}.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()]
