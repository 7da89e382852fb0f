"""Sum squares: the explainer's pure compute task, for the cpu suite.

Each task computes sum(i * i for i in range(SIZE)), as the explainer's cpu_bound does, for
--tasks numbers SIZE, SIZE + 1, …; either in a plain loop (--mode loop, the explainer's
synchronous version) or with multiprocessing.Pool.map (--mode pool, its multiprocessing
version). Prints one JSON line: program, mode, workers, tasks, ok, total (a decimal string), seconds, cpu_seconds.

Usage: cpu_squares.py [--tasks N] [--size SIZE] [--mode loop|pool] [--workers N]
"""

import argparse
import json
import multiprocessing
import resource
import time


def cpu_seconds():
    """CPU time (user + system) of this process and of its children that have ended, in seconds."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def cpu_bound(number):
    return sum(i * i for i in range(number))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=20)
    parser.add_argument("--size", type=int, default=1_000_000)
    parser.add_argument("--mode", choices=["loop", "pool"], default="pool")
    parser.add_argument("--workers", type=int, default=multiprocessing.cpu_count())
    args = parser.parse_args()
    numbers = [args.size + x for x in range(args.tasks)]
    workers = 1 if args.mode == "loop" else args.workers
    cpu_start = cpu_seconds()
    start = time.perf_counter()
    if args.mode == "loop":
        sums = [cpu_bound(number) for number in numbers]
    else:
        with multiprocessing.Pool(workers) as pool:
            sums = pool.map(cpu_bound, numbers)
    seconds = time.perf_counter() - start
    cpu = cpu_seconds() - cpu_start
    print(json.dumps({"program": "cpu_squares", "mode": args.mode, "workers": workers,
                      "tasks": len(numbers), "ok": len(sums), "total": str(sum(sums)),
                      "seconds": seconds,
                      "cpu_seconds": cpu}))


if __name__ == "__main__":
    main()
