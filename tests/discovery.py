"""What exists, listed from the files themselves, so that tests parametrise over every recipe, suite, experiment and
paper without a hand-written list to keep up to date (a new conf/recipe/*.yaml is tested the day it lands)."""

from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
CONFIG_DIR = REPO_ROOT / "conf"
PAPERS_DIR = REPO_ROOT / "results" / "papers"


def config_options(group: str) -> list[str]:
    """The options of a config group: each YAML file's path under ``conf/<group>/`` without ``.yaml``."""
    root = CONFIG_DIR / group
    return sorted(str(p.relative_to(root).with_suffix("")) for p in root.rglob("*.yaml"))


def recipes() -> list[str]:
    return config_options("recipe")


def suites() -> list[str]:
    return config_options("suite")


def experiments() -> list[str]:
    """Every versioned experiment, e.g. ``laser/qwen2.5-7b`` (conf/experiment/**)."""
    return config_options("experiment")


def papers() -> list[str]:
    """Every paper with reference tables in results/papers/<paper>.yaml."""
    return sorted(p.stem for p in PAPERS_DIR.glob("*.yaml"))
