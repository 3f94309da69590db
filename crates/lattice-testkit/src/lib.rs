//! Test harness for Lattice (dev-dependency only).
//!
//! * [`TestServer`] starts the real `lattice` binary on an ephemeral port in
//!   a fresh data directory and stops it on drop; [`TestServer::kill9`] and
//!   [`TestServer::restart`] crash it and start it again on the same
//!   directory (persistence tests).
//! * [`run_to_exit`] runs the binary to completion (`lattice check`, a
//!   start-up that must fail) with a deadline.
//! * [`RedisServer`] starts Debian's `redis-server` on a private unix socket,
//!   the reference for differential tests.
//! * [`RawClient`] speaks RESP over TCP or a unix socket and returns whole
//!   frames, for exact-reply assertions.
//! * [`wait_until`] polls a condition with a deadline: tests never sleep to
//!   synchronise.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{mpsc, Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use bytes::BytesMut;
pub use lattice_resp::Frame;

/// Polls `cond` every few milliseconds until it holds or `timeout` passes.
pub fn wait_until(timeout: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if cond() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// A running `lattice` process.
pub struct TestServer {
    child: Child,
    /// The binary it runs (for [`TestServer::restart`]).
    bin: String,
    /// The address it listens on.
    pub addr: SocketAddr,
    /// Its data directory, removed when the last clone is dropped: a test
    /// that restarts the server, or runs `lattice check` after a start-up
    /// that must fail, keeps a clone.
    pub dir: Arc<tempfile::TempDir>,
    /// Lines it printed (logs), collected in the background.
    logs: mpsc::Receiver<String>,
    /// Every line received so far, start-up lines included.
    history: Mutex<Vec<String>>,
    /// How much of `history` [`TestServer::logs`] has returned.
    logs_read: Mutex<usize>,
}

impl TestServer {
    /// Starts `bin` with `--port 0 --dir <tmp>` plus `extra` arguments and
    /// waits until it reports its address.
    pub fn start(bin: &str, extra: &[&str]) -> anyhow::Result<TestServer> {
        let dir = tempfile::tempdir()?;
        let dir_s = dir.path().to_string_lossy().into_owned();
        let mut args: Vec<String> = vec!["--port".into(), "0".into(), "--dir".into(), dir_s];
        args.extend(extra.iter().map(|s| s.to_string()));
        Self::spawn(bin, &args, dir)
    }

    /// Starts `bin` with `--port 0 --dir <dir>` plus `extra` on an existing
    /// data directory (what a previous server left there).
    pub fn start_in(
        bin: &str,
        dir: Arc<tempfile::TempDir>,
        extra: &[&str],
    ) -> anyhow::Result<TestServer> {
        let dir_s = dir.path().to_string_lossy().into_owned();
        let mut args: Vec<String> = vec!["--port".into(), "0".into(), "--dir".into(), dir_s];
        args.extend(extra.iter().map(|s| s.to_string()));
        Self::spawn_shared(bin, &args, dir)
    }

    /// Starts `bin` with exactly `args` (for config-file and CLI tests).
    pub fn spawn(bin: &str, args: &[String], dir: tempfile::TempDir) -> anyhow::Result<TestServer> {
        Self::spawn_shared(bin, args, Arc::new(dir))
    }

    /// Stops this process (SIGKILL if it is still running; use SHUTDOWN and
    /// [`TestServer::wait_exit`] for a clean stop) and starts the binary
    /// again on the same data directory with `extra` directives, on a new
    /// ephemeral port. Log lines of the old process are not carried over.
    pub fn restart(self, extra: &[&str]) -> anyhow::Result<TestServer> {
        let bin = self.bin.clone();
        let dir = Arc::clone(&self.dir);
        drop(self);
        Self::start_in(&bin, dir, extra)
    }

    /// Sends SIGKILL (a crash: nothing is flushed) and waits until the
    /// process is gone.
    pub fn kill9(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    fn spawn_shared(
        bin: &str,
        args: &[String],
        dir: Arc<tempfile::TempDir>,
    ) -> anyhow::Result<TestServer> {
        let mut child = Command::new(bin)
            .args(args)
            .current_dir(dir.path())
            .env("NO_COLOR", "1")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .with_context(|| format!("spawning {bin}"))?;
        let (tx, rx) = mpsc::channel();
        for pipe in [
            child
                .stdout
                .take()
                .map(|s| Box::new(s) as Box<dyn Read + Send>),
            child
                .stderr
                .take()
                .map(|s| Box::new(s) as Box<dyn Read + Send>),
        ]
        .into_iter()
        .flatten()
        {
            let tx = tx.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(pipe).lines().map_while(Result::ok) {
                    if tx.send(line).is_err() {
                        break;
                    }
                }
            });
        }
        let deadline = Instant::now() + Duration::from_secs(30);
        let mut seen = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match rx.recv_timeout(left.min(Duration::from_millis(200))) {
                Ok(line) => {
                    if let Some(rest) = line.split("Ready to accept connections tcp addr=").nth(1) {
                        let addr: SocketAddr = rest.trim().parse().context("parsing address")?;
                        seen.push(line);
                        return Ok(TestServer {
                            child,
                            bin: bin.to_owned(),
                            addr,
                            dir,
                            logs: rx,
                            history: Mutex::new(seen),
                            logs_read: Mutex::new(0),
                        });
                    }
                    seen.push(line);
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {}
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    let _ = child.wait();
                    bail!("lattice exited before it was ready:\n{}", seen.join("\n"));
                }
            }
            if let Ok(Some(status)) = child.try_wait() {
                // Drain what it printed before exiting.
                while let Ok(l) = rx.recv_timeout(Duration::from_millis(100)) {
                    seen.push(l);
                }
                bail!(
                    "lattice exited ({status}) before it was ready:\n{}",
                    seen.join("\n")
                );
            }
            if Instant::now() >= deadline {
                let _ = child.kill();
                bail!("lattice not ready in 30 s:\n{}", seen.join("\n"));
            }
        }
    }

    /// `redis://` URL for the `redis` crate.
    pub fn url(&self) -> String {
        format!("redis://{}/", self.addr)
    }

    /// A raw RESP client connected to this server.
    pub fn raw(&self) -> RawClient {
        RawClient::tcp(self.addr).expect("connect to lattice")
    }

    /// Log lines printed since the previous call (the first call returns
    /// the start-up lines too).
    pub fn logs(&self) -> Vec<String> {
        let history = self.all_logs();
        let mut read = self
            .logs_read
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let new = history.get(*read..).unwrap_or_default().to_vec();
        *read = history.len();
        new
    }

    /// Every log line printed so far, from start-up on.
    pub fn all_logs(&self) -> Vec<String> {
        let mut history = self.history.lock().unwrap_or_else(PoisonError::into_inner);
        history.extend(self.logs.try_iter());
        history.clone()
    }

    /// Waits for the process to exit on its own (after SHUTDOWN).
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<std::process::ExitStatus> {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if let Ok(Some(s)) = self.child.try_wait() {
                return Some(s);
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        None
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// How a process run by [`run_to_exit`] ended.
#[derive(Debug)]
pub struct Exited {
    /// Its exit status; `None` if it was still running at the deadline (it
    /// was then killed).
    pub status: Option<ExitStatus>,
    /// Its stdout then its stderr.
    pub output: String,
}

/// Runs `bin` with `args` until it exits or `timeout` passes (then kills
/// it), collecting what it printed.
pub fn run_to_exit(bin: &str, args: &[String], timeout: Duration) -> anyhow::Result<Exited> {
    let mut child = Command::new(bin)
        .args(args)
        .env("NO_COLOR", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("spawning {bin}"))?;
    let readers: Vec<_> = [
        child
            .stdout
            .take()
            .map(|s| Box::new(s) as Box<dyn Read + Send>),
        child
            .stderr
            .take()
            .map(|s| Box::new(s) as Box<dyn Read + Send>),
    ]
    .into_iter()
    .flatten()
    .map(|mut pipe| {
        std::thread::spawn(move || {
            let mut out = Vec::new();
            let _ = pipe.read_to_end(&mut out);
            String::from_utf8_lossy(&out).into_owned()
        })
    })
    .collect();
    let deadline = Instant::now() + timeout;
    let status = loop {
        if let Some(s) = child.try_wait()? {
            break Some(s);
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let output = readers
        .into_iter()
        .map(|r| r.join().unwrap_or_default())
        .collect::<Vec<_>>()
        .join("");
    Ok(Exited { status, output })
}

/// A `redis-server` on a private unix socket, for differential tests.
pub struct RedisServer {
    child: Child,
    /// Its socket path.
    pub socket: PathBuf,
    _dir: tempfile::TempDir,
}

impl RedisServer {
    /// Starts `redis-server` (from PATH) with no persistence.
    pub fn start() -> anyhow::Result<RedisServer> {
        let dir = tempfile::tempdir()?;
        let socket = dir.path().join("redis.sock");
        let child = Command::new("redis-server")
            .args(["--port", "0", "--unixsocket"])
            .arg(&socket)
            .args(["--save", "", "--appendonly", "no", "--dir"])
            .arg(dir.path())
            .args(["--enable-debug-command", "yes"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context("starting redis-server (apt-get install redis-server)")?;
        let mut s = RedisServer {
            child,
            socket,
            _dir: dir,
        };
        if !wait_until(Duration::from_secs(10), || {
            UnixStream::connect(&s.socket).is_ok()
        }) {
            let _ = s.child.kill();
            bail!("redis-server did not start");
        }
        Ok(s)
    }

    /// A raw client to it.
    pub fn raw(&self) -> RawClient {
        RawClient::unix(&self.socket).expect("connect to redis-server")
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

enum Stream {
    Tcp(TcpStream),
    Unix(UnixStream),
}

/// A blocking RESP client returning whole frames.
pub struct RawClient {
    stream: Stream,
    buf: BytesMut,
}

impl RawClient {
    /// Connects over TCP.
    pub fn tcp(addr: SocketAddr) -> anyhow::Result<RawClient> {
        let s = TcpStream::connect(addr)?;
        s.set_read_timeout(Some(Duration::from_secs(30)))?;
        s.set_nodelay(true)?;
        Ok(RawClient {
            stream: Stream::Tcp(s),
            buf: BytesMut::new(),
        })
    }

    /// Connects over a unix socket.
    pub fn unix(path: &Path) -> anyhow::Result<RawClient> {
        let s = UnixStream::connect(path)?;
        s.set_read_timeout(Some(Duration::from_secs(30)))?;
        Ok(RawClient {
            stream: Stream::Unix(s),
            buf: BytesMut::new(),
        })
    }

    /// Sends raw bytes.
    pub fn send_raw(&mut self, data: &[u8]) -> std::io::Result<()> {
        match &mut self.stream {
            Stream::Tcp(s) => s.write_all(data),
            Stream::Unix(s) => s.write_all(data),
        }
    }

    /// Sends a command as a RESP array of bulk strings.
    pub fn send(&mut self, args: &[&[u8]]) -> std::io::Result<()> {
        self.send_raw(&encode_command(args))
    }

    /// Reads one whole frame; `Ok(None)` when the server closed the connection.
    pub fn read_frame(&mut self) -> anyhow::Result<Option<Frame>> {
        loop {
            if let Some((f, used)) = lattice_resp::parse_frame(&self.buf)? {
                let _ = self.buf.split_to(used);
                return Ok(Some(f));
            }
            let mut chunk = [0u8; 16384];
            let n = match &mut self.stream {
                Stream::Tcp(s) => s.read(&mut chunk)?,
                Stream::Unix(s) => s.read(&mut chunk)?,
            };
            if n == 0 {
                return Ok(None);
            }
            self.buf
                .extend_from_slice(chunk.get(..n).unwrap_or_default());
        }
    }

    /// Sends a command and reads its reply.
    pub fn call(&mut self, args: &[&[u8]]) -> anyhow::Result<Frame> {
        self.send(args)?;
        self.read_frame()?.context("connection closed")
    }

    /// `call` with string arguments.
    pub fn cmd(&mut self, args: &[&str]) -> Frame {
        let a: Vec<&[u8]> = args.iter().map(|s| s.as_bytes()).collect();
        self.call(&a).expect("command failed")
    }
}

/// Encodes a command as a RESP array of bulk strings.
pub fn encode_command(args: &[&[u8]]) -> Vec<u8> {
    let mut out = format!("*{}\r\n", args.len()).into_bytes();
    for a in args {
        out.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
        out.extend_from_slice(a);
        out.extend_from_slice(b"\r\n");
    }
    out
}
