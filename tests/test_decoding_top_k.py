"""Top-k sampling in evaluation decodings (the NSR paper's Qwen3-4B evaluation: 64 samples at T = 0.7, top_p 0.8,
top_k 20): parsing, what the HF and vLLM samplers are asked for, the sample cache's keys (unchanged when top_k is
off), validation, and suite=nsr_qwen3."""

import sys
import types

import pytest
from conftest import CONFIG_DIR
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from omegaconf import OmegaConf

from rlrewards.config import ConfigError
from rlrewards.eval.cache import SampleCache
from rlrewards.eval.generation import (
    DecodingConfig,
    cached_completions,
    chat_texts,
    continue_greedily,
    decodings_from_config,
    hf_sample_batches,
)
from rlrewards.validation.settings import validate_decoding

QWEN3 = {"num_samples": 64, "temperature": 0.7, "top_p": 0.8, "top_k": 20}


def compose_eval_suite(suite: str, overrides: list[str] = ()):
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
        return compose(config_name="eval", overrides=["run_dir=unused", f"suite={suite}", *overrides])


def test_decodings_parse_with_and_without_top_k():
    spec = OmegaConf.create(
        {
            "qwen3": QWEN3,
            "plain": {"num_samples": 4, "temperature": 1.0},
            "zero": {"num_samples": 4, "temperature": 1.0, "top_k": 0},
            "null": {"num_samples": 4, "temperature": 1.0, "top_k": None},
            "greedy": {"num_samples": 1, "temperature": 0.0},
        }
    )
    parsed = {d.name: d for d in decodings_from_config(spec, max_new_tokens=4096, batch_size=256)}
    assert parsed["qwen3"] == DecodingConfig("qwen3", 64, 0.7, 0.8, 4096, 256, top_k=20)
    for name in ("plain", "zero", "null"):  # absent, 0 and null are all off: None
        assert parsed[name] == DecodingConfig(name, 4, 1.0, 1.0, 4096, 256, top_k=None)
    assert parsed["greedy"].top_k is None


def spy_generate(model, monkeypatch) -> list[dict]:
    """Every ``generate`` call's keyword arguments (the call still runs)."""
    calls: list[dict] = []
    original = model.generate

    def spy(**kwargs):
        calls.append(kwargs)
        return original(**kwargs)

    monkeypatch.setattr(model, "generate", spy)
    return calls


def test_the_hf_sampler_passes_top_k_to_generate_when_set_and_0_otherwise(tiny_model, tiny_tokenizer, monkeypatch):
    calls = spy_generate(tiny_model, monkeypatch)
    texts = chat_texts(tiny_tokenizer, [[{"role": "user", "content": "1+2"}], [{"role": "user", "content": "3+4"}]])
    with_k = DecodingConfig("k", num_samples=2, temperature=0.7, top_p=0.8, max_new_tokens=3, batch_size=4, top_k=20)
    batches = list(hf_sample_batches(tiny_model, tiny_tokenizer, texts, with_k, seed=0))
    assert [len(batch) for batch in batches] == [2] and all(len(samples) == 2 for samples in batches[0])
    assert [(c["top_k"], c["top_p"], c["temperature"], c["do_sample"]) for c in calls] == [(20, 0.8, 0.7, True)]
    calls.clear()
    list(hf_sample_batches(tiny_model, tiny_tokenizer, texts, DecodingConfig("off", 2, 1.0, 1.0, 3, 4), seed=0))
    list(hf_sample_batches(tiny_model, tiny_tokenizer, texts, DecodingConfig("greedy", 1, 0.0, 1.0, 3, 4), seed=0))
    assert [(c["top_k"], c["do_sample"]) for c in calls] == [(0, True), (0, False)]  # off: TRL's pure sampling


def test_top_k_1_sampling_is_greedy_and_no_top_k_is_not(tiny_model, tiny_tokenizer):
    """With k = 1 only the most likely token survives, so every sample at T = 1 is the greedy continuation; without
    top-k the untrained model's near-uniform distribution gives other texts."""
    texts = chat_texts(tiny_tokenizer, [[{"role": "user", "content": "12+7"}]])
    greedy = continue_greedily(tiny_model, tiny_tokenizer, texts, max_new_tokens=8)
    top1 = DecodingConfig("top1", num_samples=4, temperature=1.0, max_new_tokens=8, batch_size=4, top_k=1)
    [[samples]] = list(hf_sample_batches(tiny_model, tiny_tokenizer, texts, top1, seed=0))
    assert samples == greedy * 4
    pure = DecodingConfig("pure", num_samples=4, temperature=1.0, max_new_tokens=8, batch_size=4)
    [[samples]] = list(hf_sample_batches(tiny_model, tiny_tokenizer, texts, pure, seed=0))
    assert any(sample != greedy[0] for sample in samples)


def test_the_vllm_sampler_passes_top_k_only_when_set(tiny_tokenizer, monkeypatch):
    """Against a stand-in vllm module (a real vLLM is not installed here): off leaves SamplingParams' own default,
    which is off in every vLLM version (-1 or 0)."""
    asked: list[dict] = []

    class LLM:
        def __init__(self, **kwargs):
            pass

        def generate(self, requests, params, use_tqdm):
            asked.append(params)
            return [types.SimpleNamespace(outputs=[types.SimpleNamespace(text="x")] * params["n"]) for _ in requests]

    monkeypatch.setitem(sys.modules, "vllm", types.SimpleNamespace(LLM=LLM, SamplingParams=lambda **kwargs: kwargs))
    from rlrewards.eval.vllm_engine import vllm_engine

    engine = vllm_engine("checkpoint", tiny_tokenizer, seed=0)
    qwen3 = DecodingConfig("sampled", 64, 0.7, 0.8, max_new_tokens=4096, batch_size=128, top_k=20)
    assert list(engine.sample(["a", "b"], qwen3, 5)) == [[["x"] * 64, ["x"] * 64]]
    off = DecodingConfig("sampled", 4, 1.0, 1.0, max_new_tokens=16, batch_size=8)
    list(engine.sample(["a"], off, 6))
    assert asked == [
        {"n": 64, "temperature": 0.7, "top_p": 0.8, "max_tokens": 4096, "seed": 5, "top_k": 20},
        {"n": 4, "temperature": 1.0, "top_p": 1.0, "max_tokens": 16, "seed": 6},
    ]


def test_the_cache_key_is_unchanged_when_top_k_is_off_and_holds_it_when_set():
    cache = SampleCache("/cache", {"hub_id": "org/model"})
    # the file names the cache gave these decodings before decodings had a top_k (computed with that code)
    before = {"sampled": "sampled-9d3051412401fb786d49.jsonl", "greedy": "greedy-5df662e62b49527814bf.jsonl"}
    for off in (None, 0):
        [sampled, greedy] = decodings_from_config(
            {"sampled": {"num_samples": 64, "temperature": 0.7, "top_p": 0.8, "top_k": off}}, 4096, 256
        ) + decodings_from_config({"greedy": {"num_samples": 1, "temperature": 0.0}}, 64, 256)
        assert cache.path(sampled, 0).name == before["sampled"] and cache.path(greedy, 3).name == before["greedy"]
    off = DecodingConfig("sampled", 64, 0.7, 0.8, 4096, 256)
    assert "top_k" not in cache.context(off, 0)["decoding"]
    k20, k40 = (DecodingConfig("sampled", 64, 0.7, 0.8, 4096, 256, top_k=k) for k in (20, 40))
    assert cache.context(k20, 0)["decoding"] == {**cache.context(off, 0)["decoding"], "top_k": 20}
    assert len({cache.path(off, 0), cache.path(k20, 0), cache.path(k40, 0)}) == 3


def test_decodings_that_differ_only_in_top_k_do_not_share_cached_samples(tmp_path):
    cache = SampleCache(tmp_path, {"hub_id": "org/model"})
    log: list = []

    def sampler(texts, decoding, seed):
        log.append((decoding.top_k, list(texts)))
        yield [[f"{text}/k={decoding.top_k}"] * decoding.num_samples for text in texts]

    decodings = [DecodingConfig("sampled", 2, 0.7, 0.8, 8, 4, top_k=k) for k in (20, 40, None)]
    for decoding in decodings:
        samples = cached_completions(sampler, ["a", "b"], decoding, seed=0, cache=cache)
        assert samples == [[f"a/k={decoding.top_k}"] * 2, [f"b/k={decoding.top_k}"] * 2]
    assert log == [(20, ["a", "b"]), (40, ["a", "b"]), (None, ["a", "b"])]  # each generated its own
    log.clear()
    again = cached_completions(sampler, ["a", "b"], decodings[0], seed=0, cache=cache)
    assert log == [] and again == [["a/k=20"] * 2, ["b/k=20"] * 2]  # the same top_k reuses its samples


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ({"top_k": -1}, r"^dec.top_k=-1 must be >= 1 \(null or 0: off\)$"),
        ({"top_k": 2.5}, r"^dec.top_k=2.5 must be an integer >= 1 \(null or 0: off\)$"),
        ({"top_k": "20"}, r"^dec.top_k='20' must be an integer >= 1"),
        ({"top_k": True}, r"^dec.top_k=True must be an integer >= 1"),
        (
            {"num_samples": 1, "temperature": 0.0, "top_k": 20},
            r"^dec.top_k=20 with temperature=0.0: greedy decoding takes the most likely token",
        ),
    ],
)
def test_validation_refuses_a_bad_top_k_and_names_the_key(entry, message):
    with pytest.raises(ConfigError, match=message):
        validate_decoding(OmegaConf.create({"num_samples": 4, "temperature": 1.0, **entry}), "dec")


@pytest.mark.parametrize("top_k", [None, 0, 1, 20])
def test_validation_accepts_top_k_off_or_positive(top_k):
    validate_decoding(OmegaConf.create({**QWEN3, "top_k": top_k}), "dec")
    validate_decoding(OmegaConf.create({"num_samples": 1, "temperature": 0.0, "top_k": 0}), "greedy")  # 0: off


def test_rlrewards_eval_checks_every_decoding_of_its_suite_before_any_model_loads():
    from rlrewards.evaluate import validate_eval_decodings

    bad = compose_eval_suite("nsr_qwen3", ["benchmarks.aime25.decodings.sampled.top_k=-3"])
    with pytest.raises(ConfigError, match=r"^benchmarks.aime25.decodings.sampled.top_k=-3 must be >= 1"):
        validate_eval_decodings(bad)
    top_level = compose_eval_suite("nsr_qwen3", ["+decodings.greedy.top_k=5"])
    with pytest.raises(ConfigError, match=r"^decodings.greedy.top_k=5 with temperature=0.0"):
        validate_eval_decodings(top_level)


def test_suite_nsr_qwen3_samples_nsr_s_benchmarks_as_the_paper_s_qwen3_evaluation():
    """§3: 64 samples at T = 0.7, top_p 0.8, top_k 20 on the benchmarks suite=nsr evaluates, 4096 new tokens and
    the run's prompt as suite=nsr."""
    cfg, nsr = compose_eval_suite("nsr_qwen3"), compose_eval_suite("nsr")
    assert set(cfg.benchmarks) == set(nsr.benchmarks) and len(cfg.benchmarks) == 3
    assert (cfg.max_new_tokens, cfg.use_run_prompt) == (nsr.max_new_tokens, nsr.use_run_prompt) == (4096, True)
    for spec in cfg.benchmarks.values():
        [decoding] = decodings_from_config(spec.decodings, cfg.max_new_tokens, cfg.batch_size)
        assert decoding == DecodingConfig("sampled", 64, 0.7, 0.8, 4096, cfg.batch_size, top_k=20)
