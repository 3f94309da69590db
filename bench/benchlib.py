"""Helpers shared by the bench scripts (compare_redis.py, durable_compare.py, etcd_compare.py,
workloads_compare.py).

Python 3.11 standard library only.
"""
import atexit
import csv
import datetime
import io
import json
import os
import re
import shlex
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
POLL = 0.005  # seconds between polls while waiting on a server


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_ready(port, timeout=30):
    """Poll PING through redis-cli until PONG (used by compare_redis.py)."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            out = subprocess.run(["redis-cli", "-p", str(port), "PING"], capture_output=True, text=True, timeout=2)
            if out.stdout.strip() == "PONG":
                return
        except subprocess.TimeoutExpired:
            pass
        time.sleep(0.05)
    raise RuntimeError(f"server on {port} not ready")


def redis_benchmark(port, tests, requests, clients, pipeline, timeout=None):
    """Run redis-benchmark --csv; return {TEST: {"rps", "p50", "p99"}} (latencies in ms)."""
    cmd = ["redis-benchmark", "-p", str(port), "-t", tests, "-n", str(requests),
           "-c", str(clients), "-P", str(pipeline), "-r", "100000", "--csv"]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True, timeout=timeout).stdout
    rows = {}
    for row in csv.reader(io.StringIO(out)):
        if not row or row[0] == "test":
            continue
        # test, rps, avg, min, p50, p95, p99, max
        rows[row[0]] = {"rps": float(row[1]), "p50": float(row[4]), "p99": float(row[6])}
    return rows


def info_field(port, section, field):
    out = subprocess.run(["redis-cli", "-p", str(port), "INFO", section], capture_output=True, text=True).stdout
    for line in out.splitlines():
        if line.startswith(field + ":"):
            return int(line.split(":", 1)[1])
    raise RuntimeError(f"{field} missing")


# --- a minimal RESP2 client (no redis-cli process per poll) -----------------

def resp_command(*args):
    """One command as a RESP array of bulk strings (what clients send)."""
    parts = [b"*%d\r\n" % len(args)]
    for a in args:
        b = a if isinstance(a, bytes) else str(a).encode()
        parts.append(b"$%d\r\n%s\r\n" % (len(b), b))
    return b"".join(parts)


class RespError(Exception):
    """An error reply (-ERR ..., -LOADING ...) from the server."""


class Resp:
    def __init__(self, port, host="127.0.0.1", timeout=5.0):
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.rfile = self.sock.makefile("rb")

    def close(self):
        try:
            self.rfile.close()
            self.sock.close()
        except OSError:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def settimeout(self, timeout):
        self.sock.settimeout(timeout)

    def send(self, *args):
        self.sock.sendall(resp_command(*args))

    def read(self):
        line = self.rfile.readline()
        if not line:
            raise ConnectionError("connection closed by server")
        kind, rest = line[:1], line[1:-2]
        if kind == b"+":
            return rest.decode()
        if kind == b"-":
            raise RespError(rest.decode())
        if kind == b":":
            return int(rest)
        if kind == b"$":
            n = int(rest)
            if n < 0:
                return None
            data = self.rfile.read(n + 2)
            return data[:-2].decode(errors="replace")
        if kind == b"*":
            n = int(rest)
            return None if n < 0 else [self.read() for _ in range(n)]
        raise ConnectionError(f"unexpected reply line {line!r}")

    def cmd(self, *args):
        self.send(*args)
        return self.read()


def parse_info(text):
    fields = {}
    for line in text.splitlines():
        if ":" in line and not line.startswith("#"):
            k, v = line.split(":", 1)
            fields[k] = v.strip()
    return fields


# --- server processes --------------------------------------------------------

_LIVE = set()


def _signal_group(proc, sig):
    """Signal the server and its children (e.g. a Redis rewrite child): each server
    runs in its own session, so its process group id is its pid. Only while the
    server itself is alive, so the id cannot have been reused."""
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, sig)
        except (ProcessLookupError, PermissionError):
            proc.send_signal(sig)


def _kill_all():
    for p in list(_LIVE):
        _signal_group(p, signal.SIGKILL)
        try:
            p.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass
        _LIVE.discard(p)


atexit.register(_kill_all)


def exit_on_sigterm():
    """Turn SIGTERM/SIGHUP into SystemExit so finally blocks and atexit run."""
    def handler(signum, _frame):
        sys.exit(128 + signum)
    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGHUP, handler)


def run_guarded(body, cleanup):
    """Runs a script's measuring rounds: a ServerError or Ctrl-C prints why
    and gives the exit status (1, 130); `cleanup` always runs. None when
    `body` completed."""
    try:
        body()
    except ServerError as e:
        sys.stdout.flush()
        print(f"\nerror: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr)
        return 130
    finally:
        cleanup()
    return None


def append_markdown(path, lines):
    """Appends a run's markdown summary (`--markdown FILE`) and says so."""
    with open(path, "a") as fh:
        fh.write("\n".join(lines) + "\n")
    print(f"\nappended markdown to {path}")


def check_workdir(ap, args):
    """argparse error unless --workdir (when given) is a directory."""
    if args.workdir and not os.path.isdir(args.workdir):
        ap.error(f"--workdir {args.workdir}: not a directory")


class ServerError(RuntimeError):
    pass


def tail(path, lines=15):
    """The log's first and last lines (a config error is at the top, a crash at the bottom)."""
    try:
        with open(path, errors="replace") as f:
            all_lines = [l.rstrip() for l in f.readlines()]
    except OSError:
        return "(no log)"
    all_lines = [l for l in all_lines if l.strip()]
    if len(all_lines) <= lines:
        return "\n".join(all_lines)
    head = 3
    return "\n".join(all_lines[:head] + ["..."] + all_lines[-(lines - head):])


class Server:
    """One server process (redis-server or lattice) writing its output to a log file."""

    def __init__(self, name, argv, port, log_path):
        self.name, self.argv, self.port, self.log_path = name, argv, port, log_path
        self.proc = None
        self.started_at = None

    def spawn(self):
        log = open(self.log_path, "ab")
        try:
            self.started_at = time.monotonic()
            self.proc = subprocess.Popen(self.argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                         start_new_session=True)
        finally:
            log.close()
        _LIVE.add(self.proc)
        return self.started_at

    def _died(self, what):
        rc = self.proc.returncode
        msg = [f"{self.name} exited with code {rc} {what}",
               f"  command: {shlex.join(self.argv)}",
               f"  log ({self.log_path}):", "    " + tail(self.log_path).replace("\n", "\n    ")]
        log = tail(self.log_path, 50)
        if "unknown directive" in log or "Bad directive" in log or "FATAL CONFIG" in log:
            hint = (" (the binary may be stale or not support this flag yet: cargo build --release)"
                    if self.name == "Lattice" else "")
            msg.append(f"  -> {self.name} rejected a command-line flag{hint}")
        _LIVE.discard(self.proc)
        raise ServerError("\n".join(msg))

    def connect(self, timeout=5.0):
        return Resp(self.port, timeout=timeout)

    def wait_until(self, check, timeout, what):
        """Poll check(conn) (a fresh connection when needed) until it returns a
        non-None value; return (value, seconds since spawn). -LOADING and
        connection errors count as not yet."""
        deadline = time.monotonic() + timeout
        conn = None
        last = None
        try:
            while True:
                if self.proc.poll() is not None:
                    self._died(f"while waiting for {what}")
                try:
                    if conn is None:
                        conn = self.connect(timeout=min(5.0, timeout))
                    v = check(conn)
                    if v is not None:
                        return v, time.monotonic() - self.started_at
                    last = "not yet"
                except RespError as e:
                    last = str(e)
                    if not str(e).startswith(("LOADING", "BUSY", "TRYAGAIN")):
                        raise ServerError(f"{self.name}: {what}: error reply: {e}") from None
                except (OSError, ConnectionError) as e:
                    last = str(e)
                    if conn is not None:
                        conn.close()
                        conn = None
                if time.monotonic() > deadline:
                    raise ServerError(f"{self.name}: timed out after {timeout}s waiting for {what} (last: {last}); "
                                      f"log {self.log_path}:\n{tail(self.log_path)}")
                time.sleep(POLL)
        finally:
            if conn is not None:
                conn.close()

    def start(self, timeout=60):
        self.spawn()
        self.wait_until(lambda c: True if c.cmd("PING") == "PONG" else None, timeout, "PING")
        return self

    def cmd(self, *args, timeout=600):
        if self.proc.poll() is not None:
            self._died(f"before {args[0]}")
        with self.connect(timeout=timeout) as c:
            try:
                return c.cmd(*args)
            except RespError as e:
                raise ServerError(f"{self.name}: {' '.join(map(str, args))} -> error: {e}") from None

    def info(self, section, timeout=60):
        return parse_info(self.cmd("INFO", section, timeout=timeout))

    def shutdown(self, *mode, timeout=120):
        """SHUTDOWN [mode]; wait for the process to exit; return (exit code, seconds)."""
        t0 = time.monotonic()
        if self.proc.poll() is None:
            try:
                with self.connect(timeout=timeout) as c:
                    c.send("SHUTDOWN", *mode)
                    try:
                        reply = c.read()
                        raise ServerError(f"{self.name}: SHUTDOWN {' '.join(mode)} replied {reply!r}")
                    except RespError as e:
                        raise ServerError(f"{self.name}: SHUTDOWN {' '.join(mode)} -> error: {e}") from None
                    except (ConnectionError, OSError):
                        pass  # the server closes the connection when it proceeds
            except (ConnectionError, OSError):
                pass
        try:
            rc = self.proc.wait(timeout=max(0.0, timeout - (time.monotonic() - t0)))
        except subprocess.TimeoutExpired:
            self.kill()
            raise ServerError(f"{self.name}: did not exit within {timeout}s of SHUTDOWN {' '.join(mode)}; killed")
        _LIVE.discard(self.proc)
        return rc, time.monotonic() - t0

    def kill(self):
        """Stop without ceremony (cleanup path)."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            _signal_group(self.proc, signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                _signal_group(self.proc, signal.SIGKILL)
                self.proc.wait(timeout=15)
        _LIVE.discard(self.proc)


def dir_size(path):
    """(apparent bytes, allocated bytes as du counts them) of everything under path."""
    apparent = allocated = 0
    for dirpath, _dirs, files in os.walk(path):
        for f in files:
            try:
                st = os.lstat(os.path.join(dirpath, f))
            except OSError:
                continue
            apparent += st.st_size
            allocated += st.st_blocks * 512
    return apparent, allocated


def fs_type(path):
    """Filesystem type holding path, from /proc/mounts (Linux), or '?'."""
    path = os.path.realpath(path)
    best, kind = "", "?"
    try:
        with open("/proc/mounts") as f:
            for line in f:
                parts = line.split()
                if len(parts) < 3:
                    continue
                mnt = parts[1].replace("\\040", " ")
                if (path == mnt or path.startswith(mnt.rstrip("/") + "/")) and len(mnt) >= len(best):
                    best, kind = mnt, parts[2]
    except OSError:
        pass
    return kind


def mem_gib():
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemTotal:"):
                    return int(line.split()[1]) / 1024 / 1024
    except OSError:
        pass
    return float("nan")


# --- run metadata ----------------------------------------------------------------

def version(argv):
    try:
        return subprocess.run(argv, capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
        return "?"


def git_rev():
    try:
        rev = subprocess.run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                             timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "-C", ROOT, "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=10).stdout.strip()
        return rev + (" (uncommitted changes)" if dirty else "")
    except (OSError, subprocess.TimeoutExpired):
        return "?"


def cargo_build(targets=("lattice",), no_build=False):
    """`cargo build --release --bin T ...` so a script runs from a clean checkout
    with one command; skipped with --no-build or BENCH_NO_BUILD=1 (then the
    binary must exist). A no-op build takes about a second."""
    if no_build or os.environ.get("BENCH_NO_BUILD"):
        return
    cmd = ["cargo", "build", "--release"]
    for t in targets:
        cmd += ["--bin", t]
    print("$ " + " ".join(cmd), flush=True)
    subprocess.run(cmd, cwd=ROOT, check=True)


def stale_warning(binary, hint="rebuild with cargo build --release, or drop --no-build"):
    """A warning if any Rust source under crates/ is newer than the binary."""
    try:
        built = os.path.getmtime(binary)
    except OSError:
        return None
    newest, newest_path = 0.0, None
    for dirpath, dirs, files in os.walk(os.path.join(ROOT, "crates")):
        dirs[:] = [d for d in dirs if d != "target"]
        for fn in files:
            if fn.endswith(".rs") or fn == "Cargo.toml":
                p = os.path.join(dirpath, fn)
                m = os.path.getmtime(p)
                if m > newest:
                    newest, newest_path = m, p
    if newest > built:
        return (f"warning: {binary} is older than {os.path.relpath(newest_path, ROOT)}; "
                f"the binary may be stale ({hint})")
    return None


def command_line():
    """How this script was invoked, as a copy-pasteable python3 command."""
    return shlex.join(["python3", os.path.relpath(os.path.abspath(sys.argv[0]), os.getcwd())] + sys.argv[1:])


def timestamp():
    return datetime.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z")


def require_tools(tools, hint="apt-get install redis-server redis-tools"):
    """Exit with a clear message if a command is not on PATH."""
    for tool in tools:
        if not shutil.which(tool):
            sys.exit(f"error: {tool} not found on PATH ({hint})")


def require_binary(path, label, hint):
    """The absolute path of an executable file, or exit naming what to do."""
    path = os.path.abspath(path)
    if not os.path.isfile(path) or not os.access(path, os.X_OK):
        sys.exit(f"error: {label} binary {path} not found or not executable ({hint})")
    return path


# --- load generators and loaders, with errors that name the server --------------

def run_redis_benchmark(server, tests, requests, clients, pipeline, timeout=None):
    """redis_benchmark() against a Server; ServerError (with the server's log) on failure
    or when a test in `tests` reported nothing."""
    try:
        rows = redis_benchmark(server.port, tests, requests, clients, pipeline, timeout=timeout)
    except subprocess.CalledProcessError as e:
        raise ServerError(f"redis-benchmark against {server.name} failed (exit {e.returncode}): "
                          f"{(e.stderr or '').strip()[-800:]}\n  server log {server.log_path}") from None
    except subprocess.TimeoutExpired:
        raise ServerError(f"redis-benchmark against {server.name} did not finish within {timeout}s") from None
    missing = [t for t in tests.upper().split(",") if t not in rows]
    if missing:
        raise ServerError(f"redis-benchmark against {server.name} reported no result for {missing}")
    if server.proc.poll() is not None:
        server._died(f"during redis-benchmark -t {tests}")
    return rows


def run_lattice_bench(server, argv, timeout):
    """Run lattice-bench (argv[0] is its binary) against a Server; its JSON report, with
    "argv" added. ServerError on a failed run, error replies or a dead server."""
    try:
        out = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise ServerError(f"lattice-bench did not finish within {timeout}s: {shlex.join(argv)}") from None
    try:
        report = json.loads(out.stdout)
    except ValueError:
        raise ServerError(f"lattice-bench failed (exit {out.returncode}): {out.stderr.strip()[-800:]}\n"
                          f"  command: {shlex.join(argv)}\n  server log {server.log_path}") from None
    if report.get("errors"):
        raise ServerError(f"lattice-bench against {server.name}: {report['errors']} errors of "
                          f"{report['requests']}: {report.get('error_samples')}\n  command: {shlex.join(argv)}\n"
                          f"  server log {server.log_path}")
    if server.proc.poll() is not None:
        server._died(f"during {shlex.join(argv[1:])}")
    report["argv"] = argv
    return report


def redis_cli_pipe(server, path, expect_replies, timeout=600):
    """Feed a file of RESP commands to the server with `redis-cli --pipe` (mass insertion);
    ServerError unless every one of expect_replies replies came back without error."""
    with open(path, "rb") as fh:
        try:
            out = subprocess.run(["redis-cli", "-p", str(server.port), "--pipe"], stdin=fh, capture_output=True,
                                 text=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            raise ServerError(f"redis-cli --pipe < {path} into {server.name} took over {timeout}s") from None
    m = re.search(r"errors: (\d+), replies: (\d+)", out.stdout)
    if out.returncode != 0 or not m or int(m.group(1)) != 0 or int(m.group(2)) != expect_replies:
        raise ServerError(f"redis-cli --pipe < {path} into {server.name}: exit {out.returncode}, "
                          f"expected {expect_replies} replies and no errors:\n  {out.stdout.strip()[-600:]} "
                          f"{out.stderr.strip()[-400:]}\n  server log {server.log_path}")


def proc_rss(pid):
    """Resident set size of a live process in bytes (None if unknown)."""
    try:
        with open(f"/proc/{pid}/status") as fh:
            for line in fh:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


# --- a work dir of data dirs and logs, with at most one server running -------------

class Workspace:
    """A temp dir holding numbered data dirs and server logs. Tracks the one server
    running now so cleanup() can stop it; servers never run together."""

    def __init__(self, prefix, parent=None, keep=False):
        self.path = tempfile.mkdtemp(prefix=prefix, dir=parent)
        self.keep = keep
        self.seq = 0
        self.current = None

    def fresh_dir(self, tag):
        self.seq += 1
        path = os.path.join(self.path, f"{self.seq:03d}-{tag}")
        os.makedirs(path)
        return path

    def start(self, name, argv_for, tag, ready_timeout=60):
        """Start Server(name, argv_for(port, data_dir)) on a fresh data dir and wait for PING.
        Stop it with stop(); only one at a time."""
        if self.current is not None:
            raise RuntimeError(f"{self.current.name} is still running")
        data = self.fresh_dir(tag)
        port = free_port()
        s = Server(name, argv_for(port, data), port, os.path.join(self.path, f"{self.seq:03d}-{tag}.log"))
        s.data_dir = data
        self.current = s
        s.start(timeout=ready_timeout)
        return s

    def stop(self, s, *mode, timeout=120):
        """SHUTDOWN [mode], kill if still there, drop its data dir (unless keep);
        ServerError on a non-zero exit."""
        try:
            rc, _ = s.shutdown(*mode, timeout=timeout)
            if rc != 0:
                raise ServerError(f"{s.name} exited with code {rc} after SHUTDOWN {' '.join(mode)}; "
                                  f"log {s.log_path}")
        finally:
            self.discard(s)

    def discard(self, s):
        """Kill without ceremony (error paths); drop its data dir (unless keep)."""
        s.kill()
        if self.current is s:
            self.current = None
        if not self.keep and getattr(s, "data_dir", None):
            shutil.rmtree(s.data_dir, ignore_errors=True)

    def cleanup(self):
        if self.current is not None:
            self.discard(self.current)
        if self.keep:
            print(f"kept work dir {self.path}")
        else:
            shutil.rmtree(self.path, ignore_errors=True)


# --- summaries: medians, ratios and tables ------------------------------------------

def med(xs):
    """Median of the values that are not None (None if there are none)."""
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def ratio(a, b):
    """a / b, or None when either is missing or b is 0."""
    return a / b if a is not None and b else None


def fmt(v, spec):
    return "-" if v is None else format(v, spec)


def fmt_bytes(n):
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(n) < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024


def _cells(rows, specs):
    return [[c if s is None else fmt(c, s) for c, s in zip(row, specs)] for row in rows]


def text_table(head, rows, specs, left=1):
    """Aligned plain-text table: the first `left` columns left-aligned, the rest right.
    specs: a format spec per column, None for cells that are already text."""
    cells = [head] + _cells(rows, specs)
    w = [max(len(r[i]) for r in cells) for i in range(len(head))]
    return "\n".join("  ".join(c.ljust(w[i]) if i < left else c.rjust(w[i]) for i, c in enumerate(row))
                     for row in cells)


def md_table(head, rows, specs, left=1):
    """The same table as markdown."""
    lines = ["| " + " | ".join(head) + " |",
             "|" + "|".join(["---"] * left + ["---:"] * (len(head) - left)) + "|"]
    for row in _cells(rows, specs):
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines)
