"""The benchmark registry (issue 7): every evaluation set the four papers report is a conf/task option with a hub id,
a split, a prompt format, an answer extraction and a checker, each loaded offline from a fixture with the hub
dataset's schema and scored on one right and one wrong completion through the evaluation's own code path
(``rlrewards.evaluate.benchmark_tasks`` with the recipe of the paper experiment that reports it, then
``score_samples`` with that recipe's answer format).

A new conf/task option fails ``test_every_task_config_is_a_tested_benchmark_or_training_only`` until it is added to
BENCHMARKS (with a fixture) or to TRAINING_ONLY.
"""

import json
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

import pytest
from conftest import CONFIG_DIR, FIXTURES
from omegaconf import OmegaConf
from test_configs import compose_train

from rlrewards.eval.generation import score_samples
from rlrewards.evaluate import benchmark_tasks
from rlrewards.tasks.formats import get_answer_format
from rlrewards.tasks.prompts import resolve_system_prompt

RLCR_LAYOUT = "\n\nPROBLEM: {problem}\n\n"  # the official RLCR code's user turn
TEMPO_BOXED = " Let's think step by step and output the final answer within \\boxed{{}}."
PURE_BOXED = (
    '\n\nPlease reason step by step with steps separated by "\n\n", and put your final answer within \\boxed{{}}.'
)
RLPR_SYSTEM = "SYNTHETIC fixture system turn"  # the RLPR-Evaluation fixtures' chat messages, used as they are
RLPR_USER = "{prompt[1][content]}"
R1_SYSTEM = "A conversation between User and Assistant. The user asks a question, and the Assistant solves it."
ZEROEVAL_OEQA = (  # ZeroEval's open-ended template (src/templates/OEQA.py), the self-certainty paper's prompt
    "\n## Question: \n\n{%s}\n\n\n## Instruction \n\nPlease answer this question by first reasoning and then "
    "providing your answer.\nPresent your reasoning and solution in the following json format. \nPlease show your "
    'final answer in the `answer` field, e.g.,`"answer": "42"`.\n\n```json\n{{\n    "reasoning": "___",\n    '
    '"answer": "___"\n}}\n```\n'
)
LCB_STDIN_PROMPT = (  # LiveCodeBench's generic template for a problem without starter code
    "### Question:\n{question_content}\n\n### Format: Read the inputs from stdin solve the problem and write the "
    "answer to stdout (do not directly test on the sample inputs). Enclose your code within delimiters as follows. "
    "Ensure that when the python program runs, it reads the inputs, runs the algorithm and writes output to STDOUT."
    "\n```python\n# YOUR CODE HERE\n```\n\n### Answer: (use the provided format with backticks)\n\n"
)
LCB_FIRST_ANSWER = (  # a reference to the stored tests of the first fixture row, public then private (their SHA-256)
    '{"question_id": "SYNTHETIC-abc000_a", "suite": '
    '"97877a35b9aec8570b424de92a4dd83a7b311f0f19649ba56a612a95f46b0366", "tests": 3, "timeout": 6.0}'
)


@dataclass(frozen=True)
class Benchmark:
    option: str  # conf/task/<option>.yaml
    hub_id: str
    test_split: str  # the hub split (or slice) our "test" split reads
    fixture: dict[str, str]  # hub split name -> file under tests/fixtures with that split's schema
    experiment: str  # a paper experiment that reports the benchmark: its recipe gives format and system prompt
    # (or "model=<option>": a paper that trains nothing evaluates that model in the default training config)
    user_prompt: str  # the first fixture row's user turn, as str.format of that raw row
    gold: str  # the first row's ground truth as loaded (multiple choice: the correct letter)
    checker: str
    right: str  # answers rendered in the experiment's format: one the checker accepts, one it rejects
    wrong: str
    system: str | None = None  # how the system message starts; None: no system message
    extra: dict[str, object] = field(default_factory=dict)  # copied columns of the first row


# paper's name: Benchmark(option, hub_id, test_split, fixture, experiment, user_prompt, gold, checker, right, wrong)
BENCHMARKS = {
    "MATH (TEMPO's in-domain test)": Benchmark(  # the run's own task: its experiment's prompt, not math.yaml's
        "math", "DigitalLearningGmbH/MATH-lighteval", "test", {"test": "math_lighteval/test.jsonl"},
        "tempo/math_qwen3-1.7b", "{problem}" + TEMPO_BOXED, "7", "math_verify", "7", "49",
        extra={"level": "Level 1", "type": "Prealgebra"},
    ),
    "MATH-500": Benchmark(
        "math500", "HuggingFaceH4/MATH-500", "test", {"test": "math500/test.jsonl"}, "laser/qwen2.5-7b",
        RLCR_LAYOUT, "\\left( 3, \\frac{\\pi}{2} \\right)", "math_verify", "(3, \\frac{\\pi}{2})", "(3, \\pi)",
        extra={"subject": "Precalculus", "unique_id": "test/precalculus/807.json"},
    ),
    "AIME24": Benchmark(
        "aime24", "math-ai/aime24", "test", {"test": "aime24/test.jsonl"}, "laser/qwen2.5-7b",
        "{problem}", "204", "math_verify", "204", "240",
    ),
    "AIME25": Benchmark(
        "aime25", "math-ai/aime25", "test", {"test": "aime25/test.jsonl"}, "laser/qwen2.5-7b",
        "{problem}", "70", "math_verify", "70", "97",
    ),
    "AMC23": Benchmark(
        "amc23", "math-ai/amc23", "test", {"test": "amc23/test.jsonl"}, "tempo/math_qwen3-1.7b",
        "{question}" + TEMPO_BOXED, "27", "math_verify", "\\frac{54}{2}", "18", extra={"id": 0},
    ),
    "OlympiadBench": Benchmark(
        "olympiadbench", "Hothan/OlympiadBench", "test", {"test": "olympiadbench/test.jsonl"}, "laser/qwen2.5-7b",
        "{problem}", "2", "math_verify", "2", "3",
    ),
    "Minerva": Benchmark(
        "minerva", "math-ai/minervamath", "test", {"test": "minerva/test.jsonl"}, "pure/qwen2.5-math-7b_vr",
        "{question}" + PURE_BOXED, "20", "math_verify", "20.0", "0.05",
    ),
    "GSM8K": Benchmark(
        "gsm8k", "mehuldamani/gsm8k", "test", {"test": "gsm8k/test.jsonl"}, "rlcr/math_qwen2.5-7b",
        RLCR_LAYOUT, "18", "math_verify", "$18", "9", system=resolve_system_prompt("tabc"),
    ),
    "GSM-HARD": Benchmark(
        "gsm_hard", "reasoning-machines/gsm-hard", "train", {"train": "gsm_hard/train.jsonl"},
        "tempo/math_qwen3-1.7b", "{input}" + TEMPO_BOXED, "-9867630.0", "math_verify", "-9867630", "9867630",
    ),
    "MedQA": Benchmark(
        "medqa", "Neelectric/MedQA-USMLE", "test[:100]", {"test": "medqa_usmle/test.jsonl"},
        "tempo/medqa_qwen3-1.7b",
        "{question}A: {options[A]}, B: {options[B]}, C: {options[C]}, D: {options[D]}, E: {options[E]}",
        "C", "choice", "Right coronary artery", "A", system=R1_SYSTEM,
    ),
    "MedMCQA": Benchmark(
        "medmcqa", "openlifescienceai/medmcqa", "validation", {"validation": "medmcqa/validation.jsonl"},
        "tempo/medqa_qwen3-1.7b", "{question}A: {opa}, B: {opb}, C: {opc}, D: {opd}",
        "A", "choice", "A", "Membrane currents are generated at nodes of Ranvier", system=R1_SYSTEM,
        extra={"subject_name": "Physiology"},
    ),
    "MMLU-Medical": Benchmark(
        "mmlu_medical", "cais/mmlu", "test", {"test": "mmlu/test.jsonl"}, "tempo/medqa_qwen3-1.7b",
        "{question}A: {choices[0]}, B: {choices[1]}, C: {choices[2]}, D: {choices[3]}",
        "A", "choice", "A", "D", system=R1_SYSTEM, extra={"subject": "anatomy"},
    ),
    "HotpotQA (vanilla)": Benchmark(
        "hotpot_vanilla", "mehuldamani/hotpot_qa-vanilla", "test", {"test": "hotpot/test.jsonl"},
        "rlcr/hotpot_qwen2.5-7b", RLCR_LAYOUT, "yes", "squad_em", "Yes.", "no",
        system=resolve_system_prompt("tabc_long"), extra={"level": "hard"},
    ),
    "HotpotQA-Modified": Benchmark(
        "hotpot", "mehuldamani/hotpot_qa", "test", {"test": "hotpot/test.jsonl"}, "rlcr/hotpot_qwen2.5-7b",
        RLCR_LAYOUT, "yes", "squad_em", "yes", "No", system=resolve_system_prompt("tabc_long"),
        extra={"gold_removed": 1, "level": "hard"},
    ),
    "TriviaQA": Benchmark(
        "trivia", "mehuldamani/trivia", "test", {"test": "trivia/test.jsonl"}, "rlcr/hotpot_qwen2.5-7b",
        "\n\nPROBLEM: {question}\n\n", json.dumps(["Dave Lamb", "Dave lamb"]), "squad_em", "dave lamb",
        "Gordon Ramsay", system=resolve_system_prompt("tabc_long"), extra={"question_id": "qb_1285"},
    ),
    "SimpleQA": Benchmark(
        "simpleqa", "basicv8vc/SimpleQA", "test", {"test": "simpleqa/test.jsonl"}, "rlcr/hotpot_qwen2.5-7b",
        RLCR_LAYOUT, "Michio Sugeno", "squad_em", "Michio Sugeno", "Frank Rosenblatt",
        system=resolve_system_prompt("tabc_long"),
    ),
    "CommonsenseQA": Benchmark(
        "commonsenseqa", "mehuldamani/commonsenseqa", "test", {"test": "commonsenseqa/test.jsonl"},
        "rlcr/math_qwen2.5-7b", RLCR_LAYOUT, "Option A which is : bank", "option", "bank", "B",
        system=resolve_system_prompt("tabc"), extra={"answerKey": "A"},
    ),
    "GPQA": Benchmark(
        "gpqa", "mehuldamani/gpqa-eval", "test", {"test": "gpqa/test.jsonl"}, "rlcr/math_qwen2.5-7b",
        RLCR_LAYOUT, "Option A which is [R-loops]", "option", "A", "lariat",
        system=resolve_system_prompt("tabc"), extra={"difficulty": 1},
    ),
    "Big-Math-Digits": Benchmark(
        "big_math_digits", "mehuldamani/big-math-digits", "test", {"test": "big_math_digits/test.jsonl"},
        "rlcr/math_qwen2.5-7b", RLCR_LAYOUT, "1446", "math_verify", "1446.0", "1442",
        system=resolve_system_prompt("tabc"), extra={"source": "orca_math", "llama8b_solve_rate": 0.03125},
    ),
    # RLPR's general-domain sets: loose parquets of openbmb/RLPR-Evaluation, each read as its own split (hub_files)
    "MMLU-Pro (RLPR's 1,000)": Benchmark(
        "rlpr_mmlupro", "openbmb/RLPR-Evaluation", "mmlupro", {"mmlupro": "rlpr_eval/mmlupro.jsonl"},
        "rlpr/qwen2.5-7b", RLPR_USER, "C", "letter", "C", "A", system=RLPR_SYSTEM,
        extra={"data_source": "MMLUPro-1000", "ability": "physics"},
    ),
    "GPQA-diamond (RLPR)": Benchmark(
        "rlpr_gpqa_diamond", "openbmb/RLPR-Evaluation", "gpqa_diamond",
        {"gpqa_diamond": "rlpr_eval/gpqa_diamond.jsonl"}, "rlpr/qwen2.5-7b", RLPR_USER, "C", "letter", "(C)", "B",
        system=RLPR_SYSTEM, extra={"data_source": "gpqa_diamond"},
    ),
    "TheoremQA (RLPR)": Benchmark(
        "rlpr_theoremqa", "openbmb/RLPR-Evaluation", "theoremqa", {"theoremqa": "rlpr_eval/theoremqa.jsonl"},
        "rlpr/qwen2.5-7b", RLPR_USER, "24", "math_verify", "24.0", "12", system=RLPR_SYSTEM,
        extra={"data_source": "TheoremQA"},
    ),
    "WebInstruct-verified (RLPR's held-out)": Benchmark(
        "rlpr_webinstruct", "openbmb/RLPR-Evaluation", "webinstruct_val",
        {"webinstruct_val": "rlpr_eval/webinstruct_val.jsonl"}, "rlpr/qwen2.5-7b", RLPR_USER, "B", "letter",
        "The answer is B", "D", system=RLPR_SYSTEM, extra={"data_source": "WebInstruct-verified-val"},
    ),
    # The self-certainty paper's sets (conf/suite/self_certainty.yaml): ZeroEval's prompt, json answer and grade,
    # whatever the run's recipe (the tasks set their own answer format and no system prompt)
    "GSM8K (ZeroEval)": Benchmark(
        "zeroeval_gsm", "yuchenlin/zero-eval", "test", {"test": "zeroeval_gsm/test.jsonl"},
        "model=llama3.1-8b-instruct", ZEROEVAL_OEQA % "question", "# 18", "zeroeval_math", "18", "9",
        extra={"id": "gsm8k-main-test-#0"},
    ),
    "LiveBench-Math (ZeroEval)": Benchmark(  # rows graded per subtask: tests/test_livebench_math.py
        "livebench_math", "livebench/math", "test", {"test": "livebench_math/test.jsonl"},
        "model=llama3.1-8b-instruct", ZEROEVAL_OEQA.replace("{%s}", "{turns[0]}"), "B", "zeroeval_exact", "B", "C",
        extra={"question_id": "SYNTHETIC-0001", "task": "math_comp", "subtask": "amc_12a_2024"},
    ),
    "CRUXEval (ZeroEval)": Benchmark(  # three real rows of ZeroEval's published CRUXEval outputs (@ 8c1485e)
        "zeroeval_crux", "flydust/zero-eval", "test", {"test": "zeroeval_crux/test.jsonl"},
        "model=llama3.1-8b-instruct", ZEROEVAL_OEQA % "question", "[(4, 1), (4, 1), (4, 1), (4, 1), (2, 3), (2, 3)]",
        "zeroeval_crux", "[(4, 1), (4, 1), (4, 1), (4, 1), (2, 3), (2, 3)]", "[[4, 1], [4, 1], [4, 1], [4, 1], [2, 3]]",
        extra={"id": "crux-test-#0"},
    ),
    "LiveCodeBench (release_v3)": Benchmark(  # two synthetic rows with the lite schema; graded by running the code
        "livecodebench", "livecodebench/code_generation_lite", "test", {"test": "livecodebench/test.jsonl"},
        "model=llama3.1-8b-instruct", LCB_STDIN_PROMPT, LCB_FIRST_ANSWER, "livecodebench",
        "a, b = map(int, input().split())\nprint(a + b)", "print(3)",
        extra={"question_id": "SYNTHETIC-abc000_a", "platform": "atcoder", "difficulty": "easy"},
    ),
    "MATH level 5 (ZeroEval)": Benchmark(
        "math_l5", "AI-MO/aimo-validation-math-level-5", "train", {"train": "math_l5/train.jsonl"},
        "model=llama3.1-8b-instruct", ZEROEVAL_OEQA % "problem", "-15", "zeroeval_math", "-15", "15",
        extra={"id": 0},
    ),
}  # fmt: skip

# Options that are not evaluation sets the papers report: the embedded demo tasks and the papers' training sets (whose
# held-out split is evaluated as the run's own task).
TRAINING_ONLY = {
    "arith": "the embedded demo task",
    "arith_levels": "the embedded RLCR demo task",
    "arith_pick": "the embedded TEMPO demo task",
    "deepmath": "LaSeR's training set",
    "simplerl_math": "PURE's training set",
    "rlpr_train": "RLPR's training set (tests/test_rlpr_recipe.py loads its fixture)",
}


@cache
def experiment_config(experiment: str):
    cfg = compose_train([experiment if "=" in experiment else f"experiment={experiment}"])
    OmegaConf.resolve(cfg)
    return cfg


def first_raw_row(benchmark: Benchmark) -> dict:
    hub_split = benchmark.test_split.split("[")[0]
    with (FIXTURES / benchmark.fixture[hub_split]).open() as handle:
        return json.loads(handle.readline())


def load_benchmark(benchmark: Benchmark):
    """The task as ``rlrewards-eval suite=...`` builds it for a run of ``benchmark.experiment``, reading the fixture."""
    files = {split: str(FIXTURES / path) for split, path in benchmark.fixture.items()}
    spec = {"task": benchmark.option, "task_overrides": {"data_files": files}}
    eval_cfg = OmegaConf.create({"benchmarks": {benchmark.option: spec}})
    train_cfg = experiment_config(benchmark.experiment)
    [(_, task)] = benchmark_tasks(eval_cfg, train_cfg).values()
    return task, task.answer_format or train_cfg.recipe.answer_format  # as rlrewards.evaluate picks it


@pytest.mark.parametrize("name", list(BENCHMARKS))
def test_benchmark_loads_offline_with_its_prompt_and_grades_one_right_one_wrong(name):
    benchmark = BENCHMARKS[name]
    config = OmegaConf.load(Path(CONFIG_DIR) / "task" / f"{benchmark.option}.yaml")
    assert config.path == benchmark.hub_id and config.splits.test == benchmark.test_split
    task, answer_format = load_benchmark(benchmark)
    assert task.name == benchmark.option
    dataset = task.load_split("test")
    row = dataset[0]

    roles = [m["role"] for m in row["prompt"]]
    assert roles == (["system", "user"] if benchmark.system else ["user"])
    if benchmark.system:
        assert row["prompt"][0]["content"].startswith(benchmark.system)
    assert row["prompt"][-1]["content"] == benchmark.user_prompt.format(**first_raw_row(benchmark))

    gold = json.loads(row["answer"])["correct"] if benchmark.checker == "choice" else row["answer"]
    assert gold == benchmark.gold and row["checker"] == benchmark.checker
    assert {key: row[key] for key in benchmark.extra} == benchmark.extra

    fmt = get_answer_format(answer_format)
    completions = [
        fmt.render(["Working it out."], answer, confidence=0.8, analysis="It may be wrong.")
        for answer in (benchmark.right, benchmark.wrong)
    ]
    right, wrong = score_samples(dataset.select([0]), [completions], answer_format)
    assert (right["extracted"], wrong["extracted"]) == (benchmark.right, benchmark.wrong)
    assert right["well_formed"] and wrong["well_formed"]
    assert (right["correct"], wrong["correct"]) == (True, False)


def test_every_task_config_is_a_tested_benchmark_or_training_only():
    options = {path.stem for path in (Path(CONFIG_DIR) / "task").glob("*.yaml")}
    tested = {benchmark.option for benchmark in BENCHMARKS.values()}
    assert not tested & set(TRAINING_ONLY)
    untested = sorted(options - tested - set(TRAINING_ONLY))
    assert not untested, f"conf/task options without a registry entry in {Path(__file__).name}: {untested}"
    assert not (tested | set(TRAINING_ONLY)) - options, "registry entries without a conf/task option"
