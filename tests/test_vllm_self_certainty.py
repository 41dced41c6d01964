"""Self-certainty selection with backend=vllm (``self_certainty.vllm_hf_scoring``): an HF copy of the checkpoint,
loaded at the first multi-sample scoring only, scores vLLM's completion texts exactly as backend=hf scores the same
texts; ``vllm.gpu_memory_utilization`` reaches ``LLM(...)`` and is checked before anything loads. Against a stand-in
vllm module (a real vLLM is untested here)."""

import json
import sys

import pytest
from hydra.utils import instantiate
from omegaconf import OmegaConf
from test_cli import compose_eval
from test_rlcr_eval import save_run
from transformers import AutoModelForCausalLM
from vllm_standin import StandInVLLM, request_output

import rlrewards.eval.generation as generation
import rlrewards.evaluate as evaluate_module
from rlrewards.config import ConfigError
from rlrewards.eval.certainty import hf_self_certainty
from rlrewards.eval.generation import chat_texts
from rlrewards.eval.self_certainty_eval import self_certainty_metrics
from rlrewards.evaluate import evaluate_run
from rlrewards.models.loading import load_pretrained

LIMIT = 3
REPLIES = ["<answer>3</answer>", "<answer>5</answer>", "", "<answer>3</answer> 3 3"]  # the sampled decoding's texts
EVAL = [f"limit={LIMIT}", "max_new_tokens=6", "batch_size=8", "progress=false", "cache_dir=null"]
GREEDY_ONLY = [*EVAL, "~decodings.sampled"]


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """The demo run (tiny untrained model, arith, answer_tag) as rlrewards-train leaves it."""
    return save_run(tmp_path_factory.mktemp("run"), [])


@pytest.fixture
def vllm(monkeypatch):
    # every request gets REPLIES[:n]
    stand_in = StandInVLLM(lambda prompts, kwargs: [request_output(REPLIES[: kwargs["n"]]) for _ in prompts])
    monkeypatch.setitem(sys.modules, "vllm", stand_in.module)
    return stand_in


@pytest.fixture
def hf_loads(monkeypatch):
    """The checkpoints rlrewards-eval loads as HF models, in order."""
    loaded = []

    def counting(checkpoint, **kwargs):
        loaded.append(checkpoint)
        return load_pretrained(checkpoint, **kwargs)

    monkeypatch.setattr(evaluate_module, "load_pretrained", counting)
    return loaded


def forbid_hf_models(monkeypatch):
    for target in ("rlrewards.evaluate.load_pretrained", "rlrewards.models.loading.load_pretrained"):
        monkeypatch.setattr(target, lambda *a, **k: pytest.fail("an HF model was loaded"))
    monkeypatch.setattr(AutoModelForCausalLM, "from_pretrained", lambda *a, **k: pytest.fail("an HF model was loaded"))


def samples(out):
    return [json.loads(line) for line in (out / "samples.jsonl").open()]


def test_hf_scoring_on_vllm_gives_the_hf_numbers_for_the_same_texts(run, tmp_path, vllm, hf_loads, monkeypatch):
    overrides = [*EVAL, "backend=vllm", "self_certainty.vllm_hf_scoring=true", "vllm.gpu_memory_utilization=0.6"]
    result = evaluate_run(compose_eval(run, tmp_path / "vllm", overrides))
    checkpoint = str(run / "model")
    assert vllm.engines == [{"model": checkpoint, "seed": 0, "gpu_memory_utilization": 0.6}]
    assert hf_loads == [checkpoint]  # once, for the sampled decoding's scoring
    records = [r for r in samples(tmp_path / "vllm") if r["decoding"] == "sampled"]
    assert [r["completion"] for r in records] == REPLIES * LIMIT
    assert not any("self_certainty" in r for r in samples(tmp_path / "vllm") if r["decoding"] == "greedy")

    # hf_self_certainty on the same checkpoint, prompts and texts, computed here
    model, tokenizer = load_pretrained(checkpoint, dtype="auto")
    task = instantiate(OmegaConf.load(run / "config.yaml").task, _convert_="all")
    rows = list(task.load_split("test").select(range(LIMIT)))
    encode = lambda texts: tokenizer(texts, add_special_tokens=False)["input_ids"]  # noqa: E731
    prompts = [ids for ids in encode(chat_texts(tokenizer, [row["prompt"] for row in rows])) for _ in REPLIES]
    expected = hf_self_certainty(model, tokenizer, prompts, encode(REPLIES * LIMIT), batch_size=8)
    assert [r["self_certainty"] for r in records] == pytest.approx(expected, rel=1e-6)
    assert len(set(expected)) > 2 and expected[2] == 0.0  # distinct scores; the empty completion scores 0
    scored = [{**r, "self_certainty": value} for r, value in zip(records, expected)]
    reference = self_certainty_metrics(scored, power=0.5)
    for k in (1, 2, 4):
        for name in ("bon_sc", "borda_sc"):
            assert result[f"{name}@{k}_sampled"] == pytest.approx(reference[f"{name}@{k}"])
    assert result["self_certainty_mean_sampled"] == pytest.approx(sum(expected) / len(expected), rel=1e-6)

    # backend=hf sampling the same texts stores the very same numbers
    def same_texts(model, tokenizer, texts, decoding, seed):
        yield [REPLIES[: decoding.num_samples] for _ in texts]

    monkeypatch.setattr(generation, "hf_sample_batches", same_texts)
    hf_result = evaluate_run(compose_eval(run, tmp_path / "hf", EVAL))
    hf_records = [r for r in samples(tmp_path / "hf") if r["decoding"] == "sampled"]
    assert [r["self_certainty"] for r in hf_records] == [r["self_certainty"] for r in records]
    for name in ("bon_sc@4_sampled", "borda_sc@4_sampled", "borda_sc@2_sampled", "self_certainty_mean_sampled"):
        assert hf_result[name] == result[name]


def test_without_the_option_vllm_skips_naming_it_and_loads_no_hf_model(run, tmp_path, vllm, monkeypatch, caplog):
    forbid_hf_models(monkeypatch)
    result = evaluate_run(compose_eval(run, tmp_path / "out", [*EVAL, "backend=vllm"]))
    assert vllm.engines == [{"model": str(run / "model"), "seed": 0}]  # gpu_memory_utilization null: vLLM's own
    assert "maj@4_sampled" in result and not any(k.startswith(("bon_sc", "borda_sc")) for k in result)
    assert not any("self_certainty" in r for r in samples(tmp_path / "out"))
    assert "self_certainty.vllm_hf_scoring=true" in caplog.text


def test_with_the_option_but_no_multi_sample_decoding_no_hf_model_loads(run, tmp_path, vllm, monkeypatch, caplog):
    forbid_hf_models(monkeypatch)
    overrides = [*GREEDY_ONLY, "backend=vllm", "self_certainty.vllm_hf_scoring=true"]
    result = evaluate_run(compose_eval(run, tmp_path / "out", overrides))
    assert "set vllm.gpu_memory_utilization" in caplog.text  # left at vLLM's 0.9, the HF copy may not fit
    assert result["num_problems"] == LIMIT and len(vllm.engines) == 1


@pytest.mark.parametrize(
    "override, key",
    [
        ("vllm.gpu_memory_utilization=0", "vllm.gpu_memory_utilization"),
        ("vllm.gpu_memory_utilization=1.5", "vllm.gpu_memory_utilization"),
        ("vllm.gpu_memory_utilization=-0.2", "vllm.gpu_memory_utilization"),
        ("vllm.gpu_memory_utilization=true", "vllm.gpu_memory_utilization"),
        ("vllm.gpu_memory_utilization=lots", "vllm.gpu_memory_utilization"),
        ("self_certainty.vllm_hf_scoring=yes", "self_certainty.vllm_hf_scoring"),
        ("self_certainty.vllm_hf_scoring=1", "self_certainty.vllm_hf_scoring"),
    ],
)
def test_bad_values_fail_before_anything_loads(run, tmp_path, vllm, monkeypatch, override, key):
    forbid_hf_models(monkeypatch)
    monkeypatch.setattr(evaluate_module, "load_tokenizer", lambda *a, **k: pytest.fail("a tokenizer was loaded"))
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        evaluate_run(compose_eval(run, tmp_path / "out", [*EVAL, "backend=vllm", override]))
    assert vllm.engines == [] and not (tmp_path / "out" / "samples.jsonl").exists()


def test_a_full_gpu_memory_utilization_is_accepted(run, tmp_path, vllm):
    evaluate_run(compose_eval(run, tmp_path / "out", [*GREEDY_ONLY, "backend=vllm", "vllm.gpu_memory_utilization=1"]))
    assert vllm.engines[0]["gpu_memory_utilization"] == 1.0


def test_the_lazy_scorer_loads_at_its_first_call_only(tiny_model, tiny_tokenizer):
    from rlrewards.eval.certainty import lazy_hf_self_certainty

    loads = []
    scorer = lazy_hf_self_certainty(lambda: loads.append(1) or (tiny_model, tiny_tokenizer))
    assert loads == []
    prompts, completions = [[5, 6, 7], [5, 6]], [[9, 10, 11], [13]]
    first, second = scorer(prompts, completions, 2), scorer(prompts[:1], completions[:1], 1)
    assert loads == [1] and first == hf_self_certainty(tiny_model, tiny_tokenizer, prompts, completions, 2)
    assert second == pytest.approx(first[:1], rel=1e-5) and first[0] != first[1]


def test_the_hook_checks_the_option_in_a_run_config_too():
    from rlrewards.eval.hooks import HookSetup, select_hooks

    run = OmegaConf.create({"recipe": {"answer_format": "answer_tag"}, "evaluation": {}})
    for value in ("yes", 1):
        with pytest.raises(ConfigError, match=r"self_certainty\.vllm_hf_scoring must be true or false"):
            select_hooks(HookSetup(run, eval_config=OmegaConf.create({"self_certainty": {"vllm_hf_scoring": value}})))
    on = OmegaConf.create({"self_certainty": {"vllm_hf_scoring": True}})
    assert [type(h).__name__ for h in select_hooks(HookSetup(run, eval_config=on))] == ["SelfCertaintyHook"]
