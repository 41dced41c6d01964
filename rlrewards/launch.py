"""``rlrewards-launch``: ``accelerate launch`` of ``rlrewards.train`` with one run directory shared by every rank.

    rlrewards-launch --config_file conf/accelerate/zero2.yaml --num_processes 8 -- experiment=laser/qwen2.5-7b

Arguments before ``--`` go to ``accelerate launch``, those after it to Hydra. Every rank runs the Hydra entry point
and would name its own timestamped run directory; the launcher fixes the timestamp once (``RLREWARDS_RUN_ID``) before
the ranks start, and ``conf/hydra/default.yaml`` builds the run and sweep directories from it. Only the main process
writes configs, metrics and W&B; accelerate passes ranks by environment variables, so no ``--local_rank`` reaches
Hydra.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time

RUN_ID = "RLREWARDS_RUN_ID"


def launch_command(argv: list[str]) -> list[str]:
    if "--" not in argv:
        raise SystemExit("usage: rlrewards-launch [accelerate launch options] -- [rlrewards-train overrides]")
    split = argv.index("--")
    launcher, overrides = argv[:split], argv[split + 1 :]
    return [sys.executable, "-m", "accelerate.commands.launch", *launcher, "-m", "rlrewards.train", *overrides]


def main(argv: list[str] | None = None) -> int:
    command = launch_command(sys.argv[1:] if argv is None else list(argv))
    env = dict(os.environ)
    env.setdefault(RUN_ID, time.strftime("%Y-%m-%d_%H-%M-%S"))
    print(f"{RUN_ID}={env[RUN_ID]} " + " ".join(command), flush=True)
    return subprocess.call(command, env=env)


if __name__ == "__main__":
    sys.exit(main())
