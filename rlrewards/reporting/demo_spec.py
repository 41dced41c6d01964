"""The demo table's recipes and the paper claims it checks, read from ``results/demo/claims.yaml`` (data, not code:
adding a recipe to the demo table is an edit of that file)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml

CLAIMS_FILE = Path(__file__).resolve().parents[2] / "results" / "demo" / "claims.yaml"


@dataclass(frozen=True)
class DemoRecipe:
    label: str
    experiment: str
    overrides: tuple[str, ...]
    chain: str  # runs of one chain share a seed's warm start, so they run one after another
    confidence_key: str | None = None  # the record field scored as a probability of being correct


@dataclass(frozen=True)
class Claim:
    recipe: str
    baseline: str | None  # None: the claim is about the recipe's own value against ``threshold``
    metric: str
    direction: int  # +1: the paper predicts higher, -1: lower
    text: str
    threshold: float = 0.0
    # "keeps accuracy" claims hold within this margin (about the greedy accuracy's standard error on 500 problems)
    margin: float = 0.0


@dataclass(frozen=True)
class DemoSpec:
    recipes: tuple[DemoRecipe, ...]
    claims: tuple[Claim, ...]
    chain_order: tuple[str, ...]  # the order chains start in when several train at once

    def recipe(self, label: str) -> DemoRecipe:
        return next(r for r in self.recipes if r.label == label)

    def chain_leader(self, recipe: DemoRecipe) -> DemoRecipe:
        """The chain's first run: it builds the seed's warm start and evaluates it before RL for the whole chain."""
        return next(r for r in self.recipes if r.chain == recipe.chain)


def load_spec(path: Path = CLAIMS_FILE) -> DemoSpec:
    data = yaml.safe_load(path.read_text())
    recipes = tuple(
        DemoRecipe(
            label=entry["label"],
            experiment=entry["experiment"],
            overrides=tuple(entry.get("overrides") or ()),
            chain=entry["chain"],
            confidence_key=entry.get("confidence_key"),
        )
        for entry in data["recipes"]
    )
    claims = tuple(Claim(**entry) for entry in data["claims"])
    unknown = ({c.recipe for c in claims} | {c.baseline for c in claims if c.baseline}) - {r.label for r in recipes}
    if unknown:
        raise ValueError(f"{path}: claims name recipes the table does not run: {sorted(unknown)}")
    return DemoSpec(recipes, claims, tuple(data.get("chain_order") or dict.fromkeys(r.chain for r in recipes)))
