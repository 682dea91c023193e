"""`toolkit --help` wall time and the import-time budget of the CLI module.

Runs each command several times in fresh processes and prints medians: `toolkit --help`, a bare
`python -c pass` (the interpreter's own start-up, the floor), and `import torch, transformers`
(what --help would cost if the CLI imported the stack eagerly).

Usage: python bench/bench_cli.py [--repeats N]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

TOOLKIT = shutil.which("toolkit") or str(Path(sys.executable).parent / "toolkit")


def median_seconds(cmd: list[str], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    rows = {
        "python -c pass": [sys.executable, "-c", "pass"],
        "toolkit --help": [TOOLKIT, "--help"],
        "import torch, transformers": [sys.executable, "-c", "import torch, transformers"],
    }
    results = {name: median_seconds(cmd, args.repeats) for name, cmd in rows.items()}
    for name, seconds in results.items():
        print(f"{name:28} {seconds * 1000:8.0f} ms (median of {args.repeats})")
    cli_only = results["toolkit --help"] - results["python -c pass"]
    print(f"toolkit's own import + help: {cli_only * 1000:.0f} ms over bare interpreter start-up")
    heavy = results["import torch, transformers"] / results["toolkit --help"]
    print(f"eager torch+transformers import would be {heavy:.1f}x slower than --help")
    profile = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", "import toolkit.cli"],
        capture_output=True,
        text=True,
        check=True,
    ).stderr.splitlines()
    cumulative = sorted(
        ((int(line.split("|")[1]), line.split("|")[2].strip()) for line in profile[1:]),
        reverse=True,
    )
    print("largest imports under `import toolkit.cli` (cumulative µs):")
    for micros, module in cumulative[:6]:
        print(f"  {micros:9d}  {module}")


if __name__ == "__main__":
    main()
