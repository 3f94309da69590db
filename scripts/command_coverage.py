#!/usr/bin/env python3
"""Which Redis commands Lattice has: COMMAND COUNT / COMMAND LIST of both.

Starts redis-server and a built Lattice (target/release or target/debug),
compares the top-level command names and prints counts, the commands
Redis has that Lattice lacks, and Lattice's extra commands.
Usage: python3 scripts/command_coverage.py [--binary PATH]
"""
import argparse
import os
import socket
import subprocess
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cli(port, *args):
    return subprocess.run(["redis-cli", "-p", str(port), *args], capture_output=True, text=True).stdout


def wait(port):
    for _ in range(400):
        if cli(port, "PING").strip() == "PONG":
            return
        time.sleep(0.05)
    raise RuntimeError("server did not start")


def main():
    ap = argparse.ArgumentParser()
    default = os.path.join(ROOT, "target", "release", "lattice")
    if not os.path.exists(default):
        default = os.path.join(ROOT, "target", "debug", "lattice")
    ap.add_argument("--binary", default=default)
    args = ap.parse_args()
    work = tempfile.mkdtemp()
    rport, lport = free_port(), free_port()
    procs = [
        subprocess.Popen(["redis-server", "--port", str(rport), "--save", "", "--appendonly", "no", "--dir", work],
                         stdout=subprocess.DEVNULL),
        subprocess.Popen([args.binary, "--port", str(lport), "--dir", work, "--loglevel", "warning"],
                         stdout=subprocess.DEVNULL),
    ]
    try:
        wait(rport)
        wait(lport)
        names = {}
        for name, port in (("redis", rport), ("lattice", lport)):
            lst = {c.strip().lower() for c in cli(port, "COMMAND", "LIST").split() if c.strip() and "|" not in c}
            names[name] = (int(cli(port, "COMMAND", "COUNT")), lst)
        (rc, rl), (lc, ll) = names["redis"], names["lattice"]
        print(f"COMMAND COUNT: redis-server {rc}, lattice {lc}")
        print(f"top-level commands both have: {len(rl & ll)}")
        print(f"redis-server only ({len(rl - ll)}): {' '.join(sorted(rl - ll))}")
        print(f"lattice only ({len(ll - rl)}): {' '.join(sorted(ll - rl))}")
    finally:
        for p in procs:
            p.terminate()
            p.wait()


if __name__ == "__main__":
    main()
