#!/usr/bin/env python3
"""Runs a command RUNS times and prints "best_ms median_ms peak_rss_kib cpu_ms": wall time
best and median (to 0.1 ms; /usr/bin/time counts in 10 ms steps, too coarse for runs of tens
of milliseconds), and the peak RSS and CPU time (user + system) of the median run. The
command's output goes to /dev/null; a failing run fails the benchmark. The command runs under
/usr/bin/time, which reports its peak RSS: a child of this script would count the Python
process it was forked from (its peak RSS includes the memory before `exec`).

    benches/measure.py RUNS COMMAND [ARGS...]
"""
import os
import subprocess
import sys
import tempfile
import time


def run_once(command, rss_file):
    start = time.perf_counter()
    child = subprocess.Popen(
        ["/usr/bin/time", "-f", "%M", "-o", rss_file, *command], stdout=subprocess.DEVNULL
    )
    # The usage of /usr/bin/time includes the command's (it waited for it).
    _, status, usage = os.wait4(child.pid, 0)
    wall = (time.perf_counter() - start) * 1000
    if status != 0:
        sys.exit(f"measure: {' '.join(command)} failed ({status})")
    with open(rss_file) as figures:
        rss_kib = int(figures.read().split()[-1])
    return wall, rss_kib, (usage.ru_utime + usage.ru_stime) * 1000


def main():
    runs = int(sys.argv[1])
    with tempfile.NamedTemporaryFile() as rss_file:
        samples = sorted(run_once(sys.argv[2:], rss_file.name) for _ in range(runs))
    median = samples[runs // 2]
    print(f"{samples[0][0]:.1f} {median[0]:.1f} {median[1]} {median[2]:.1f}")


if __name__ == "__main__":
    main()
