"""Multi-process runs: `toolkit run --num-processes N` re-executes itself under `accelerate launch`.

accelerate starts the processes (torch.distributed's elastic launcher underneath: DDP over NCCL on
GPUs, gloo on CPUs; FSDP, DeepSpeed or several machines through an accelerate config file) and
the Trainer inside each process joins the group from the environment it sets. We never create
process groups ourselves. A run that is already inside a launcher (`accelerate launch -m toolkit`,
`torchrun -m toolkit`) sees WORLD_SIZE/LOCAL_RANK and simply runs.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from collections.abc import Callable, Iterator

from toolkit.errors import ToolkitError

LAUNCH_OPTIONS = ("--num-processes", "--accelerate-config")


def inside_launcher() -> bool:
    return "LOCAL_RANK" in os.environ or int(os.environ.get("WORLD_SIZE", "1")) > 1


def is_main_process() -> bool:
    return int(os.environ.get("RANK", "0")) == 0


def wants_relaunch(num_processes: int, config: str | None) -> bool:
    return not inside_launcher() and (num_processes > 1 or config is not None)


def launch_command(argv: list[str], num_processes: int, config: str | None) -> list[str]:
    """`accelerate launch ... -m toolkit <argv without our launch options>`."""
    command = [sys.executable, "-m", "accelerate.commands.launch"]
    if config is not None:
        if not os.path.isfile(config):
            raise ToolkitError(f"--accelerate-config: {config} not found")
        command += ["--config_file", config]
    if num_processes > 1:
        # --multi_gpu is accelerate's DDP mode; without GPUs it runs DDP over gloo on the CPU
        # (accelerate's --cpu/MULTI_CPU mode starts a single process unless MPI is set up).
        command += ["--num_processes", str(num_processes)]
        command += (
            [] if config else ["--multi_gpu", "--num_machines", "1", "--mixed_precision", "no"]
        )
    return [*command, "-m", "toolkit", *strip_launch_options(argv)]


def strip_launch_options(argv: list[str]) -> list[str]:
    out, skip = [], False
    for arg in argv:
        if skip:
            skip = False
            continue
        name = arg.split("=", 1)[0]
        if name in LAUNCH_OPTIONS:
            skip = "=" not in arg
            continue
        out.append(arg)
    return out


def check_process_count(num_processes: int) -> None:
    """More processes than GPUs (or, without GPUs, than CPU cores) is refused."""
    import torch

    gpus = torch.cuda.device_count()
    limit, what = (gpus, "GPUs") if gpus else (os.cpu_count() or 1, "CPU cores")
    if num_processes > limit:
        raise ToolkitError(
            f"--num-processes {num_processes}: this machine has {limit} {what}; use at most {limit}"
        )


def relaunch(
    argv: list[str], num_processes: int, config: str | None,
    check: Callable[[], None] | None = None,
) -> int:  # fmt: skip
    """Run this command again under accelerate launch; returns its exit code. `check` refuses
    what the processes would (e.g. the output dir) once the launch itself is known to be valid,
    before any of them starts."""
    if config is None:
        check_process_count(num_processes)
    command = launch_command(argv, num_processes, config)
    if check is not None:
        check()
    env = {**os.environ, "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1")}
    return subprocess.call(command, env=env)


@contextlib.contextmanager
def main_process_first() -> Iterator[None]:
    """The main process runs the block first (e.g. clearing the staging dir, filling the
    augmentation cache), the others after it, so they find its results; a no-op alone."""
    if not inside_launcher():
        yield
        return
    import torch
    from accelerate import PartialState

    # cpu=True on CPU-only machines, as the Trainer's use_cpu: else accelerate sees no group
    with PartialState(cpu=not torch.cuda.is_available()).main_process_first():
        yield
