"""rlrewards-eval reuses finished samples (issue 7): a second run generates nothing and writes the same files, a
changed decoding regenerates, an interrupted run resumes with only the missing prompts; the vLLM backend's small code
path against a stand-in module; the progress bar."""

import json
import sys
from pathlib import Path

import pytest
from omegaconf import OmegaConf
from test_cli import compose_eval
from test_configs import compose_train
from transformers import Qwen2ForCausalLM
from vllm_standin import StandInVLLM, request_output

from rlrewards.config import ConfigError
from rlrewards.eval.cache import SampleCache, checkpoint_identity, prompt_keys
from rlrewards.eval.generation import DecodingConfig, cached_completions
from rlrewards.evaluate import evaluate_run

LIMIT = 6
# batch_size 2: greedy generates 2 prompts per call, "sampled" (4 samples) 1 prompt per call
EVAL = [f"limit={LIMIT}", "max_new_tokens=6", "batch_size=2", "progress=false"]
_GENERATE = Qwen2ForCausalLM.generate


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    """A run directory as rlrewards-train leaves it (config.yaml, model/), holding the untrained tiny model."""
    from rlrewards.models.tiny import build_tiny_model, build_tiny_tokenizer

    run = tmp_path_factory.mktemp("run")
    cfg = compose_train([])  # the demo: tiny model, arith, grpo's answer_tag format
    OmegaConf.resolve(cfg)
    OmegaConf.save(cfg, run / "config.yaml")
    tokenizer = build_tiny_tokenizer()
    model = build_tiny_model(
        tokenizer, hidden_size=32, num_layers=2, num_heads=2, num_kv_heads=1, intermediate_size=64, seed=0
    )
    model.save_pretrained(run / "model")
    tokenizer.save_pretrained(run / "model")
    return run


@pytest.fixture
def generated(monkeypatch):
    """The number of prompts each ``generate`` call received, in call order."""
    calls: list[int] = []

    def counting(self, *args, **kwargs):
        calls.append(int(kwargs["input_ids"].shape[0]))
        return _GENERATE(self, *args, **kwargs)

    monkeypatch.setattr(Qwen2ForCausalLM, "generate", counting)
    return calls


def evaluate(run_dir: Path, out: Path, cache: Path, overrides: list[str] = ()) -> dict:
    return evaluate_run(compose_eval(run_dir, out, [*EVAL, f"cache_dir={cache}", *overrides]))


def read_samples(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "samples.jsonl").open()]


def test_a_second_run_generates_nothing_and_writes_the_same_samples_and_metrics(run_dir, tmp_path, generated):
    first = evaluate(run_dir, tmp_path / "one", tmp_path / "cache")
    assert sum(generated) == 2 * LIMIT and len(generated) == LIMIT // 2 + LIMIT  # every prompt once per decoding
    generated.clear()
    second = evaluate(run_dir, tmp_path / "two", tmp_path / "cache")
    assert generated == []
    assert first == second
    assert (tmp_path / "one" / "samples.jsonl").read_bytes() == (tmp_path / "two" / "samples.jsonl").read_bytes()
    assert (tmp_path / "one" / "metrics.json").read_text() == (tmp_path / "two" / "metrics.json").read_text()
    sampled = [r["completion"] for r in read_samples(tmp_path / "one") if r["decoding"] == "sampled"]
    assert len(sampled) == 4 * LIMIT and len(set(sampled)) > LIMIT  # real, distinct samples were reused


def test_a_changed_decoding_regenerates_only_that_decoding(run_dir, tmp_path, generated):
    evaluate(run_dir, tmp_path / "one", tmp_path / "cache")
    generated.clear()
    evaluate(run_dir, tmp_path / "two", tmp_path / "cache", ["decodings.sampled.temperature=0.7"])
    assert sum(generated) == LIMIT and len(generated) == LIMIT  # "sampled", one prompt per call; greedy reused
    generated.clear()
    evaluate(run_dir, tmp_path / "three", tmp_path / "cache", ["max_new_tokens=5"])
    assert sum(generated) == 2 * LIMIT  # the length is part of every decoding
    generated.clear()
    evaluate(run_dir, tmp_path / "four", tmp_path / "cache", ["seed=1"])
    assert sum(generated) == 2 * LIMIT
    generated.clear()
    evaluate(run_dir, tmp_path / "five", tmp_path / "cache", ["batch_size=8"])
    assert generated == []  # how samples are batched is not what they are


def test_an_interrupted_run_resumes_generating_only_the_missing_prompts(run_dir, tmp_path, monkeypatch):
    calls: list[int] = []

    def dies_on_the_third_call(self, *args, **kwargs):
        if len(calls) == 2:
            raise KeyboardInterrupt("killed")
        calls.append(int(kwargs["input_ids"].shape[0]))
        return _GENERATE(self, *args, **kwargs)

    monkeypatch.setattr(Qwen2ForCausalLM, "generate", dies_on_the_third_call)
    with pytest.raises(KeyboardInterrupt):
        evaluate(run_dir, tmp_path / "killed", tmp_path / "cache")
    [greedy_file] = (tmp_path / "cache").glob("greedy-*.jsonl")
    finished = [json.loads(line) for line in greedy_file.read_text().splitlines()]
    assert len(finished) == 4  # two batches of two prompts were written before the kill
    with greedy_file.open("a") as handle:
        handle.write('{"key": "half a line cut by the ki')  # a write cut short: no newline, no closing brace

    calls.clear()

    def counting(self, *args, **kwargs):
        calls.append(int(kwargs["input_ids"].shape[0]))
        return _GENERATE(self, *args, **kwargs)

    monkeypatch.setattr(Qwen2ForCausalLM, "generate", counting)
    evaluate(run_dir, tmp_path / "resumed", tmp_path / "cache")
    assert calls == [2] + [1] * LIMIT  # greedy: the last 2 prompts in one call; sampled: all 6, one per call
    greedy = [r for r in read_samples(tmp_path / "resumed") if r["decoding"] == "greedy"]
    assert [r["completion"] for r in greedy[:4]] == [entry["samples"][0] for entry in finished]
    lines = greedy_file.read_text().splitlines()
    assert len(lines) == 4 + 1 + 2 and lines[4].startswith('{"key": "half')  # the bad line stays, alone, ignored

    calls.clear()
    evaluate(run_dir, tmp_path / "again", tmp_path / "cache")
    assert calls == []
    assert read_samples(tmp_path / "again") == read_samples(tmp_path / "resumed")


def fake_sampler(log: list):
    """Completions that name the prompt, the sample and the seed, so reuse and regeneration are visible."""

    def sample(texts, decoding, seed):
        for start in range(0, len(texts), 2):
            chunk = texts[start : start + 2]
            log.append(list(chunk))
            yield [[f"{text}/{k}/{seed}" for k in range(decoding.num_samples)] for text in chunk]

    return sample


def test_the_cache_keys_duplicate_prompts_apart_and_resumes_with_a_fresh_seed(tmp_path):
    cache = SampleCache(tmp_path, {"hub_id": "org/model"})
    decoding = DecodingConfig(name="sampled", num_samples=2, temperature=1.0)
    log: list = []
    texts = ["a", "b", "a"]
    assert len(set(prompt_keys(texts))) == 3
    first = cached_completions(fake_sampler(log), texts, decoding, seed=7, cache=cache)
    assert first == [["a/0/7", "a/1/7"], ["b/0/7", "b/1/7"], ["a/0/7", "a/1/7"]]  # a fresh run uses the seed as is
    assert log == [["a", "b"], ["a"]]

    log.clear()
    more = cached_completions(fake_sampler(log), ["a", "c", "b", "d"], decoding, seed=7, cache=cache)
    assert log == [["c", "d"]]
    assert more[0] == first[0] and more[2] == first[1]
    resumed_seed = more[1][0].split("/")[-1]
    assert resumed_seed != "7" and more[3][0] == f"d/0/{resumed_seed}"


def test_the_cache_key_holds_checkpoint_decoding_seed_and_backend(tmp_path):
    weights = tmp_path / "model"
    weights.mkdir()
    (weights / "model.safetensors").write_bytes(b"12345")
    identity = checkpoint_identity(str(weights))
    assert identity == {"path": str(weights.resolve()), "files": [["model.safetensors", 5, identity["files"][0][2]]]}
    assert checkpoint_identity("Qwen/Qwen2.5-7B") == {"hub_id": "Qwen/Qwen2.5-7B"}
    decoding = DecodingConfig(name="sampled", num_samples=2, temperature=1.0, max_new_tokens=8, batch_size=4)
    cache = SampleCache(tmp_path, identity)
    base = cache.path(decoding, 0)
    variants = [
        cache.path(DecodingConfig("sampled", 3, 1.0, 1.0, 8, 4), 0),
        cache.path(DecodingConfig("sampled", 2, 0.7, 1.0, 8, 4), 0),
        cache.path(DecodingConfig("sampled", 2, 1.0, 0.9, 8, 4), 0),
        cache.path(DecodingConfig("sampled", 2, 1.0, 1.0, 9, 4), 0),
        cache.path(DecodingConfig("other", 2, 1.0, 1.0, 8, 4), 0),
        cache.path(decoding, 1),
        SampleCache(tmp_path, identity, backend="vllm").path(decoding, 0),
    ]
    assert len({base, *variants}) == 1 + len(variants)
    assert cache.path(DecodingConfig("sampled", 2, 1.0, 1.0, 8, 64), 0) == base  # batch size is not in the key
    (weights / "model.safetensors").write_bytes(b"123456")  # retrained in place
    assert SampleCache(tmp_path, checkpoint_identity(str(weights))).path(decoding, 0) != base


def test_progress_bar_over_generation_batches(capsys):
    decoding = DecodingConfig(name="greedy", num_samples=1, batch_size=2)
    cached_completions(fake_sampler([]), ["a", "b", "c"], decoding, seed=0, progress=True)
    bar = capsys.readouterr().err
    assert "generate (greedy)" in bar and "2/2" in bar  # three prompts, two per batch
    cached_completions(fake_sampler([]), ["a"], decoding, seed=0, progress=False)
    assert capsys.readouterr().err == ""


def test_vllm_backend_fails_clearly_without_vllm(run_dir, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "vllm", None)  # "import vllm" raises ImportError
    with pytest.raises(ConfigError, match=r"backend=vllm, but vllm cannot be imported.*backend=hf"):
        evaluate(run_dir, tmp_path / "out", tmp_path / "cache", ["backend=vllm"])
    with pytest.raises(ConfigError, match=r"backend='tgi'. Known: hf, vllm"):
        evaluate(run_dir, tmp_path / "out", tmp_path / "cache", ["backend=tgi"])


def test_vllm_backend_passes_the_decoding_and_returns_the_hf_structure(run_dir, tmp_path, monkeypatch):
    """Against a stand-in for vllm's LLM/SamplingParams: what the backend asks for and what it does with the
    answer. (A real vLLM is untested here.)"""
    requests = []

    def reply(prompts, kwargs):
        requests.append((prompts, kwargs))
        return [request_output([f"<answer>{k}</answer>" for k in range(kwargs["n"])]) for _ in prompts]

    vllm = StandInVLLM(reply)
    engines = vllm.engines
    monkeypatch.setitem(sys.modules, "vllm", vllm.module)
    result = evaluate(run_dir, tmp_path / "out", tmp_path / "cache", ["backend=vllm", "seed=3"])
    assert engines == [{"model": str(run_dir / "model"), "seed": 3}]
    greedy = {"n": 1, "temperature": 0.0, "top_p": 1.0, "max_tokens": 6, "seed": 3}
    assert [params for _, params in requests] == [greedy] * 3 + [{**greedy, "n": 4, "temperature": 1.0}] * LIMIT
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(run_dir / "model")
    first_prompt = requests[0][0][0]["prompt_token_ids"]
    assert tokenizer.decode(first_prompt).startswith("<|user|>") and tokenizer.decode(first_prompt).endswith(
        "<|assistant|>"
    )
    records = read_samples(tmp_path / "out")
    assert len(records) == LIMIT + 4 * LIMIT
    assert [r["extracted"] for r in records if r["decoding"] == "sampled"][:4] == ["0", "1", "2", "3"]
    assert result["format_greedy"] == 1.0 and result["num_problems"] == LIMIT
