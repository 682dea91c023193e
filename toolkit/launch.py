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
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from typing import Any

from toolkit.errors import ToolkitError

LAUNCH_OPTIONS = ("--num-processes", "--accelerate-config")
RELAUNCHED = "TOOLKIT_RELAUNCHED"
STOP_GRACE_S = 60  # after a Ctrl-C, how long the processes get to stop before they are killed
# `accelerate launch`, without the elastic agent's log lines ("Sending process N closing signal",
# "failed (exitcode: 2)") and without a traceback when the processes stopped for a Ctrl-C (which
# the parent reports in one line) or on a ToolkitError (the main process printed it: exit 2).
LAUNCHER = """
import logging, os, sys
os.environ.setdefault("LOGLEVEL", "CRITICAL")  # the level torch.distributed.elastic logs at
from accelerate.commands.launch import main
from torch.distributed.elastic.multiprocessing.api import SignalException
from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
logging.getLogger("torch.distributed.elastic").setLevel(os.environ["LOGLEVEL"])
try:
    main()
except (KeyboardInterrupt, SignalException):
    sys.exit(130)
except ChildFailedError as failed:
    code = failed.get_first_failure()[1].exitcode
    if code not in (2, 130):
        raise
    sys.exit(code)
"""


def inside_launcher() -> bool:
    return "LOCAL_RANK" in os.environ or int(os.environ.get("WORLD_SIZE", "1")) > 1


def is_main_process() -> bool:
    return int(os.environ.get("RANK", "0")) == 0


def relaunched() -> bool:
    """A process `relaunch` started: its parent, not it, tells the user about a Ctrl-C."""
    return os.environ.get(RELAUNCHED) == "1"


def wants_relaunch(num_processes: int, config: str | None) -> bool:
    return not inside_launcher() and (num_processes > 1 or config is not None)


def launch_command(argv: list[str], num_processes: int, config: str | None) -> list[str]:
    """`accelerate launch ... -m toolkit <argv without our launch options>`."""
    command = [sys.executable, "-c", LAUNCHER]
    if config is not None:
        if not os.path.isfile(config):
            raise ToolkitError(f"--accelerate-config: {config} not found")
        command += ["--config_file", config]
    if num_processes > 1:
        # --multi_gpu is accelerate's DDP mode; without GPUs it runs DDP over gloo on the CPU
        # (accelerate's --cpu/MULTI_CPU mode starts a single process unless MPI is set up).
        command += ["--num_processes", str(num_processes)]
        command += (
            [] if config else ["--multi_gpu", "--num_machines", "1", "--mixed_precision", "no",
                               "--dynamo_backend", "no"]  # each unset one is a warning
        )  # fmt: skip
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
    # Its own process group: a Ctrl-C at the terminal reaches this process alone, which passes
    # it on once (twice, the elastic agent would abandon its shutdown half-way).
    launched = subprocess.Popen(command, env={**env, RELAUNCHED: "1"}, process_group=0)
    with launched as launcher:
        try:
            return launcher.wait()
        except KeyboardInterrupt:  # the caller reports it once the processes have stopped
            stop(launcher)
            raise


def stop(launcher: subprocess.Popen) -> None:
    """Pass a Ctrl-C on to the launcher, which stops its processes; all are killed if that
    takes longer than STOP_GRACE_S."""
    launcher.send_signal(signal.SIGINT)
    try:
        launcher.wait(timeout=STOP_GRACE_S)
    except subprocess.TimeoutExpired:
        os.killpg(launcher.pid, signal.SIGKILL)
        launcher.wait()


def every_parameter_used(loaded: Any) -> bool:
    """Whether every trainable parameter of a LoadedModel gets a gradient at every step, so DDP
    can skip its search for unused ones (`find_unused_parameters`: a warning in every multi-process
    run and an extra graph traversal per step). Frozen parameters do not count, so frozen layers
    and a peft model's frozen base are fine. Not so, and the Trainer's default kept: an
    encoder-decoder made of two encoders (bert2bert: the encoder's pooler is unused), layer drop
    (skipped layers) and mixture-of-experts (experts no token went to)."""
    model = getattr(loaded.model, "get_base_model", lambda: loaded.model)()
    config = model.config
    if hasattr(config, "encoder") and hasattr(config, "decoder"):  # two checkpoints in one
        return False
    settings = config.to_dict()
    drops = (v for k, v in settings.items() if "layerdrop" in k and isinstance(v, (int, float)))
    if any(value > 0 for value in drops):
        return False
    experts = (settings.get(key) for key in ("num_experts", "num_local_experts", "moe_num_experts"))
    return all(not isinstance(count, int) or count <= 1 for count in experts)


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
