//! A small RESP2 client codec: command encoding and an incremental reply
//! parser that tells a partial reply (read more) from a malformed one (stop).

use std::fmt;

/// Longest status/error/length line accepted before a CRLF.
pub const MAX_LINE: usize = 64 * 1024;
/// Largest bulk string accepted (Redis's `proto-max-bulk-len` default).
pub const MAX_BULK: i64 = 512 * 1024 * 1024;
/// Largest array length accepted.
pub const MAX_ARRAY: i64 = 1 << 32;
/// Deepest array nesting accepted.
pub const MAX_DEPTH: usize = 32;

/// One reply from the server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    /// `+OK`
    Simple(Vec<u8>),
    /// `-ERR ...`
    Error(Vec<u8>),
    /// `:42`
    Integer(i64),
    /// `$3 foo`, or `$-1` (`None`).
    Bulk(Option<Vec<u8>>),
    /// `*2 ...`, or `*-1` (`None`).
    Array(Option<Vec<Reply>>),
}

impl Reply {
    /// Whether this is an error reply.
    pub fn is_error(&self) -> bool {
        matches!(self, Reply::Error(_))
    }

    /// Whether this is a null bulk string or null array (a GET miss).
    pub fn is_null(&self) -> bool {
        matches!(self, Reply::Bulk(None) | Reply::Array(None))
    }
}

/// The server sent something that is not RESP2: the connection cannot be
/// used further.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProtocolError(pub String);

impl fmt::Display for ProtocolError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RESP protocol error: {}", self.0)
    }
}

impl std::error::Error for ProtocolError {}

fn err<T>(msg: impl Into<String>) -> Result<T, ProtocolError> {
    Err(ProtocolError(msg.into()))
}

/// Appends `*N\r\n$len\r\narg\r\n...` for `args` to `out`.
pub fn encode_command(out: &mut Vec<u8>, args: &[&[u8]]) {
    push_len(out, b'*', args.len());
    for a in args {
        push_len(out, b'$', a.len());
        out.extend_from_slice(a);
        out.extend_from_slice(b"\r\n");
    }
}

fn push_len(out: &mut Vec<u8>, kind: u8, n: usize) {
    out.push(kind);
    out.extend_from_slice(itoa::Buffer::new().format(n).as_bytes());
    out.extend_from_slice(b"\r\n");
}

/// Parses one reply from the start of `buf`.
///
/// `Ok(None)`: the reply is not complete yet (read more and call again with
/// the longer buffer). `Ok(Some((reply, used)))`: a whole reply that took the
/// first `used` bytes. `Err`: the bytes are not RESP2.
pub fn parse_reply(buf: &[u8]) -> Result<Option<(Reply, usize)>, ProtocolError> {
    parse_at(buf, 0, 0)
}

/// The line starting at `start` (after the type byte): its bytes and the
/// position after its CRLF; `None` when no LF has arrived yet.
fn line_at(buf: &[u8], start: usize) -> Result<Option<(&[u8], usize)>, ProtocolError> {
    let rest = buf.get(start..).unwrap_or_default();
    match rest.iter().position(|&b| b == b'\n') {
        None => {
            if rest.len() > MAX_LINE {
                return err(format!("line longer than {MAX_LINE} bytes"));
            }
            Ok(None)
        }
        Some(lf) => {
            let line = rest.get(..lf).unwrap_or_default();
            match line.split_last() {
                Some((b'\r', body)) => {
                    if body.contains(&b'\r') {
                        return err("CR inside a line");
                    }
                    Ok(Some((body, start + lf + 1)))
                }
                _ => err("line ends with LF without CR"),
            }
        }
    }
}

/// A signed decimal integer: optional `-`, then digits only, no overflow.
pub fn parse_int(line: &[u8]) -> Result<i64, ProtocolError> {
    let (neg, digits) = match line.split_first() {
        Some((b'-', rest)) => (true, rest),
        _ => (false, line),
    };
    if digits.is_empty() {
        return err("empty integer");
    }
    let mut v: i64 = 0;
    for &d in digits {
        if !d.is_ascii_digit() {
            return err(format!(
                "invalid integer {:?}",
                String::from_utf8_lossy(line)
            ));
        }
        let digit = i64::from(d - b'0');
        v = v
            .checked_mul(10)
            .and_then(|v| {
                if neg {
                    v.checked_sub(digit)
                } else {
                    v.checked_add(digit)
                }
            })
            .ok_or_else(|| ProtocolError("integer overflow".into()))?;
    }
    Ok(v)
}

fn parse_at(buf: &[u8], pos: usize, depth: usize) -> Result<Option<(Reply, usize)>, ProtocolError> {
    let Some(&kind) = buf.get(pos) else {
        return Ok(None);
    };
    if !matches!(kind, b'+' | b'-' | b':' | b'$' | b'*') {
        return err(format!("unexpected reply type byte 0x{kind:02x}"));
    }
    let Some((line, next)) = line_at(buf, pos + 1)? else {
        return Ok(None);
    };
    match kind {
        b'+' => Ok(Some((Reply::Simple(line.to_vec()), next))),
        b'-' => Ok(Some((Reply::Error(line.to_vec()), next))),
        b':' => Ok(Some((Reply::Integer(parse_int(line)?), next))),
        b'$' => {
            let n = parse_int(line)?;
            if n == -1 {
                return Ok(Some((Reply::Bulk(None), next)));
            }
            if !(0..=MAX_BULK).contains(&n) {
                return err(format!("invalid bulk length {n}"));
            }
            let n = usize::try_from(n).map_err(|_| ProtocolError("bulk length".into()))?;
            let end = next + n;
            let (Some(data), Some(crlf)) = (buf.get(next..end), buf.get(end..end + 2)) else {
                // Not all here yet; but what has arrived past the data must be CRLF.
                if let Some(tail) = buf.get(end..) {
                    if !b"\r\n".starts_with(tail) {
                        return err("bulk string not followed by CRLF");
                    }
                }
                return Ok(None);
            };
            if crlf != b"\r\n" {
                return err("bulk string not followed by CRLF");
            }
            Ok(Some((Reply::Bulk(Some(data.to_vec())), end + 2)))
        }
        _ => {
            let n = parse_int(line)?;
            if n == -1 {
                return Ok(Some((Reply::Array(None), next)));
            }
            if !(0..=MAX_ARRAY).contains(&n) {
                return err(format!("invalid array length {n}"));
            }
            if depth >= MAX_DEPTH {
                return err(format!("arrays nested deeper than {MAX_DEPTH}"));
            }
            let n = usize::try_from(n).map_err(|_| ProtocolError("array length".into()))?;
            let mut items = Vec::with_capacity(n.min(1024));
            let mut p = next;
            for _ in 0..n {
                match parse_at(buf, p, depth + 1)? {
                    Some((item, after)) => {
                        items.push(item);
                        p = after;
                    }
                    None => return Ok(None),
                }
            }
            Ok(Some((Reply::Array(Some(items)), p)))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn whole(input: &[u8]) -> Reply {
        let (reply, used) = parse_reply(input).unwrap().expect("complete reply");
        assert_eq!(used, input.len(), "consumed all of {input:?}");
        reply
    }

    fn malformed(input: &[u8]) -> ProtocolError {
        parse_reply(input).expect_err(&format!(
            "{:?} must be rejected",
            String::from_utf8_lossy(input)
        ))
    }

    #[test]
    fn parses_each_reply_type() {
        assert_eq!(whole(b"+OK\r\n"), Reply::Simple(b"OK".to_vec()));
        assert_eq!(
            whole(b"-ERR wrong\r\n"),
            Reply::Error(b"ERR wrong".to_vec())
        );
        assert_eq!(whole(b":42\r\n"), Reply::Integer(42));
        assert_eq!(whole(b":-7\r\n"), Reply::Integer(-7));
        assert_eq!(whole(b"$3\r\nfoo\r\n"), Reply::Bulk(Some(b"foo".to_vec())));
        assert_eq!(whole(b"$0\r\n\r\n"), Reply::Bulk(Some(Vec::new())));
        assert_eq!(whole(b"$-1\r\n"), Reply::Bulk(None));
        assert_eq!(whole(b"*-1\r\n"), Reply::Array(None));
        assert_eq!(whole(b"*0\r\n"), Reply::Array(Some(vec![])));
        assert_eq!(
            whole(b"*3\r\n:1\r\n$2\r\nab\r\n*1\r\n+x\r\n"),
            Reply::Array(Some(vec![
                Reply::Integer(1),
                Reply::Bulk(Some(b"ab".to_vec())),
                Reply::Array(Some(vec![Reply::Simple(b"x".to_vec())])),
            ]))
        );
        assert!(whole(b"-ERR x\r\n").is_error());
        assert!(whole(b"$-1\r\n").is_null());
        assert!(!whole(b"$0\r\n\r\n").is_null());
    }

    #[test]
    fn bulk_data_may_contain_crlf() {
        assert_eq!(
            whole(b"$4\r\n\r\n\r\n\r\n"),
            Reply::Bulk(Some(b"\r\n\r\n".to_vec()))
        );
    }

    #[test]
    fn leaves_the_next_reply_in_the_buffer() {
        let buf = b"+OK\r\n:5\r\n$1\r";
        let (r, used) = parse_reply(buf).unwrap().unwrap();
        assert_eq!((r, used), (Reply::Simple(b"OK".to_vec()), 5));
        let rest = &buf[used..];
        let (r, used2) = parse_reply(rest).unwrap().unwrap();
        assert_eq!((r, used2), (Reply::Integer(5), 4));
        assert_eq!(parse_reply(&rest[used2..]).unwrap(), None);
    }

    #[test]
    fn every_strict_prefix_is_partial() {
        let replies: [&[u8]; 7] = [
            b"+OK\r\n",
            b"-ERR no\r\n",
            b":12345\r\n",
            b"$5\r\nhello\r\n",
            b"$-1\r\n",
            b"*2\r\n$1\r\na\r\n:2\r\n",
            b"*2\r\n*1\r\n+a\r\n$0\r\n\r\n",
        ];
        for full in replies {
            for cut in 0..full.len() {
                assert_eq!(
                    parse_reply(&full[..cut]).unwrap(),
                    None,
                    "prefix {:?} of {:?}",
                    String::from_utf8_lossy(&full[..cut]),
                    String::from_utf8_lossy(full)
                );
            }
            whole(full);
        }
    }

    #[test]
    fn rejects_malformed_input() {
        for bad in [
            &b"?what\r\n"[..],
            b"OK\r\n",
            b"\r\n",
            b"+OK\n",
            b"+O\rK\r\n",
            b":\r\n",
            b":-\r\n",
            b":12a\r\n",
            b": 1\r\n",
            b":99999999999999999999\r\n",
            b"$abc\r\n",
            b"$-2\r\n",
            b"$3\r\nfooXY",
            b"$3\r\nfoo\rX",
            b"$3\r\nfoo\n\r",
            b"*-5\r\n",
            b"*x\r\n",
            b"*2\r\n:1\r\n!\r\n",
            b"$536870913\r\n",
        ] {
            malformed(bad);
        }
    }

    #[test]
    fn rejects_an_endless_line_but_waits_for_a_long_bulk() {
        let mut line = b"+".to_vec();
        line.resize(MAX_LINE + 2, b'a');
        assert!(malformed(&line).0.contains("longer"));
        // A big bulk string that has not all arrived is partial, not an error.
        assert_eq!(parse_reply(b"$100000\r\nabc").unwrap(), None);
    }

    #[test]
    fn rejects_deep_nesting() {
        let mut deep = Vec::new();
        for _ in 0..=MAX_DEPTH {
            deep.extend_from_slice(b"*1\r\n");
        }
        deep.extend_from_slice(b":1\r\n");
        assert!(malformed(&deep).0.contains("nested"));
        let ok: Vec<u8> = b"*1\r\n"
            .repeat(MAX_DEPTH)
            .into_iter()
            .chain(*b":1\r\n")
            .collect();
        whole(&ok);
    }

    #[test]
    fn integers_at_the_limits() {
        assert_eq!(parse_int(b"9223372036854775807").unwrap(), i64::MAX);
        assert_eq!(parse_int(b"-9223372036854775808").unwrap(), i64::MIN);
        assert!(parse_int(b"9223372036854775808").is_err());
        assert!(parse_int(b"+1").is_err());
    }

    #[test]
    fn encodes_commands() {
        let mut out = Vec::new();
        encode_command(&mut out, &[b"SET", b"k", b""]);
        encode_command(&mut out, &[b"GET", b"k"]);
        assert_eq!(
            out,
            b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$0\r\n\r\n*2\r\n$3\r\nGET\r\n$1\r\nk\r\n"
        );
    }
}
