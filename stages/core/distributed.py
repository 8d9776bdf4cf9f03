"""Multi-process training with torchrun / ``DistributedDataParallel``: one code path for 1..N processes.

A training stage reads ``nproc_per_node`` from its params section and calls :func:`launch` first
thing in ``main()``: with 1 it simply goes on in the same process (no torchrun start-up cost); with
N > 1 it re-runs the same command under ``torchrun --standalone --nproc_per_node N`` and exits with
its status, so ``dvc repro`` and the Prefect flow run the stage unchanged. Under torchrun each
process joins the group (``nccl`` on CUDA, ``gloo`` on CPU) in :func:`init_distributed`; the
:class:`~stages.core.training.Trainer` shards batches with ``DistributedSampler``, wraps each network
in DDP and lets rank 0 alone write outputs, checkpoints and the progress bar.
"""
from __future__ import annotations

import logging
import os
import sys
from dataclasses import dataclass

from .errors import StageError

log = logging.getLogger(__name__)

UNDER_TORCHRUN = "TORCHELASTIC_RUN_ID"  # set by torchrun in every process it starts


@dataclass(frozen=True)
class Dist:
    """Where this process stands in the group (rank 0 of 1 without torchrun)."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        """Rank 0: the one process that writes outputs, checkpoints and progress."""
        return self.rank == 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1


def from_env() -> Dist:
    """This process's rank and world size from torchrun's environment (rank 0 of 1 without it)."""
    return Dist(rank=int(os.environ.get("RANK", 0)), world_size=int(os.environ.get("WORLD_SIZE", 1)),
                local_rank=int(os.environ.get("LOCAL_RANK", 0)))


def torchrun_command(nproc: int, module: str, argv: list[str]) -> list[str]:
    """``python -m torch.distributed.run --standalone --nproc_per_node N -m module argv…``."""
    return [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={nproc}",
            "-m", module, *argv]


def launch(nproc_per_node: int, module: str) -> None:
    """Go on in this process (1 process, or already under torchrun), or re-run the stage under torchrun.

    Args:
        nproc_per_node: processes to train with, from the stage's params section.
        module: the stage's module (``stages.gan.dcgan``), run again with this process's arguments.

    Returns only in a process that should train; the launching parent exits with torchrun's status.
    """
    if nproc_per_node <= 1 or UNDER_TORCHRUN in os.environ:
        return
    import subprocess

    cmd = torchrun_command(nproc_per_node, module, sys.argv[1:])
    log.info("training with %d processes: %s", nproc_per_node, " ".join(cmd[1:]))
    sys.stdout.flush()
    sys.exit(subprocess.call(cmd))


def init_distributed(device: str) -> tuple[Dist, str]:
    """Join the process group when started by torchrun; pick this process's device.

    Args:
        device: the resolved device type (``cuda`` or ``cpu``).

    Returns:
        (this process's :class:`Dist`, the device string: ``cuda:<local_rank>`` under torchrun on CUDA).

    Raises:
        StageError: more processes than visible GPUs.
    """
    dist = from_env()
    if not dist.enabled:
        return dist, device
    import torch
    import torch.distributed as tdist

    if device == "cuda":
        if dist.local_rank >= torch.cuda.device_count():
            raise StageError(f"nproc_per_node asks for {dist.world_size} processes but only "
                             f"{torch.cuda.device_count()} GPU(s) are visible; lower nproc_per_node")
        torch.cuda.set_device(dist.local_rank)
        device = f"cuda:{dist.local_rank}"
    if not tdist.is_initialized():
        tdist.init_process_group("nccl" if device.startswith("cuda") else "gloo")
    return dist, device


def shutdown() -> None:
    """Leave the process group (no-op without one)."""
    import torch.distributed as tdist

    if tdist.is_available() and tdist.is_initialized():
        tdist.destroy_process_group()


def all_gather_objects(obj, dist: Dist) -> list:
    """``obj`` of every rank, in rank order (``[obj]`` in a single process)."""
    if not dist.enabled:
        return [obj]
    import torch.distributed as tdist

    out = [None] * dist.world_size
    tdist.all_gather_object(out, obj)
    return out


def barrier(dist: Dist) -> None:
    if dist.enabled:
        import torch.distributed as tdist

        tdist.barrier()
