"""The demo table's recipes, the paper claims it checks, its curve metrics and its figures, read from
``results/demo/claims.yaml`` (data, not code: adding a recipe, a claim or a figure to the demo table is an edit of
that file)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import yaml

CLAIMS_FILE = Path(__file__).resolve().parents[2] / "results" / "demo" / "claims.yaml"
# metrics every row has, computed from the final greedy evaluation records (``confidence_key`` scores the last four)
RECORD_METRICS = ("accuracy", "ece", "brier", "auroc", "sv_f1")
FIGURE_KINDS = ("curves", "reliability", "voting")


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
    baseline: str | None  # None: the claim is about the recipe's own value (``baseline_metric`` or ``threshold``)
    metric: str  # a RECORD_METRICS name, a curve metric of the spec, or any key of the run's summary.json
    direction: int  # +1: the paper predicts higher, -1: lower
    text: str
    threshold: float = 0.0
    # "keeps accuracy" claims hold within this margin (about the greedy accuracy's standard error on 500 problems)
    margin: float = 0.0
    # compare with this metric instead of ``metric`` (of the baseline's run, or of the same run when baseline is null)
    baseline_metric: str | None = None
    paper: str | None = None  # the paper the claim is from (groups the report's rows)

    @property
    def compared_metric(self) -> str:
        return self.baseline_metric or self.metric

    @property
    def against(self) -> str:
        """What the recipe's value is compared with, as the report and claims.csv write it."""
        if self.baseline is None and self.baseline_metric is None:
            return f"{self.threshold:g}"
        who = self.baseline or self.recipe
        return who if self.baseline_metric is None else f"{who} {self.baseline_metric}"


@dataclass(frozen=True)
class CurveMetric:
    """A number read from a training curve (``metrics.jsonl``). ``statistic: first_step``: the first logged step at
    which ``curve`` (mean over the last ``window`` logged values) reaches ``at_least``; a run that never reaches it
    counts as its last logged step (censored: "not within the budget"). ``statistic: final``: the mean of the last
    ``window`` logged values (where training ended)."""

    name: str
    curve: str
    at_least: float | None = None
    window: int = 1
    statistic: str = "first_step"

    def __post_init__(self):
        if self.statistic not in ("first_step", "final") or (self.statistic == "first_step") == (self.at_least is None):
            raise ValueError(f"curve metric {self.name}: statistic first_step (with at_least) or final (without)")


@dataclass(frozen=True)
class Figure:
    file: str
    kind: str  # one of FIGURE_KINDS
    recipes: tuple[str, ...]  # labels; empty: every recipe
    confidence_key: str | None = None  # reliability diagrams: the record field drawn
    curves: tuple[str, ...] = ()  # training curves: the metrics.jsonl keys drawn (empty: the default set)


@dataclass(frozen=True)
class DemoSpec:
    recipes: tuple[DemoRecipe, ...]
    claims: tuple[Claim, ...]
    chain_order: tuple[str, ...]  # the order chains start in when several train at once
    curve_metrics: tuple[CurveMetric, ...] = ()
    figures: tuple[Figure, ...] = ()
    seeds: tuple[int, ...] = (0, 1, 2)
    description: str = ""  # the report's paragraph on the demo settings
    testbeds: dict[str, str] = field(default_factory=dict)  # paper -> what its testbed is, written before the run

    def recipe(self, label: str) -> DemoRecipe:
        return next(r for r in self.recipes if r.label == label)

    def chain_leader(self, recipe: DemoRecipe) -> DemoRecipe:
        """The chain's first run: it builds the seed's warm start and evaluates it before RL for the whole chain."""
        return next(r for r in self.recipes if r.chain == recipe.chain)

    def extra_metrics(self) -> tuple[str, ...]:
        """The summary.csv columns beyond RECORD_METRICS that the claims need, in order of first use."""
        named = [m for c in self.claims for m in (c.metric, c.compared_metric)]
        return tuple(dict.fromkeys(m for m in named if m not in RECORD_METRICS))

    def curve_metric(self, name: str) -> CurveMetric | None:
        return next((c for c in self.curve_metrics if c.name == name), None)


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
    labels = {r.label for r in recipes}
    unknown = ({c.recipe for c in claims} | {c.baseline for c in claims if c.baseline}) - labels
    if unknown:
        raise ValueError(f"{path}: claims name recipes the table does not run: {sorted(unknown)}")
    figures = tuple(
        Figure(
            f["file"], f["kind"], tuple(f.get("recipes") or ()), f.get("confidence_key"), tuple(f.get("curves") or ())
        )
        for f in data.get("figures") or ()
    )
    for figure in figures:
        if figure.kind not in FIGURE_KINDS:
            raise ValueError(f"{path}: figure {figure.file}: kind {figure.kind!r} must be one of {FIGURE_KINDS}")
        if set(figure.recipes) - labels:
            raise ValueError(f"{path}: figure {figure.file}: unknown recipes {sorted(set(figure.recipes) - labels)}")
    return DemoSpec(
        recipes,
        claims,
        tuple(data.get("chain_order") or dict.fromkeys(r.chain for r in recipes)),
        tuple(CurveMetric(**entry) for entry in data.get("curve_metrics") or ()),
        figures,
        tuple(data.get("seeds") or (0, 1, 2)),
        " ".join(str(data.get("description") or "").split()),
        {k: " ".join(str(v).split()) for k, v in (data.get("testbeds") or {}).items()},
    )
