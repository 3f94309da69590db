//! The slow log (SLOWLOG GET/LEN/RESET/HELP): the most recent commands whose
//! execution took at least `slowlog-log-slower-than` microseconds, newest
//! first, at most `slowlog-max-len` of them. Entries keep at most 32
//! arguments of at most 128 bytes each (Redis's limits), copied out of the
//! request buffer, so the log's memory is bounded by its length.

use std::collections::VecDeque;
use std::sync::Mutex;

use bytes::Bytes;
use lattice_engine::number::parse_i64;
use lattice_engine::{CmdError, Reply};

/// Arguments kept per entry (the last slot says how many were dropped).
pub const MAX_ARGC: usize = 32;
/// Bytes kept per argument.
pub const MAX_STRING: usize = 128;

/// One logged command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Unique, increasing id.
    pub id: u64,
    /// Unix time (seconds) the command ran.
    pub time: u64,
    /// Execution time in microseconds.
    pub duration_us: u64,
    /// The arguments, shortened as Redis does.
    pub args: Vec<Bytes>,
    /// Client `ip:port`.
    pub addr: String,
    /// Client name (CLIENT SETNAME), possibly empty.
    pub name: String,
}

#[derive(Default)]
struct Inner {
    entries: VecDeque<Entry>,
    next_id: u64,
}

/// The log.
#[derive(Default)]
pub struct SlowLog {
    inner: Mutex<Inner>,
}

/// Shortens argv as Redis's `slowlogCreateEntry`: at most 32 arguments (the
/// last saying `... (N more arguments)`), each cut to 128 bytes plus
/// `... (N more bytes)`. `argc` is the real argument count when `args` was
/// already cut short by the caller.
pub fn shorten_args(args: &[Bytes], argc: usize) -> Vec<Bytes> {
    let kept = argc.min(MAX_ARGC);
    let mut out = Vec::with_capacity(kept);
    for (j, a) in args.iter().take(kept).enumerate() {
        if kept != argc && j == kept - 1 {
            out.push(Bytes::from(format!(
                "... ({} more arguments)",
                argc - kept + 1
            )));
        } else if a.len() > MAX_STRING {
            let mut v = a.get(..MAX_STRING).unwrap_or_default().to_vec();
            v.extend_from_slice(format!("... ({} more bytes)", a.len() - MAX_STRING).as_bytes());
            out.push(Bytes::from(v));
        } else {
            // A copy, never a slice: a slice would pin the whole request
            // buffer it came from.
            out.push(Bytes::copy_from_slice(a));
        }
    }
    out
}

/// Replaces secrets with `(redacted)` as Redis does for AUTH, HELLO … AUTH
/// and CONFIG SET of a password.
pub fn redact(args: &mut [Bytes]) {
    let redacted = || Bytes::from_static(b"(redacted)");
    let name = args
        .first()
        .map(|a| a.to_ascii_lowercase())
        .unwrap_or_default();
    match name.as_slice() {
        b"auth" => args.iter_mut().skip(1).for_each(|a| *a = redacted()),
        b"hello" => {
            let at = args.iter().position(|a| a.eq_ignore_ascii_case(b"auth"));
            if let Some(i) = at {
                args.iter_mut()
                    .skip(i + 1)
                    .take(2)
                    .for_each(|a| *a = redacted());
            }
        }
        b"config" if args.get(1).is_some_and(|a| a.eq_ignore_ascii_case(b"set")) => {
            let mut i = 2;
            while i + 1 < args.len() {
                let secret = args.get(i).is_some_and(|n| {
                    n.eq_ignore_ascii_case(b"requirepass") || n.eq_ignore_ascii_case(b"masterauth")
                });
                if secret {
                    if let Some(v) = args.get_mut(i + 1) {
                        *v = redacted();
                    }
                }
                i += 2;
            }
        }
        _ => {}
    }
}

impl SlowLog {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Adds an entry (its id is assigned here) and drops the oldest past
    /// `max_len`.
    pub fn push(&self, mut entry: Entry, max_len: usize) {
        let mut g = self.lock();
        entry.id = g.next_id;
        g.next_id += 1;
        g.entries.push_front(entry);
        g.entries.truncate(max_len);
    }

    /// Drops the oldest entries past `max_len` (CONFIG SET slowlog-max-len).
    pub fn trim(&self, max_len: usize) {
        self.lock().entries.truncate(max_len);
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.lock().entries.len()
    }

    /// True when the log is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// SLOWLOG RESET (ids keep increasing, as in Redis).
    pub fn reset(&self) {
        self.lock().entries.clear();
    }

    /// The newest `count` entries.
    pub fn newest(&self, count: usize) -> Vec<Entry> {
        self.lock().entries.iter().take(count).cloned().collect()
    }
}

fn entry_reply(e: Entry) -> Reply {
    Reply::Array(vec![
        Reply::Int(e.id as i64),
        Reply::Int(e.time as i64),
        Reply::Int(e.duration_us as i64),
        Reply::Array(e.args.into_iter().map(Reply::Bulk).collect()),
        Reply::bulk_str(&e.addr),
        Reply::bulk_str(&e.name),
    ])
}

/// SLOWLOG subcommands.
pub fn command(log: &SlowLog, sub: &str, args: &[Bytes]) -> Result<Reply, CmdError> {
    match sub {
        "get" => {
            if args.len() > 3 {
                return Err(super::subcommand_syntax_error(args));
            }
            let count = match args.get(2) {
                None => 10,
                Some(a) => match parse_i64(a) {
                    Some(-1) => usize::MAX,
                    Some(n) if n >= 0 => usize::try_from(n).unwrap_or(usize::MAX),
                    _ => return Err(CmdError::err("count should be greater than or equal to -1")),
                },
            };
            Ok(Reply::Array(
                log.newest(count).into_iter().map(entry_reply).collect(),
            ))
        }
        "len" => Ok(Reply::Int(log.len() as i64)),
        "reset" => {
            log.reset();
            Ok(Reply::Ok)
        }
        "help" => Ok(crate::builtin::help(&[
            "SLOWLOG <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
            "GET [<count>]",
            "    Return top <count> entries from the slowlog (default: 10, -1 mean all).",
            "    Entries are made of:",
            "    id, timestamp, time in microseconds, arguments array, client IP and port,",
            "    client name",
            "LEN",
            "    Return the length of the slowlog.",
            "RESET",
            "    Reset the slowlog.",
            "HELP",
            "    Prints this help.",
        ])),
        // `resolve` rejects unknown subcommands before we get here.
        _ => Err(CmdError::Syntax),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b(s: &str) -> Bytes {
        Bytes::copy_from_slice(s.as_bytes())
    }

    #[test]
    fn arguments_are_shortened_as_redis() {
        let long = "x".repeat(200);
        let out = shorten_args(&[b("set"), b("k"), b(&long)], 3);
        assert_eq!(
            out[2],
            b(&format!("{}... (72 more bytes)", "x".repeat(128)))
        );
        let many: Vec<Bytes> = (0..40).map(|i| b(&i.to_string())).collect();
        let out = shorten_args(&many, 40);
        assert_eq!(out.len(), 32);
        assert_eq!(out[30], b("30"));
        assert_eq!(out[31], b("... (9 more arguments)"));
        // The caller may pass only the first 32.
        assert_eq!(shorten_args(&many[..32], 40), out);
    }

    #[test]
    fn secrets_are_redacted() {
        let mut a = vec![b("AUTH"), b("user"), b("pw")];
        redact(&mut a);
        assert_eq!(a, vec![b("AUTH"), b("(redacted)"), b("(redacted)")]);
        let mut a = vec![
            b("hello"),
            b("3"),
            b("auth"),
            b("u"),
            b("p"),
            b("setname"),
            b("n"),
        ];
        redact(&mut a);
        assert_eq!(a[3], b("(redacted)"));
        assert_eq!(a[4], b("(redacted)"));
        assert_eq!(a[6], b("n"));
        let mut a = vec![
            b("config"),
            b("set"),
            b("maxmemory"),
            b("1"),
            b("requirepass"),
            b("s"),
        ];
        redact(&mut a);
        assert_eq!(a[3], b("1"));
        assert_eq!(a[5], b("(redacted)"));
    }

    #[test]
    fn bounded_newest_first() {
        let log = SlowLog::default();
        for i in 0..5 {
            let e = Entry {
                id: 0,
                time: 1,
                duration_us: i,
                args: vec![],
                addr: String::new(),
                name: String::new(),
            };
            log.push(e, 3);
        }
        assert_eq!(log.len(), 3);
        let ids: Vec<u64> = log.newest(10).iter().map(|e| e.id).collect();
        assert_eq!(ids, vec![4, 3, 2]);
        log.trim(1);
        assert_eq!(log.len(), 1);
        log.reset();
        assert!(log.is_empty());
    }
}
