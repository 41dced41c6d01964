"""rlrewards-eval: its own new directory under outputs/evals, a run config that may not run foreign code, and a cache
directory checked before any model loads."""

from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from omegaconf import OmegaConf
from test_cli import compose_eval
from test_configs import compose_train

from rlrewards import evaluate
from rlrewards.config import ConfigError
from rlrewards.eval.trust import check_run_config

CALLED = []


class Recorder:
    """A stand-in for code a config.yaml names: it records being constructed."""

    def __init__(self, **kwargs):
        CALLED.append(kwargs)
        self.name = kwargs.get("name")


class ModelLoaded(Exception):
    pass


@pytest.fixture
def no_model(monkeypatch):
    """Stop where the model would load: what is under test happens (or must happen) before."""

    def load_generation(*args, **kwargs):
        raise ModelLoaded

    monkeypatch.setattr(evaluate, "load_generation", load_generation)
    CALLED.clear()


def demo_run_dir(path: Path, task: dict | None = None) -> Path:
    cfg = compose_train(["debug=fast"])
    resolved = OmegaConf.to_container(cfg, resolve=True)
    if task is not None:
        resolved["task"] = task
    (path / "model").mkdir(parents=True)
    OmegaConf.save(OmegaConf.create(resolved), path / "config.yaml")
    return path


def eval_dirs(overrides: list[str]) -> str:
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(Path(__file__).parent.parent / "conf"), version_base="1.3"):
        cfg = compose(
            config_name="eval", overrides=["run_dir=r", "paths.log_dir=/logs", *overrides], return_hydra_config=True
        )
    return str(cfg.hydra.run.dir)  # resolved once, as Hydra does when the job starts


def test_each_evaluation_gets_its_own_directory_under_outputs_evals():
    first, second = eval_dirs([]), eval_dirs(["suite=laser"])
    assert first.startswith("/logs/evals/") and second.startswith("/logs/evals/")
    assert first != second


def test_a_directory_holding_an_evaluation_is_refused_before_the_model_loads(tmp_path, no_model):
    run_dir = demo_run_dir(tmp_path / "run")
    out = tmp_path / "evals" / "same"
    (out / ".hydra").mkdir(parents=True)
    (out / "metrics.json").write_text('{"accuracy_greedy": 0.5}')
    with pytest.raises(ConfigError, match=r"same already holds another run \(metrics.json\)"):
        evaluate.evaluate_run(compose_eval(run_dir, out, [f"cache_dir={tmp_path / 'cache'}"]))
    assert (out / "metrics.json").read_text() == '{"accuracy_greedy": 0.5}'


def test_an_unwritable_cache_dir_is_refused_before_the_model_loads(tmp_path, no_model):
    run_dir = demo_run_dir(tmp_path / "run")
    blocker = tmp_path / "a_file"
    blocker.write_text("")  # no directory can be made below a regular file (permission bits do not stop root)
    with pytest.raises(ConfigError, match=r"cache_dir=.*a_file/cache is not a writable directory"):
        evaluate.evaluate_run(compose_eval(run_dir, tmp_path / "out", [f"cache_dir={blocker / 'cache'}"]))


def test_a_writable_cache_dir_passes_on_to_the_model(tmp_path, no_model):
    run_dir = demo_run_dir(tmp_path / "run")
    with pytest.raises(ModelLoaded):
        evaluate.evaluate_run(compose_eval(run_dir, tmp_path / "out", [f"cache_dir={tmp_path / 'cache'}"]))


FOREIGN_TASK = {"_target_": "test_eval_dirs.Recorder", "name": "math500", "answer_format": "answer_tag"}


def test_a_run_config_naming_foreign_code_is_refused_and_nothing_runs(tmp_path, no_model):
    run_dir = demo_run_dir(tmp_path / "run", task=FOREIGN_TASK)
    cfg = compose_eval(run_dir, tmp_path / "out", ["suite=laser"])  # the run's own task is built before any model
    with pytest.raises(
        ConfigError, match=r"run/config.yaml: task._target_='test_eval_dirs.Recorder' .*trust_config=true"
    ):
        evaluate.evaluate_run(cfg)
    assert CALLED == []


def test_trust_config_lets_a_trusted_plug_in_run(tmp_path, no_model):
    run_dir = demo_run_dir(tmp_path / "run", task=FOREIGN_TASK)
    with pytest.raises(ModelLoaded):
        evaluate.evaluate_run(compose_eval(run_dir, tmp_path / "out", ["suite=laser", "trust_config=true"]))
    assert [call["name"] for call in CALLED] == ["math500"]


@pytest.mark.parametrize(
    ("node", "key"),
    [
        ({"recipe": {"answer_format": "os.system"}}, "recipe.answer_format='os.system'"),
        ({"task": {"checker": "subprocess.call"}}, "task.checker='subprocess.call'"),
        ({"task": {"kwargs": [{"_target_": "shutil.copyfile"}]}}, "task.kwargs[0]._target_='shutil.copyfile'"),
    ],
)
def test_every_key_the_evaluator_imports_is_checked(node, key):
    with pytest.raises(ConfigError, match=r"x.yaml: " + key.replace("[", r"\[").replace("]", r"\]")):
        check_run_config(OmegaConf.create(node), Path("x.yaml"), trust=False)


def test_registered_names_and_rlrewards_objects_pass():
    fine = {
        "task": {"_target_": "rlrewards.tasks.hub.HubMathTask", "checker": "math_verify", "data_files": "a.jsonl"},
        "recipe": {"answer_format": "answer_tag", "rewards": {"acc": {"fn": "accuracy"}}},
    }
    check_run_config(OmegaConf.create(fine), Path("x.yaml"), trust=False)
