"""The README's option lists are generated from conf/ (rlrewards/docs_gen.py, `make docs`) and must be up to date."""

import shutil
from pathlib import Path

import pytest
from conftest import CONFIG_DIR, REPO_ROOT

from rlrewards import docs_gen


def test_the_readme_is_up_to_date_with_conf():
    text = (REPO_ROOT / "README.md").read_text()
    assert "<!-- BEGIN generated:groups -->" in text and "<!-- BEGIN generated:experiments -->" in text
    assert docs_gen.stale_blocks(text, CONFIG_DIR) == [], "a config changed without `make docs`"


def test_a_new_recipe_needs_no_readme_edit(tmp_path):
    """docs/adding_a_recipe.md promises two files for a reward-only recipe: the README lists recipes on demand."""
    conf = tmp_path / "conf"
    shutil.copytree(CONFIG_DIR, conf)
    shutil.copytree(REPO_ROOT / "results" / "papers", tmp_path / "results" / "papers")
    write(conf / "recipe" / "brand_new.yaml", "# @package _global_\n# A new reward.\ndefaults:\n  - grpo\n  - _self_\n")
    text = (REPO_ROOT / "README.md").read_text()
    assert docs_gen.stale_blocks(text, conf) == []
    assert "brand_new" in docs_gen.render_recipes(conf)


def test_rlrewards_list_prints_a_table(capsys):
    assert docs_gen.list_main(["recipes"]) == 0
    printed = capsys.readouterr().out
    assert printed.startswith("| recipe | what it is |")
    listed = {line.split("`")[1] for line in printed.splitlines()[2:]}
    assert listed == {path.stem for path in (CONFIG_DIR / "recipe").glob("*.yaml")}


def test_the_guide_and_the_history_the_readme_links_exist():
    text = (REPO_ROOT / "README.md").read_text()
    for target in ("docs/adding_a_recipe.md", "docs/papers/README.md", "results/demo/HISTORY.md"):
        assert f"]({target}" in text and (REPO_ROOT / target).exists(), target


def write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


@pytest.fixture
def conf(tmp_path):
    root = tmp_path / "conf"
    write(root / "train.yaml", "defaults:\n  - _self_\n  - recipe: base\n  - experiment: null\n")
    write(
        root / "recipe" / "base.yaml",
        "# @package _global_\n# Base recipe: one reward. Second sentence, not shown.\n"
        "recipe:\n  name: base\n  rewards:\n    accuracy: {fn: accuracy, weight: 1.0}\n  advantage: null\n",
    )
    write(
        root / "recipe" / "child.yaml",
        "# @package _global_\n# Child of base, e.g. with a | pipe.\ndefaults:\n  - base\n  - _self_\n"
        "recipe:\n  name: child\n  rewards:\n    accuracy: null\n    cos: {fn: cosine_length, weight: 0.5}\n"
        "  advantage: {name: signed}\n  aux_loss: {name: entropy_bonus, coef: 0.1}\n",
    )
    write(
        root / "experiment" / "child" / "run.yaml",
        "# @package _global_\n# A child run.\ndefaults:\n  - override /recipe: child\n",
    )
    write(
        root / "experiment" / "child" / "run_base.yaml",
        "defaults:\n  - child/run\n  - override /recipe: base\nrecipe: {name: base_v2}\n",
    )
    return root


def test_the_generator_on_a_temporary_conf(conf):
    readme = (
        "intro\n<!-- BEGIN generated:recipes -->\nstale\n<!-- END generated:recipes -->\n"
        "<!-- BEGIN generated:experiments -->\n<!-- END generated:experiments -->\nend\n"
    )
    assert docs_gen.stale_blocks(readme, conf) == ["recipes", "experiments"]
    assert docs_gen.regenerate(readme, conf) == (
        "intro\n<!-- BEGIN generated:recipes -->\n"
        "| recipe | what it is | rewards | advantage | aux loss | experiments |\n"
        "|---|---|---|---|---|---|\n"
        "| `base` | Base recipe: one reward. | `accuracy` | TRL's GRPO | - | 1 |\n"
        "| `child` | Child of base, e.g. with a \\| pipe. | `cosine_length` x 0.5 | `signed` | `entropy_bonus` | 1 |\n"
        "<!-- END generated:recipes -->\n"
        "<!-- BEGIN generated:experiments -->\n"
        "| experiment | recipe | what it runs |\n"
        "|---|---|---|\n"
        "| `child/run` | `child` | A child run. |\n"
        "| `child/run_base` | `base` as `base_v2` |  |\n"
        "<!-- END generated:experiments -->\nend\n"
    )


def test_a_new_config_makes_the_readme_stale(conf, tmp_path):
    readme = tmp_path / "README.md"
    readme.write_text("<!-- BEGIN generated:groups -->\n<!-- END generated:groups -->\n")
    assert docs_gen.main([str(readme), "--conf", str(conf)]) == 0
    assert "| `recipe` | `base` | `rlrewards-list recipes` |" in readme.read_text()
    assert "| `experiment` | none | 2 files" in readme.read_text()
    assert docs_gen.main([str(readme), "--conf", str(conf), "--check"]) == 0
    write(conf / "experiment" / "child" / "third.yaml", "# Third.\n")
    assert docs_gen.main([str(readme), "--conf", str(conf), "--check"]) == 1
    assert docs_gen.main([str(readme), "--conf", str(conf)]) == 0
    assert "| `experiment` | none | 3 files" in readme.read_text()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("<!-- BEGIN generated:colours -->\n<!-- END generated:colours -->\n", "unknown generated block 'colours'"),
        ("<!-- BEGIN generated:recipes -->\n", "without a matching END marker"),
    ],
)
def test_malformed_blocks_are_refused(conf, text, message):
    with pytest.raises(ValueError, match=message):
        docs_gen.regenerate(text, conf)


def test_first_sentence():
    assert docs_gen.first_sentence("LaSeR (Yang et al., arXiv:1): GRPO. More.") == "LaSeR (Yang et al., arXiv:1): GRPO."
    assert docs_gen.first_sentence("x " * 200).endswith(" …") and len(docs_gen.first_sentence("x " * 200)) <= 222
