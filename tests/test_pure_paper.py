"""PURE's paper setup: the Minerva and SimpleRL-MATH loaders (fixture files with the hub layouts), the seeded
``ground_truth_visible`` column, the ``visible_accuracy`` reward and the paper experiment files."""

import json

import pytest
from conftest import FIXTURES
from datasets import Dataset
from hydra.utils import instantiate
from omegaconf import OmegaConf
from test_configs import compose_train

from rlrewards.config import validate_config
from rlrewards.rewards import REWARDS
from rlrewards.rewards.core import SafeReward, accuracy_reward
from rlrewards.tasks.base import DatasetRowError
from rlrewards.tasks.hub import HubMathTask, visible_mask

PURE_PROMPT = (
    '{q}\n\nPlease reason step by step with steps separated by "\n\n", and put your final answer within \\boxed{{}}.'
)
SIMPLERL_FILES = {"train": "simplerl_math/train.jsonl", "test": "simplerl_math/test.jsonl"}


def load_task(task: str, data_files: dict[str, str], **overrides):
    """The task exactly as configured, pointed at data files (keyed by the dataset's own split names; relative
    paths are under tests/fixtures)."""
    cfg = compose_train([f"task={task}", "recipe=pure", "recipe.answer_format=boxed"])
    cfg.task.data_files = {split: str(FIXTURES / path) for split, path in data_files.items()}
    for key, value in overrides.items():
        cfg.task[key] = value
    OmegaConf.resolve(cfg)
    return instantiate(cfg.task, _convert_="all")


def verl_rows(answers: list[str]) -> list[dict]:
    return [
        {
            "prompt": [{"role": "user", "content": f"templated {i}"}],
            "reward_model": {"ground_truth": answer, "style": "rule"},
            "extra_info": {"question": f"What is {answer}?", "answer": answer, "index": i, "split": "train"},
        }
        for i, answer in enumerate(answers)
    ]


def write_jsonl(path, rows) -> str:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return str(path)


# --- Minerva -------------------------------------------------------------------------------------------------


def test_minerva_reads_question_and_answer_with_the_pure_eval_prompt():
    task = load_task("minerva", {"test": "minerva/test.jsonl"})
    rows = task.load_split("test")
    assert len(rows) == 4 and rows["answer"] == ["20", "2", "0.005", "30"]
    question = "Compute the energy, in electron volts, of a photon of wavelength $620$ nm. Use $hc = 1240$ eV nm."
    assert rows[1]["prompt"] == [{"role": "user", "content": PURE_PROMPT.format(q=question)}]
    assert rows[0]["checker"] == "math_verify" and rows[0]["id"] == "minerva-test-0"
    assert task.check("0.0050", rows[2]["answer"]) and task.check("5 \\times 10^{-3}", rows[2]["answer"])
    assert not task.check("0.05", rows[2]["answer"])
    assert len(task.load_split("validation")) == 4  # test[:50] of a 4-row file
    assert "ground_truth_visible" not in rows.column_names  # only tasks that set visible_answer_fraction get it
    with pytest.raises(ValueError, match="no 'train' split"):
        task.load_split("train")


# --- SimpleRL MATH level 3-5 -----------------------------------------------------------------------------------


def test_simplerl_math_reads_the_verl_struct_columns_with_the_official_prompt():
    task = load_task("simplerl_math", SIMPLERL_FILES)
    train = task.load_split("train")
    assert len(train) == 5
    assert train["answer"] == ["23", "24", "7", "2", "\\frac{4}{11}"]
    assert train[1]["prompt"] == [
        {"role": "user", "content": PURE_PROMPT.format(q="How many positive divisors does $360$ have?")}
    ]
    assert train["ground_truth_visible"] == [True] * 5  # visible_answer_fraction 1.0 by default
    assert task.check("\\dfrac{4}{11}", train[4]["answer"]) and task.check("4/11", train[4]["answer"])
    test = task.load_split("test")
    assert test["answer"] == ["17", "\\frac{3}{4}"] and len(task.load_split("validation")) == 2


def test_simplerl_math_loads_the_official_pure_json_with_field_overrides():
    task = load_task(
        "simplerl_math",
        {"train": "simplerl_math/official.json"},
        problem_field="question",
        answer_field="answer",
        extra_fields=["level"],
    )
    rows = task.load_split("train")
    assert rows["answer"] == ["23", "24", "7"] and rows["level"] == [3, 3, 4]
    assert rows[2]["prompt"][0]["content"].startswith("Find the sum of all real solutions")


def test_simplerl_math_loads_its_hub_folder(monkeypatch):
    calls = []

    def fake_load_dataset(*args, **kwargs):
        calls.append((args, kwargs))
        return Dataset.from_list(verl_rows(["1", "2"]))

    monkeypatch.setattr("rlrewards.tasks.hub.load_dataset", fake_load_dataset)
    cfg = compose_train(["task=simplerl_math", "recipe=pure"])
    OmegaConf.resolve(cfg)
    task = instantiate(cfg.task, _convert_="all")
    assert task.load_split("train")["answer"] == ["1", "2"]
    assert calls == [
        (
            ("hkust-nlp/SimpleRL-Zoo-Data", None),
            # data_files=None: load_dataset's default (hub_files tasks set it to one file of the repository)
            {"data_dir": "simplelr_qwen_level3to5", "data_files": None, "split": "train", "revision": None},
        )
    ]
    assert task.spec()["data_dir"] == "simplelr_qwen_level3to5"


def test_dotted_extra_fields_become_their_last_name(tmp_path):
    task = HubMathTask(
        path="x",
        data_files={"train": write_jsonl(tmp_path / "t.jsonl", verl_rows(["5"]))},
        splits={"train": "train"},
        problem_field="extra_info.question",
        answer_field="reward_model.ground_truth",
        answer_extractor="raw",
        extra_fields=["extra_info.index", "extra_info.missing.deeper"],
    )
    row = task.load_split("train")[0]
    assert row["answer"] == "5" and row["index"] == 0 and row["deeper"] is None


def test_rows_without_ground_truth_are_dropped_only_when_asked(tmp_path):
    rows = verl_rows(["1", "", "3"])
    rows[2]["extra_info"]["answer"] = None
    files = {"train": write_jsonl(tmp_path / "train.jsonl", rows)}
    kept = load_task("simplerl_math", files).load_split("train")
    assert kept["id"] == ["simplerl_math-train-0"] and kept["answer"] == ["1"]
    with pytest.raises(DatasetRowError, match=r"row 1 \(id='simplerl_math-train-1'\) has no 'answer'"):
        load_task("simplerl_math", files, drop_unanswered=False).load_split("train")


# --- ground_truth_visible --------------------------------------------------------------------------------------


def test_visible_mask_marks_an_exact_seeded_fraction():
    mask = visible_mask(8523, 0.1, seed=0)
    assert sum(mask) == 852  # round(0.1 * 8523); the official unseeded draw kept 879
    assert visible_mask(8523, 0.1, seed=0) == mask
    assert visible_mask(8523, 0.1, seed=1) != mask and sum(visible_mask(8523, 0.1, seed=1)) == 852
    assert visible_mask(10, 0.0, seed=0) == [False] * 10 and visible_mask(10, 1.0, seed=3) == [True] * 10
    assert visible_mask(0, 0.5, seed=0) == []
    with pytest.raises(ValueError, match="must be in"):
        visible_mask(10, 1.5, seed=0)


def test_task_marks_visible_rows_deterministically_and_keeps_every_answer(tmp_path):
    answers = [str(i) for i in range(50)]
    files = {"train": write_jsonl(tmp_path / "train.jsonl", verl_rows(answers))}

    def visible(**overrides):
        rows = load_task("simplerl_math", files, **overrides).load_split("train")
        assert rows["answer"] == answers  # hidden rows keep their answer: accuracy is still measured on them
        return rows["ground_truth_visible"]

    tenth = visible(visible_answer_fraction=0.1)
    assert sum(tenth) == 5 and visible(visible_answer_fraction=0.1) == tenth
    assert visible(visible_answer_fraction=0.1, visible_answer_seed=7) != tenth
    assert visible(visible_answer_fraction=0.0) == [False] * 50
    with pytest.raises(ValueError, match="visible_answer_fraction=2.0"):
        HubMathTask(path="x", visible_answer_fraction=2.0)


# --- visible_accuracy ------------------------------------------------------------------------------------------


def test_visible_accuracy_scores_visible_rows_and_none_for_hidden_ones():
    completions = ["so \\boxed{7}", "so \\boxed{3}", "so \\boxed{0.5}", "no answer"]
    columns = dict(
        answer=["7", "3", "\\frac{1}{2}", "4"],
        checker=["numeric", "numeric", "math_verify", "math_verify"],
        answer_format="boxed",
    )
    fn = REWARDS.get("visible_accuracy")
    scores = fn([None] * 4, completions, ground_truth_visible=[True, False, True, None], **columns)
    assert scores == [1.0, None, 1.0, 0.0]  # a null flag counts as visible
    everything = accuracy_reward([None] * 4, completions, **columns)
    assert everything == [1.0, 1.0, 1.0, 0.0]
    assert fn([None] * 4, completions, **columns) == everything  # no column: every row is visible
    assert fn([None] * 4, completions, ground_truth_visible=[False] * 4, **columns) == [None] * 4


def test_visible_accuracy_through_the_reward_wrapper_keeps_none_and_logs_nothing_of_its_own():
    logged = {}
    reward = SafeReward("visible_accuracy", REWARDS.get("visible_accuracy"), {"answer_format": "boxed"})
    out = reward(
        prompts=[None] * 3,
        completions=[[{"role": "assistant", "content": "\\boxed{2}"}]] * 3,
        answer=["2", "2", "5"],
        ground_truth_visible=[False, True, True],
        log_metric=lambda key, value: logged.__setitem__(key, value),
    )
    assert out == [None, 1.0, 0.0]
    assert logged == {"rewards/visible_accuracy/invalid_frac": 0.0}  # not accuracy's no_answer_frac


# --- experiment files ------------------------------------------------------------------------------------------

BASES = {"qwen2.5-math-7b": 500, "qwen2.5-7b": 1000, "qwen2.5-math-1.5b": 500}
PURE_RUNS = [(base, kind, "pure") for base in BASES for kind in ("prm", "prm_vr")] + [
    ("qwen2.5-math-7b", "prm", "pure_sum"),
    ("qwen2.5-math-7b", "prm_vr", "pure_sum"),
]


def compose_experiment(name: str):
    cfg = compose_train([f"experiment=pure/{name}"])
    OmegaConf.resolve(cfg)
    return cfg


def check_paper_trainer(cfg, base: str):
    trainer = cfg.trainer
    assert trainer.num_generations == 8  # 64 prompts x 8 completions on one process; on k: accumulation 64 / k
    assert trainer.per_device_train_batch_size * trainer.gradient_accumulation_steps == 512
    assert trainer.num_iterations == 1 and trainer.get("steps_per_generation") is None  # one update per batch
    assert trainer.lr_scheduler_type == "constant" and trainer.warmup_steps == 0
    assert (trainer.adam_beta1, trainer.adam_beta2, trainer.weight_decay) == (0.9, 0.95, 0.0)
    assert trainer.max_grad_norm == 1.0 and trainer.epsilon == 0.2
    # veRL 1024 + 7168; the 4096-position Qwen2.5-Math bases: the OpenRLHF script's 1024 + 2048 (train_pure.sh)
    length = 2048 if base.startswith("qwen2.5-math") else 7168
    assert trainer.temperature == 1.0 and trainer.top_p == 1.0 and trainer.max_completion_length == length
    assert trainer.max_steps == BASES[base] and trainer.save_steps == 50 and trainer.save_total_limit is None
    assert cfg.model.name == base and cfg.task.name == "simplerl_math"
    assert cfg.recipe.answer_format == "boxed" and cfg.task.answer_format == "boxed"
    assert cfg.task.prompt_template.format(problem="Q") == PURE_PROMPT.format(q="Q")
    assert cfg.evaluation.max_new_tokens == 3000


@pytest.mark.parametrize(("base", "kind", "recipe"), PURE_RUNS, ids=[f"{b}_{k}-{r}" for b, k, r in PURE_RUNS])
def test_pure_experiments_set_the_paper_keys(base, kind, recipe, monkeypatch):
    monkeypatch.delenv("LOCAL_RANK", raising=False)
    cfg = compose_experiment(f"{base}_{kind}" + ("_sum" if recipe == "pure_sum" else ""))
    validate_config(cfg)  # builds the estimator and its PRM with exactly the configured kwargs (weights load lazily)
    check_paper_trainer(cfg, base)
    kwargs = cfg.recipe.advantage.kwargs
    assert cfg.recipe.name == recipe and kwargs.credit == ("sum" if recipe == "pure_sum" else "min")
    assert kwargs.temperature == 0.1 and kwargs.kl_coef == 1.0e-3 and cfg.trainer.beta == 0.0
    assert kwargs.prm.name == "hf_token_classification"
    assert dict(kwargs.prm.kwargs) == {
        "model": "jinachris/PURE-PRM-7B",
        "device": "cuda:0",
        "dtype": "bfloat16",
        "batch_size": 8,
        "step_tag": "\n",
    }
    assert cfg.recipe.rewards.accuracy.weight == 0.0  # logged only
    if kind == "prm":
        assert cfg.trainer.learning_rate == 5.0e-7
        assert kwargs.verifiable_reward is None and cfg.task.visible_answer_fraction == 0.0
        assert "visible_accuracy" not in cfg.recipe.rewards
    else:
        assert cfg.trainer.learning_rate == 1.0e-6
        assert kwargs.verifiable_reward == "visible_accuracy" and kwargs.vr_fraction is None
        assert kwargs.verifiable_coef == 1.0 and cfg.task.visible_answer_fraction == 0.1
        entry = cfg.recipe.rewards.visible_accuracy
        assert entry.fn == "visible_accuracy" and entry.weight == 0.0 and entry.kwargs.answer_format == "boxed"


def test_the_prm_goes_to_this_process_gpu(monkeypatch):
    monkeypatch.setenv("LOCAL_RANK", "3")
    cfg = compose_experiment("qwen2.5-math-7b_prm_vr")
    assert cfg.recipe.advantage.kwargs.prm.kwargs.device == "cuda:3"


@pytest.mark.parametrize("base", list(BASES))
def test_vr_experiments_are_pure_without_a_prm_on_every_ground_truth(base, monkeypatch):
    monkeypatch.delenv("LOCAL_RANK", raising=False)
    cfg = compose_experiment(f"{base}_vr")
    validate_config(cfg)
    check_paper_trainer(cfg, base)
    kwargs = cfg.recipe.advantage.kwargs
    assert cfg.recipe.name == "pure" and kwargs.prm is None
    assert kwargs.verifiable_reward == "visible_accuracy" and kwargs.vr_fraction is None and kwargs.kl_coef == 1.0e-3
    assert cfg.recipe.rewards.visible_accuracy.weight == 0.0 and cfg.trainer.beta == 0.0
    assert cfg.trainer.learning_rate == 1.0e-6
    assert cfg.task.visible_answer_fraction == 1.0
