"""Time ``tempo_advantages`` against the per-token loop of the official semantics, and at paper scale.

    python scripts/bench_tempo.py                # loop comparison + paper scale (512 prompts x 7 x 8192 tokens)
    python scripts/bench_tempo.py --quick        # small sizes only (what the test suite runs)

Synthetic groups look like real GRPO groups: every completion starts with one of a few shared openings (like
"<think>\\nOkay, let me ..."), some pairs share longer stretches, a few are exact duplicates, lengths are ragged.
Prints wall times (best of --repeats) and the speed ratios; asserts nothing about time.
"""

from __future__ import annotations

import argparse
import platform
import time

import torch

from rlrewards.algorithms.tempo import tempo_advantages, tempo_advantages_loop


def synthetic_groups(
    num_prompts: int, group_size: int, seq_len: int, vocab: int = 151_000, seed: int = 0
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    rows = num_prompts * group_size
    ids = torch.randint(0, vocab, (rows, seq_len), generator=gen)
    openings = torch.randint(0, vocab, (4, 64), generator=gen)
    for group in range(num_prompts):
        block = ids[group * group_size : (group + 1) * group_size]
        opening = openings[torch.randint(0, 4, (1,), generator=gen)].squeeze(0)
        shared = torch.randint(2, 64, (group_size,), generator=gen)  # each completion follows the opening a while
        for i in range(group_size):
            block[i, : shared[i]] = opening[: shared[i]]
        # One pair shares a longer prefix (a common partial solution); sometimes a completion is duplicated.
        a, b = torch.randperm(group_size, generator=gen)[:2].tolist()
        long_shared = int(torch.randint(64, max(65, seq_len // 8), (1,), generator=gen))
        block[b, :long_shared] = block[a, :long_shared]
        if torch.rand((), generator=gen) < 0.2:
            block[b] = block[a]
    lengths = torch.randint(seq_len // 4, seq_len + 1, (rows,), generator=gen)
    for group in range(num_prompts):  # duplicates keep equal lengths
        start = group * group_size
        block_ids = ids[start : start + group_size]
        for i in range(group_size):
            for k in range(i):
                if torch.equal(block_ids[i], block_ids[k]):
                    lengths[start + i] = lengths[start + k]
    mask = torch.arange(seq_len).unsqueeze(0) < lengths.unsqueeze(1)
    ids = ids.masked_fill(~mask, 0)
    rewards = torch.randint(0, 2, (rows,), generator=gen).float()
    return ids, mask, rewards


def best_time(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="small sizes only")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--loop-prompts", type=int, default=64)
    parser.add_argument("--loop-tokens", type=int, default=2048)
    args = parser.parse_args()
    if args.quick:
        args.loop_prompts, args.loop_tokens = 8, 256
    group_size = 7
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {platform.processor() or platform.machine()}")

    ids, mask, rewards = synthetic_groups(args.loop_prompts, group_size, args.loop_tokens)
    fast = tempo_advantages(ids, mask, rewards, group_size)
    slow = tempo_advantages_loop(ids, mask, rewards, group_size)
    max_diff = float((fast - slow).abs().max())
    t_fast = best_time(lambda: tempo_advantages(ids, mask, rewards, group_size), args.repeats)
    t_loop = best_time(lambda: tempo_advantages_loop(ids, mask, rewards, group_size), 1)
    print(
        f"loop comparison {args.loop_prompts}x{group_size}x{args.loop_tokens}: vectorised {t_fast * 1e3:.1f} ms, "
        f"loop {t_loop * 1e3:.1f} ms, speed-up {t_loop / t_fast:.0f}x, max |diff| {max_diff:.2e}"
    )
    if args.quick:
        return
    ids, mask, rewards = synthetic_groups(512, group_size, 8192)
    t_paper = best_time(lambda: tempo_advantages(ids, mask, rewards, group_size), args.repeats)
    tokens = int(mask.sum())
    print(
        f"paper scale 512x{group_size}x8192 ({tokens / 1e6:.1f}M valid tokens): {t_paper:.3f} s "
        f"({t_paper / 2.0:.2f} of the 2 s budget)"
    )


if __name__ == "__main__":
    main()
