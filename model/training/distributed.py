"""Data-parallel training with torch.distributed, when launched by torchrun.

Every process draws the same permutation and cuts each global batch into one
share per process. The loss is normalised by the global number of known
values and the gradients are summed across processes, so that one step
equals the step one process takes on the whole global batch (up to the order
of float sums). Gradients go through one flat all-reduce rather than the
DistributedDataParallel wrapper, because training calls `model.predict`, not
`forward`, which the wrapper's hooks rely on. CPU machines use gloo.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np
import torch
import torch.distributed as dist


@dataclass
class Cluster:
    rank: int = 0
    world: int = 1

    @classmethod
    def from_environment(cls) -> "Cluster":
        """One process unless torchrun set WORLD_SIZE > 1; then join the gloo group."""
        world = int(os.environ.get("WORLD_SIZE", "1"))
        if world == 1:
            return cls()
        if not dist.is_initialized():
            dist.init_process_group("gloo")
        return cls(rank=dist.get_rank(), world=dist.get_world_size())

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def share(self, global_batch: np.ndarray) -> np.ndarray:
        """This process's contiguous part of a global batch (possibly empty)."""
        return np.array_split(global_batch, self.world)[self.rank]

    def total(self, values: torch.Tensor) -> torch.Tensor:
        """Element-wise sum over processes (a copy; no gradient)."""
        values = values.detach().clone()
        if self.world > 1:
            dist.all_reduce(values, op=dist.ReduceOp.SUM)
        return values

    def any(self, flag: bool) -> bool:
        """True on every process when it is true on one (keeps decisions in step)."""
        return bool(self.total(torch.tensor([float(flag)])).item() > 0)

    def sum_gradients(self, model: torch.nn.Module) -> None:
        if self.world == 1:
            return
        parameters = [p for p in model.parameters() if p.requires_grad]
        for p in parameters:
            if p.grad is None:
                p.grad = torch.zeros_like(p)
        flat = torch.cat([p.grad.reshape(-1) for p in parameters])
        dist.all_reduce(flat, op=dist.ReduceOp.SUM)
        offset = 0
        for p in parameters:
            p.grad.copy_(flat[offset:offset + p.numel()].view_as(p))
            offset += p.numel()

    def finish(self) -> None:
        """Wait until every process is done, then leave the group.

        The main process writes the artifact after the last epoch while the others are idle;
        leaving the gloo group while a peer still holds its connection can abort the process
        ("terminate called without an active exception"), so all leave together.
        """
        if self.world > 1 and dist.is_initialized():
            dist.barrier()
            dist.destroy_process_group()

    def close(self) -> None:
        """Leave the group without waiting (after an error, when peers may never arrive)."""
        if self.world > 1 and dist.is_initialized():
            dist.destroy_process_group()
