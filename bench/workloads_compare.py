#!/usr/bin/env python3
"""Lattice vs redis-server on the benchmark issue's workloads that
compare_redis.py and durable_compare.py do not cover. Both servers in memory:
Redis --save '' --appendonly no, Lattice --appendonly no.

Sections (all by default; pick one with --only):

  conns500  500 connections:
              redis-benchmark -t set,get -c 500 -n N -r 100000 --csv
            unpipelined and with -P 16 (-n --requests-pipelined).
  mixed     80/20 reads/writes over 1M keys, with the workspace's load
            generator (target/release/lattice-bench):
              lattice-bench -t mixed --read-ratio 0.8 -r 1000000 -c 50 --duration 10s [-P 16]
            The key space is written first by an untimed
              lattice-bench -t set -r 1000000 -c 50 --preload -n 1
            (same key names as the mixed run: key:<n> zero-padded to 12
            digits; DEBUG POPULATE writes key:<n> unpadded, so every GET
            would miss). Misses are checked to be 0.
  memory    used_memory over the empty server's, per key, for
              hashes: 100,000 hashes of 10 fields (field0..9 -> 8-byte values)
              sets:   100,000 sets of 10 small integers (0..999)
            loaded identically into each server as one RESP stream through
            `redis-cli --pipe`; also OBJECT ENCODING, MEMORY USAGE of one key,
            RSS, and used_memory again after a few single writes (Lattice with
            appendonly no keeps its newest 8 applied log entries in memory,
            and a pipelined load packs many commands into each entry).

Each round starts each server on a fresh data dir (in a temp dir), runs the
section's loads and shuts it down; only one server runs at a time and the
order alternates between rounds (A B, B A, ...). Medians over --rounds;
ratios are Lattice / Redis. --markdown FILE appends the summary to FILE.
It builds what it runs first (cargo build --release --bin lattice --bin
lattice-bench) unless --no-build or BENCH_NO_BUILD=1.

Usage: python3 bench/workloads_compare.py [--quick] [--only conns500|mixed|memory]
       [--rounds N] [--markdown FILE] ...
Needs redis-server, redis-cli, redis-benchmark (apt-get install redis-server redis-tools).
"""
import argparse
import os
import shlex
import sys
import time

sys.dont_write_bytecode = True  # no bench/__pycache__
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from benchlib import (ROOT, ServerError, Workspace, cargo_build, check_workdir, command_line,  # noqa: E402
                      run_guarded, append_markdown, exit_on_sigterm, fmt,
                      git_rev, md_table, med, mem_gib, proc_rss, ratio, redis_cli_pipe,
                      require_binary, require_tools, resp_command, run_lattice_bench, run_redis_benchmark,
                      stale_warning, text_table, timestamp, version)

SERVERS = ("redis", "lattice")
LABEL = {"redis": "Redis", "lattice": "Lattice"}
REDIS_FLAGS = ["--save", "", "--appendonly", "no"]
LATTICE_FLAGS = ["--appendonly", "no"]
SECTIONS = ("conns500", "mixed", "memory")
# Lattice with appendonly no keeps this many applied log entries in memory
# (MEMORY_KEEP in crates/lattice-raft/src/log_store.rs); single writes past it
# push the entries of a pipelined load out.
LOG_WINDOW = 8
DRAIN_WRITES = LOG_WINDOW + 76
DRAIN_KEY = "workloads_compare:drain"


class Bench:
    def __init__(self, args):
        self.args = args
        self.ws = Workspace("lattice-workloads-", args.workdir, args.keep)

    def start(self, name, tag):
        a = self.args

        def argv(port, data):
            if name == "redis":
                return ["redis-server", "--port", str(port), "--dir", data] + REDIS_FLAGS
            return [a.lattice_bin, "--port", str(port), "--dir", data, "--loglevel", "warning"] + LATTICE_FLAGS
        return self.ws.start(LABEL[name], argv, tag, ready_timeout=a.ready_timeout)

    def each_round(self, section, body):
        """body(name, server, round) for every round and server, alternating the order;
        returns {name: [body's result per round]}."""
        out = {n: [] for n in SERVERS}
        for r in range(self.args.rounds):
            for name in (SERVERS if r % 2 == 0 else tuple(reversed(SERVERS))):
                s = self.start(name, f"{section}-{name}-r{r + 1}")
                try:
                    out[name].append(body(name, s, r))
                    self.ws.stop(s, "NOSAVE")
                finally:
                    self.ws.discard(s)
        return out

    # --- 500 connections ---------------------------------------------------------

    def conns500(self):
        a = self.args

        def body(name, s, r):
            if r == 0:
                check_maxclients(s, a.connections)
            res = {}
            for p in a.pipelines:
                n = a.requests if p == 1 else a.requests_pipelined
                t0 = time.monotonic()
                rows = run_redis_benchmark(s, "set,get", n, a.connections, p, timeout=a.bench_timeout)
                print(f"  round {r + 1} {LABEL[name]:<8} -P {p:<3} "
                      + "  ".join(f"{t} {v['rps']:.0f}/s p50 {v['p50']:.3f} p99 {v['p99']:.3f} ms"
                                  for t, v in rows.items())
                      + f"  ({time.monotonic() - t0:.1f}s)", flush=True)
                for test, row in rows.items():
                    res[(test, p)] = row
            return res
        return self.each_round("conns500", body)

    # --- mixed 80/20 over 1M keys ------------------------------------------------------

    def bench_argv(self, s, *extra):
        a = self.args
        return [a.bench_bin, "-p", str(s.port), "-r", str(a.keys), "-c", str(a.mixed_connections),
                "-d", str(a.value_size), "--threads", str(a.threads)] + list(extra)

    def mixed(self):
        a = self.args

        def body(name, s, r):
            rep = run_lattice_bench(s, self.bench_argv(s, "-t", "set", "-n", "1", "--preload"), a.bench_timeout)
            keys = s.cmd("DBSIZE", timeout=60)
            if keys != a.keys:
                raise ServerError(f"{s.name}: DBSIZE {keys} after preloading {a.keys} keys")
            res = {"preload_s": rep["preload"]["seconds"]}
            print(f"  round {r + 1} {LABEL[name]:<8} preload {a.keys} keys: {res['preload_s']:.2f}s", flush=True)
            for p in a.pipelines:
                rep = run_lattice_bench(s, self.bench_argv(s, "-t", "mixed", "--read-ratio", str(a.read_ratio),
                                                           "-P", str(p), "--duration", f"{a.duration:g}s"),
                                        a.bench_timeout)
                res[p] = rep
                lat = rep["latency_ms"]
                ops = rep.get("ops", {})
                per = "  ".join(f"{k.upper()} p99 {v['latency_ms']['p99']:.3f}" for k, v in sorted(ops.items()))
                miss = f"  MISSES {rep['misses']}" if rep.get("misses") else ""
                print(f"  round {r + 1} {LABEL[name]:<8} -P {p:<3} {rep['ops_per_sec']:.0f} ops/s  "
                      f"p50 {lat['p50']:.3f}  p99 {lat['p99']:.3f}  p99.9 {lat['p999']:.3f} ms  ({per}){miss}",
                      flush=True)
                if rep.get("misses"):
                    print(f"  warning: {s.name}: {rep['misses']} GETs missed: the preload did not cover the key "
                          f"space", flush=True)
            return res
        return self.each_round("mixed", body)

    # --- memory: small hashes, sets of small integers -------------------------------

    def datasets(self):
        """{dataset: (RESP file, keys, sample key)}, written once into the work dir."""
        a = self.args
        out = {}
        t0 = time.monotonic()
        path = os.path.join(self.ws.path, "hashes.resp")
        with open(path, "wb", buffering=1 << 20) as fh:
            for i in range(a.hashes):
                args = ["HSET", f"hash:{i}"]
                for j in range(a.hash_fields):
                    args += [f"field{j}", f"val{(i * a.hash_fields + j) % 100000:05d}"]
                fh.write(resp_command(*args))
        out["hashes"] = (path, a.hashes, "hash:0")
        path = os.path.join(self.ws.path, "sets.resp")
        with open(path, "wb", buffering=1 << 20) as fh:
            for i in range(a.sets):
                # distinct members below 1000 (97 is prime to 1000), small ints: Redis's intset
                fh.write(resp_command("SADD", f"set:{i}", *[(i * 7 + j * 97) % 1000 for j in range(a.set_members)]))
        out["sets"] = (path, a.sets, "set:0")
        print(f"  wrote the RESP streams in {time.monotonic() - t0:.1f}s", flush=True)
        return out

    def memory(self):
        data = self.datasets()
        res = {}
        for ds, (path, n, sample) in data.items():
            def body(name, s, r, ds=ds, path=path, n=n, sample=sample):
                m = {"keys": n}
                m["base"], m["rss_base"] = used_memory(s), proc_rss(s.proc.pid)
                t0 = time.monotonic()
                redis_cli_pipe(s, path, n, timeout=self.args.bench_timeout)
                load_s = time.monotonic() - t0
                keys = s.cmd("DBSIZE", timeout=60)
                if keys != n:
                    raise ServerError(f"{s.name}: DBSIZE {keys} after loading {n} {ds}")
                m["used"], m["rss"] = used_memory(s), proc_rss(s.proc.pid)
                m["allocator"] = s.info("memory").get("mem_allocator", "?")
                m["encoding"] = s.cmd("OBJECT", "ENCODING", sample, timeout=60)
                try:
                    m["memory_usage"] = s.cmd("MEMORY", "USAGE", sample, timeout=60)
                except ServerError:
                    m["memory_usage"] = None
                drain(s)
                m["drained"], m["rss_drained"] = used_memory(s), proc_rss(s.proc.pid)
                per = lambda k: (m[k] - m["base"]) / n
                print(f"  round {r + 1} {LABEL[name]:<8} {ds}: loaded in {load_s:.2f}s, {m['encoding']}, "
                      f"{per('used'):.1f} B/key over empty, {per('drained'):.1f} after {DRAIN_WRITES} single "
                      f"writes, RSS +{mib(m['rss'] - m['rss_base'])} MiB", flush=True)
                return m
            res[ds] = self.each_round(f"memory-{ds}", body)
        return res


def used_memory(s):
    return int(s.info("memory")["used_memory"])


def drain(s):
    """DRAIN_WRITES single writes (each its own log entry), then the key is gone again."""
    with s.connect(timeout=60) as c:
        for i in range(DRAIN_WRITES - 1):
            c.cmd("SET", DRAIN_KEY, i)
        c.cmd("DEL", DRAIN_KEY)


def check_maxclients(s, clients):
    got = s.cmd("CONFIG", "GET", "maxclients", timeout=10)
    got = dict(zip(got[::2], got[1::2])) if isinstance(got, list) else {}
    try:
        if int(got.get("maxclients", 0)) < clients + 10:
            print(f"  warning: {s.name}: maxclients {got.get('maxclients')} < {clients} connections (ulimit -n?)")
    except ValueError:
        print(f"  warning: {s.name}: CONFIG GET maxclients = {got!r}")


def mib(b):
    return "?" if b is None else f"{b / 2**20:.1f}"


# --- summary ---------------------------------------------------------------------------

TP_HEAD = ["section", "test", "redis ops/s", "lattice ops/s", "ratio", "redis p50", "lat p50", "p50 ratio",
           "redis p99", "lat p99", "p99 ratio"]
TP_SPEC = [None, None, ".0f", ".0f", ".2f", ".3f", ".3f", ".2f", ".3f", ".3f", ".2f"]
MEM_HEAD = ["dataset", "measure", "redis", "lattice", "ratio"]


def tp_row(section, test, m):
    """m: {name: {"rps", "p50", "p99"}} medians."""
    g = lambda n, k: m.get(n, {}).get(k)
    return [section, test,
            g("redis", "rps"), g("lattice", "rps"), ratio(g("lattice", "rps"), g("redis", "rps")),
            g("redis", "p50"), g("lattice", "p50"), ratio(g("lattice", "p50"), g("redis", "p50")),
            g("redis", "p99"), g("lattice", "p99"), ratio(g("lattice", "p99"), g("redis", "p99"))]


def summarize(args, out):
    tp, mem, notes = [], [], []
    if "conns500" in out:
        res = out["conns500"]
        for p in args.pipelines:
            for test in ("SET", "GET"):
                m = {n: {k: med([r[(test, p)][k] for r in res[n] if (test, p) in r]) for k in ("rps", "p50", "p99")}
                     for n in SERVERS}
                tp.append(tp_row(f"{args.connections} conns", f"{test} -P {p}", m))
    if "mixed" in out:
        res = out["mixed"]
        for p in args.pipelines:
            m = {n: {"rps": med([r[p]["ops_per_sec"] for r in res[n]]),
                     "p50": med([r[p]["latency_ms"]["p50"] for r in res[n]]),
                     "p99": med([r[p]["latency_ms"]["p99"] for r in res[n]])} for n in SERVERS}
            tp.append(tp_row(f"mixed {args.read_ratio:g} reads", f"-P {p}", m))
        pre = {n: med([r["preload_s"] for r in res[n]]) for n in SERVERS}
        misses = {n: sum(r[p].get("misses", 0) for r in res[n] for p in args.pipelines) for n in SERVERS}
        notes.append(f"mixed: preload of {args.keys} keys (lattice-bench --preload, untimed) took "
                     f"{fmt(pre['redis'], '.2f')}s on Redis, {fmt(pre['lattice'], '.2f')}s on Lattice; "
                     f"GET misses: Redis {misses['redis']}, Lattice {misses['lattice']}")
    if "memory" in out:
        for ds, res in out["memory"].items():
            n = res["redis"][0]["keys"] if res["redis"] else res["lattice"][0]["keys"]
            label = (f"{n} hashes x {args.hash_fields} fields" if ds == "hashes"
                     else f"{n} sets x {args.set_members} ints")
            for measure, key in (("encoding (OBJECT ENCODING)", "encoding"), ("mem_allocator (INFO)", "allocator")):
                v = {s: "/".join(sorted({str(r[key]) for r in res[s]})) or "-" for s in SERVERS}
                mem.append([label, measure, v["redis"], v["lattice"], "-"])

            def row(measure, f, spec):
                v = {s: med([f(r) for r in res[s]]) for s in SERVERS}
                mem.append([label, measure, fmt(v["redis"], spec), fmt(v["lattice"], spec),
                            fmt(ratio(v["lattice"], v["redis"]), ".2f")])
            row("used_memory over empty (MiB)", lambda r: (r["used"] - r["base"]) / 2**20, ".1f")
            row("bytes per key", lambda r: (r["used"] - r["base"]) / r["keys"], ".1f")
            row(f"bytes per key after {DRAIN_WRITES} single writes", lambda r: (r["drained"] - r["base"]) / r["keys"],
                ".1f")
            row("MEMORY USAGE of one key (B)", lambda r: r["memory_usage"], ".0f")
            row("RSS over empty (MiB)",
                lambda r: (r["rss"] - r["rss_base"]) / 2**20 if r["rss"] and r["rss_base"] else None, ".1f")
        notes.append(f"memory: Lattice with appendonly no keeps its newest {LOG_WINDOW} applied log entries in "
                     f"memory; a pipelined load (redis-cli --pipe) packs many commands into each entry, so "
                     f"'bytes per key' includes that window and the row after {DRAIN_WRITES} single writes "
                     f"(SET/DEL of one scratch key) shows the data alone. used_memory is what each server's "
                     f"allocator counts (Redis: jemalloc's allocation sizes); see the mem_allocator row.")
    return tp, mem, notes


# --- main --------------------------------------------------------------------------------

def parse_args(argv=None):
    ap = argparse.ArgumentParser(
        description="Lattice vs redis-server in memory: 500 connections, mixed 80/20 over 1M keys, "
                    "memory of small hashes and integer sets.",
        epilog="Servers run one at a time; ratios are Lattice / Redis.")
    ap.add_argument("--only", choices=SECTIONS, help="run one section (default: all)")
    ap.add_argument("--quick", action="store_true",
                    help="smoke test: 1 round, -n 20000 / 100000, 3 s mixed runs (unless given)")
    ap.add_argument("--rounds", type=int, help="rounds per section, medians reported (default 2; --quick 1)")
    ap.add_argument("--pipelines", default="1,16", help="pipeline depths for conns500 and mixed (default 1,16)")
    g = ap.add_argument_group("conns500")
    g.add_argument("--connections", type=int, default=500, help="redis-benchmark -c (default 500)")
    g.add_argument("--requests", type=int, help="redis-benchmark -n per test at -P 1 (default 200000)")
    g.add_argument("--requests-pipelined", type=int, help="redis-benchmark -n per test at -P > 1 (default 1000000)")
    g = ap.add_argument_group("mixed")
    g.add_argument("--keys", type=int, default=1000000, help="key space, preloaded (default 1000000)")
    g.add_argument("--read-ratio", type=float, default=0.8, help="share of GETs (default 0.8)")
    g.add_argument("--mixed-connections", type=int, default=50, help="lattice-bench -c (default 50)")
    g.add_argument("--duration", type=float, help="seconds per mixed run (default 10; --quick 3)")
    g.add_argument("--value-size", type=int, default=3, help="lattice-bench -d, value bytes (default 3)")
    g.add_argument("--threads", type=int, default=1, help="lattice-bench --threads (default 1)")
    g = ap.add_argument_group("memory")
    g.add_argument("--hashes", type=int, default=100000, help="number of hashes (default 100000)")
    g.add_argument("--hash-fields", type=int, default=10, help="fields per hash (default 10)")
    g.add_argument("--sets", type=int, default=100000, help="number of sets (default 100000)")
    g.add_argument("--set-members", type=int, default=10, help="integers per set, at most 1000 (default 10)")
    ap.add_argument("--lattice-bin", default=os.path.join(ROOT, "target", "release", "lattice"))
    ap.add_argument("--bench-bin", default=os.path.join(ROOT, "target", "release", "lattice-bench"))
    ap.add_argument("--no-build", action="store_true",
                    help="do not run cargo build --release first (also BENCH_NO_BUILD=1)")
    ap.add_argument("--markdown", metavar="FILE", help="append the summary as markdown to FILE")
    ap.add_argument("--workdir", help="parent directory of the data dirs (default: system temp dir)")
    ap.add_argument("--keep", action="store_true", help="keep data dirs, server logs and RESP files")
    ap.add_argument("--ready-timeout", type=float, default=60, help="seconds to wait for PING after spawn")
    ap.add_argument("--bench-timeout", type=float, default=900, help="seconds per load generator run")
    args = ap.parse_args(argv)
    q = args.quick
    for k, full, quick in (("rounds", 2, 1), ("requests", 200000, 20000),
                           ("requests_pipelined", 1000000, 100000), ("duration", 10, 3)):
        if getattr(args, k) is None:
            setattr(args, k, quick if q else full)
    try:
        args.pipelines = sorted({int(p) for p in args.pipelines.split(",") if p.strip()})
    except ValueError:
        ap.error(f"--pipelines: expected a comma list of integers, got {args.pipelines!r}")
    if not args.pipelines or min(args.pipelines) < 1:
        ap.error("--pipelines: depths must be >= 1")
    for k in ("rounds", "requests", "requests_pipelined", "connections", "keys", "mixed_connections", "threads",
              "hashes", "hash_fields", "sets", "set_members"):
        if getattr(args, k) < 1:
            ap.error(f"--{k.replace('_', '-')} must be >= 1")
    if args.set_members > 1000:
        ap.error("--set-members: at most 1000 (members are distinct integers below 1000)")
    if args.duration <= 0 or args.value_size < 0 or not 0 <= args.read_ratio <= 1:
        ap.error("--duration must be > 0, --value-size >= 0, --read-ratio in 0..1")
    check_workdir(ap, args)
    return args


def main(argv=None):
    args = parse_args(argv)
    exit_on_sigterm()
    require_tools(["redis-server", "redis-cli", "redis-benchmark"])
    cargo_build(("lattice", "lattice-bench"), args.no_build)
    hint = "cargo build --release, or pass --lattice-bin/--bench-bin"
    args.lattice_bin = require_binary(args.lattice_bin, "Lattice", hint)
    sections = [args.only] if args.only else list(SECTIONS)
    if "mixed" in sections:
        args.bench_bin = require_binary(args.bench_bin, "lattice-bench", hint)
    for b in (args.lattice_bin, args.bench_bin):
        w = stale_warning(b, "rebuild with cargo build --release")
        if w:
            print(w)

    bench = Bench(args)
    cmdline = command_line()
    redis_v = version(["redis-server", "--version"]).split(" sha=")[0]
    lattice_v = version([args.lattice_bin, "--version"])
    machine = (f"{os.cpu_count()} cores, {mem_gib():.0f} GiB RAM, shared by the server under test and the "
               f"load generator (servers run one at a time, never together)")
    loads = {
        "conns500": (f"redis-benchmark -t set,get -c {args.connections} -n {args.requests} -r 100000 --csv"
                     + "".join(f"; -P {p} -n {args.requests_pipelined}" for p in args.pipelines if p > 1)),
        "mixed": (f"lattice-bench -t mixed --read-ratio {args.read_ratio:g} -r {args.keys} "
                  f"-c {args.mixed_connections} -d {args.value_size} --duration {args.duration:g}s "
                  f"--threads {args.threads}, -P {'/'.join(map(str, args.pipelines))}, after an untimed "
                  f"`lattice-bench -t set -r {args.keys} --preload -n 1` (keys key:<n> zero-padded to 12 digits, "
                  f"the ones the mixed run reads; not DEBUG POPULATE, whose key:<n> is unpadded)"),
        "memory": (f"redis-cli --pipe of {args.hashes} `HSET hash:<i> field0 <8 bytes> .. "
                   f"field{args.hash_fields - 1} <8 bytes>` and of {args.sets} `SADD set:<i>` with "
                   f"{args.set_members} distinct integers 0..999; used_memory minus the empty server's"),
    }
    print(f"command: {cmdline}")
    print(f"machine: {machine}")
    print(f"servers: {redis_v} {shlex.join(REDIS_FLAGS)}; {lattice_v} ({args.lattice_bin}) "
          f"{shlex.join(LATTICE_FLAGS)}")
    if "7.0.15" not in redis_v:
        print("note: the reference is Debian's redis-server 7.0.15; this one differs")
    print(f"rounds: {args.rounds}, alternating order; work dir {bench.ws.path}")
    sys.stdout.flush()

    out = {}
    t_start = time.monotonic()

    def rounds():
        for section in sections:
            print(f"\n{section}: {loads[section]}", flush=True)
            out[section] = getattr(bench, section)()

    status = run_guarded(rounds, bench.ws.cleanup)
    if status is not None:
        return status

    tp, mem, notes = summarize(args, out)
    print(f"\nsummary: medians over {args.rounds} round(s); ratio = Lattice / Redis "
          f"(ops/s: higher is better; latency ms and memory: lower is better)")
    if tp:
        print(text_table(TP_HEAD, tp, TP_SPEC, left=2))
    if mem:
        print()
        print(text_table(MEM_HEAD, mem, [None] * 5, left=2))
    for n in notes:
        print(f"\n{n}")
    print(f"\ntotal {time.monotonic() - t_start:.0f}s")
    if args.markdown:
        md = [f"### workloads_compare.py, {timestamp()}", "",
              f"Command: `{cmdline}`", "",
              f"Machine: {machine}. Treat differences under ~15% as noise.", "",
              f"Versions: {redis_v}; {lattice_v}; git {git_rev()}. Redis `{shlex.join(REDIS_FLAGS)}`, "
              f"Lattice `{shlex.join(LATTICE_FLAGS)}`; {args.rounds} round(s) per section, medians, alternating "
              f"order, each round on a fresh server. Ratios are Lattice / Redis.", ""]
        md += [f"- {s}: {loads[s]}" for s in sections] + [""]
        if tp:
            md += [md_table(TP_HEAD, tp, TP_SPEC, left=2), ""]
        if mem:
            md += [md_table(MEM_HEAD, mem, [None] * 5, left=2), ""]
        for n in notes:
            md += [n, ""]
        append_markdown(args.markdown, md)
    return 0


if __name__ == "__main__":
    sys.exit(main())
