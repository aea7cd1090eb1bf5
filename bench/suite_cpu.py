"""How busy the machine's CPUs are while the test suite runs: is the suite's wall time waiting, or working?

Runs pytest (the README's test command's tests, with any pytest arguments given) in a subprocess and samples
/proc/stat every second: the share of the cores' time that was not idle, whichever process used it (so run it on an
otherwise quiet machine). `time`'s user and system CPU count only the processes whose parents waited for them;
this also counts what is never waited for (Chromium under chromedriver, Ray's processes, killed trainings), so busy
x cores x wall is the suite's whole work. Linux only.

This machine's speed drifts (README, Tests), so it first times a probe, a fresh process that imports torch and makes
one optimizer (what every training process of the suite starts with), and prints it with the result: compare suite
times only beside their probes.

    .venv/bin/python bench/suite_cpu.py                   # the whole suite
    .venv/bin/python bench/suite_cpu.py -m "not slow"     # the fast tier
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def cpu_times() -> tuple[int, int]:
    """(this machine's jiffies, idle + iowait jiffies) since boot, summed over the cores: user, nice, system, idle,
    iowait, irq, softirq; steal (a hypervisor's) and guest time (counted within user) left out."""
    with open("/proc/stat") as f:
        values = [int(v) for v in f.readline().split()[1:]]
    return sum(values[:7]), values[3] + values[4]


PROBE = "import torch; torch.optim.Adam([torch.zeros(1, requires_grad=True)])"


def probe_seconds(repeats: int = 3) -> float:
    """The median wall time of a fresh Python process running PROBE (the start of every training process)."""
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-c", PROBE], check=True)
        times.append(time.perf_counter() - t0)
    return sorted(times)[len(times) // 2]


def main() -> None:
    probe = probe_seconds()
    proc = subprocess.Popen([sys.executable, "-m", "pytest", *sys.argv[1:]], cwd=ROOT)
    start = time.time()
    total0, idle0 = first = cpu_times()
    busy = []
    while proc.poll() is None:
        time.sleep(1.0)
        total, idle = cpu_times()
        busy.append(1 - (idle - idle0) / max(total - total0, 1))
        total0, idle0 = total, idle
    wall = time.time() - start
    total, idle = cpu_times()
    share = 1 - (idle - first[1]) / max(total - first[0], 1)
    cores = os.cpu_count() or 1
    print(f"pytest exited {proc.returncode} after {wall:.0f} s; CPUs busy {share:.0%} of that time on {cores} cores: "
          f"{share * cores * wall / 60:.1f} core-minutes of work; seconds at most half busy: "
          f"{sum(b <= 0.5 for b in busy)}; the probe (torch's import and one optimizer, a fresh process) took "
          f"{probe:.1f} s before")
    sys.exit(proc.returncode)


if __name__ == "__main__":
    main()
