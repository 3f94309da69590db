#!/usr/bin/env python3
"""Lattice vs redis-server, side by side on this machine.

Starts both servers in memory (redis-server --save '' --appendonly no,
lattice --appendonly no: the log stays in memory; bench/durable_compare.py
compares the durable settings),
drives them with the same redis-benchmark load, alternating A B A B for
several rounds, and prints medians and ratios (Lattice / Redis). Then loads
1M keys with 16-byte values into each (DEBUG POPULATE) and compares
used_memory.

Usage: python3 bench/compare_redis.py [--rounds N] [--requests N]
       [--clients N] [--tests set,get,...] [--skip-memory]
Needs redis-server and redis-benchmark (apt-get install redis-server redis-tools).
"""
import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile

sys.dont_write_bytecode = True  # no bench/__pycache__
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from benchlib import ROOT, cargo_build, free_port, info_field, redis_benchmark, wait_ready  # noqa: E402


def start_redis(workdir):
    port = free_port()
    p = subprocess.Popen(
        ["redis-server", "--port", str(port), "--save", "", "--appendonly", "no",
         "--dir", workdir, "--enable-debug-command", "yes"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_ready(port)
    return p, port


def start_lattice(workdir, binary):
    port = free_port()
    p = subprocess.Popen([binary, "--port", str(port), "--dir", workdir, "--loglevel", "warning",
                          "--appendonly", "no"],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_ready(port)
    return p, port


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--requests", type=int, default=200000)
    ap.add_argument("--clients", type=int, default=50)
    ap.add_argument("--tests", default="set,get,incr,lpush,rpop,sadd,hset,zadd")
    ap.add_argument("--pipelines", default="1,16")
    ap.add_argument("--skip-memory", action="store_true")
    ap.add_argument("--binary", default=os.path.join(ROOT, "target", "release", "lattice"))
    args = ap.parse_args()

    for tool in ("redis-server", "redis-benchmark", "redis-cli"):
        if not shutil.which(tool):
            sys.exit(f"{tool} not found: apt-get install redis-server redis-tools")
    cargo_build(("lattice",))

    work = tempfile.mkdtemp(prefix="lattice-bench-")
    for sub in ("r", "l"):
        os.makedirs(os.path.join(work, sub))
    rp, rport = start_redis(os.path.join(work, "r"))
    lp, lport = start_lattice(os.path.join(work, "l"), args.binary)
    print(f"machine: {os.cpu_count()} cores; redis {subprocess.run(['redis-server', '--version'], capture_output=True, text=True).stdout.split()[2]}")
    print(f"load: redis-benchmark -t {args.tests} -n {args.requests} -c {args.clients} -r 100000, "
          f"{args.rounds} rounds alternating Redis/Lattice\n")
    try:
        for pipeline in [int(p) for p in args.pipelines.split(",")]:
            results = {"redis": {}, "lattice": {}}
            for r in range(args.rounds):
                order = [("redis", rport), ("lattice", lport)] if r % 2 == 0 else [("lattice", lport), ("redis", rport)]
                for name, port in order:
                    for test, row in redis_benchmark(port, args.tests, args.requests, args.clients, pipeline).items():
                        results[name].setdefault(test, []).append(row)
            print(f"pipeline -P {pipeline}: medians over {args.rounds} rounds")
            print(f"{'test':<10}{'redis ops/s':>14}{'lattice ops/s':>15}{'ratio':>8}"
                  f"{'redis p50':>11}{'lat p50':>9}{'redis p99':>11}{'lat p99':>9}{'p99 ratio':>11}")
            for test in results["redis"]:
                med = lambda name, k: statistics.median(x[k] for x in results[name][test])
                rr, lr = med("redis", "rps"), med("lattice", "rps")
                r99, l99 = med("redis", "p99"), med("lattice", "p99")
                print(f"{test:<10}{rr:>14.0f}{lr:>15.0f}{lr / rr:>8.2f}"
                      f"{med('redis', 'p50'):>11.3f}{med('lattice', 'p50'):>9.3f}{r99:>11.3f}{l99:>9.3f}"
                      f"{(l99 / r99 if r99 else float('nan')):>11.2f}")
            print()
        if not args.skip_memory:
            mem = {}
            for name, port in (("redis", rport), ("lattice", lport)):
                subprocess.run(["redis-cli", "-p", str(port), "FLUSHALL"], capture_output=True, check=True)
                base = info_field(port, "memory", "used_memory")
                subprocess.run(["redis-cli", "-p", str(port), "DEBUG", "POPULATE", "1000000", "key", "16"],
                               capture_output=True, check=True)
                keys = int(subprocess.run(["redis-cli", "-p", str(port), "DBSIZE"], capture_output=True, text=True).stdout)
                mem[name] = (info_field(port, "memory", "used_memory"), base, keys)
            print("memory after DEBUG POPULATE 1000000 key 16 (1M keys, 16-byte values):")
            for name, (used, base, keys) in mem.items():
                print(f"  {name:<8} used_memory {used:>12} bytes ({(used - base) / keys:.1f} B/key over empty, {keys} keys)")
            print(f"  ratio lattice/redis: {mem['lattice'][0] / mem['redis'][0]:.2f}")
    finally:
        for p in (rp, lp):
            p.terminate()
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
