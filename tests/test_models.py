"""The tiny model and tokenizer, pretrained loading on a local checkpoint, and the warm-start cache."""

import torch

from rlrewards.models.loading import load_policy
from rlrewards.models.tiny import EOS, RESERVED, TAGS
from rlrewards.tasks.arith import ArithTask


def test_tags_are_single_non_special_tokens_that_survive_decoding(tiny_tokenizer):
    for tag in TAGS:
        ids = tiny_tokenizer(tag, add_special_tokens=False)["input_ids"]
        assert len(ids) == 1, tag
    text = "<think>1+2=3\n\n3*2=6</think> <answer>6</answer> <analysis>ok</analysis> <confidence>0.9</confidence>"
    ids = tiny_tokenizer(text + EOS, add_special_tokens=False)["input_ids"]
    assert tiny_tokenizer.decode(ids, skip_special_tokens=True) == text


def test_reserved_tokens_exist_and_are_never_produced_by_text(tiny_tokenizer):
    reserved_ids = tiny_tokenizer.convert_tokens_to_ids(RESERVED)
    assert len(set(reserved_ids)) == len(RESERVED) and tiny_tokenizer.unk_token_id not in reserved_ids
    ids = tiny_tokenizer("any plain text 123 <|reserved_0", add_special_tokens=False)["input_ids"]
    assert not set(ids) & set(reserved_ids)


def test_chat_template_prompt_is_a_prefix_of_the_conversation(tiny_tokenizer):
    prompt = [{"role": "user", "content": "2+3*4"}]
    rendered_prompt = tiny_tokenizer.apply_chat_template(prompt, tokenize=False, add_generation_prompt=True)
    full = tiny_tokenizer.apply_chat_template([*prompt, {"role": "assistant", "content": "2+3=5"}], tokenize=False)
    assert full.startswith(rendered_prompt)
    assert full.endswith("2+3=5" + EOS)


def test_tiny_model_is_qwen2_and_deterministic(tiny_tokenizer):
    from rlrewards.models.tiny import build_tiny_model

    a = build_tiny_model(
        tiny_tokenizer, hidden_size=32, num_layers=1, num_heads=2, num_kv_heads=1, intermediate_size=64, seed=3
    )
    b = build_tiny_model(
        tiny_tokenizer, hidden_size=32, num_layers=1, num_heads=2, num_kv_heads=1, intermediate_size=64, seed=3
    )
    assert a.config.model_type == "qwen2" and a.config.vocab_size == len(tiny_tokenizer)
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters()))


def test_pretrained_source_loads_a_local_checkpoint_with_the_real_layout(tmp_path, tiny_model, tiny_tokenizer):
    tiny_model.save_pretrained(tmp_path / "ckpt")
    tiny_tokenizer.save_pretrained(tmp_path / "ckpt")
    policy = load_policy(
        {
            "source": "pretrained",
            "name_or_path": str(tmp_path / "ckpt"),
            "dtype": "float32",
            "warm_start": {"enabled": False},
        },
        task=None,
        cache_dir=str(tmp_path),
        seed=0,
    )
    assert policy.model.config.model_type == "qwen2"
    assert policy.tokenizer.padding_side == "left"
    text = "8*2=16\n\n<answer> 16 </answer>"  # reloaded as saved: spaces and newlines are tokens, not dropped
    assert policy.tokenizer(text, add_special_tokens=False)["input_ids"] == tiny_tokenizer(
        text, add_special_tokens=False
    )["input_ids"]
    for p, q in zip(policy.model.parameters(), tiny_model.parameters()):
        assert torch.equal(p, q)


def test_warm_start_is_trained_once_and_keyed_by_its_inputs(tmp_path):
    task = ArithTask(split_sizes={"train": 64, "validation": 4, "test": 4})
    spec = {
        "source": "scratch",
        "architecture": {
            "hidden_size": 32,
            "num_layers": 1,
            "num_heads": 2,
            "num_kv_heads": 1,
            "intermediate_size": 64,
        },
        "warm_start": {"enabled": True, "max_steps": 2, "batch_size": 8, "learning_rate": 1e-3},
    }
    first = load_policy(spec, task, str(tmp_path), seed=0)
    second = load_policy(spec, task, str(tmp_path), seed=0)
    other_seed = load_policy(spec, task, str(tmp_path), seed=1)
    assert first.info["warm_start"]["key"] == second.info["warm_start"]["key"]
    assert first.info["warm_start"]["key"] != other_seed.info["warm_start"]["key"]
    cached = sorted(p.name for p in (tmp_path / "sft").iterdir())
    assert len(cached) == 2 and not any(name.startswith(".") for name in cached)
    for p, q in zip(first.model.parameters(), second.model.parameters()):
        assert torch.equal(p, q)


def test_qwen3_no_thinking_template_renders_the_official_nsr_prompt():
    """TianHongZXY/RLVR-Decomposed @ a5d4e7c verl/utils/dataset/rl_dataset.py, prompt_template_type=qwen3_no_thinking:
    the Qwen3-4B runs' prompt text, character for character, from the NSR experiments' messages."""
    from rlrewards.models.loading import chat_template_choice
    from rlrewards.rehearsal.standins import build_tokenizer

    problem = "What is 2+3?"
    boxed = "\nPlease reason step by step, and put your final answer within \\boxed{}."
    messages = [
        {"role": "system", "content": "You are a helpful assistant."},
        {"role": "user", "content": problem + boxed},
    ]
    official = (
        "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\n" + problem + boxed
        + "<|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\n"
    )  # fmt: skip
    template = chat_template_choice("qwen3_no_thinking")
    text = build_tokenizer("qwen2").apply_chat_template(
        messages, chat_template=template, tokenize=False, add_generation_prompt=True
    )
    assert text == official
