"""RLCR's comparison evaluated alike (issue 15, items 6 and 7): every run is probed for a missing answer and
confidence under suite=rlcr, RLVR's format included; probe texts and system prompts come from config or a file;
DeepMath runs evaluate on held-out problems; backend=vllm probes and scores LaSeR's self-reward on the vLLM engine
(a stand-in module here) without loading an HF model."""

import json
import sys
import types

import pytest
import vllm_standin
from conftest import FIXTURES
from datasets import Dataset
from hydra.errors import InstantiationException
from hydra.utils import instantiate
from omegaconf import OmegaConf, open_dict
from test_cli import compose_eval
from test_configs import compose_train
from transformers import AutoModelForCausalLM, Qwen2ForCausalLM

import rlrewards.eval.generation as generation
from rlrewards.config import ConfigError
from rlrewards.eval.generation import DecodingConfig, Engine, evaluate_split
from rlrewards.evaluate import evaluate_run
from rlrewards.recipes.rlcr_eval import ANSWER_PROBE, CONFIDENCE_PROBE, ProbeHook, Probes

LIMIT = 3
GREEDY_ONLY = [f"limit={LIMIT}", "max_new_tokens=6", "batch_size=4", "progress=false", "~decodings.sampled"]


def save_run(run, overrides, edit=None):
    """A run directory as rlrewards-train leaves it (config.yaml, model/) holding the untrained tiny model."""
    from rlrewards.models.tiny import build_tiny_model, build_tiny_tokenizer

    cfg = compose_train(overrides)
    OmegaConf.resolve(cfg)
    if edit:
        with open_dict(cfg):
            edit(cfg)
    OmegaConf.save(cfg, run / "config.yaml")
    tokenizer = build_tiny_tokenizer()
    model = build_tiny_model(
        tokenizer, hidden_size=32, num_layers=2, num_heads=2, num_kv_heads=1, intermediate_size=64, seed=0
    )
    model.save_pretrained(run / "model")
    tokenizer.save_pretrained(run / "model")
    return run


@pytest.fixture(scope="module")
def rlvr_run(tmp_path_factory):
    """An RLVR run (format ``ta``: no confidence) saved before runs recorded their probes: only the suite asks."""
    return save_run(
        tmp_path_factory.mktemp("rlvr"), ["recipe=rlvr"], edit=lambda cfg: cfg.evaluation.pop("probes", None)
    )


def fake_continuer(calls):
    """Greedy replies by probe: the answer 7, the confidence 85 (out of 100); records what it was asked."""

    def continue_greedily(model, tokenizer, prefixes, max_new_tokens, batch_size=64):
        calls.append((list(prefixes), max_new_tokens))
        return ["7" if max_new_tokens == 50 else "85" for _ in prefixes]

    return continue_greedily


def test_an_rlvr_run_under_suite_rlcr_gets_answer_rescue_and_confidence_metrics(rlvr_run, tmp_path, monkeypatch):
    calls = []
    monkeypatch.setattr(generation, "continue_greedily", fake_continuer(calls))
    plain = evaluate_run(compose_eval(rlvr_run, tmp_path / "plain", [*GREEDY_ONLY, "cache_dir=null"]))
    assert "ece_greedy" not in plain and "answer_adherence_greedy" not in plain and calls == []

    cfg = compose_eval(rlvr_run, tmp_path / "suite", [*GREEDY_ONLY, "suite=rlcr", "benchmarks=null", "cache_dir=null"])
    cfg.max_new_tokens = 6  # the suite's 4096 would let the tiny model ramble
    result = evaluate_run(cfg)
    records = [json.loads(line) for line in (tmp_path / "suite" / "samples.jsonl").open()]
    golds = [r["answer"] for r in records]
    assert "7" not in golds  # the probed answer 7 is wrong for every problem of the demo's first three
    # The untrained model states neither: both probes ran for all three, in that order, at the official lengths.
    (answer_prefixes, answer_tokens), (confidence_prefixes, confidence_tokens) = calls
    assert (answer_tokens, confidence_tokens) == (50, 20)
    assert all(p.endswith(r["completion"] + ANSWER_PROBE) for p, r in zip(answer_prefixes, records))
    assert all(
        p.endswith(r["completion"] + "<answer> 7 </answer>" + CONFIDENCE_PROBE)
        for p, r in zip(confidence_prefixes, records)
    )
    assert [(r["extracted"], r["confidence"], r["answer_stated"]) for r in records] == [("7", 0.85, False)] * LIMIT
    assert result["answer_adherence_greedy"] == 0.0 and result["confidence_adherence_greedy"] == 0.0
    assert result["accuracy_greedy"] == 0.0
    assert result["brier_greedy"] == pytest.approx(0.85**2)
    assert result["ece_greedy"] == pytest.approx(0.85)
    assert result["auroc_greedy"] == 0.5  # one class only


def test_probe_texts_come_from_a_file(rlvr_run, tmp_path, monkeypatch):
    calls = []
    monkeypatch.setattr(generation, "continue_greedily", fake_continuer(calls))
    (tmp_path / "confidence.txt").write_text(" Confidence, 0 to 100: \n")  # one final line break is dropped
    overrides = [*GREEDY_ONLY, "suite=rlcr", "benchmarks=null", "cache_dir=null", "max_new_tokens=6"]
    overrides += [f"probes.confidence=file:{tmp_path / 'confidence.txt'}", "probes.answer=' So: '"]
    evaluate_run(compose_eval(rlvr_run, tmp_path / "out", overrides))
    (answer_prefixes, _), (confidence_prefixes, _) = calls
    assert all(p.endswith(" So: ") for p in answer_prefixes)
    assert all(p.endswith("<answer> 7 </answer> Confidence, 0 to 100: ") for p in confidence_prefixes)

    missing = [*GREEDY_ONLY, "suite=rlcr", "benchmarks=null", f"probes.answer=file:{tmp_path / 'none.txt'}"]
    monkeypatch.setattr("rlrewards.evaluate.load_pretrained", lambda *a, **k: pytest.fail("loaded a model"))
    with pytest.raises(ConfigError, match=r"probes.answer='file:.*none.txt': cannot read"):
        evaluate_run(compose_eval(rlvr_run, tmp_path / "missing", missing))


def test_probes_rescue_any_format_and_score_the_rescued_answer():
    """Hand-computed: row a states 3 (right, gold 3), row b states nothing and is asked: 5 (right, gold 5).
    Confidences asked for both: 90 -> 0.9 and 0.2. Brier ((0.9-1)^2 + (0.2-1)^2)/2 = 0.325; ECE: bin 0.9 (|0.9-1|)
    and bin 0.2 (|0.2-1|), half the samples each: 0.45."""
    from rlrewards.models.tiny import build_tiny_tokenizer

    tokenizer = build_tiny_tokenizer()
    dataset = Dataset.from_list(
        [
            {"id": "a", "prompt": [{"role": "user", "content": "1+2"}], "answer": "3", "checker": "numeric"},
            {"id": "b", "prompt": [{"role": "user", "content": "2+3"}], "answer": "5", "checker": "numeric"},
        ]
    )
    completions = {"a": "<think>1+2=3</think> <answer>3</answer>", "b": "<think>2+3 is"}
    asked = []

    def sample(texts, decoding, seed):
        yield [[completions["a" if "1+2" in t else "b"]] for t in texts]

    def continue_greedily(prefixes, max_new_tokens):
        asked.extend(prefixes)
        if max_new_tokens == 50:
            return ["5" for _ in prefixes]
        return ["90" if "1+2" in p else "0.2" for p in prefixes]

    engine = Engine(sample, continue_greedily, lambda ids, token: pytest.fail("no self-reward here"))
    greedy = DecodingConfig()
    metrics, records = evaluate_split(
        None, tokenizer, dataset, "ta", [greedy], hooks=[ProbeHook(Probes())], engine=engine
    )
    assert [(r["extracted"], r["correct"], r["confidence"]) for r in records] == [("3", True, 0.9), ("5", True, 0.2)]
    assert asked[0].endswith("<think>2+3 is" + ANSWER_PROBE) and len(asked) == 3
    assert asked[2].endswith("<think>2+3 is<answer> 5 </answer>" + CONFIDENCE_PROBE)
    assert metrics["accuracy_greedy"] == 1.0 and metrics["answer_adherence_greedy"] == 0.5
    assert metrics["brier_greedy"] == pytest.approx(0.325) and metrics["ece_greedy"] == pytest.approx(0.45)
    assert metrics["confidence_adherence_greedy"] == 0.0

    unprobed, _ = evaluate_split(None, tokenizer, dataset, "ta", [greedy], engine=engine)
    assert unprobed["accuracy_greedy"] == 0.5 and "brier_greedy" not in unprobed


def test_rlcr_and_rlvr_recipes_probe_their_in_run_evaluation():
    from rlrewards.recipes.rlcr_eval import run_probes

    assert run_probes(compose_train(["recipe=rlvr"])) == Probes()
    assert run_probes(compose_train(["recipe=rlcr_single"])) == Probes()
    assert run_probes(compose_train(["recipe=rlvr", "evaluation.rescue_missing=false"])) is None
    assert run_probes(compose_train(["recipe=grpo"])) is None  # answer_tag states no confidence, nothing asks


def test_a_system_prompt_file_reaches_the_prompt(tmp_path):
    (tmp_path / "system.txt").write_text("Official wording.\nSecond line.\n")
    cfg = compose_train(["experiment=rlcr/math_qwen2.5-7b", f"recipe.system_prompt=file:{tmp_path / 'system.txt'}"])
    cfg.task.data_files = {"test": str(FIXTURES / "big_math_digits" / "test.jsonl")}
    OmegaConf.resolve(cfg)
    row = instantiate(cfg.task, _convert_="all").load_split("test")[0]
    assert row["prompt"][0] == {"role": "system", "content": "Official wording.\nSecond line."}

    cfg.task.system_prompt = f"file:{tmp_path / 'absent.txt'}"
    with pytest.raises(InstantiationException, match=r"system_prompt='file:.*absent.txt': cannot read the file"):
        instantiate(cfg.task, _convert_="all")  # the pipeline reports it as a ConfigError before loading a model


# Hub datasets -> their fixtures, by the hub dataset's own split names.
FIXTURE_FILES = {
    "zwhe99/DeepMath-103K": {"train": "deepmath/train.jsonl"},
    "HuggingFaceH4/MATH-500": {"test": "math500/test.jsonl"},
}


@pytest.mark.parametrize("experiment", ["laser/qwen2.5-7b", "laser/orz-7b", "laser/octothinker-3b-short-base"])
def test_deepmath_experiments_evaluate_on_problems_they_did_not_train_on(experiment):
    cfg = compose_train([f"experiment={experiment}"])
    OmegaConf.resolve(cfg)
    with open_dict(cfg):
        cfg.task.data_files = {k: str(FIXTURES / v) for k, v in FIXTURE_FILES[cfg.task.path].items()}
        for source in (cfg.task.get("split_sources") or {}).values():
            source.data_files = {k: str(FIXTURES / v) for k, v in FIXTURE_FILES[source.path].items()}
    task = instantiate(cfg.task, _convert_="all")
    problems = {row["prompt"][-1]["content"] for row in task.load_split("train")}
    held_out = task.load_split(cfg.evaluation.split)
    assert problems and len(held_out) > 0
    assert not problems & {row["prompt"][-1]["content"] for row in held_out}
    first = held_out[0]  # MATH-500's first problem under LaSeR's training prompt, graded against its answer
    assert first["prompt"][-1]["content"].startswith("Convert the point $(0,3)$ in rectangular coordinates")
    assert first["prompt"][-1]["content"].endswith("put your final answer within \\boxed{}.")
    assert first["answer"] == "\\left( 3, \\frac{\\pi}{2} \\right)"
    assert not problems & {row["prompt"][-1]["content"] for row in task.load_split("validation")}


class StandInVLLM(vllm_standin.StandInVLLM):
    """vllm's LLM/SamplingParams, recording every request: samples state no answer, the answer probe replies 7,
    the confidence probe 85, and the slot token's prompt log-prob cycles through LOGPROBS."""

    LOGPROBS = (-13.0, -18.0, -30.0)

    def __init__(self):
        super().__init__(self.reply)
        self.requests = []

    def reply(self, prompts, kwargs):
        self.requests.append(([p["prompt_token_ids"] for p in prompts], kwargs))
        if "prompt_logprobs" in kwargs:
            return [self.logprob_output(p["prompt_token_ids"], i) for i, p in enumerate(prompts)]
        reply = {50: "7", 20: "85"}.get(kwargs["max_tokens"], "no tags at all")
        return [vllm_standin.request_output([reply] * kwargs["n"]) for _ in prompts]

    def logprob_output(self, ids, index):
        positions = [None] + [{token: types.SimpleNamespace(logprob=-1.0)} for token in ids[1:-1]]
        last = {
            ids[-1]: types.SimpleNamespace(logprob=self.LOGPROBS[index % 3]),
            0: types.SimpleNamespace(logprob=-0.1),
        }
        return types.SimpleNamespace(prompt_logprobs=[*positions, last], outputs=[types.SimpleNamespace(text="x")])


def test_vllm_backend_probes_and_scores_the_self_reward_on_the_engine_without_an_hf_model(tmp_path, monkeypatch):
    """A LaSeR run (c_ref measured: -20) with RLCR's probes, evaluated with backend=vllm. Hand-computed self-reward:
    clip(0.1 * (log p - c_ref), 0, 1) for log p = -13, -18, -30 -> 0.7, 0.2, 0.0."""
    (tmp_path / "run").mkdir()
    probed = {"answer": None}  # RLCR's probes, our wording, on a LaSeR run: both use the engine
    run = save_run(tmp_path / "run", ["experiment=laser/arith_tiny"], lambda cfg: cfg.evaluation.update(probes=probed))
    (run / "metrics.jsonl").write_text(json.dumps({"train/laser/c_ref": -20.0}) + "\n")
    vllm = StandInVLLM()
    monkeypatch.setitem(sys.modules, "vllm", vllm.module)
    for target in ("rlrewards.evaluate.load_pretrained", "rlrewards.models.loading.load_pretrained"):
        monkeypatch.setattr(target, lambda *a, **k: pytest.fail("an HF model was loaded"))
    monkeypatch.setattr(AutoModelForCausalLM, "from_pretrained", lambda *a, **k: pytest.fail("an HF model was loaded"))
    monkeypatch.setattr(Qwen2ForCausalLM, "forward", lambda *a, **k: pytest.fail("an HF model was called"))

    result = evaluate_run(compose_eval(run, tmp_path / "out", [*GREEDY_ONLY, "backend=vllm", "cache_dir=null"]))
    records = [json.loads(line) for line in (tmp_path / "out" / "samples.jsonl").open()]
    assert [r["self_reward"] for r in records] == pytest.approx([0.7, 0.2, 0.0])
    assert [(r["extracted"], r["confidence"]) for r in records] == [("7", 0.85)] * LIMIT
    assert "self_verification_f1_greedy" in result and result["brier_greedy"] == pytest.approx(0.85**2)

    kinds = [(kwargs.get("max_tokens"), kwargs.get("prompt_logprobs")) for _, kwargs in vllm.requests]
    assert kinds == [(6, None), (50, None), (20, None), (1, 1)]  # sample, answer probe, confidence probe, self-reward
    assert vllm.requests[1][1] == {"n": 1, "temperature": 0.0, "max_tokens": 50}
    from rlrewards.models.loading import load_tokenizer

    tokenizer = load_tokenizer(str(run / "model"))  # as saved (AutoTokenizer would drop the probe's spaces)
    slot = tokenizer.convert_tokens_to_ids("<|reserved_0|>")
    scored = vllm.requests[3][0]
    assert all(ids[-2:] == [tokenizer.eos_token_id, slot] for ids in scored)
    asked = tokenizer("no tags at all<answer> 7 </answer>" + CONFIDENCE_PROBE, add_special_tokens=False)["input_ids"]
    assert all(ids[-len(asked) :] == asked for ids in vllm.requests[2][0])
