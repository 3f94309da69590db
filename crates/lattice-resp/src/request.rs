//! #[PerformanceCriticalPath]
//! The request decoder: client bytes to argument vectors, incrementally.
//!
//! It follows Redis's `processMultibulkBuffer`/`processInlineBuffer`: a request
//! is either `*N\r\n` followed by N bulk strings, or one inline line. State is
//! kept between calls (how many arguments remain, the length of the bulk being
//! read), so a huge request arriving in small reads costs O(bytes), not
//! O(bytes²). "Not enough bytes yet" is `Ok(None)`, a state, never an error.

use bytes::{Buf, Bytes, BytesMut};

use crate::{split_inline_args, ProtocolError};

/// Redis's `PROTO_INLINE_MAX_SIZE`: the longest header or inline line.
const INLINE_MAX: usize = 64 * 1024;
/// Arguments reserved up front at most, whatever the header claims, so a hostile
/// `*2147483647\r\n` allocates nothing large.
const PREALLOC_ARGS_MAX: usize = 1024;

/// Protocol limits, named after the Redis directives that set them.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// `proto-max-bulk-len`: the largest bulk string accepted (default 512 MiB).
    pub proto_max_bulk_len: usize,
    /// The largest multibulk count (Redis: `INT_MAX`).
    pub max_multibulk_len: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            proto_max_bulk_len: 512 * 1024 * 1024,
            max_multibulk_len: i32::MAX as usize,
        }
    }
}

#[derive(Debug)]
struct Pending {
    remaining: usize,
    args: Vec<Bytes>,
    bulk_len: Option<usize>,
}

/// Incremental decoder of client requests. One per connection.
#[derive(Debug, Default)]
pub struct RequestDecoder {
    /// The limits in force; the connection may change them (`CONFIG SET`).
    pub limits: Limits,
    /// Set while the connection must still authenticate: Redis then refuses
    /// requests of more than 10 arguments or bulks over 16 KiB, so an
    /// unauthenticated peer cannot make the server buffer much.
    pub unauthenticated: bool,
    pending: Option<Pending>,
}

/// Finds `\r` in `buf` and checks a `\n` follows; returns the index of `\r`.
/// `Ok(None)` when the line is not complete yet.
fn find_crlf(buf: &[u8]) -> Option<usize> {
    let pos = buf.iter().position(|&b| b == b'\r')?;
    // The `\n` must be present too before we can consume the line.
    if pos + 1 < buf.len() {
        Some(pos)
    } else {
        None
    }
}

/// Parses a header number the way Redis's `string2ll` does: optional `-`, digits,
/// no leading `+`, no spaces, no leading zeros except "0".
fn parse_len(digits: &[u8]) -> Option<i64> {
    let (neg, body) = match digits.split_first() {
        Some((b'-', rest)) => (true, rest),
        _ => (false, digits),
    };
    if body.is_empty() || body.len() > 19 {
        return None;
    }
    if body.len() > 1 && body.first() == Some(&b'0') {
        return None;
    }
    let mut v: i64 = 0;
    for &c in body {
        if !c.is_ascii_digit() {
            return None;
        }
        v = v.checked_mul(10)?.checked_add(i64::from(c - b'0'))?;
    }
    Some(if neg { -v } else { v })
}

impl RequestDecoder {
    /// A decoder with the given limits.
    pub fn new(limits: Limits) -> Self {
        Self {
            limits,
            unauthenticated: false,
            pending: None,
        }
    }

    /// How many more bytes the request being read needs at least, so the
    /// connection can reserve buffer space for a large bulk in one go.
    pub fn bytes_wanted(&self) -> usize {
        match &self.pending {
            Some(Pending {
                bulk_len: Some(n), ..
            }) => n + 2,
            _ => 0,
        }
    }

    /// Bytes already taken out of the buffer into a partial request; counts
    /// toward `client-query-buffer-limit`.
    pub fn pending_bytes(&self) -> usize {
        self.pending
            .as_ref()
            .map_or(0, |p| p.args.iter().map(Bytes::len).sum())
    }

    /// Decodes the next request from `buf`, consuming its bytes.
    ///
    /// `Ok(Some(args))` is a whole request (`args` may be empty for an empty
    /// inline line or `*0`, which callers skip); `Ok(None)` means more bytes are
    /// needed; `Err` is a protocol error after which the connection must close.
    pub fn decode(&mut self, buf: &mut BytesMut) -> Result<Option<Vec<Bytes>>, ProtocolError> {
        if self.pending.is_none() {
            let Some(&first) = buf.first() else {
                return Ok(None);
            };
            if first != b'*' {
                return Self::decode_inline(buf);
            }
            let Some(cr) = find_crlf(buf) else {
                if buf.len() > INLINE_MAX {
                    return Err(ProtocolError::TooBigMbulkCount);
                }
                return Ok(None);
            };
            let count = buf
                .get(1..cr)
                .and_then(parse_len)
                .ok_or(ProtocolError::InvalidMultibulkLength)?;
            if count > self.limits.max_multibulk_len as i64 {
                return Err(ProtocolError::InvalidMultibulkLength);
            }
            if count > 10 && self.unauthenticated {
                return Err(ProtocolError::UnauthenticatedMultibulk);
            }
            buf.advance(cr + 2);
            if count <= 0 {
                return Ok(Some(Vec::new()));
            }
            let count = count as usize;
            self.pending = Some(Pending {
                remaining: count,
                args: Vec::with_capacity(count.min(PREALLOC_ARGS_MAX)),
                bulk_len: None,
            });
        }
        let limits = self.limits;
        let unauthenticated = self.unauthenticated;
        let Some(p) = self.pending.as_mut() else {
            return Ok(None);
        };
        while p.remaining > 0 {
            let len = match p.bulk_len {
                Some(len) => len,
                None => {
                    let Some(cr) = find_crlf(buf) else {
                        if buf.len() > INLINE_MAX {
                            return Err(ProtocolError::TooBigBulkCount);
                        }
                        return Ok(None);
                    };
                    match buf.first() {
                        Some(b'$') => {}
                        Some(&other) => return Err(ProtocolError::ExpectedDollar(other as char)),
                        None => return Ok(None),
                    }
                    let len = buf
                        .get(1..cr)
                        .and_then(parse_len)
                        .filter(|&l| l >= 0 && l as u64 <= limits.proto_max_bulk_len as u64)
                        .ok_or(ProtocolError::InvalidBulkLength)?
                        as usize;
                    if len > 16384 && unauthenticated {
                        return Err(ProtocolError::UnauthenticatedBulk);
                    }
                    buf.advance(cr + 2);
                    p.bulk_len = Some(len);
                    len
                }
            };
            if buf.len() < len + 2 {
                if buf.capacity() < len + 2 {
                    // One allocation for a big argument rather than repeated doubling.
                    buf.reserve(len + 2 - buf.len());
                }
                return Ok(None);
            }
            let arg = buf.split_to(len).freeze();
            // Redis skips the two bytes after the payload without checking them.
            buf.advance(2);
            p.args.push(arg);
            p.bulk_len = None;
            p.remaining -= 1;
        }
        Ok(self.pending.take().map(|p| p.args))
    }

    fn decode_inline(buf: &mut BytesMut) -> Result<Option<Vec<Bytes>>, ProtocolError> {
        let Some(nl) = buf.iter().position(|&b| b == b'\n') else {
            if buf.len() > INLINE_MAX {
                return Err(ProtocolError::TooBigInline);
            }
            return Ok(None);
        };
        let line = buf.split_to(nl + 1);
        let body = line.get(..nl).unwrap_or_default();
        let body = body.strip_suffix(b"\r").unwrap_or(body);
        let args = split_inline_args(body)?;
        Ok(Some(args.into_iter().map(Bytes::from).collect()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode_all(input: &[u8]) -> Result<Vec<Vec<Bytes>>, ProtocolError> {
        let mut d = RequestDecoder::default();
        let mut buf = BytesMut::from(input);
        let mut out = Vec::new();
        while let Some(args) = d.decode(&mut buf)? {
            out.push(args);
        }
        Ok(out)
    }

    #[test]
    fn multibulk_request() {
        let r = decode_all(b"*2\r\n$3\r\nGET\r\n$1\r\nk\r\n").unwrap();
        assert_eq!(r, vec![vec![Bytes::from("GET"), Bytes::from("k")]]);
    }

    #[test]
    fn pipelined_requests() {
        let r = decode_all(b"*1\r\n$4\r\nPING\r\nPING\r\n*1\r\n$4\r\nPING\r\n").unwrap();
        assert_eq!(r.len(), 3);
    }

    #[test]
    fn byte_at_a_time_is_the_same() {
        let input = b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$5\r\nhello\r\n";
        let mut d = RequestDecoder::default();
        let mut buf = BytesMut::new();
        let mut got = None;
        for &b in input.iter() {
            buf.extend_from_slice(&[b]);
            if let Some(a) = d.decode(&mut buf).unwrap() {
                got = Some(a);
            }
        }
        assert_eq!(got.unwrap().len(), 3);
    }

    #[test]
    fn hostile_headers() {
        assert_eq!(
            decode_all(b"*abc\r\n"),
            Err(ProtocolError::InvalidMultibulkLength)
        );
        assert_eq!(
            decode_all(b"*99999999999\r\n"),
            Err(ProtocolError::InvalidMultibulkLength)
        );
        assert_eq!(
            decode_all(b"*1\r\n$-1\r\n"),
            Err(ProtocolError::InvalidBulkLength)
        );
        assert_eq!(
            decode_all(b"*1\r\n$600000000\r\n"),
            Err(ProtocolError::InvalidBulkLength)
        );
        assert_eq!(
            decode_all(b"*1\r\n:1\r\n"),
            Err(ProtocolError::ExpectedDollar(':'))
        );
        assert_eq!(
            decode_all(b"*1\r\n$+1\r\n"),
            Err(ProtocolError::InvalidBulkLength)
        );
    }

    #[test]
    fn huge_count_allocates_little() {
        let mut d = RequestDecoder::default();
        let mut buf = BytesMut::from(&b"*2147483647\r\n"[..]);
        assert_eq!(d.decode(&mut buf).unwrap(), None);
        assert!(d.pending.as_ref().unwrap().args.capacity() <= PREALLOC_ARGS_MAX);
    }

    #[test]
    fn oversized_lines_without_newline() {
        let long = vec![b'a'; INLINE_MAX + 1];
        assert_eq!(decode_all(&long), Err(ProtocolError::TooBigInline));
        let mut m = b"*".to_vec();
        m.extend(std::iter::repeat_n(b'1', INLINE_MAX + 1));
        assert_eq!(decode_all(&m), Err(ProtocolError::TooBigMbulkCount));
    }

    #[test]
    fn zero_and_negative_counts_are_empty_requests() {
        assert_eq!(
            decode_all(b"*0\r\n*-1\r\n").unwrap(),
            vec![Vec::<Bytes>::new(), Vec::new()]
        );
    }

    #[test]
    fn inline_with_crlf() {
        let r = decode_all(b"SET a \"b c\"\r\n").unwrap();
        assert_eq!(
            r,
            vec![vec![
                Bytes::from("SET"),
                Bytes::from("a"),
                Bytes::from("b c")
            ]]
        );
    }
}
