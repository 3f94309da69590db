//! Command-line options: parsing and validation into a [`Config`].
//!
//! Options take `--name value` or `--name=value`; a few have the short names
//! `redis-benchmark` uses (`-c`, `-P`, `-n`, `-d`, `-r`, `-t`, `-p`).

use std::time::Duration;

use anyhow::{anyhow, bail, Context};

/// The usage text printed by `--help`.
pub const USAGE: &str = "\
Usage: lattice-bench [options]

Drives a RESP server (Lattice, redis-server) or, when built with the `etcd`
feature, etcd's gRPC KV API with C connections, P requests in flight per
connection and a key space of K keys; prints a JSON report on stdout
(ops/s, p50/p99/p999 latency, errors).

Options:
  --protocol resp|etcd     wire protocol (default resp)
  --host HOST              server host (default 127.0.0.1)
  -p, --port PORT          server port (default 6379 for resp, 2379 for etcd)
  -t, --workload W         resp: set get incr lpush zadd hset mixed
                           etcd: put range mixed (default set / put)
  -c, --connections C      connections (default 50)
  -P, --pipeline P         requests in flight per connection: a RESP batch of
                           P commands, or P concurrent gRPC calls (default 1)
  -n, --requests N         stop after N requests in total (default 100000
                           unless --duration is given)
  --duration D             stop after D (e.g. 10, 10s, 500ms, 2m); with -n,
                           whichever comes first
  -r, --keys K             key space: keys are chosen uniformly from K (default 100000)
  -d, --value-size B       value size in bytes (default 3)
  --read-ratio R           mixed: share of reads, 0..1 (default 0.8)
  --preload                before timing, write every key of the key space
                           (string keys: for get, range and mixed)
  --collection-keys N      lpush/zadd/hset: number of lists/zsets/hashes; the
                           element or field is chosen from the key space (default 1)
  --key-prefix S           prefix for every key (default empty)
  --etcd-read linearizable|serializable
                           etcd range consistency (default linearizable)
  --threads T              client runtime threads (default 1, like redis-benchmark)
  --seed S                 random seed (default 1)
  --connect-timeout D      per connection (default 10s)
  -h, --help               this text

Keys: strings key:<n>, counters counter:<n>, lists list:<i>, sorted sets
zset:<i>, hashes hash:<i>, with <n> zero-padded to 12 digits.";

/// The wire protocol spoken to the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    /// RESP2 over TCP (Lattice, redis-server).
    Resp,
    /// etcd v3 gRPC KV API (needs the `etcd` feature).
    Etcd,
}

impl Protocol {
    /// The name used on the command line and in the report.
    pub fn name(self) -> &'static str {
        match self {
            Protocol::Resp => "resp",
            Protocol::Etcd => "etcd",
        }
    }
}

/// What each request does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Workload {
    /// RESP `SET key value`.
    Set,
    /// RESP `GET key`.
    Get,
    /// RESP `INCR counter`.
    Incr,
    /// RESP `LPUSH list value`.
    Lpush,
    /// RESP `ZADD zset score element`.
    Zadd,
    /// RESP `HSET hash field value`.
    Hset,
    /// Reads and writes by `--read-ratio` (GET/SET or range/put).
    Mixed,
    /// etcd `Put`.
    Put,
    /// etcd `Range` of one key.
    Range,
}

impl Workload {
    /// The name used on the command line and in the report.
    pub fn name(self) -> &'static str {
        match self {
            Workload::Set => "set",
            Workload::Get => "get",
            Workload::Incr => "incr",
            Workload::Lpush => "lpush",
            Workload::Zadd => "zadd",
            Workload::Hset => "hset",
            Workload::Mixed => "mixed",
            Workload::Put => "put",
            Workload::Range => "range",
        }
    }

    fn parse(s: &str) -> anyhow::Result<Workload> {
        Ok(match s.to_ascii_lowercase().as_str() {
            "set" => Workload::Set,
            "get" => Workload::Get,
            "incr" => Workload::Incr,
            "lpush" => Workload::Lpush,
            "zadd" => Workload::Zadd,
            "hset" => Workload::Hset,
            "mixed" => Workload::Mixed,
            "put" => Workload::Put,
            "range" => Workload::Range,
            _ => bail!(
                "unknown workload {s:?} (expected set, get, incr, lpush, zadd, hset, mixed, put or range)"
            ),
        })
    }

    /// Whether the workload reads the string key space (so `--preload` helps).
    pub fn reads_strings(self) -> bool {
        matches!(self, Workload::Get | Workload::Range | Workload::Mixed)
    }
}

/// Consistency of etcd range requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EtcdRead {
    /// Through the leader's read index (etcd's default).
    Linearizable,
    /// Served from the local store.
    Serializable,
}

impl EtcdRead {
    /// The name used on the command line and in the report.
    pub fn name(self) -> &'static str {
        match self {
            EtcdRead::Linearizable => "linearizable",
            EtcdRead::Serializable => "serializable",
        }
    }
}

/// Everything one run needs.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// Server host.
    pub host: String,
    /// Server port.
    pub port: u16,
    /// Wire protocol.
    pub protocol: Protocol,
    /// What each request does.
    pub workload: Workload,
    /// Number of connections.
    pub connections: usize,
    /// Requests in flight per connection.
    pub pipeline: usize,
    /// Stop after this many requests in total.
    pub requests: Option<u64>,
    /// Stop after this long.
    pub duration: Option<Duration>,
    /// Size of the key space.
    pub keys: u64,
    /// Value size in bytes.
    pub value_size: usize,
    /// Share of reads in the mixed workload.
    pub read_ratio: f64,
    /// Write every string key before timing.
    pub preload: bool,
    /// Number of lists/zsets/hashes for lpush/zadd/hset.
    pub collection_keys: u64,
    /// Prefix of every key.
    pub key_prefix: String,
    /// etcd range consistency.
    pub etcd_read: EtcdRead,
    /// Client runtime threads.
    pub threads: usize,
    /// Random seed.
    pub seed: u64,
    /// Connect timeout per connection.
    pub connect_timeout: Duration,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            host: "127.0.0.1".into(),
            port: 6379,
            protocol: Protocol::Resp,
            workload: Workload::Set,
            connections: 50,
            pipeline: 1,
            requests: Some(100_000),
            duration: None,
            keys: 100_000,
            value_size: 3,
            read_ratio: 0.8,
            preload: false,
            collection_keys: 1,
            key_prefix: String::new(),
            etcd_read: EtcdRead::Linearizable,
            threads: 1,
            seed: 1,
            connect_timeout: Duration::from_secs(10),
        }
    }
}

/// The outcome of parsing a command line.
#[derive(Debug, Clone, PartialEq)]
pub enum Parsed {
    /// Run with this configuration.
    Run(Config),
    /// Print [`USAGE`] and exit.
    Help,
}

/// Parses a duration: plain seconds (`10`, `0.5`) or with a unit (`ms`, `s`, `m`).
pub fn parse_duration(s: &str) -> anyhow::Result<Duration> {
    let s = s.trim();
    let (num, scale) = if let Some(n) = s.strip_suffix("ms") {
        (n, 0.001)
    } else if let Some(n) = s.strip_suffix('s') {
        (n, 1.0)
    } else if let Some(n) = s.strip_suffix('m') {
        (n, 60.0)
    } else {
        (s, 1.0)
    };
    let v: f64 = num
        .trim()
        .parse()
        .map_err(|_| anyhow!("invalid duration {s:?} (e.g. 10, 10s, 500ms, 2m)"))?;
    if !v.is_finite() || v <= 0.0 {
        bail!("invalid duration {s:?}: must be positive");
    }
    Duration::try_from_secs_f64(v * scale).map_err(|e| anyhow!("invalid duration {s:?}: {e}"))
}

fn positive<T>(name: &str, value: &str) -> anyhow::Result<T>
where
    T: std::str::FromStr + PartialOrd + Default,
{
    let v: T = value
        .parse()
        .map_err(|_| anyhow!("{name}: expected a positive integer, got {value:?}"))?;
    if v <= T::default() {
        bail!("{name}: expected a positive integer, got {value:?}");
    }
    Ok(v)
}

/// Parses the arguments after the program name.
pub fn parse_args<I, S>(args: I) -> anyhow::Result<Parsed>
where
    I: IntoIterator<Item = S>,
    S: Into<String>,
{
    let mut cfg = Config::default();
    let mut port: Option<u16> = None;
    let mut workload: Option<Workload> = None;
    let mut requests: Option<u64> = None;
    let mut duration: Option<Duration> = None;
    let mut args = args.into_iter().map(Into::into);
    while let Some(arg) = args.next() {
        let (name, inline) = match arg.split_once('=') {
            Some((n, v)) if n.starts_with("--") => (n.to_owned(), Some(v.to_owned())),
            _ => (arg.clone(), None),
        };
        if name == "-h" || name == "--help" {
            return Ok(Parsed::Help);
        }
        if name == "--preload" {
            if inline.is_some() {
                bail!("--preload takes no value");
            }
            cfg.preload = true;
            continue;
        }
        let mut value = || -> anyhow::Result<String> {
            match &inline {
                Some(v) => Ok(v.clone()),
                None => args.next().ok_or_else(|| anyhow!("{name} needs a value")),
            }
        };
        match name.as_str() {
            "--protocol" => {
                cfg.protocol = match value()?.to_ascii_lowercase().as_str() {
                    "resp" | "redis" => Protocol::Resp,
                    "etcd" => Protocol::Etcd,
                    other => bail!("--protocol: expected resp or etcd, got {other:?}"),
                }
            }
            "--host" => cfg.host = value()?,
            "-p" | "--port" => {
                let v = value()?;
                port = Some(positive(&name, &v)?);
            }
            "-t" | "--workload" => workload = Some(Workload::parse(&value()?)?),
            "-c" | "--connections" => cfg.connections = positive(&name, &value()?)?,
            "-P" | "--pipeline" => cfg.pipeline = positive(&name, &value()?)?,
            "-n" | "--requests" => requests = Some(positive(&name, &value()?)?),
            "--duration" => duration = Some(parse_duration(&value()?)?),
            "-r" | "--keys" => cfg.keys = positive(&name, &value()?)?,
            "-d" | "--value-size" => {
                let v = value()?;
                cfg.value_size = v
                    .parse()
                    .map_err(|_| anyhow!("{name}: expected a size in bytes, got {v:?}"))?;
            }
            "--read-ratio" => {
                let v = value()?;
                let r: f64 = v
                    .parse()
                    .map_err(|_| anyhow!("--read-ratio: expected a number, got {v:?}"))?;
                if !(0.0..=1.0).contains(&r) {
                    bail!("--read-ratio: expected a number between 0 and 1, got {v:?}");
                }
                cfg.read_ratio = r;
            }
            "--collection-keys" => cfg.collection_keys = positive(&name, &value()?)?,
            "--key-prefix" => cfg.key_prefix = value()?,
            "--etcd-read" => {
                cfg.etcd_read = match value()?.to_ascii_lowercase().as_str() {
                    "linearizable" | "l" => EtcdRead::Linearizable,
                    "serializable" | "s" => EtcdRead::Serializable,
                    other => {
                        bail!("--etcd-read: expected linearizable or serializable, got {other:?}")
                    }
                }
            }
            "--threads" => cfg.threads = positive(&name, &value()?)?,
            "--seed" => {
                let v = value()?;
                cfg.seed = v
                    .parse()
                    .with_context(|| format!("--seed: expected an integer, got {v:?}"))?;
            }
            "--connect-timeout" => cfg.connect_timeout = parse_duration(&value()?)?,
            other => bail!("unknown option {other:?} (see --help)"),
        }
    }
    cfg.port = port.unwrap_or(match cfg.protocol {
        Protocol::Resp => 6379,
        Protocol::Etcd => 2379,
    });
    cfg.workload = workload.unwrap_or(match cfg.protocol {
        Protocol::Resp => Workload::Set,
        Protocol::Etcd => Workload::Put,
    });
    match (cfg.protocol, cfg.workload) {
        (Protocol::Resp, Workload::Put | Workload::Range) => bail!(
            "workload {} is for --protocol etcd (RESP: set, get, incr, lpush, zadd, hset, mixed)",
            cfg.workload.name()
        ),
        (
            Protocol::Etcd,
            Workload::Set
            | Workload::Get
            | Workload::Incr
            | Workload::Lpush
            | Workload::Zadd
            | Workload::Hset,
        ) => bail!(
            "workload {} is for --protocol resp (etcd: put, range, mixed)",
            cfg.workload.name()
        ),
        _ => {}
    }
    cfg.duration = duration;
    cfg.requests = match (requests, duration) {
        (None, None) => Some(100_000),
        (r, _) => r,
    };
    Ok(Parsed::Run(cfg))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(args: &[&str]) -> Config {
        match parse_args(args.iter().copied()).unwrap() {
            Parsed::Run(c) => c,
            Parsed::Help => panic!("unexpected help for {args:?}"),
        }
    }

    fn fails(args: &[&str]) -> String {
        format!("{:#}", parse_args(args.iter().copied()).unwrap_err())
    }

    #[test]
    fn defaults() {
        let c = cfg(&[]);
        assert_eq!(c, Config::default());
        assert_eq!(
            (c.protocol, c.workload, c.port),
            (Protocol::Resp, Workload::Set, 6379)
        );
        assert_eq!(
            (c.connections, c.pipeline, c.requests),
            (50, 1, Some(100_000))
        );
        let e = cfg(&["--protocol", "etcd"]);
        assert_eq!((e.workload, e.port), (Workload::Put, 2379));
        assert_eq!(e.etcd_read, EtcdRead::Linearizable);
    }

    #[test]
    fn long_short_and_inline_forms() {
        let c = cfg(&[
            "-c",
            "8",
            "-P",
            "16",
            "-n",
            "1000",
            "-r",
            "500",
            "-d",
            "64",
            "-t",
            "GET",
            "-p",
            "7000",
            "--host",
            "localhost",
            "--preload",
            "--threads=2",
            "--seed=9",
            "--key-prefix",
            "b:",
        ]);
        assert_eq!(c.connections, 8);
        assert_eq!(c.pipeline, 16);
        assert_eq!(c.requests, Some(1000));
        assert_eq!(c.keys, 500);
        assert_eq!(c.value_size, 64);
        assert_eq!(c.workload, Workload::Get);
        assert_eq!(c.port, 7000);
        assert_eq!(c.host, "localhost");
        assert!(c.preload);
        assert_eq!((c.threads, c.seed), (2, 9));
        assert_eq!(c.key_prefix, "b:");
        let m = cfg(&[
            "--workload=mixed",
            "--read-ratio=0.9",
            "--collection-keys",
            "4",
        ]);
        assert_eq!(
            (m.workload, m.read_ratio, m.collection_keys),
            (Workload::Mixed, 0.9, 4)
        );
        let e = cfg(&[
            "--protocol=etcd",
            "-t",
            "range",
            "--etcd-read",
            "serializable",
        ]);
        assert_eq!(
            (e.workload, e.etcd_read),
            (Workload::Range, EtcdRead::Serializable)
        );
    }

    #[test]
    fn duration_and_requests() {
        let c = cfg(&["--duration", "10s"]);
        assert_eq!(
            (c.duration, c.requests),
            (Some(Duration::from_secs(10)), None)
        );
        let c = cfg(&["--duration", "250ms", "-n", "7"]);
        assert_eq!(
            (c.duration, c.requests),
            (Some(Duration::from_millis(250)), Some(7))
        );
        assert_eq!(parse_duration("2m").unwrap(), Duration::from_secs(120));
        assert_eq!(parse_duration("1.5").unwrap(), Duration::from_millis(1500));
        for bad in ["", "0", "-1s", "abc", "5h", "nan", "inf"] {
            assert!(parse_duration(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn help() {
        assert_eq!(parse_args(["--help"]).unwrap(), Parsed::Help);
        assert_eq!(parse_args(["-c", "2", "-h"]).unwrap(), Parsed::Help);
        assert!(USAGE.contains("--pipeline"));
    }

    #[test]
    fn rejects_bad_arguments() {
        assert!(fails(&["--bogus"]).contains("unknown option"));
        assert!(fails(&["-c"]).contains("needs a value"));
        assert!(fails(&["-c", "0"]).contains("positive"));
        assert!(fails(&["-c", "-3"]).contains("positive"));
        assert!(fails(&["-P", "x"]).contains("positive"));
        assert!(fails(&["-p", "70000"]).contains("positive"));
        assert!(fails(&["-t", "del"]).contains("unknown workload"));
        assert!(fails(&["--protocol", "http"]).contains("resp or etcd"));
        assert!(fails(&["--read-ratio", "1.5"]).contains("between 0 and 1"));
        assert!(fails(&["--read-ratio", "x"]).contains("number"));
        assert!(fails(&["--preload=yes"]).contains("no value"));
        assert!(fails(&["--duration", "soon"]).contains("invalid duration"));
        assert!(fails(&["--etcd-read", "eventual"]).contains("linearizable or serializable"));
        // Workloads belong to one protocol.
        assert!(fails(&["-t", "put"]).contains("--protocol etcd"));
        assert!(fails(&["--protocol", "etcd", "-t", "set"]).contains("--protocol resp"));
    }
}
