"""A stand-in for the ``vllm`` module (a real vLLM is not installed on our machines): ``LLM(**kwargs)`` records
its keyword arguments in ``engines``; ``LLM.generate(prompts, params)`` answers ``reply(prompts, params.kwargs)``;
``SamplingParams`` keeps its keyword arguments. Install with ``monkeypatch.setitem(sys.modules, "vllm", x.module)``."""

import types
from collections.abc import Callable


class StandInVLLM:
    def __init__(self, reply: Callable[[list, dict], list]):
        self.engines: list[dict] = []
        recorder = self

        class SamplingParams:
            def __init__(self, **kwargs):
                self.kwargs = kwargs

        class LLM:
            def __init__(self, **kwargs):
                recorder.engines.append(kwargs)

            def generate(self, prompts, params, use_tqdm):
                return reply(prompts, params.kwargs)

        self.module = types.SimpleNamespace(LLM=LLM, SamplingParams=SamplingParams)


def request_output(texts: list[str]) -> types.SimpleNamespace:
    """vLLM's RequestOutput as the backend reads it: ``outputs[i].text``."""
    return types.SimpleNamespace(outputs=[types.SimpleNamespace(text=text) for text in texts])
