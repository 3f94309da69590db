#!/usr/bin/env python3
"""Lattice vs redis-server with durable writes, in memory, and on restart.

Three sections (all by default; pick one with --only):

  durable  Lattice  --appendonly yes --appendfsync always --dir <fresh>
           Redis    --appendonly yes --appendfsync always --save '' --dir <fresh>
  memory   Lattice  --appendonly no
           Redis    --appendonly no --save ''
           Both driven by `redis-benchmark -t set,incr,lpush -c 50 -n N -r 100000 --csv`.
           Each round starts each server on a fresh data dir, benchmarks it and
           shuts it down; the servers never run at the same time and the order
           alternates between rounds. Medians over --rounds, ratios Lattice / Redis.
  restart  Each server (durable settings, fresh dir): DEBUG POPULATE K key 16,
           persist (Lattice: SAVE; Redis: BGREWRITEAOF and wait for it), SHUTDOWN;
           then --rounds times (alternating): spawn on the same dir and time from
           spawn until DBSIZE answers K. Also the data dir size on disk.

Prints a summary table; --markdown FILE appends it (with the command line and
machine note) to FILE. Builds Lattice first (cargo build --release --bin
lattice) unless --no-build or BENCH_NO_BUILD=1.

Usage: python3 bench/durable_compare.py [--quick] [--only durable|memory|restart]
       [--rounds N] [--requests N] [--restart-keys N] [--markdown FILE] ...
Needs redis-server, redis-cli, redis-benchmark (apt-get install redis-server redis-tools).
"""
import argparse
import datetime
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import time

sys.dont_write_bytecode = True  # no bench/__pycache__
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from benchlib import (ROOT, Server, ServerError, cargo_build, check_workdir, dir_size,  # noqa: E402
                      run_guarded, append_markdown, exit_on_sigterm, fmt, fmt_bytes,
                      free_port, fs_type, git_rev, md_table, med, mem_gib, parse_info, ratio,
                      run_redis_benchmark, stale_warning, text_table, version)

SERVERS = ("redis", "lattice")
LABEL = {"redis": "Redis", "lattice": "Lattice"}
MODES = {
    # section -> (redis flags, lattice flags); --port and --dir are added per start.
    "durable": (["--appendonly", "yes", "--appendfsync", "always", "--save", ""],
                ["--appendonly", "yes", "--appendfsync", "always"]),
    "memory": (["--appendonly", "no", "--save", ""],
               ["--appendonly", "no"]),
}
MODES["restart"] = MODES["durable"]


class Bench:
    def __init__(self, args):
        self.args = args
        self.work = tempfile.mkdtemp(prefix="lattice-durable-", dir=args.workdir)
        self.current = None  # the one server running now, if any
        self.seq = 0
        self.logs = 0

    # --- servers -------------------------------------------------------------

    def argv(self, name, section, port, data):
        redis_flags, lattice_flags = MODES[section]
        if name == "redis":
            return (["redis-server", "--port", str(port), "--dir", data, "--enable-debug-command", "yes"]
                    + redis_flags)
        argv = [self.args.lattice_bin, "--port", str(port), "--dir", data, "--loglevel", "warning"] + lattice_flags
        if section == "restart":
            argv += ["--enable-debug-command", "yes"]
        return argv

    def fresh_dir(self, tag):
        self.seq += 1
        path = os.path.join(self.work, f"{self.seq:03d}-{tag}")
        os.makedirs(path)
        return path

    def server(self, name, section, data, tag):
        port = free_port()
        self.logs += 1
        log = os.path.join(self.work, f"log-{self.logs:03d}-{tag}.log")
        s = Server(LABEL[name], self.argv(name, section, port, data), port, log)
        self.current = s
        return s

    def stop(self, s, *mode):
        try:
            rc, _ = s.shutdown(*mode, timeout=self.args.shutdown_timeout)
        finally:
            s.kill()
            self.current = None
        if rc != 0:
            raise ServerError(f"{s.name} exited with code {rc} after SHUTDOWN {' '.join(mode)}; "
                              f"log {s.log_path}")

    def cleanup(self):
        if self.current is not None:
            self.current.kill()
        if self.args.keep:
            print(f"kept work dir {self.work}")
        else:
            shutil.rmtree(self.work, ignore_errors=True)

    def check_config(self, s, section):
        """Warn (do not fail) when CONFIG GET disagrees with the flags we passed."""
        want = {"appendonly": "yes" if section in ("durable", "restart") else "no"}
        if want["appendonly"] == "yes":
            want["appendfsync"] = "always"
        for key, value in want.items():
            try:
                got = s.cmd("CONFIG", "GET", key, timeout=10)
            except ServerError as e:
                print(f"  warning: {s.name}: CONFIG GET {key} failed: {e}")
                continue
            got = dict(zip(got[::2], got[1::2])) if isinstance(got, list) else {}
            if got.get(key) != value:
                print(f"  warning: {s.name}: CONFIG GET {key} = {got.get(key)!r}, expected {value!r}")

    # --- throughput sections ---------------------------------------------------

    def throughput(self, section):
        a = self.args
        results = {n: {} for n in a.servers}
        disk = {n: [] for n in a.servers}
        keys = {n: [] for n in a.servers}
        for r in range(a.rounds):
            order = list(a.servers) if r % 2 == 0 else list(reversed(a.servers))
            for name in order:
                data = self.fresh_dir(f"{section}-{name}-r{r + 1}")
                s = self.server(name, section, data, f"{section}-{name}-r{r + 1}")
                try:
                    s.start(timeout=a.ready_timeout)
                    if r == 0:
                        self.check_config(s, section)
                    t0 = time.monotonic()
                    rows = run_redis_benchmark(s, a.tests, a.requests, a.clients, a.pipeline,
                                               timeout=a.bench_timeout)
                    elapsed = time.monotonic() - t0
                    keys[name].append(s.cmd("DBSIZE", timeout=60))
                    print(f"  round {r + 1} {LABEL[name]:<8} "
                          + "  ".join(f"{t} {v['rps']:.0f}/s p99 {v['p99']:.3f}ms" for t, v in rows.items())
                          + f"  ({elapsed:.1f}s, DBSIZE {keys[name][-1]})", flush=True)
                    for test, row in rows.items():
                        results[name].setdefault(test, []).append(row)
                    self.stop(s, "NOSAVE")
                finally:
                    if s.proc is not None:
                        s.kill()
                    self.current = None
                if section == "durable":
                    disk[name].append(dir_size(data))
                if not a.keep:
                    shutil.rmtree(data, ignore_errors=True)
        return {"results": results, "disk": disk, "keys": keys}

    # --- restart section ---------------------------------------------------------

    def populate(self, name, n, data, tag):
        """Start fresh, DEBUG POPULATE n, persist, SHUTDOWN. Returns timings and dir size."""
        a = self.args
        s = self.server(name, "restart", data, tag)
        try:
            s.start(timeout=a.ready_timeout)
            self.check_config(s, "restart")
            t0 = time.monotonic()
            reply = s.cmd("DEBUG", "POPULATE", n, "key", 16, timeout=a.load_timeout)
            if reply != "OK":
                raise ServerError(f"{s.name}: DEBUG POPULATE replied {reply!r}")
            t_pop = time.monotonic() - t0
            size = s.cmd("DBSIZE", timeout=60)
            if size != n:
                raise ServerError(f"{s.name}: DBSIZE {size} after DEBUG POPULATE {n}")
            t0 = time.monotonic()
            if name == "redis":
                # DEBUG POPULATE is not propagated to the AOF: rewrite it (RDB-preamble base file).
                reply = s.cmd("BGREWRITEAOF", timeout=60)
                if "rewriting" not in str(reply):
                    raise ServerError(f"{s.name}: BGREWRITEAOF replied {reply!r}")

                def rewritten(c):
                    info = c.cmd("INFO", "persistence")
                    fields = parse_info(info)
                    if fields.get("aof_rewrite_in_progress") == "0" and fields.get("aof_rewrite_scheduled") == "0":
                        return fields.get("aof_last_bgrewrite_status", "?")
                    return None
                status, _ = s.wait_until(rewritten, a.load_timeout, "BGREWRITEAOF to finish")
                if status != "ok":
                    raise ServerError(f"{s.name}: aof_last_bgrewrite_status:{status}")
            else:
                reply = s.cmd("SAVE", timeout=a.load_timeout)
                if reply != "OK":
                    raise ServerError(f"{s.name}: SAVE replied {reply!r}")
            t_persist = time.monotonic() - t0
            rc, t_shut = s.shutdown(timeout=a.shutdown_timeout)
            if rc != 0:
                raise ServerError(f"{s.name} exited with code {rc} after SHUTDOWN; log {s.log_path}")
        finally:
            s.kill()
            self.current = None
        return {"populate_s": t_pop, "persist_s": t_persist, "shutdown_s": t_shut, "disk": dir_size(data)}

    def restart_once(self, name, n, data, tag):
        a = self.args
        s = self.server(name, "restart", data, tag)
        try:
            last = [None]

            def loaded(c):
                last[0] = c.cmd("DBSIZE")
                return True if last[0] == n else None
            s.spawn()
            try:
                _, secs = s.wait_until(loaded, a.load_timeout, f"DBSIZE == {n} after restart")
            except ServerError as e:
                raise ServerError(f"{e}\n  last DBSIZE reply: {last[0]!r}") from None
            strlen = s.cmd("STRLEN", "key:0", timeout=60)
            if strlen != 16:
                print(f"  warning: {s.name}: STRLEN key:0 = {strlen!r} after restart, expected 16")
            self.stop(s)
        finally:
            s.kill()
            self.current = None
        return secs

    def restart(self, n):
        a = self.args
        dirs, info, times = {}, {}, {name: [] for name in a.servers}
        for name in a.servers:
            dirs[name] = self.fresh_dir(f"restart-{name}")
            info[name] = self.populate(name, n, dirs[name], f"restart-{name}-populate")
            i = info[name]
            print(f"  {LABEL[name]:<8} populate {i['populate_s']:.2f}s, "
                  f"{'SAVE' if name == 'lattice' else 'BGREWRITEAOF'} {i['persist_s']:.2f}s, "
                  f"shutdown {i['shutdown_s']:.2f}s, data dir {fmt_bytes(i['disk'][1])}", flush=True)
        for r in range(a.rounds):
            order = list(a.servers) if r % 2 == 0 else list(reversed(a.servers))
            for name in order:
                secs = self.restart_once(name, n, dirs[name], f"restart-{name}-r{r + 1}")
                times[name].append(secs)
                print(f"  round {r + 1} {LABEL[name]:<8} restart to DBSIZE {n}: {secs:.3f}s", flush=True)
        for name in a.servers:
            info[name]["restart_s"] = times[name]
            info[name]["disk_after"] = dir_size(dirs[name])
        return info

    # --- preflight -------------------------------------------------------------------

    def preflight(self, sections):
        """Fail fast (before long runs) if a binary rejects its flags or lacks a command."""
        for name in self.args.servers:
            for section in sections:
                data = self.fresh_dir(f"preflight-{section}-{name}")
                if section == "restart":
                    self.populate(name, 10, data, f"preflight-restart-{name}-populate")
                    self.restart_once(name, 10, data, f"preflight-restart-{name}-load")
                else:
                    s = self.server(name, section, data, f"preflight-{section}-{name}")
                    try:
                        s.start(timeout=self.args.ready_timeout)
                        s.cmd("SET", "preflight", "1", timeout=30)
                        self.stop(s, "NOSAVE")
                    finally:
                        s.kill()
                        self.current = None
                shutil.rmtree(data, ignore_errors=True)


# --- formatting --------------------------------------------------------------------

def summarize(args, out):
    """Rows of the summary: throughput rows and restart rows (medians)."""
    tp = []
    for section in ("durable", "memory"):
        if section not in out:
            continue
        res = out[section]["results"]
        tests = list(next((res[n] for n in args.servers if res[n]), {}).keys())
        for test in tests:
            m = {n: {k: med([x[k] for x in res[n].get(test, [])]) for k in ("rps", "p50", "p99")}
                 for n in SERVERS if n in args.servers}
            g = lambda n, k: m.get(n, {}).get(k)
            tp.append([section, test,
                       g("redis", "rps"), g("lattice", "rps"), ratio(g("lattice", "rps"), g("redis", "rps")),
                       g("redis", "p50"), g("lattice", "p50"), ratio(g("lattice", "p50"), g("redis", "p50")),
                       g("redis", "p99"), g("lattice", "p99"), ratio(g("lattice", "p99"), g("redis", "p99"))])
    rs = []
    if "restart" in out:
        info = out["restart"]
        g = lambda n, k: info[n][k] if n in info else None
        rt = {n: med(info[n]["restart_s"]) if n in info else None for n in SERVERS}
        rs.append([f"restart to DBSIZE {args.restart_keys} (s)", rt["redis"], rt["lattice"],
                   ratio(rt["lattice"], rt["redis"]), ".3f"])
        persist = {n: g(n, "persist_s") for n in SERVERS}
        rs.append(["persist: Redis BGREWRITEAOF / Lattice SAVE (s)", persist["redis"], persist["lattice"],
                   ratio(persist["lattice"], persist["redis"]), ".2f"])
        d = {n: info[n]["disk"][1] / 2**20 if n in info else None for n in SERVERS}
        rs.append([f"data dir, {args.restart_keys} keys (MiB on disk)", d["redis"], d["lattice"],
                   ratio(d["lattice"], d["redis"]), ".1f"])
    if "durable" in out:
        disk = out["durable"]["disk"]
        d = {n: med([x[1] for x in disk[n]]) / 2**20 if disk.get(n) else None for n in SERVERS}
        rs.append(["data dir after durable run (MiB on disk)", d["redis"], d["lattice"],
                   ratio(d["lattice"], d["redis"]), ".1f"])
    return tp, rs


TP_HEAD = ["section", "test", "redis ops/s", "lattice ops/s", "ratio", "redis p50", "lat p50", "p50 ratio",
           "redis p99", "lat p99", "p99 ratio"]
TP_SPEC = [None, None, ".0f", ".0f", ".2f", ".3f", ".3f", ".2f", ".3f", ".3f", ".2f"]
RS_HEAD = ["metric", "redis", "lattice", "ratio"]


def _rs_cells(rs):
    """Restart/disk rows carry their own format spec (last item): format them here."""
    return [[r[0], fmt(r[1], r[4]), fmt(r[2], r[4]), fmt(r[3], ".2f")] for r in rs]


def text_tables(tp, rs):
    parts = []
    if tp:
        parts.append(text_table(TP_HEAD, tp, TP_SPEC, left=2))
    if rs:
        parts.append(text_table(RS_HEAD, _rs_cells(rs), [None] * 4))
    return "\n\n".join(parts)


def md_tables(tp, rs):
    parts = []
    if tp:
        parts.append(md_table(TP_HEAD, tp, TP_SPEC, left=2))
    if rs:
        parts.append(md_table(RS_HEAD, _rs_cells(rs), [None] * 4))
    return "\n\n".join(parts)


# --- main -----------------------------------------------------------------------------

def parse_args(argv=None):
    ap = argparse.ArgumentParser(
        description="Lattice vs redis-server: durable writes (appendfsync always), in-memory, restart time.",
        epilog="Servers run one at a time; ratios are Lattice / Redis.")
    ap.add_argument("--only", choices=("durable", "memory", "restart"), help="run one section (default: all)")
    ap.add_argument("--quick", action="store_true",
                    help="smoke test: --requests 10000 --restart-keys 100000 --rounds 1 unless given")
    ap.add_argument("--rounds", type=int, help="rounds per section, medians reported (default 2)")
    ap.add_argument("--requests", type=int, help="redis-benchmark -n per test (default 100000)")
    ap.add_argument("--clients", type=int, default=50, help="redis-benchmark -c (default 50)")
    ap.add_argument("--pipeline", type=int, default=1, help="redis-benchmark -P (default 1)")
    ap.add_argument("--tests", default="set,incr,lpush", help="redis-benchmark -t (default set,incr,lpush)")
    ap.add_argument("--restart-keys", type=int, help="keys for the restart test (default 1000000)")
    ap.add_argument("--servers", default="redis,lattice",
                    help="comma list of servers to run, e.g. 'redis' to run only the Redis half (default both)")
    ap.add_argument("--lattice-bin", default=os.path.join(ROOT, "target", "release", "lattice"),
                    help="Lattice binary (default target/release/lattice)")
    ap.add_argument("--no-build", action="store_true",
                    help="do not run cargo build --release --bin lattice first (also BENCH_NO_BUILD=1)")
    ap.add_argument("--markdown", metavar="FILE", help="append the summary as markdown to FILE")
    ap.add_argument("--workdir", help="parent directory for the fresh data dirs (default: system temp dir)")
    ap.add_argument("--keep", action="store_true", help="keep data dirs and server logs")
    ap.add_argument("--ready-timeout", type=float, default=60, help="seconds to wait for PING after spawn")
    ap.add_argument("--load-timeout", type=float, default=600,
                    help="seconds to wait for restart loading, DEBUG POPULATE, SAVE, BGREWRITEAOF")
    ap.add_argument("--shutdown-timeout", type=float, default=300, help="seconds to wait for exit after SHUTDOWN")
    ap.add_argument("--bench-timeout", type=float, default=1800, help="seconds per redis-benchmark run")
    args = ap.parse_args(argv)
    quick = args.quick
    if args.rounds is None:
        args.rounds = 1 if quick else 2
    if args.requests is None:
        args.requests = 10000 if quick else 100000
    if args.restart_keys is None:
        args.restart_keys = 100000 if quick else 1000000
    servers = [s.strip().lower() for s in args.servers.split(",") if s.strip()]
    bad = [s for s in servers if s not in SERVERS]
    if bad or not servers or len(set(servers)) != len(servers):
        ap.error(f"--servers: expected a comma list of {', '.join(SERVERS)}, got {args.servers!r}")
    args.servers = [s for s in SERVERS if s in servers]  # fixed order: redis first in round 1
    for k in ("rounds", "requests", "clients", "pipeline", "restart_keys"):
        if getattr(args, k) < 1:
            ap.error(f"--{k.replace('_', '-')} must be >= 1")
    check_workdir(ap, args)
    return args


def main(argv=None):
    args = parse_args(argv)
    exit_on_sigterm()
    needed = ["redis-benchmark", "redis-cli"] + (["redis-server"] if "redis" in args.servers else [])
    for tool in needed:
        if not shutil.which(tool):
            sys.exit(f"error: {tool} not found on PATH (apt-get install redis-server redis-tools)")
    if "lattice" in args.servers:
        args.lattice_bin = os.path.abspath(args.lattice_bin)
        cargo_build(("lattice",), args.no_build)
        if not os.path.isfile(args.lattice_bin) or not os.access(args.lattice_bin, os.X_OK):
            sys.exit(f"error: Lattice binary {args.lattice_bin} not found or not executable "
                     f"(cargo build --release, or --lattice-bin PATH, or --servers redis)")
        w = stale_warning(args.lattice_bin)
        if w:
            print(w)
    sections = [args.only] if args.only else ["durable", "memory", "restart"]

    bench = Bench(args)
    cores = os.cpu_count()
    fstype = fs_type(bench.work)
    redis_v = version(["redis-server", "--version"]) if "redis" in args.servers else ""
    lattice_v = version([args.lattice_bin, "--version"]) if "lattice" in args.servers else ""
    cmdline = shlex.join(["python3", os.path.relpath(os.path.abspath(sys.argv[0]), os.getcwd())] + sys.argv[1:])
    load = (f"redis-benchmark -t {args.tests} -c {args.clients} -n {args.requests} -r 100000"
            + (f" -P {args.pipeline}" if args.pipeline != 1 else "") + " --csv")
    machine = (f"{cores} cores, {mem_gib():.0f} GiB RAM, shared between the server under test and "
               f"redis-benchmark (servers run one at a time, never together); data dirs on {fstype}")
    print(f"command: {cmdline}")
    print(f"machine: {machine}")
    print(f"servers: {redis_v.split(' sha=')[0] if redis_v else '-'}; "
          + (f"{lattice_v} ({args.lattice_bin})" if lattice_v else "-"))
    print(f"load: {load}; {args.rounds} round(s), alternating order; restart keys {args.restart_keys}")
    print(f"work dir: {bench.work}")
    if fstype in ("tmpfs", "ramfs"):
        print("warning: the data dirs are on tmpfs, where fsync costs nothing; use --workdir on a real disk")
    sys.stdout.flush()

    out = {}

    def rounds():
        print("\npreflight (each server starts with each flag set; restart flow with 10 keys)", flush=True)
        bench.preflight(sections)
        for section in sections:
            if section == "restart":
                print(f"\nrestart: {args.restart_keys} keys (DEBUG POPULATE {args.restart_keys} key 16)", flush=True)
                out["restart"] = bench.restart(args.restart_keys)
            else:
                r, l = MODES[section]
                print(f"\n{section}: redis-server {shlex.join(r)} | lattice {shlex.join(l)}", flush=True)
                out[section] = bench.throughput(section)

    status = run_guarded(rounds, bench.cleanup)
    if status is not None:
        return status

    tp, rs = summarize(args, out)
    print(f"\nsummary: medians over {args.rounds} round(s); ratio = Lattice / Redis "
          f"(ops/s: higher is better; latency ms, restart s, disk: lower is better)")
    print(text_tables(tp, rs))
    if args.markdown:
        date = datetime.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z")
        md = [f"### durable_compare.py, {date}", "",
              f"Command: `{cmdline}`", "",
              f"Load: `{load}`, {args.rounds} round(s) per section, medians, alternating order; "
              f"each round starts the server on a fresh data dir.", "",
              f"Machine: {machine}. Treat differences under ~15% as noise.", "",
              f"Versions: {redis_v.split(' sha=')[0] if redis_v else '-'}; {lattice_v or '-'}; "
              f"git {git_rev()}.", "",
              "Durable: Redis `--appendonly yes --appendfsync always --save ''`, Lattice "
              "`--appendonly yes --appendfsync always`. Memory: Redis `--appendonly no --save ''`, Lattice "
              "`--appendonly no`. Restart: durable settings, `DEBUG POPULATE N key 16`, then Redis "
              "`BGREWRITEAOF` / Lattice `SAVE`, `SHUTDOWN`, time from spawn until `DBSIZE` = N. "
              "Ratios are Lattice / Redis.", "",
              md_tables(tp, rs), ""]
        append_markdown(args.markdown, md)
    return 0


if __name__ == "__main__":
    sys.exit(main())
