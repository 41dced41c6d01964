"""Self-certainty selection in every multi-sample evaluation (rlrewards/eval/self_certainty_eval.py) and pass@k up
to the number of samples: hand-computed Best-of-N and Borda values, the hook through evaluate_split on a tiny model
(its scores equal the algorithms function on the full logits), and pass@64/128/256 against exact combinatorics."""

import itertools
import math
from fractions import Fraction

import pytest
import torch
from datasets import Dataset
from omegaconf import OmegaConf

from rlrewards.algorithms.self_certainty import self_certainty
from rlrewards.config import ConfigError
from rlrewards.eval.generation import DecodingConfig, chat_texts, evaluate_split, hf_engine
from rlrewards.eval.hooks import HookSetup, select_hooks
from rlrewards.eval.scoring import powers_of_two, sampling_metrics
from rlrewards.eval.self_certainty_eval import SelfCertaintyHook, self_certainty_metrics
from rlrewards.eval.voting import best_of_n


def rec(prompt, sample, answer, correct, certainty):
    return {"id": prompt, "sample": sample, "extracted": answer, "correct": correct, "self_certainty": certainty}


SCORED = [
    # p: right answer 5. Ranked by self-certainty: s0 "7" (3.0), s3 "9" (2.0), s1 "5" (1.0), s2 "5" (0.5)
    rec("p", 0, "7", False, 3.0), rec("p", 1, "5", True, 1.0), rec("p", 2, "5", True, 0.5),
    rec("p", 3, "9", False, 2.0),
    # q: right answer 3. Ranked: s2 no answer (5.0), s1 "4" (0.2), s0 "3" (0.1), s3 "3" (NaN ranks last)
    rec("q", 0, "3", True, 0.1), rec("q", 1, "4", False, 0.2), rec("q", 2, None, False, 5.0),
    rec("q", 3, "3", True, float("nan")),
]  # fmt: skip


def test_best_of_n_picks_a_sample_ties_to_the_earlier_and_never_a_nan():
    assert best_of_n([1.0, 3.0, 3.0]) == 1 and best_of_n([float("nan"), -1.0]) == 1
    assert best_of_n([float("nan"), float("nan")]) == 0 and best_of_n([]) is None


def test_bon_and_borda_hand_computed():
    metrics = self_certainty_metrics(SCORED, power=0.5)
    # k=1: p's s0 wrong, q's s0 right
    assert metrics["bon_sc@1"] == 0.5 and metrics["borda_sc@1"] == 0.5
    assert metrics["bon_sc@1_stderr"] == pytest.approx(math.sqrt(0.25 / 2))
    # k=2: the more certain of the first two is wrong for both; Borda: sqrt(2) for it beats 1 for the other
    assert metrics["bon_sc@2"] == 0.0 and metrics["borda_sc@2"] == 0.0
    # k=4, p: votes 7: sqrt 4 = 2, 9: sqrt 3 = 1.73, 5: sqrt 2 + sqrt 1 = 2.41 -> 5 (right); BoN: s0 "7", wrong
    # k=4, q: s2 (no answer) gives no vote; 4: sqrt 3 = 1.73, 3: sqrt 2 + 1 = 2.41 -> 3 (right); BoN passes over
    # s2 (no answer) to s1 "4", wrong
    assert metrics["bon_sc@4"] == 0.0 and metrics["borda_sc@4"] == 1.0 and metrics["borda_sc@4_stderr"] == 0.0
    assert set(metrics) == {
        f"{m}@{k}{e}" for m in ("bon_sc", "borda_sc") for k in (1, 2, 4) for e in ("", "_stderr")
    } | {"self_certainty_mean"}
    assert metrics["self_certainty_mean"] == pytest.approx((3.0 + 1.0 + 0.5 + 2.0 + 0.1 + 0.2 + 5.0 + 0.0) / 8)
    # power 1: p votes 7: 4, 9: 3, 5: 2 + 1 = 3 -> 7 (wrong); q 4: 3, 3: 2 + 1 = 3, a tie to the first seen: 3
    assert self_certainty_metrics(SCORED, power=1.0)["borda_sc@4"] == 0.5
    # power 0 is majority voting: p 5 (two votes), q 3 (two votes)
    assert self_certainty_metrics(SCORED, power=0.0)["borda_sc@4"] == 1.0


def test_best_of_n_passes_over_samples_without_an_answer():
    """The official selection scores an output without an extractable answer -1e9: the most self-certain sample
    *with* an answer is chosen; when none has one, the first sample (wrong)."""
    group = [rec("r", 0, None, False, 9.0), rec("r", 1, "2", True, 1.0), rec("r", 2, "3", False, 0.5)]
    assert self_certainty_metrics(group, power=0.5, sizes=[1, 2, 3])["bon_sc@2"] == 1.0
    assert self_certainty_metrics(group, power=0.5, sizes=[1])["bon_sc@1"] == 0.0  # only the unanswered one
    unanswered = [rec("u", i, None, False, float(i)) for i in range(2)]
    assert self_certainty_metrics(unanswered, power=0.5, sizes=[2])["bon_sc@2"] == 0.0


def exact_pass_at_k(n, c, k):
    return float(1 - Fraction(math.comb(n - c, k), math.comb(n, k)))


def test_pass_at_k_goes_up_to_all_256_samples_and_matches_the_combinatorics():
    counts = {"a": 3, "b": 0, "c": 40, "d": 255}
    records = [
        {"id": p, "sample": s, "extracted": str(s % 5), "correct": s < c} for p, c in counts.items() for s in range(256)
    ]
    metrics = sampling_metrics(records)
    assert [k for k in powers_of_two(256)] == [1, 2, 4, 8, 16, 32, 64, 128, 256]
    assert {f"pass@{k}" for k in powers_of_two(256)} <= set(metrics) and "maj@256" in metrics
    for k in (64, 128, 256):
        expected = sum(exact_pass_at_k(256, c, k) for c in counts.values()) / len(counts)
        assert metrics[f"pass@{k}"] == pytest.approx(expected, abs=1e-12)
    assert metrics["pass@256"] == pytest.approx(3 / 4)  # every prompt with a right sample passes at k = n
    # brute force on a small case: every k-subset of 8 samples with 2 right ones
    n, c, k = 8, 2, 3
    subsets = list(itertools.combinations(range(n), k))
    hit = sum(any(i < c for i in s) for s in subsets) / len(subsets)
    assert exact_pass_at_k(n, c, k) == pytest.approx(hit)


def test_default_sizes_keep_the_outputs_up_to_32_samples():
    for n in (4, 32, 20):
        records = [
            {"id": p, "sample": s, "extracted": str(s % 3), "correct": s % 3 == p} for p in (0, 1) for s in range(n)
        ]
        assert sampling_metrics(records) == sampling_metrics(records, sizes=(1, 2, 4, 8, 16, 32))


def two_rows():
    return Dataset.from_list(
        [
            {"id": "p", "prompt": [{"role": "user", "content": "1+2"}], "answer": "3", "checker": "numeric"},
            {"id": "q", "prompt": [{"role": "user", "content": "2+3"}], "answer": "5", "checker": "numeric"},
        ]
    )


def four_samples(texts, decoding, seed):
    replies = ["<answer>3</answer>", "<answer>5</answer>", "", "<answer>3</answer> 3 3"]
    yield [replies[: decoding.num_samples] for _ in texts]


SAMPLED = DecodingConfig(name="sampled", num_samples=4, temperature=1.0)


def test_the_hook_scores_every_sample_through_evaluate_split(tiny_model, tiny_tokenizer):
    greedy = DecodingConfig()
    metrics, records = evaluate_split(
        tiny_model, tiny_tokenizer, two_rows(), "answer_tag", [greedy, SAMPLED], hooks=[SelfCertaintyHook()],
        sampler=four_samples,
    )  # fmt: skip
    sampled = [r for r in records if r["decoding"] == "sampled"]
    assert all(r["self_certainty"] >= 0 and math.isfinite(r["self_certainty"]) for r in sampled)
    assert [r["self_certainty"] for r in sampled if not r["completion"]] == [0.0, 0.0]  # empty: the least certain
    assert not any("self_certainty" in r for r in records if r["decoding"] == "greedy")  # n = 1: no selection
    for k in (1, 2, 4):
        assert f"bon_sc@{k}_sampled" in metrics and f"borda_sc@{k}_sampled_stderr" in metrics
        assert f"maj@{k}_sampled" in metrics
    assert not any(name.startswith("bon_sc") and name.endswith("_greedy") for name in metrics)
    assert metrics["bon_sc@4_sampled"] == self_certainty_metrics(sampled)["bon_sc@4"]

    # each score equals the algorithms function on the full logits of that one sequence, unpadded
    record = sampled[7]  # q's fourth sample
    prompt = tiny_tokenizer(chat_texts(tiny_tokenizer, [two_rows()[1]["prompt"]])[0], add_special_tokens=False)
    completion = tiny_tokenizer(record["completion"], add_special_tokens=False)["input_ids"]
    ids = torch.tensor([prompt["input_ids"] + completion])
    with torch.no_grad():
        logits = tiny_model(input_ids=ids).logits[:, len(prompt["input_ids"]) :]  # the official positions
    expected = self_certainty(logits, torch.ones(logits.shape[:2]), vocab_size=tiny_model.config.vocab_size)
    assert record["id"] == "q" and record["self_certainty"] == pytest.approx(expected.item(), rel=1e-5)


def test_the_hf_scorer_does_not_depend_on_the_batch(tiny_model, tiny_tokenizer):
    engine = hf_engine(tiny_model, tiny_tokenizer)
    prompts, completions = [[5, 6, 7], [5, 6], [8]], [[9, 10, 11, 12], [13], []]
    one = engine.self_certainty(prompts, completions, 1)
    assert engine.self_certainty(prompts, completions, 3) == pytest.approx(one, rel=1e-5) and one[2] == 0.0


def test_without_full_vocabulary_logits_the_hook_skips_with_a_reason(tiny_tokenizer, caplog):
    from dataclasses import replace

    engine = replace(hf_engine(None, tiny_tokenizer), self_certainty=None)  # as the vLLM engine
    metrics, records = evaluate_split(
        None, tiny_tokenizer, two_rows(), "answer_tag", [SAMPLED], hooks=[SelfCertaintyHook()], engine=engine,
        sampler=four_samples,
    )  # fmt: skip
    assert "maj@4_sampled" in metrics and not any(k.startswith(("bon_sc", "borda_sc")) for k in metrics)
    assert "no full-vocabulary logits" in caplog.text and "self_certainty" not in records[0]
    assert "self_certainty.vllm_hf_scoring=true" in caplog.text  # the reason names the option that scores it


def names(eval_config=None, evaluation=None):
    run = OmegaConf.create({"recipe": {"answer_format": "answer_tag"}, "evaluation": evaluation or {}})
    setup = HookSetup(run_config=run, eval_config=None if eval_config is None else OmegaConf.create(eval_config))
    return [type(h).__name__ for h in select_hooks(setup)]


def test_the_config_switch():
    assert names({"self_certainty": {"enabled": True, "power": 0.5}}) == ["SelfCertaintyHook"]
    assert names({"self_certainty": {"enabled": False}}) == [] and names({"probes": None}) == []
    assert names() == [] and names(evaluation={"self_certainty": True}) == ["SelfCertaintyHook"]  # in-run: opt in
    with pytest.raises(ConfigError, match="power"):
        names({"self_certainty": {"power": -1}})


def test_rlrewards_eval_turns_it_on_with_the_official_power():
    from test_cli import compose_eval

    cfg = compose_eval("x", "y", [])
    assert cfg.self_certainty.enabled and cfg.self_certainty.power == 0.5
    run = OmegaConf.create({"recipe": {"answer_format": "answer_tag"}, "evaluation": {}})
    (hook,) = [h for h in select_hooks(HookSetup(run, eval_config=cfg)) if isinstance(h, SelfCertaintyHook)]
    assert isinstance(hook, SelfCertaintyHook) and hook.power == 0.5


def test_the_pass_at_k_curve_per_benchmark(tmp_path):
    from rlrewards.eval.curves import curve_table, metric_curves, write_pass_at_k

    results = {
        "math500": {"task": "math500", "pass@1_sampled": 0.5, "pass@1_sampled_stderr": 0.1, "pass@2_sampled": 0.75,
                    "pass@2_sampled_stderr": 0.05, "maj@2_sampled": 0.5, "accuracy_greedy": 0.4},
        "aime25": {"pass@1_sampled": 0.1, "pass@1_sampled_stderr": 0.0},
    }  # fmt: skip
    assert metric_curves(results["math500"]) == {"sampled": [(1, 0.5, 0.1), (2, 0.75, 0.05)]}
    table = write_pass_at_k(results, tmp_path)
    assert table.splitlines() == [
        "| k | math500/sampled pass@k (%) | aime25/sampled pass@k (%) |",
        "|---|---|---|",
        "| 1 | 50.0 ± 10.0 | 10.0 ± 0.0 |",
        "| 2 | 75.0 ± 5.0 |  |",
    ]
    assert (tmp_path / "pass_at_k.md").read_text() == table and (tmp_path / "pass_at_k.png").stat().st_size > 0
    assert curve_table({}) == "" and write_pass_at_k({"x": {"accuracy_greedy": 1.0}}, tmp_path / "none") == ""
    assert not (tmp_path / "none").exists()


def test_the_generic_hook_is_found_without_importing_it():
    import subprocess
    import sys

    code = "from rlrewards.eval.hooks import EVALUATION_HOOKS; print(EVALUATION_HOOKS.names())"
    names = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert "'self_certainty'" in names and "'laser_self_reward'" in names


def test_the_vllm_engine_offers_no_self_certainty(monkeypatch, tiny_tokenizer):
    import sys
    import types

    fake = types.SimpleNamespace(LLM=lambda **kwargs: object(), SamplingParams=lambda **kwargs: kwargs)
    monkeypatch.setitem(sys.modules, "vllm", fake)
    from rlrewards.eval.vllm_engine import vllm_engine

    assert vllm_engine("checkpoint", tiny_tokenizer, seed=0).self_certainty is None
