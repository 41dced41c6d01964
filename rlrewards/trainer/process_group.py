"""Leaving the process group before the interpreter shuts down.

Accelerate joins the default process group when a trainer is built, and nothing leaves it: transformers' ``Trainer``
never calls ``destroy_process_group``. At interpreter finalization gloo's worker threads may then still hold work
objects whose tensors reference Python, and freeing them while the interpreter is torn down aborts the process
("terminate called without an active exception", SIGABRT; pytorch/pytorch#190489 and #179291). It happened to a
2-process CPU test run after both ranks had finished; NCCL warns about the same omission on every GPU run.

The remedy torch recommends is ``destroy_process_group()`` once communication is over. An ``atexit`` handler runs it
while the interpreter is still whole, after every job of a multirun has finished in the process, for gloo groups
only: gloo's teardown is local, while NCCL's (torch >= 2.6) waits for pending collectives, which after a failure on
one rank (a ZeRO-3 prefetch in flight) would hold the process until the NCCL timeout instead of letting the launcher
tear the job down. NCCL groups are left as transformers leaves them (torch then warns at exit).
"""

from __future__ import annotations

import atexit

_registered = False


def leave_process_group() -> bool:
    """Destroys the default process group if one is initialized with the gloo backend; True if it did."""
    import torch.distributed as dist

    if not (dist.is_available() and dist.is_initialized()) or dist.get_backend() != "gloo":
        return False
    dist.destroy_process_group()
    return True


def leave_process_group_at_exit() -> None:
    """Registers ``leave_process_group`` to run at interpreter exit, once per process."""
    global _registered
    if not _registered:
        atexit.register(leave_process_group)
        _registered = True
