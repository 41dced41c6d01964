"""Stand-ins the rehearsal loads instead of real weights and hub data, built offline from ``standins.yaml``.

A stand-in policy is saved to a directory and reached through ``model.name_or_path``, so it loads by the project's
real code path (``rlrewards.models.loading.load_pretrained``); likewise the process reward model
(``recipe.prm.kwargs.model``) and the datasets (``task.data_files`` pointing at ``tests/fixtures/``).
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

import torch
import transformers
import yaml
from tokenizers import AddedToken, Tokenizer, decoders, models, pre_tokenizers, processors
from transformers import PreTrainedTokenizerFast

STANDINS_FILE = Path(__file__).with_name("standins.yaml")
REPO_ROOT = Path(__file__).resolve().parents[2]
FIXTURES = REPO_ROOT / "tests" / "fixtures"
UNK = "<|unk|>"


@cache
def standins() -> dict[str, Any]:
    return yaml.safe_load(STANDINS_FILE.read_text())


def family_of(model_name: str) -> str:
    """The family whose ``models`` prefixes ``model_name`` (a conf/model ``name``); KeyError names the families."""
    for family, spec in standins()["families"].items():
        if any(str(model_name).startswith(prefix) for prefix in spec["models"]):
            return family
    raise KeyError(f"no stand-in family in {STANDINS_FILE.name} for model '{model_name}'")


def build_tokenizer(family: str, extra_special: tuple[str, ...] = ()) -> PreTrainedTokenizerFast:
    """A byte-level tokenizer (one token per byte) with the family's special tokens, bos/eos/pad and chat template.
    ``extra_special``: tokens a config names (a slot token) that the family list lacks."""
    spec = standins()["families"][family]
    named = [spec[key] for key in ("bos_token", "eos_token", "pad_token") if spec.get(key)]
    specials = list(dict.fromkeys([*named, UNK, *spec["special_tokens"], *extra_special]))
    vocab = {token: index for index, token in enumerate(specials)}
    for symbol in pre_tokenizers.ByteLevel.alphabet():  # one token per byte, no merges: any text encodes
        vocab.setdefault(symbol, len(vocab))
    # Byte-level BPE like the real Qwen and Llama-3 tokenizers: transformers loads a Qwen-family directory with its
    # own Qwen2Tokenizer pipeline (byte-level), which would drop characters of any other vocabulary ("\n", " ").
    backend = Tokenizer(models.BPE(vocab=vocab, merges=[], unk_token=UNK))
    backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    backend.decoder = decoders.ByteLevel()
    backend.add_special_tokens([AddedToken(t, special=True, normalized=False) for t in specials])
    backend.add_tokens([AddedToken(t, special=False, normalized=False) for t in spec["added_tokens"]])
    if spec.get("add_bos"):  # as Llama-3's post-processor: plain encoding starts with bos
        bos = spec["bos_token"]
        backend.post_processor = processors.TemplateProcessing(
            single=f"{bos} $A", pair=f"{bos} $A {bos} $B", special_tokens=[(bos, vocab[bos])]
        )
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=backend,
        bos_token=spec.get("bos_token"),
        eos_token=spec["eos_token"],
        pad_token=spec.get("pad_token"),
        unk_token=UNK,
        additional_special_tokens=[t for t in specials if t not in named and t != UNK],
        model_max_length=standins()["shape"]["max_position_embeddings"],
    )
    tokenizer.chat_template = spec.get("chat_template")
    return tokenizer


def build_model(architecture: str, config_class: str, tokenizer, seed: int = 0, **config_extra):
    """A tiny randomly initialised model of ``architecture`` sized by ``standins.yaml``'s shape."""
    config = getattr(transformers, config_class)(
        vocab_size=len(tokenizer),
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        tie_word_embeddings=True,
        **standins()["shape"],
        **config_extra,
    )
    state = torch.random.get_rng_state()
    torch.manual_seed(seed)
    try:
        return getattr(transformers, architecture)(config)
    finally:
        torch.random.set_rng_state(state)


def save_policy(model_name: str, directory: Path, extra_special: tuple[str, ...] = ()) -> Path:
    """The stand-in policy for conf/model ``model_name`` saved in ``directory`` (model and tokenizer)."""
    family = standins()["families"][family_of(model_name)]
    tokenizer = build_tokenizer(family_of(model_name), extra_special)
    model = build_model(family["architecture"], family["config"], tokenizer)
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    return _save(model, tokenizer, directory)


def save_prm(directory: Path) -> Path:
    """A tiny two-label token-classification PRM (``AutoModelForTokenClassification`` loads it)."""
    spec = standins()
    family = spec["families"][spec["prm_family"]]
    tokenizer = build_tokenizer(spec["prm_family"])
    model = build_model(spec["prm_architecture"], family["config"], tokenizer, num_labels=2)
    return _save(model, tokenizer, directory)


def _save(model, tokenizer, directory: Path) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    return directory


def fixture_files(hub_path: str) -> dict[str, str]:
    """Hub dataset id -> ``{split: file}`` of its committed fixture (every ``<split>.jsonl`` of its folder)."""
    folder = standins()["fixtures"].get(str(hub_path))
    if folder is None:
        raise KeyError(f"no fixture in {STANDINS_FILE.name} for hub dataset '{hub_path}'")
    return {path.stem: str(path) for path in sorted((FIXTURES / folder).glob("*.jsonl"))}
