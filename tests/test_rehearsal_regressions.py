"""Regression tests for the project bugs the rehearsal (rlrewards-rehearse) found."""

from pathlib import Path

from omegaconf import OmegaConf

from rlrewards.models.loading import RAW_CHAT_TEMPLATE, load_policy
from rlrewards.rehearsal.standins import build_tokenizer, save_policy

CONFIG_DIR = Path(__file__).resolve().parent.parent / "conf"
MESSAGES = [{"role": "user", "content": "What is 2+3? Put the answer in \\boxed{}."}]


def test_raw_template_starts_with_bos_where_the_tokenizer_has_one():
    llama = build_tokenizer("llama")
    rendered = llama.apply_chat_template(MESSAGES, chat_template=RAW_CHAT_TEMPLATE, return_dict=True)
    ids = list(rendered["input_ids"])
    assert ids[0] == llama.bos_token_id and ids.count(llama.bos_token_id) == 1  # TRL adds no special tokens itself
    assert llama.decode(ids[1:]) == MESSAGES[0]["content"]
    qwen = build_tokenizer("qwen2")  # no bos: the prompt text exactly as the task wrote it
    text = qwen.apply_chat_template(MESSAGES, chat_template=RAW_CHAT_TEMPLATE, tokenize=False)
    assert text == MESSAGES[0]["content"]


def test_octothinker_base_loads_with_the_raw_template(tmp_path):
    """OctoThinker's base tokenizer has no chat template: without ``chat_template: raw`` the first prompt failed
    ("tokenizer.chat_template is not set")."""
    model_cfg = OmegaConf.load(CONFIG_DIR / "model" / "octothinker-3b-short-base.yaml")
    assert model_cfg.chat_template == "raw"
    model_cfg.name_or_path = str(save_policy("octothinker-3b-short-base", tmp_path / "standin"))
    model_cfg.dtype = "float32"
    policy = load_policy(model_cfg, task=None, cache_dir=str(tmp_path / "cache"), seed=0)
    text = policy.tokenizer.apply_chat_template(MESSAGES, tokenize=False, add_generation_prompt=True)
    assert text == "<|begin_of_text|>" + MESSAGES[0]["content"]
    assert policy.tokenizer.pad_token == "<|end_of_text|>"  # the loader's fallback: the real tokenizer has no pad
