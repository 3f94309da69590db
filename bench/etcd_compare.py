#!/usr/bin/env python3
"""Lattice vs etcd, single node, both durable (fsync per commit), driven by
the same load generator (crates/lattice-bench) with the same connections.

  Lattice  --appendonly yes --appendfsync always   (every write through the
           openraft log, fsynced before the reply)
  etcd     Debian's etcd, one member, defaults (its WAL is fsynced on every
           commit), data dir next to Lattice's on the same file system

Workloads (each `--duration` seconds, C connections, P requests in flight
per connection, keys chosen uniformly from K, values of B bytes):

  write    Lattice SET  vs  etcd put
  read     Lattice GET  vs  etcd range, serializable and linearizable
           (the key space is written first with --preload, untimed)

Each round starts each server on a fresh data dir, runs the workloads and
stops it; the servers never run together and the order alternates
(A B, B A, ...). Prints medians over the rounds of ops/s, p50 and p99 and
the ratios Lattice / etcd, plus CPU time per request of each server and of
the load generator.

By default it builds what it runs first (release):
  cargo build --release --bin lattice
  cargo build --release -p lattice-bench --features etcd
etcd-client's build script needs protoc: $PROTOC if set, else the binary
shipped by the protoc-bin-vendored crate, whose path
`cargo run --release -q -p lattice-bench --features protoc --bin lattice-bench-protoc`
prints. --no-build skips all of that.

Usage: python3 bench/etcd_compare.py [--rounds N] [--duration S]
       [--connections C] [--pipeline P] [--keys K] [--value-size B]
       [--reads both|serializable|linearizable|none] [--markdown FILE] ...
Needs etcd (apt-get install etcd-server).
"""
import argparse
import datetime
import json
import os
import resource
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

sys.dont_write_bytecode = True  # no bench/__pycache__
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from benchlib import (ROOT, POLL, Server, ServerError, check_workdir, exit_on_sigterm,  # noqa: E402
                      run_guarded, append_markdown, free_port, fs_type,
                      git_rev, md_table, med, mem_gib, ratio, run_lattice_bench, stale_warning, tail,
                      text_table, version)

LATTICE_FLAGS = ["--appendonly", "yes", "--appendfsync", "always"]
CLK_TCK = os.sysconf("SC_CLK_TCK")


class EtcdServer(Server):
    """One etcd member on loopback; ready when /health says so."""

    def __init__(self, binary, port, peer_port, data, log_path):
        argv = [binary, "--name", "bench",
                "--data-dir", data,
                "--listen-client-urls", f"http://127.0.0.1:{port}",
                "--advertise-client-urls", f"http://127.0.0.1:{port}",
                "--listen-peer-urls", f"http://127.0.0.1:{peer_port}",
                "--initial-advertise-peer-urls", f"http://127.0.0.1:{peer_port}",
                "--initial-cluster", f"bench=http://127.0.0.1:{peer_port}",
                "--initial-cluster-state", "new",
                "--logger", "zap", "--log-level", "warn"]
        super().__init__("etcd", argv, port, log_path)

    def start(self, timeout=60):
        self.spawn()
        deadline = time.monotonic() + timeout
        last = None
        while True:
            if self.proc.poll() is not None:
                self._died("while waiting for /health")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/health", timeout=2) as r:
                    body = json.loads(r.read().decode() or "{}")
                    if str(body.get("health")).lower() == "true":
                        return self
                    last = body
            except (urllib.error.URLError, OSError, ValueError) as e:
                last = e
            if time.monotonic() > deadline:
                raise ServerError(f"etcd: not healthy after {timeout}s (last: {last}); "
                                  f"log {self.log_path}:\n{tail(self.log_path)}")
            time.sleep(POLL * 10)

    def stop(self):
        """SIGTERM (etcd stops cleanly on it) and wait."""
        self.kill()
        rc = self.proc.returncode
        # Go exits 0 on SIGTERM after a clean stop; killed by the signal is -15.
        if rc not in (0, -15):
            raise ServerError(f"etcd exited with code {rc}; log {self.log_path}")


def proc_cpu(pid):
    """utime + stime of a live process, in seconds (0 if gone)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLK_TCK
    except (OSError, IndexError, ValueError):
        return 0.0


class Bench:
    def __init__(self, args):
        self.args = args
        self.work = tempfile.mkdtemp(prefix="lattice-etcd-", dir=args.workdir)
        self.current = None
        self.seq = 0
        self.preloads = []

    def fresh_dir(self, tag):
        self.seq += 1
        path = os.path.join(self.work, f"{self.seq:03d}-{tag}")
        os.makedirs(path)
        return path

    def cleanup(self):
        if self.current is not None:
            self.current.kill()
            self.current = None
        if self.args.keep:
            print(f"kept work dir {self.work}")
        else:
            shutil.rmtree(self.work, ignore_errors=True)

    def start(self, name, tag):
        data = self.fresh_dir(tag)
        log = os.path.join(self.work, f"{self.seq:03d}-{tag}.log")
        if name == "lattice":
            port = free_port()
            s = Server("Lattice", [self.args.lattice_bin, "--port", str(port), "--dir", data,
                                   "--loglevel", "warning"] + LATTICE_FLAGS, port, log)
        else:
            port = free_port()
            peer = free_port()
            while peer == port:
                peer = free_port()
            s = EtcdServer(self.args.etcd_bin, port, peer, os.path.join(data, "etcd"), log)
        self.current = s
        s.start(timeout=self.args.ready_timeout)
        return s, data

    def stop(self, s):
        try:
            if isinstance(s, EtcdServer):
                s.stop()
            else:
                rc, _ = s.shutdown("NOSAVE", timeout=120)
                if rc != 0:
                    raise ServerError(f"Lattice exited with code {rc} after SHUTDOWN NOSAVE; log {s.log_path}")
        finally:
            s.kill()
            self.current = None

    def load(self, server, protocol, workload, preload=False, etcd_read=None):
        """Runs lattice-bench against server for --duration seconds; returns its JSON
        report plus the CPU time per request of the server and of lattice-bench.
        preload: first write the whole key space in a separate, unmeasured run."""
        a = self.args
        common = [a.bench_bin, "--protocol", protocol, "--port", str(server.port), "-c", str(a.connections),
                  "-P", str(a.pipeline), "-r", str(a.keys), "-d", str(a.value_size), "--threads", str(a.threads)]
        if preload:
            write = "set" if protocol == "resp" else "put"
            rep = self.run_bench(server, common + ["-t", write, "-n", "1", "--preload"])
            self.preloads.append(rep["preload"]["seconds"])
        argv = common + ["-t", workload, "--duration", f"{a.duration:g}s"]
        if etcd_read:
            argv += ["--etcd-read", etcd_read]
        before_child = resource.getrusage(resource.RUSAGE_CHILDREN)
        server_cpu0 = proc_cpu(server.proc.pid)
        report = self.run_bench(server, argv)
        server_cpu = proc_cpu(server.proc.pid) - server_cpu0
        after_child = resource.getrusage(resource.RUSAGE_CHILDREN)
        client_cpu = (after_child.ru_utime + after_child.ru_stime) - (before_child.ru_utime + before_child.ru_stime)
        reqs = max(1, report["requests"])
        report["server_cpu_us_per_op"] = server_cpu / reqs * 1e6
        report["client_cpu_us_per_op"] = client_cpu / reqs * 1e6
        report["preloaded"] = preload
        return report

    def run_bench(self, server, argv):
        return run_lattice_bench(server, argv, self.args.bench_timeout)

    def round_server(self, name, r):
        """All workloads against one fresh server; returns {test: report}."""
        a = self.args
        s, data = self.start(name, f"{name}-r{r + 1}")
        res = {}
        try:
            if name == "lattice":
                res["write"] = self.load(s, "resp", "set")
                if a.reads != "none":
                    res["read"] = self.load(s, "resp", "get", preload=True)
            else:
                res["write"] = self.load(s, "etcd", "put")
                modes = {"both": ["serializable", "linearizable"], "none": []}.get(a.reads, [a.reads])
                for i, mode in enumerate(modes):
                    res[f"read-{mode}"] = self.load(s, "etcd", "range", preload=(i == 0), etcd_read=mode)
            self.stop(s)
        finally:
            if s.proc is not None:
                s.kill()
            self.current = None
            if not a.keep:
                shutil.rmtree(data, ignore_errors=True)
        for test, rep in res.items():
            lat = rep["latency_ms"]
            pre = " (after preload)" if rep.get("preloaded") else ""
            misses = f", {rep['misses']} misses" if rep.get("misses") else ""
            print(f"  round {r + 1} {name:<8} {test:<19} {rep['ops_per_sec']:>9.0f} ops/s  "
                  f"p50 {lat['p50']:.3f}  p99 {lat['p99']:.3f}  p99.9 {lat['p999']:.3f} ms  "
                  f"cpu/op server {rep['server_cpu_us_per_op']:.1f} us client {rep['client_cpu_us_per_op']:.1f} us"
                  f"{pre}{misses}", flush=True)
        return res


# --- summary -------------------------------------------------------------------------

HEAD = ["workload", "lattice", "etcd", "lattice ops/s", "etcd ops/s", "ratio", "lattice p50", "etcd p50",
        "p50 ratio", "lattice p99", "etcd p99", "p99 ratio"]
SPEC = [None, None, None, ".0f", ".0f", ".2f", ".3f", ".3f", ".2f", ".3f", ".3f", ".2f"]
CPU_HEAD = ["workload", "lattice server", "etcd server", "lattice-bench vs lattice", "lattice-bench vs etcd"]


def summarize(args, results):
    """Rows of medians: (lattice test, etcd test, label, lattice cmd, etcd cmd)."""
    pairs = [("write", "write", "durable write", "SET", "put")]
    if args.reads != "none":
        modes = ["serializable", "linearizable"] if args.reads == "both" else [args.reads]
        for m in modes:
            pairs.append(("read", f"read-{m}", f"read ({m} range)", "GET", f"range ({m})"))
    rows, cpu = [], []
    for lt, et, label, lcmd, ecmd in pairs:
        L = [r[lt] for r in results["lattice"] if lt in r]
        E = [r[et] for r in results["etcd"] if et in r]
        m = {}
        for key, reps in (("l", L), ("e", E)):
            m[key] = {"ops": med([x["ops_per_sec"] for x in reps]),
                      "p50": med([x["latency_ms"]["p50"] for x in reps]),
                      "p99": med([x["latency_ms"]["p99"] for x in reps]),
                      "scpu": med([x["server_cpu_us_per_op"] for x in reps]),
                      "ccpu": med([x["client_cpu_us_per_op"] for x in reps])}
        rows.append([label, lcmd, ecmd, m["l"]["ops"], m["e"]["ops"], ratio(m["l"]["ops"], m["e"]["ops"]),
                     m["l"]["p50"], m["e"]["p50"], ratio(m["l"]["p50"], m["e"]["p50"]),
                     m["l"]["p99"], m["e"]["p99"], ratio(m["l"]["p99"], m["e"]["p99"])])
        cpu.append([label, m["l"]["scpu"], m["e"]["scpu"], m["l"]["ccpu"], m["e"]["ccpu"]])
    return rows, cpu


# --- main ------------------------------------------------------------------------------

def cargo(argv, env=None):
    print(f"$ {shlex.join(argv)}", flush=True)
    subprocess.run(argv, cwd=ROOT, check=True, env=env)


def build(args):
    if not shutil.which("cargo"):
        sys.exit("error: cargo not found (or pass --no-build with --lattice-bin and --bench-bin)")
    cargo(["cargo", "build", "--release", "--bin", "lattice"])
    env = dict(os.environ)
    if not env.get("PROTOC"):
        # etcd-client's build script runs protoc; a dependent crate cannot pass it one, so take the
        # binary that the protoc-bin-vendored crate ships (crates/lattice-bench/Cargo.toml).
        cmd = ["cargo", "run", "--release", "-q", "-p", "lattice-bench", "--features", "protoc",
               "--bin", "lattice-bench-protoc"]
        print(f"$ {shlex.join(cmd)}", flush=True)
        protoc = subprocess.run(cmd, cwd=ROOT, check=True, capture_output=True, text=True).stdout.strip()
        if not os.path.isfile(protoc):
            sys.exit(f"error: lattice-bench-protoc printed {protoc!r}, not a file")
        env["PROTOC"] = protoc
    print(f"PROTOC={env['PROTOC']}")
    cargo(["cargo", "build", "--release", "-p", "lattice-bench", "--features", "etcd"], env=env)


def parse_args(argv=None):
    ap = argparse.ArgumentParser(
        description="Lattice vs etcd, single node, fsync per commit: SET vs put, GET vs range.",
        epilog="Servers run one at a time; ratios are Lattice / etcd.")
    ap.add_argument("--rounds", type=int, default=3, help="rounds, medians reported (default 3)")
    ap.add_argument("--duration", type=float, default=10, help="seconds per workload (default 10)")
    ap.add_argument("--connections", type=int, default=50, help="connections, both servers (default 50)")
    ap.add_argument("--pipeline", type=int, default=1,
                    help="requests in flight per connection (RESP batch / concurrent gRPC calls; default 1)")
    ap.add_argument("--keys", type=int, default=10000, help="key space (default 10000)")
    ap.add_argument("--value-size", type=int, default=16, help="value bytes (default 16)")
    ap.add_argument("--threads", type=int, default=1, help="lattice-bench runtime threads (default 1)")
    ap.add_argument("--reads", choices=("both", "serializable", "linearizable", "none"), default="both",
                    help="etcd range consistency to compare GET with (default both)")
    ap.add_argument("--lattice-bin", default=os.path.join(ROOT, "target", "release", "lattice"))
    ap.add_argument("--bench-bin", default=os.path.join(ROOT, "target", "release", "lattice-bench"))
    ap.add_argument("--etcd-bin", default="etcd")
    ap.add_argument("--no-build", action="store_true", help="do not run cargo build first")
    ap.add_argument("--markdown", metavar="FILE", help="append the summary as markdown to FILE")
    ap.add_argument("--json", metavar="FILE", help="write every lattice-bench report to FILE")
    ap.add_argument("--workdir", help="parent directory of the data dirs (default: system temp dir)")
    ap.add_argument("--keep", action="store_true", help="keep data dirs and server logs")
    ap.add_argument("--ready-timeout", type=float, default=60)
    ap.add_argument("--bench-timeout", type=float, default=900, help="seconds per lattice-bench run")
    args = ap.parse_args(argv)
    for k in ("rounds", "connections", "pipeline", "keys", "threads"):
        if getattr(args, k) < 1:
            ap.error(f"--{k.replace('_', '-')} must be >= 1")
    if args.duration <= 0 or args.value_size < 0:
        ap.error("--duration must be > 0 and --value-size >= 0")
    check_workdir(ap, args)
    return args


def main(argv=None):
    args = parse_args(argv)
    exit_on_sigterm()
    etcd = shutil.which(args.etcd_bin)
    if not etcd:
        sys.exit(f"error: {args.etcd_bin} not found on PATH; install Debian's etcd with:\n"
                 f"  apt-get install etcd-server\n"
                 f"(the packaged service is not needed: this script starts its own etcd; "
                 f"`systemctl disable --now etcd` if it runs)")
    args.etcd_bin = etcd
    if not args.no_build:
        build(args)
    for label, path in (("Lattice", "lattice_bin"), ("lattice-bench", "bench_bin")):
        p = os.path.abspath(getattr(args, path))
        setattr(args, path, p)
        if not os.path.isfile(p) or not os.access(p, os.X_OK):
            sys.exit(f"error: {label} binary {p} not found (run without --no-build)")
        w = stale_warning(p, "rebuild: run without --no-build") if args.no_build else None
        if w:
            print(w)
    probe = subprocess.run([args.bench_bin, "--protocol", "etcd", "-n", "1", "-c", "1", "--port", "1",
                            "--connect-timeout", "2s"],
                           capture_output=True, text=True)
    if "without etcd support" in probe.stderr:
        sys.exit(f"error: {args.bench_bin} was built without the etcd feature "
                 f"(cargo build --release -p lattice-bench --features etcd, or run without --no-build)")

    bench = Bench(args)
    fstype = fs_type(bench.work)
    etcd_v = version([args.etcd_bin, "--version"]).splitlines()
    etcd_v = etcd_v[0] if etcd_v else "?"
    lattice_v = version([args.lattice_bin, "--version"])
    cmdline = shlex.join(["python3", os.path.relpath(os.path.abspath(sys.argv[0]), os.getcwd())] + sys.argv[1:])
    load = (f"lattice-bench -c {args.connections} -P {args.pipeline} -r {args.keys} -d {args.value_size} "
            f"--duration {args.duration:g}s --threads {args.threads}")
    machine = (f"{os.cpu_count()} cores, {mem_gib():.0f} GiB RAM, shared by the server under test and "
               f"lattice-bench (servers run one at a time); data dirs on {fstype} ({bench.work})")
    print(f"command: {cmdline}")
    print(f"machine: {machine}")
    print(f"servers: {lattice_v}; {etcd_v}")
    print(f"lattice: {shlex.join(LATTICE_FLAGS)}; etcd: single member, defaults (fsync per commit)")
    print(f"load: {load}; {args.rounds} round(s), alternating order")
    if fstype in ("tmpfs", "ramfs"):
        print("warning: the data dirs are on tmpfs, where fsync costs nothing; use --workdir on a real disk")
    sys.stdout.flush()

    results = {"lattice": [], "etcd": []}

    def rounds():
        for r in range(args.rounds):
            order = ["lattice", "etcd"] if r % 2 == 0 else ["etcd", "lattice"]
            for name in order:
                results[name].append(bench.round_server(name, r))

    status = run_guarded(rounds, bench.cleanup)
    if status is not None:
        return status

    rows, cpu = summarize(args, results)
    print(f"\nsummary: medians over {args.rounds} round(s); ratio = Lattice / etcd "
          f"(ops/s: higher is better; latency ms: lower is better)")
    print(text_table(HEAD, rows, SPEC, left=3))
    print("\nCPU time per request, microseconds (server process; load generator)")
    print(text_table(CPU_HEAD, cpu, [None, ".1f", ".1f", ".1f", ".1f"]))
    if args.json:
        with open(args.json, "w") as fh:
            json.dump({"command": cmdline, "machine": machine, "results": results}, fh, indent=1)
        print(f"\nwrote {args.json}")
    if args.markdown:
        date = datetime.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z")
        md = [f"### etcd_compare.py, {date}", "",
              f"Command: `{cmdline}`", "",
              f"Load: `{load}` against each server, {args.rounds} round(s), medians, alternating order; "
              f"each round starts the server on a fresh data dir.", "",
              f"Machine: {machine}.", "",
              f"Versions: {lattice_v}; {etcd_v}; git {git_rev()}.", "",
              f"Lattice `{shlex.join(LATTICE_FLAGS)}`; etcd one member with its defaults (WAL fsync per "
              f"commit). Ratios are Lattice / etcd.", "",
              md_table(HEAD, rows, SPEC, left=3), "",
              "CPU time per request (us):", "",
              md_table(CPU_HEAD, cpu, [None, ".1f", ".1f", ".1f", ".1f"]), ""]
        append_markdown(args.markdown, md)
    return 0


if __name__ == "__main__":
    sys.exit(main())
