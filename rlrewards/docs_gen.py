"""Generate the README's option lists from ``conf/``, so that they cannot drift from the configs.

``python -m rlrewards.docs_gen`` (``make docs``) rewrites every block of README.md between
``<!-- BEGIN generated:<block> -->`` and ``<!-- END generated:<block> -->``; ``--check`` only reports stale blocks
(exit 1). ``tests/test_docs.py`` fails when a config was added, removed or redescribed without regenerating.

An option's description is the first sentence of the comment block at the top of its yaml file (Hydra's
``# @package`` line skipped), so the way to document a config is its own first comment line. Recipes also list their
parts (reward functions, advantage estimator, auxiliary loss), read from the file merged over the same-group files of
its ``defaults`` list, and the experiments that select them (``override /recipe: <name>``, followed through
experiments that extend other experiments). The ``papers`` block lists ``results/papers/*.yaml`` (next to ``conf/``).
Plain yaml reading: no Hydra composition, no ML library.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

REPO_ROOT = Path(__file__).resolve().parent.parent
BLOCK = re.compile(r"<!-- BEGIN generated:(?P<name>[\w-]+) -->\n(?P<body>.*?)<!-- END generated:(?P=name) -->", re.S)
MAX_DESCRIPTION = 220

# What each config group holds (the option names themselves come from the files).
GROUP_NOTES = {
    "recipe": "the paper's algorithm: reward functions with weights, answer format, advantage estimator, auxiliary "
    "loss, and the trainer settings the algorithm owns (loss type, beta, reward scaling)",
    "model": "`source: scratch` (the embedded tiny model) or `pretrained` (a hub id or a local directory), dtype, "
    "attention, context length, optional cached SFT warm start",
    "task": "the data: a class that yields deterministic train/validation/test splits of "
    "`{prompt, answer, checker, ...}` rows",
    "trainer": "`trl.GRPOConfig` fields, sized for a 2-core CPU or for GPUs",
    "logger": "W&B project, group (the recipe), tags, mode",
    "deepspeed": "a DeepSpeed config handed to `GRPOConfig.deepspeed`",
    "vllm": "generation with vLLM: none (the policy generates), colocated, or a `trl vllm-serve` server",
    "launch": "`launch=accelerate`: the job trains in `accelerate launch` child processes (a multi-GPU sweep point)",
    "accelerate": "accelerate config files for `rlrewards-launch --config_file conf/accelerate/<name>.yaml`",
    "paths": "log dir (`outputs/`), run output dir, warm-start cache (`RLREWARDS_CACHE`)",
    "hydra": "run and sweep directory layout, no chdir",
    "hydra/launcher": "SLURM launchers for `-m` sweeps (extra `slurm`)",
    "experiment": "versioned paper rows: model x task x recipe x the paper's hyperparameters (listed below)",
    "hparams_search": "Optuna sweeps (extra `optuna`)",
    "debug": "shortcuts for debugging; `fast`: a two-step smoke run",
    "suite": "`rlrewards-eval suite=<name>`: a paper's evaluation protocol, benchmarks (task options) and "
    "per-benchmark decodings, e.g. LaSeR's n = 2 on MATH-500 and n = 32 on AIME",
}


def description(path: Path) -> str:
    """The first sentence of the comment block that opens ``path`` (``# @package`` lines skipped), or ''."""
    lines = []
    for line in path.read_text().splitlines():
        if not line.startswith("#"):
            break
        text = line.lstrip("#").strip()
        if not text.startswith("@package"):
            lines.append(text)
    return first_sentence(" ".join(lines))


def first_sentence(text: str) -> str:
    """Up to the first full stop followed by a capital (``e.g. x`` and ``et al.,`` do not end it), at most
    ``MAX_DESCRIPTION`` characters (cut at a word, with an ellipsis); ``|`` escaped for Markdown tables."""
    text = " ".join(text.split())
    match = re.search(r"(?<=[.!?])\s+(?=[A-Z`\"(])", text)
    sentence = text[: match.start()] if match else text
    if len(sentence) > MAX_DESCRIPTION:
        sentence = sentence[:MAX_DESCRIPTION].rsplit(" ", 1)[0].rstrip(",;:") + " …"
    return sentence.replace("|", "\\|")


def groups(conf: Path) -> list[str]:
    """Every folder of ``conf`` that holds yaml files (an option group; ``experiment`` with its subfolders counts
    once), as a relative path, sorted."""
    found = set()
    for path in conf.rglob("*.yaml"):
        if path.parent != conf:
            group = path.parent.relative_to(conf).as_posix()
            found.add("experiment" if group.startswith("experiment/") else group)
    return sorted(found)


def options(conf: Path, group: str) -> list[str]:
    """The options of ``group``: yaml paths relative to the group folder, without suffix, sorted."""
    folder = conf / group
    if group == "experiment":
        return sorted(p.relative_to(folder).with_suffix("").as_posix() for p in folder.rglob("*.yaml"))
    return sorted(p.stem for p in folder.glob("*.yaml"))


def defaults(conf: Path) -> dict[str, Any]:
    """The default option of each group in the defaults lists of ``conf/train.yaml`` and ``conf/eval.yaml`` (None:
    off by default; train.yaml wins where both name a group)."""
    chosen: dict[str, Any] = {}
    for config_name in ("eval", "train"):
        path = conf / f"{config_name}.yaml"
        if path.exists():
            for entry in OmegaConf.to_container(OmegaConf.load(path)).get("defaults", []):
                if isinstance(entry, dict):
                    chosen.update(entry)
    return chosen


def load_merged(conf: Path, group: str, name: str, seen: frozenset[str] = frozenset()) -> DictConfig:
    """``conf/<group>/<name>.yaml`` merged over the same-group entries of its defaults list (``- grpo``), in order;
    ``override /<group>: ...`` entries are kept in ``_overrides``."""
    if name in seen:
        raise ValueError(f"conf/{group}/{name}.yaml: its defaults list loops back to it")
    raw = OmegaConf.load(conf / group / f"{name}.yaml")
    entries = raw.pop("defaults", []) if "defaults" in raw else []
    merged, overrides, own = OmegaConf.create({}), {}, None
    for entry in entries:
        if isinstance(entry, str) and entry != "_self_":
            # an absolute entry (``/experiment/grpo/demo``) names the same group from the root of conf/
            base = load_merged(conf, group, entry.removeprefix(f"/{group}/"), seen | {name})
            overrides.update(base.pop("_overrides", {}))
            merged = OmegaConf.merge(merged, base)
        elif entry == "_self_":
            own = True
            merged = OmegaConf.merge(merged, raw)
        elif OmegaConf.is_dict(entry):
            overrides.update({str(k).removeprefix("override ").lstrip("/"): v for k, v in entry.items()})
    if own is None:
        merged = OmegaConf.merge(merged, raw)
    merged["_overrides"] = overrides
    return merged


def recipe_parts(conf: Path, name: str) -> tuple[str, str, str]:
    """(reward functions, advantage estimator, auxiliary loss) of a recipe, as Markdown; '-' where none."""
    recipe = load_merged(conf, "recipe", name).get("recipe") or {}
    rewards = [f"`{entry.get('fn')}`{weight(entry)}" for entry in (recipe.get("rewards") or {}).values() if entry]
    advantage, aux = recipe.get("advantage"), recipe.get("aux_loss")
    return (
        ", ".join(rewards) or "-",
        f"`{advantage.get('name')}`" if advantage else "TRL's GRPO",
        f"`{aux.get('name')}`" if aux else "-",
    )


def weight(entry: Any) -> str:
    value = float(entry.get("weight", 1.0))
    return "" if value == 1.0 else " (logged, weight 0)" if value == 0 else f" x {value:g}"


def experiment_recipe(conf: Path, name: str) -> str:
    """The recipe an experiment selects (through the experiments it extends), or the default recipe."""
    chosen = load_merged(conf, "experiment", name)["_overrides"].get("recipe")
    return str(chosen or defaults(conf).get("recipe", "?"))


def code(names: list[str]) -> str:
    return ", ".join(f"`{n}`" for n in names)


def table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return "\n".join(lines + ["| " + " | ".join(row) + " |" for row in rows]) + "\n"


# Groups whose options are not written into the README: adding one must not need a README edit (a reward-only
# recipe is one module and one config, docs/adding_a_recipe.md), so the README points at `rlrewards-list`.
LISTED_ON_DEMAND = {"recipe": "recipes"}


def render_groups(conf: Path) -> str:
    chosen = defaults(conf)
    rows = []
    for group in groups(conf):
        names = options(conf, group)
        if group == "experiment":
            shown = f"{len(names)} files, `<paper>/<setting>` (see below)"
        elif group in LISTED_ON_DEMAND:
            shown = f"`rlrewards-list {LISTED_ON_DEMAND[group]}`"
        else:
            shown = code(names)
        default = chosen.get(group, "-")
        shown_default = "none" if default is None else "-" if default == "-" else f"`{default}`"
        rows.append([f"`{group}`", shown_default, shown, GROUP_NOTES.get(group, "")])
    return table(["group", "default", "options", "what it holds"], rows)


def render_recipes(conf: Path) -> str:
    experiments = options(conf, "experiment") if (conf / "experiment").is_dir() else []
    used: dict[str, list[str]] = {}
    for experiment in experiments:
        used.setdefault(experiment_recipe(conf, experiment), []).append(experiment)
    rows = []
    for name in options(conf, "recipe"):
        rewards, advantage, aux = recipe_parts(conf, name)
        runs = len(used.get(name, []))
        rows.append([f"`{name}`", description(conf / "recipe" / f"{name}.yaml"), rewards, advantage, aux, str(runs)])
    return table(["recipe", "what it is", "rewards", "advantage", "aux loss", "experiments"], rows)


def render_experiments(conf: Path) -> str:
    rows = []
    for name in options(conf, "experiment"):
        recipe = experiment_recipe(conf, name)
        renamed = (load_merged(conf, "experiment", name).get("recipe") or {}).get("name")
        shown = f"`{recipe}`" + (f" as `{renamed}`" if renamed and renamed != recipe else "")
        rows.append([f"`{name}`", shown, description(conf / "experiment" / f"{name}.yaml")])
    return table(["experiment", "recipe", "what it runs"], rows)


def render_papers(conf: Path) -> str:
    """``results/papers/<paper>.yaml`` (beside ``conf/``): the paper, its rows to reproduce, its evaluation suite."""
    rows = []
    for path in sorted((conf.parent / "results" / "papers").glob("*.yaml")):
        data = OmegaConf.load(path)
        suites = [path.stem] if (conf / "suite" / f"{path.stem}.yaml").exists() else []
        suites += sorted({str(row["suite"]) for row in data.get("reproduce") or [] if row.get("suite")} - set(suites))
        suite = ", ".join(f"`suite={name}`" for name in suites) or "-"
        title = first_sentence(str(data.get("paper", "")))
        rows.append([f"`{path.stem}`", title, str(len(data.get("reproduce") or [])), suite])
    return table(["`PAPER=`", "paper", "rows to reproduce", "evaluation"], rows)


def option_table(group: str) -> Callable[[Path], str]:
    def render(conf: Path) -> str:
        rows = [[f"`{n}`", description(conf / group / f"{n}.yaml")] for n in options(conf, group)]
        return table([group, "what it is"], rows)

    return render


RENDERERS: dict[str, Callable[[Path], str]] = {
    "groups": render_groups,
    "recipes": render_recipes,
    "experiments": render_experiments,
    "papers": render_papers,
    "suites": option_table("suite"),
    "trainers": option_table("trainer"),
    "models": option_table("model"),
    "tasks": option_table("task"),
}


def regenerate(text: str, conf: Path) -> str:
    """``text`` with every generated block rewritten from ``conf``; an unknown block name or a BEGIN marker without
    its END marker raises ValueError."""
    begins = re.findall(r"<!-- BEGIN generated:([\w-]+) -->", text)
    closed = [m.group("name") for m in BLOCK.finditer(text)]
    if begins != closed:
        raise ValueError(f"generated blocks without a matching END marker: {sorted(set(begins) - set(closed))}")

    def fill(match: re.Match) -> str:
        name = match.group("name")
        if name not in RENDERERS:
            raise ValueError(f"unknown generated block '{name}'; known: {', '.join(RENDERERS)}")
        return f"<!-- BEGIN generated:{name} -->\n{RENDERERS[name](conf)}<!-- END generated:{name} -->"

    return BLOCK.sub(fill, text)


def stale_blocks(text: str, conf: Path) -> list[str]:
    """Names of the blocks of ``text`` whose content differs from what ``conf`` generates."""
    fresh = {m.group("name"): m.group("body") for m in BLOCK.finditer(regenerate(text, conf))}
    return [m.group("name") for m in BLOCK.finditer(text) if fresh[m.group("name")] != m.group("body")]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("files", nargs="*", type=Path, default=[REPO_ROOT / "README.md"])
    parser.add_argument("--conf", type=Path, default=REPO_ROOT / "conf")
    parser.add_argument("--check", action="store_true", help="report stale blocks and exit 1; write nothing")
    args = parser.parse_args(argv)
    status = 0
    for path in args.files:
        text = path.read_text()
        if args.check:
            stale = stale_blocks(text, args.conf)
            if stale:
                print(f"{path}: stale generated blocks {stale}; run `make docs`", file=sys.stderr)
                status = 1
            continue
        new = regenerate(text, args.conf)
        if new != text:
            path.write_text(new)
            print(f"{path}: regenerated")
    return status


def list_main(argv: list[str] | None = None) -> int:
    """``rlrewards-list <what>``: print one of the tables (recipes with their parts and experiments, experiments,
    tasks, ...) from ``conf/`` as Markdown."""
    parser = argparse.ArgumentParser(prog="rlrewards-list", description=list_main.__doc__.split("\n\n")[0])
    parser.add_argument("what", choices=sorted(RENDERERS), help="which table")
    parser.add_argument("--conf", type=Path, default=REPO_ROOT / "conf")
    args = parser.parse_args(argv)
    print(RENDERERS[args.what](args.conf), end="")
    return 0


if __name__ == "__main__":
    sys.exit(main())
