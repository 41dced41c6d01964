"""``rlrewards-eval backend=vllm``: sampling, RLCR's probes and LaSeR's self-reward on one vLLM engine, and
self-certainty on an HF copy of the checkpoint when ``self_certainty.vllm_hf_scoring`` asks for one.

UNTESTED against a real vLLM here (not installed on our machines; the tests drive it with a stand-in module that
records what it is asked). Prompts go in as token ids, tokenized without special tokens as the HF path does (vLLM
would otherwise add a BOS before the chat template's own).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from rlrewards.eval.certainty import SelfCertaintyScorer
from rlrewards.eval.generation import DecodingConfig, Engine, prompts_per_batch


def _requests(tokenizer, texts: Sequence[str]) -> list[dict]:
    return [{"prompt_token_ids": tokenizer(text, add_special_tokens=False)["input_ids"]} for text in texts]


def vllm_engine(
    checkpoint: str,
    tokenizer,
    seed: int,
    gpu_memory_utilization: float | None = None,
    self_certainty: SelfCertaintyScorer | None = None,
) -> Engine:
    """``LLM(model=checkpoint, seed=seed)`` as an ``Engine``, plus ``gpu_memory_utilization`` when given (None: vLLM's
    own default, 0.9 of the GPU). Raises ImportError without vllm.

    - sampling: ``SamplingParams(n, temperature, top_p, max_tokens, seed)``, plus ``top_k`` when the decoding sets
      one; without it vLLM's own default applies, which is off in every version (-1 in older releases, 0 in newer
      ones, both meaning every token), so no version-specific "off" value is passed. The request seed makes a
      prompt's samples independent of its batch. Chunks of ``batch_size // num_samples`` prompts per call keep the cache
      writes per batch: raise ``batch_size`` for throughput.
    - probes: greedy (temperature 0), one reply per prefix, all prefixes in one call.
    - next-token log-probability (LaSeR): the sequence with the token appended, ``max_tokens=1`` and
      ``prompt_logprobs=1``; vLLM always includes the prompt's own token in a position's log-probs, so the last
      position holds log pi(token | sequence), from the raw logits as HF's log-softmax (no temperature).
    - self-certainty: not from vLLM. It sums log p over the whole vocabulary at every completion position, and vLLM
      returns only the top-k log-probs (``prompt_logprobs=k``, k capped by ``max_logprobs``). ``self_certainty`` is
      the engine's scorer as given: None (the ``self_certainty`` hook logs that it skips this backend) unless
      rlrewards-eval passes ``self_certainty.vllm_hf_scoring``'s HF copy of the checkpoint
      (``rlrewards.eval.certainty.lazy_hf_self_certainty``, loaded at its first scoring), which scores vLLM's
      completion texts as backend=hf scores its own. That copy shares the GPU with the engine: lower
      ``gpu_memory_utilization`` to leave it room."""
    from vllm import LLM, SamplingParams

    options = {} if gpu_memory_utilization is None else {"gpu_memory_utilization": gpu_memory_utilization}
    engine = LLM(model=checkpoint, seed=seed, **options)

    def sample(texts: Sequence[str], decoding: DecodingConfig, seed: int) -> Iterator[list[list[str]]]:
        params = SamplingParams(
            n=decoding.num_samples,
            temperature=decoding.temperature,
            top_p=decoding.top_p,
            max_tokens=decoding.max_new_tokens,
            seed=seed,
            **({"top_k": decoding.top_k} if decoding.top_k else {}),
        )
        step = prompts_per_batch(decoding)
        for start in range(0, len(texts), step):
            outputs = engine.generate(_requests(tokenizer, texts[start : start + step]), params, use_tqdm=False)
            yield [[completion.text for completion in output.outputs] for output in outputs]

    def continue_greedily(prefixes: Sequence[str], max_new_tokens: int) -> list[str]:
        if not prefixes:
            return []
        params = SamplingParams(n=1, temperature=0.0, max_tokens=max_new_tokens)
        outputs = engine.generate(_requests(tokenizer, prefixes), params, use_tqdm=False)
        return [output.outputs[0].text for output in outputs]

    def next_token_logprobs(sequences: Sequence[list[int]], token_id: int) -> list[float]:
        if not sequences:
            return []
        params = SamplingParams(n=1, temperature=0.0, max_tokens=1, prompt_logprobs=1)
        requests = [{"prompt_token_ids": [*ids, token_id]} for ids in sequences]
        outputs = engine.generate(requests, params, use_tqdm=False)
        return [float(output.prompt_logprobs[-1][token_id].logprob) for output in outputs]

    return Engine(
        sample=sample,
        continue_greedily=continue_greedily,
        next_token_logprobs=next_token_logprobs,
        self_certainty=self_certainty,
    )
