"""Load the policy model and tokenizer a config names: the embedded tiny model or a pretrained checkpoint.

Both go through the same code path afterwards. ``source: scratch`` builds the tiny model locally; ``source:
pretrained`` loads ``name_or_path`` (a hub id or a local directory) with ``from_pretrained``. An optional SFT warm
start (``warm_start.enabled``) runs on either and is cached on disk.

``chat_template``: null keeps the tokenizer's own; ``raw`` replaces it with one that renders the messages' text
and nothing else (no role markers, no default system prompt), so a base model gets the prompt as plain text, as
the official code of papers that train base models without a template does (PURE's OpenRLHF runs), and as a base
model without any template (OctoThinker) must. The raw text starts with the tokenizer's ``bos_token`` when it has
one: TRL and the evaluation tokenize rendered templates without adding special tokens, so the template is what
gives a Llama-3 model the ``<|begin_of_text|>`` its tokenizer would prepend to plain text (Qwen has no bos).
The tokenizer saved with the checkpoints carries the replaced template, so their evaluation sees the same prompts.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from omegaconf import DictConfig, OmegaConf
from transformers import AutoModelForCausalLM, AutoTokenizer, PreTrainedTokenizerFast

from rlrewards.config import ConfigError
from rlrewards.models.tiny import build_tiny_model, build_tiny_tokenizer
from rlrewards.models.warm_start import cached_warm_start, warm_start_key

log = logging.getLogger(__name__)

# Every message's content, concatenated: the prompt text exactly as the task wrote it, after bos where there is one.
RAW_CHAT_TEMPLATE = "{{ bos_token or '' }}{% for message in messages %}{{ message['content'] }}{% endfor %}"
# ChatML turns, the assistant's turn opened with an empty think block: the official NSR prompt for Qwen3
# (TianHongZXY/RLVR-Decomposed @ a5d4e7c verl/utils/dataset/rl_dataset.py, prompt_template_type=qwen3_no_thinking)
# ends "<|im_start|>assistant\n<think>\n\n</think>\n"; Qwen3's own template with enable_thinking=False adds "\n\n".
QWEN3_NO_THINKING_TEMPLATE = (
    "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>\\n' }}"
    "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n<think>\\n\\n</think>\\n' }}{% endif %}"
)
CHAT_TEMPLATES = {"raw": RAW_CHAT_TEMPLATE, "qwen3_no_thinking": QWEN3_NO_THINKING_TEMPLATE}

_DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16, "auto": "auto"}


@dataclass
class Policy:
    model: Any
    tokenizer: Any
    info: dict[str, Any] = field(default_factory=dict)


def _as_dict(cfg: DictConfig | Mapping | None) -> dict[str, Any]:
    if cfg is None:
        return {}
    return OmegaConf.to_container(cfg, resolve=True) if isinstance(cfg, DictConfig) else dict(cfg)


# tokenizer classes that mean "the tokenizer.json pipeline as saved" (transformers 5 writes TokenizersBackend)
_PLAIN_TOKENIZER_CLASSES = ("TokenizersBackend", "PreTrainedTokenizerFast")


def load_tokenizer(name_or_path: str, **kwargs):
    """``AutoTokenizer.from_pretrained``, except for a local directory whose tokenizer was saved as a plain
    ``tokenizers`` pipeline (the tiny model's, its warm start's and trained checkpoints): AutoTokenizer (transformers
    5) picks the class from the model's type (``Qwen2Tokenizer`` for the tiny Qwen2 model), which replaces the saved
    character-level pre-tokenizer and drops spaces and newlines when encoding text ("16\n\n<answer>" became
    "16<answer>"). Such a directory is loaded as saved."""
    config = Path(name_or_path) / "tokenizer_config.json"
    if config.is_file() and json.loads(config.read_text()).get("tokenizer_class") in _PLAIN_TOKENIZER_CLASSES:
        return PreTrainedTokenizerFast.from_pretrained(name_or_path, **kwargs)
    return AutoTokenizer.from_pretrained(name_or_path, **kwargs)


def load_pretrained(
    name_or_path: str,
    revision: str | None = None,
    dtype: str = "auto",
    attn_implementation: str | None = None,
    trust_remote_code: bool = False,
    padding_side: str = "left",
):
    if dtype not in _DTYPES:
        raise ValueError(f"model.dtype={dtype!r}. Known: {', '.join(_DTYPES)}")
    tokenizer = load_tokenizer(name_or_path, revision=revision, trust_remote_code=trust_remote_code)
    tokenizer.padding_side = padding_side
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    kwargs: dict[str, Any] = {"revision": revision, "dtype": _DTYPES[dtype], "trust_remote_code": trust_remote_code}
    if attn_implementation:
        kwargs["attn_implementation"] = attn_implementation
    model = AutoModelForCausalLM.from_pretrained(name_or_path, **kwargs)
    return model, tokenizer


def load_policy(model_cfg: DictConfig | Mapping, task, cache_dir: str, seed: int, train_dataset=None) -> Policy:
    """``train_dataset``: the task's train split when the caller already holds it (it feeds the warm start)."""
    cfg = _as_dict(model_cfg)
    template = chat_template_choice(cfg.get("chat_template"))
    source = cfg.get("source")
    if source == "scratch":
        architecture = cfg.get("architecture") or {}
        tokenizer = build_tiny_tokenizer()

        def build():
            return build_tiny_model(tokenizer, seed=seed, **architecture)

        base_spec = {"source": "scratch", "architecture": architecture}
    elif source == "pretrained":
        if not cfg.get("name_or_path"):
            raise ValueError("model.name_or_path is required when model.source=pretrained")
        loader_kwargs = {
            k: cfg[k]
            for k in ("revision", "dtype", "attn_implementation", "trust_remote_code", "padding_side")
            if cfg.get(k) is not None
        }
        model, tokenizer = load_pretrained(cfg["name_or_path"], **loader_kwargs)

        def build():
            return model

        base_spec = {"source": "pretrained", "name_or_path": cfg["name_or_path"], **loader_kwargs}
    else:
        raise ValueError(f"model.source={source!r}. Known: scratch, pretrained")

    if template is not None:  # before a warm start too: its SFT data goes through the template
        tokenizer.chat_template = template
        base_spec["chat_template"] = cfg["chat_template"]  # part of the warm start's cache key
    warm = cfg.get("warm_start") or {}
    if not warm.get("enabled", False):
        return Policy(build(), tokenizer, {"model": base_spec, "warm_start": None})
    train = train_dataset if train_dataset is not None else task.load_split("train")
    if "completion" not in train.column_names:
        raise ValueError(f"model.warm_start needs worked solutions, but task '{task.name}' has no 'completion' column")
    limit = warm.get("num_examples")
    if limit:
        train = train.select(range(min(int(limit), len(train))))
    key = warm_start_key(base_spec, task_spec=_task_spec(task), sft=warm, seed=seed)
    path = cached_warm_start(build, tokenizer, train, key, cache_dir, warm, seed)
    model = AutoModelForCausalLM.from_pretrained(path)
    tokenizer = load_tokenizer(str(path))
    tokenizer.padding_side = "left"
    if template is not None:
        tokenizer.chat_template = template
    return Policy(model, tokenizer, {"model": base_spec, "warm_start": {"key": key, "path": str(path)}})


def chat_template_choice(name: str | None) -> str | None:
    """``model.chat_template`` -> the Jinja template to install (None: keep the tokenizer's)."""
    if name is None:
        return None
    if name not in CHAT_TEMPLATES:
        raise ConfigError(f"model.chat_template={name!r}. Known: null, {', '.join(CHAT_TEMPLATES)}")
    return CHAT_TEMPLATES[name]


def _task_spec(task) -> dict[str, Any]:
    spec = getattr(task, "spec", None)
    if callable(spec):
        return spec()
    from dataclasses import asdict, is_dataclass

    return asdict(task) if is_dataclass(task) else {"name": getattr(task, "name", type(task).__name__)}
