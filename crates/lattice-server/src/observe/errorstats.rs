//! `INFO errorstats`: error replies counted by their prefix (the first word
//! of the error, `ERR`, `WRONGTYPE` …), as Redis's `afterErrorReply`.
//!
//! Errors are the slow path, so a mutex over a small map is enough. The map
//! is bounded: once `MAX_KINDS` prefixes exist, new ones are counted under
//! `ERRORSTATS_OVERFLOW` (a script can raise errors with any prefix).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;

/// Most distinct prefixes kept (Redis 7.2 uses the same bound).
pub const MAX_KINDS: usize = 128;

/// Where prefixes past `MAX_KINDS` are counted.
pub const OVERFLOW: &str = "ERRORSTATS_OVERFLOW";

/// Error counts by prefix.
#[derive(Default)]
pub struct ErrorStats {
    counts: Mutex<BTreeMap<String, u64>>,
}

/// The prefix Redis files an error under: the text before the first space
/// within the first 32 bytes of `-TEXT`, or `ERR` if there is none.
pub fn error_code(text: &[u8]) -> &str {
    let window = text.get(..text.len().min(31)).unwrap_or_default();
    match window.iter().position(|&b| b == b' ') {
        Some(0) | None => "ERR",
        Some(n) => text
            .get(..n)
            .and_then(|p| std::str::from_utf8(p).ok())
            .unwrap_or("ERR"),
    }
}

impl ErrorStats {
    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, u64>> {
        self.counts
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Counts one error reply whose text (after `-`) is `text`.
    pub fn record(&self, text: &[u8]) {
        let code = error_code(text);
        let mut m = self.lock();
        if let Some(c) = m.get_mut(code) {
            *c += 1;
            return;
        }
        let key = if m.len() >= MAX_KINDS { OVERFLOW } else { code };
        *m.entry(key.to_string()).or_insert(0) += 1;
    }

    /// Every prefix and its count.
    pub fn counts(&self) -> Vec<(String, u64)> {
        self.lock().iter().map(|(k, v)| (k.clone(), *v)).collect()
    }

    /// CONFIG RESETSTAT.
    pub fn reset(&self) {
        self.lock().clear();
    }

    /// The `# Errorstats` section body.
    pub fn write_info(&self, out: &mut String) {
        for (code, n) in self.counts() {
            let _ = write!(out, "errorstat_{code}:count={n}\r\n");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_as_redis() {
        assert_eq!(error_code(b"ERR syntax error"), "ERR");
        assert_eq!(
            error_code(b"WRONGTYPE Operation against a key"),
            "WRONGTYPE"
        );
        assert_eq!(error_code(b"NOSPACEATALL"), "ERR");
        assert_eq!(error_code(&[b'X'; 40]), "ERR");
        assert_eq!(error_code(b" leading"), "ERR");
        let s = ErrorStats::default();
        s.record(b"ERR a");
        s.record(b"ERR b");
        s.record(b"WRONGTYPE c");
        let mut out = String::new();
        s.write_info(&mut out);
        assert_eq!(
            out,
            "errorstat_ERR:count=2\r\nerrorstat_WRONGTYPE:count=1\r\n"
        );
    }

    #[test]
    fn bounded() {
        let s = ErrorStats::default();
        for i in 0..MAX_KINDS + 10 {
            s.record(format!("E{i} x").as_bytes());
        }
        let c = s.counts();
        assert_eq!(c.len(), MAX_KINDS + 1);
        assert!(c.contains(&(OVERFLOW.to_string(), 10)));
        s.reset();
        assert!(s.counts().is_empty());
    }
}
