"""The embedded tiny model: a small Qwen2-architecture causal LM and a character-level tokenizer, built locally.

The tokenizer maps every printable ASCII character (and newline) to one token. The recipe tags (``<think>``,
``<answer>``, ``<analysis>``, ``<confidence>`` and their closers) are single *non-special* tokens: TRL decodes
completions with ``skip_special_tokens=True``, which would silently strip special tags from the text the reward
functions see. Role markers, EOS/pad and a few reserved never-used tokens (LaSeR's ``z_c``) are special.
"""

from __future__ import annotations

import string

import torch
from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, pre_tokenizers
from transformers import PreTrainedTokenizerFast, Qwen2Config, Qwen2ForCausalLM

PAD, EOS, UNK = "<|pad|>", "<|endoftext|>", "<|unk|>"
USER, ASSISTANT = "<|user|>", "<|assistant|>"
NUM_RESERVED = 4
RESERVED = [f"<|reserved_{i}|>" for i in range(NUM_RESERVED)]
TAGS = [f"<{slash}{tag}>" for tag in ("think", "answer", "analysis", "confidence") for slash in ("", "/")]
CHARACTERS = [c for c in string.printable if c.isprintable()] + ["\n"]

# Prompt and completion concatenate cleanly: the generation prompt ends with the assistant marker, and an assistant
# turn ends with EOS, so "prompt + completion" tokenizes as the full conversation (SFT relies on this).
CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{% if message['role'] == 'user' %}{{ '<|user|>' + message['content'] }}"
    "{% elif message['role'] == 'system' %}{{ message['content'] + '\n' }}"
    "{% elif message['role'] == 'assistant' %}{{ '<|assistant|>' + message['content'] + eos_token }}{% endif %}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|assistant|>' }}{% endif %}"
)


def build_tiny_tokenizer() -> PreTrainedTokenizerFast:
    specials = [PAD, EOS, UNK, USER, ASSISTANT, *RESERVED]
    vocab = {token: i for i, token in enumerate(specials)}
    for char in CHARACTERS:
        vocab.setdefault(char, len(vocab))
    backend = Tokenizer(models.WordLevel(vocab=vocab, unk_token=UNK))
    backend.pre_tokenizer = pre_tokenizers.Split(Regex("(?m)."), behavior="isolated")
    backend.decoder = decoders.Fuse()
    backend.add_special_tokens([AddedToken(t, special=True, normalized=False) for t in specials])
    backend.add_tokens([AddedToken(t, special=False, normalized=False) for t in TAGS])
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=backend,
        eos_token=EOS,
        pad_token=PAD,
        unk_token=UNK,
        additional_special_tokens=[USER, ASSISTANT, *RESERVED],
        padding_side="left",
        model_max_length=1024,
    )
    tokenizer.chat_template = CHAT_TEMPLATE
    return tokenizer


def build_tiny_model(
    tokenizer: PreTrainedTokenizerFast,
    hidden_size: int = 128,
    num_layers: int = 4,
    num_heads: int = 4,
    num_kv_heads: int = 2,
    intermediate_size: int = 384,
    max_position_embeddings: int = 256,
    seed: int = 0,
) -> Qwen2ForCausalLM:
    if hidden_size % num_heads or num_heads % num_kv_heads:
        raise ValueError(
            f"model: hidden_size={hidden_size} must divide by num_heads={num_heads}, "
            f"which must divide by num_kv_heads={num_kv_heads}"
        )
    config = Qwen2Config(
        vocab_size=len(tokenizer),
        hidden_size=hidden_size,
        intermediate_size=intermediate_size,
        num_hidden_layers=num_layers,
        num_attention_heads=num_heads,
        num_key_value_heads=num_kv_heads,
        max_position_embeddings=max_position_embeddings,
        tie_word_embeddings=True,
        pad_token_id=tokenizer.pad_token_id,
        eos_token_id=tokenizer.eos_token_id,
        bos_token_id=None,
        use_sliding_window=False,
    )
    generator_state = torch.random.get_rng_state()
    torch.manual_seed(seed)
    try:
        model = Qwen2ForCausalLM(config)
    finally:
        torch.random.set_rng_state(generator_state)
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    return model
