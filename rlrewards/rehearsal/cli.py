"""``rlrewards-rehearse``: every paper experiment trained and evaluated end to end on CPU with stand-in models
(``rlrewards/rehearsal/``), before anyone spends a GPU-hour.

    rlrewards-rehearse                      # all of conf/experiment/, then every evaluation-only row
    rlrewards-rehearse --only laser/        # experiments whose name starts with laser/
    rlrewards-rehearse --only self_certainty   # names start with the paper: self_certainty:base_model=...
    rlrewards-rehearse --keep-going         # run the rest after a failure (default: stop at the first)

The evaluation-only rows of results/papers/ (``rlrewards-eval base_experiment=`` / ``base_model=``: a paper's
base-model rows, a paper that trains nothing) are evaluated with their suite on the model's stand-in.
Writes ``outputs/rehearsal/summary.json`` ({name: {status, seconds, error}}), prints a table, and exits non-zero
when any failed.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

from rlrewards.rehearsal.plan import EvaluationOnly, discover_evaluations, discover_experiments
from rlrewards.rehearsal.runner import Outcome, StandInCache, rehearse, rehearse_evaluation

DEFAULT_OUTPUTS = Path("outputs") / "rehearsal"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="rlrewards-rehearse", description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", default=None, help="a name prefix, e.g. laser/ or pure/qwen2.5-7b")
    parser.add_argument("--keep-going", action="store_true", help="rehearse the rest after a failure")
    parser.add_argument("--outputs", type=Path, default=DEFAULT_OUTPUTS, help="where runs and summary.json go")
    return parser.parse_args(argv)


def quiet_offline() -> None:
    """Nothing may reach the hub, and the libraries' progress bars would bury the table."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    os.environ.setdefault("WANDB_MODE", "disabled")
    os.environ.setdefault("HF_DATASETS_DISABLE_PROGRESS_BARS", "1")
    import datasets
    import transformers

    transformers.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()
    datasets.disable_progress_bars()


def rehearse_all(
    experiments: list[str], outputs: Path, keep_going: bool, evaluations: list[EvaluationOnly] = ()
) -> dict[str, Outcome]:
    outcomes: dict[str, Outcome] = {}
    jobs = [(name, rehearse, name) for name in experiments]
    jobs += [(target.name, rehearse_evaluation, target) for target in evaluations]
    with tempfile.TemporaryDirectory(prefix="rlrewards-standins-") as root:
        cache = StandInCache(Path(root))
        for name, rehearse_one, target in jobs:
            print(f"== rehearsing {name}", flush=True)
            outcomes[name] = rehearse_one(target, outputs, cache)
            write_summary(outcomes, outputs)
            if outcomes[name].status == "fail" and not keep_going:
                break
    return outcomes


def write_summary(outcomes: dict[str, Outcome], outputs: Path) -> Path:
    outputs.mkdir(parents=True, exist_ok=True)
    path = outputs / "summary.json"
    summary = {
        name: {"status": o.status, "seconds": round(o.seconds, 2), "error": o.error} for name, o in outcomes.items()
    }
    path.write_text(json.dumps(summary, indent=2) + "\n")
    return path


def format_table(outcomes: dict[str, Outcome]) -> str:
    width = max([len(name) for name in outcomes] + [10])
    lines = [f"{'experiment':<{width}}  status  seconds  error"]
    for name, outcome in outcomes.items():
        lines.append(f"{name:<{width}}  {outcome.status:<6}  {outcome.seconds:7.1f}  {outcome.error or ''}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    experiments, evaluations = discover_experiments(args.only), discover_evaluations(args.only)
    if not experiments and not evaluations:
        print(f"no experiment or evaluation-only row starts with {args.only!r}", file=sys.stderr)
        return 2
    quiet_offline()
    started = time.perf_counter()
    outcomes = rehearse_all(experiments, args.outputs, args.keep_going, evaluations)
    print(format_table(outcomes))
    failed = [name for name, outcome in outcomes.items() if outcome.status == "fail"]
    print(
        f"{len(outcomes) - len(failed)} passed, {len(failed)} failed, "
        f"{len(experiments) + len(evaluations) - len(outcomes)} not run, "
        f"{time.perf_counter() - started:.0f} s; summary: {args.outputs / 'summary.json'}"
    )
    return 1 if failed or len(outcomes) < len(experiments) + len(evaluations) else 0


if __name__ == "__main__":
    sys.exit(main())
