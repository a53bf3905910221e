"""Data-parallel training (DDP) for the SFT recipe when it is launched by `torchrun` or
`accelerate launch`; a plain process is a world of one and nothing here changes its work.

Gradient sync: the recipe's loss (`causal_lm_loss`) calls the backbone and the LM head
directly, so a forward through `DistributedDataParallel(peft_model)` would run the full
`CausalLM.forward` instead (the head over every position, not only labelled ones), and a
forward that bypasses the DDP wrapper registers no reduction: gradients would silently stay
rank-local. `LossForward` makes the loss itself the module's forward; DDP wraps that module
(whose only child is the PEFT or full model, so it owns exactly the trainable parameters),
and backward all-reduces gradients in buckets, overlapped with the backward pass.

Heavy imports stay inside functions (as in the rest of the trainer) except here: this
module is imported only when the recipe is set up, and `LossForward` must subclass
`torch.nn.Module`.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, TypeVar

import torch

from services.trainer.checkpoints import Progress
from services.trainer.loss import causal_lm_loss
from services.trainer.run import RunHooks

log = logging.getLogger(__name__)
T = TypeVar("T")
Objective = Callable[[Any, dict[str, Any]], Any]  # (model, batch) -> what backward starts from
CPU = torch.device("cpu")


@dataclass(frozen=True)
class World:
    """This process's place among the training processes (rank 0 of 1 when not launched)."""

    rank: int = 0
    size: int = 1
    device: torch.device = CPU
    owns_group: bool = False  # this process initialised the group, so it destroys it

    @property
    def distributed(self) -> bool:
        return self.size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def shard(self, items: Sequence[T]) -> list[T]:
        """This rank's disjoint share of `items` (every `size`-th, from `rank`)."""
        return list(items[self.rank :: self.size])

    def sum(self, values: Sequence[float]) -> list[float]:
        """Element-wise sums over all ranks (the values themselves in a world of one)."""
        if not self.distributed:
            return list(values)
        import torch.distributed as dist

        totals = torch.tensor(list(values), dtype=torch.float64, device=self.device)
        dist.all_reduce(totals)
        return [float(v) for v in totals.tolist()]

    def from_main(self, value: T) -> T:
        """Rank 0's `value`, on every rank."""
        if not self.distributed:
            return value
        import torch.distributed as dist

        box: list[Any] = [value]
        dist.broadcast_object_list(box, src=0)
        result: T = box[0]
        return result

    def barrier(self) -> None:
        if self.distributed:
            import torch.distributed as dist

            dist.barrier()

    def close(self) -> None:
        if self.owns_group:
            import torch.distributed as dist

            dist.destroy_process_group()


def world_from_environment() -> World:
    """Join the process group that `torchrun` / `accelerate launch` describe in the
    environment (WORLD_SIZE, RANK, LOCAL_RANK, MASTER_ADDR, MASTER_PORT): gloo on the CPU,
    nccl with one GPU per local rank when CUDA is available."""
    size = int(os.environ.get("WORLD_SIZE", "1"))
    if size <= 1:
        return World()
    import torch.distributed as dist

    device = CPU
    if torch.cuda.is_available():
        device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
        torch.cuda.set_device(device)
    owns = not dist.is_initialized()
    if owns:
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    world = World(dist.get_rank(), dist.get_world_size(), device, owns)
    log.info("rank %d of %d on %s (%s)", world.rank, world.size, device, dist.get_backend())
    return world


class LossForward(torch.nn.Module):
    """A recipe's objective (`causal_lm_loss` for SFT, the answers' log-probabilities for
    DPO) as a module's forward, so that DDP can wrap the computation."""

    def __init__(self, model: Any, objective: Objective = causal_lm_loss):
        super().__init__()
        self.model = model
        self.objective = objective

    def forward(self, batch: dict[str, Any]) -> Any:
        return self.objective(self.model, batch)


def loss_forward(
    model: Any, world: World, objective: Objective = causal_lm_loss
) -> torch.nn.Module:
    """The trainable model's objective as a module: DDP-wrapped when there are several ranks.

    find_unused_parameters stays off: every trainable weight (LoRA matrices on every
    targeted layer, or every weight of a full fine-tune) is used by every forward, and
    the recipe gives a rank with no examples of its own a zero-weighted one, so each rank
    produces a gradient for every parameter every step."""
    module = LossForward(model, objective)
    if not world.distributed:
        return module
    from torch.nn.parallel import DistributedDataParallel

    module.to(world.device)
    ids = [world.device.index] if world.device.type == "cuda" else None
    return DistributedDataParallel(module, device_ids=ids, find_unused_parameters=False)


class MainRankHooks:
    """Hooks that publish only on rank 0; every rank gets rank 0's stop decision, so all
    of them stop at the same step (a rank that stopped alone would hang the others)."""

    def __init__(self, hooks: RunHooks, world: World):
        self.hooks = hooks
        self.world = world

    def on_step(self, progress: Progress, epoch: float, metrics: dict[str, float]) -> None:
        if self.world.is_main:
            self.hooks.on_step(progress, epoch, metrics)

    def on_epoch(self, epoch: int, metrics: dict[str, float], checkpoint: Path) -> None:
        if self.world.is_main:
            self.hooks.on_epoch(epoch, metrics, checkpoint)

    def stop_requested(self) -> Literal["pause", "cancel"] | None:
        answer = self.hooks.stop_requested() if self.world.is_main else None
        return self.world.from_main(answer)

    def warn(self, message: str) -> None:
        if self.world.is_main:
            self.hooks.warn(message)
