"""``rlrewards-eval``: score a trained run's model on its task's held-out split.

Reads the run's saved ``config.yaml`` (task and answer format), loads ``<run_dir>/model`` or ``checkpoint``, and
writes per-sample ``samples.jsonl`` and ``metrics.json`` into the evaluation's own output directory.
"""

from __future__ import annotations

import json
from pathlib import Path

import hydra
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from rlrewards.config import ConfigError
from rlrewards.eval.generation import decodings_from_config, evaluate_split
from rlrewards.eval.plots import reliability_diagrams
from rlrewards.models.loading import load_pretrained
from rlrewards.train import CONFIG_DIR


def evaluate_run(cfg: DictConfig) -> dict[str, float]:
    run_dir = Path(cfg.run_dir)
    saved = run_dir / "config.yaml"
    if not saved.exists():
        raise ConfigError(f"run_dir={run_dir}: no config.yaml there; point run_dir at an rlrewards-train run")
    train_cfg = OmegaConf.load(saved)
    checkpoint = str(cfg.checkpoint or run_dir / "model")
    if cfg.checkpoint is None and not Path(checkpoint).exists():
        raise ConfigError(f"run_dir={run_dir} has no model/ (trained with save_model=false?); pass checkpoint=...")
    task = instantiate(train_cfg.task, _convert_="all")
    dataset = task.load_split(str(cfg.split))
    if cfg.limit:
        dataset = dataset.select(range(min(int(cfg.limit), len(dataset))))
    model, tokenizer = load_pretrained(checkpoint, dtype="auto")
    decodings = decodings_from_config(cfg.decodings, cfg.max_new_tokens, cfg.batch_size)
    metrics, records = evaluate_split(
        model, tokenizer, dataset, train_cfg.recipe.answer_format, decodings, seed=int(cfg.seed)
    )
    out = Path(cfg.paths.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    with (out / "samples.jsonl").open("w") as handle:
        for record in records:
            handle.write(json.dumps(record) + "\n")
    reliability_diagrams([{**r} for r in records], out, "eval")
    result = {"checkpoint": checkpoint, "split": str(cfg.split), "num_problems": len(dataset), **metrics}
    (out / "metrics.json").write_text(json.dumps(result, indent=2))
    for name, value in metrics.items():
        if not name.endswith("stderr"):
            print(f"{name:<24}{value:.3f}")
    return result


@hydra.main(version_base="1.3", config_path=CONFIG_DIR, config_name="eval")
def main(cfg: DictConfig) -> float | None:
    return evaluate_run(cfg).get("accuracy_greedy")


if __name__ == "__main__":
    main()
