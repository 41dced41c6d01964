"""Recipe modules are discovered, not listed: every module in rlrewards/recipes/ registers its parts on the first
registry lookup, and the light ``*_checks`` modules keep the recipes' config checks importable without torch."""

import inspect
import subprocess
import sys
from pathlib import Path

from rlrewards.config import CONFIG_CHECKS
from rlrewards.registry import import_submodules
from rlrewards.rewards import REWARDS

RECIPES_DIR = Path(__file__).resolve().parent.parent / "rlrewards" / "recipes"


def test_every_recipe_module_is_imported_on_the_first_lookup():
    REWARDS.names()
    on_disk = {p.stem for p in RECIPES_DIR.glob("*.py") if not p.stem.startswith("_")}
    assert on_disk and all(f"rlrewards.recipes.{name}" in sys.modules for name in on_disk)


def test_import_submodules_filters_by_suffix():
    names = import_submodules("rlrewards.recipes", suffix="_checks")
    assert names and all(name.endswith("_checks") for name in names)
    assert "rlrewards.recipes.laser_checks" in names


def test_config_checks_are_registered_without_importing_torch():
    code = (
        "import sys; from rlrewards.config import CONFIG_CHECKS; names = CONFIG_CHECKS.names(); "
        "print(sorted(names)); print('torch' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split("\n")
    assert "laser_warmups" in out[0] and "tempo_scale_rewards" in out[0]
    assert out[1] == "False"


def test_laser_check_defaults_match_the_estimator():
    from rlrewards.recipes.laser import laser_estimator
    from rlrewards.recipes.laser_checks import DEFAULTS

    parameters = inspect.signature(laser_estimator).parameters
    assert {key: parameters[key].default for key in DEFAULTS} == DEFAULTS
    assert "laser_warmups" in CONFIG_CHECKS
