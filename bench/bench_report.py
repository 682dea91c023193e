"""How long `toolkit report` takes on the demo run, each in a fresh interpreter (imports count),
without and with the explanation slot (which loads the model and runs integrated gradients).

Needs `make demo` first. Usage: python bench/bench_report.py [--run runs/sentiment_bert]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CODE = (
    "import sys, time; t = time.perf_counter(); from toolkit.report.html import write_report;"
    "write_report(sys.argv[1], sys.argv[2], explain=sys.argv[3] == 'on');"
    "print(time.perf_counter() - t)"
)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--run", default=str(ROOT / "runs" / "sentiment_bert"))
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    times: dict[str, list[float]] = {"off": [], "on": []}
    with tempfile.TemporaryDirectory() as folder:
        for _ in range(args.repeats):
            for explain in times:
                out = Path(folder) / "report.html"
                done = subprocess.run([sys.executable, "-c", CODE, args.run, str(out), explain],
                                      capture_output=True, text=True, check=True)  # fmt: skip
                times[explain].append(float(done.stdout))
    print(f"toolkit report {args.run}, median of {args.repeats} fresh interpreters:")
    print(f"  --no-explain        {statistics.median(times['off']):.2f} s")
    print(f"  with explanation    {statistics.median(times['on']):.2f} s")


if __name__ == "__main__":
    main()
