//! A whole RESP2/RESP3 frame as a value, and a parser for one. Used by clients,
//! tests and the fuzz roundtrip; the server decodes requests with
//! [`crate::RequestDecoder`] instead, which is incremental and cheaper.

use bytes::{BufMut, Bytes, BytesMut};

use crate::ProtocolError;

/// Nesting deeper than this is refused, so a hostile reply cannot overflow the stack.
const MAX_DEPTH: usize = 128;

/// One RESP frame.
#[derive(Debug, Clone, PartialEq)]
pub enum Frame {
    /// `+text`
    Simple(String),
    /// `-text`
    Error(String),
    /// `:n`
    Integer(i64),
    /// `$len` payload
    Bulk(Bytes),
    /// `$-1`, `*-1` or `_`
    Null,
    /// `*n`
    Array(Vec<Frame>),
    /// `,d` (kept as text so roundtrips are exact)
    Double(String),
    /// `#t` / `#f`
    Boolean(bool),
    /// `(n` (kept as text)
    BigNumber(String),
    /// `=len fmt:payload`
    Verbatim(Bytes),
    /// `%n` key/value pairs
    Map(Vec<(Frame, Frame)>),
    /// `~n`
    Set(Vec<Frame>),
    /// `>n`
    Push(Vec<Frame>),
}

impl Frame {
    /// Serialises this frame exactly as RESP3 (RESP2 frames are a subset).
    pub fn write(&self, buf: &mut BytesMut) {
        fn line(buf: &mut BytesMut, p: u8, s: &str) {
            buf.put_u8(p);
            buf.put_slice(s.as_bytes());
            buf.put_slice(b"\r\n");
        }
        match self {
            Frame::Simple(s) => line(buf, b'+', s),
            // A simple error cannot carry CR or LF; such text (from a RESP3
            // blob error) is written back as a blob error.
            Frame::Error(s) if s.contains(['\r', '\n']) => {
                line(buf, b'!', &s.len().to_string());
                buf.put_slice(s.as_bytes());
                buf.put_slice(b"\r\n");
            }
            Frame::Error(s) => line(buf, b'-', s),
            Frame::Integer(n) => line(buf, b':', &n.to_string()),
            Frame::Bulk(b) => {
                line(buf, b'$', &b.len().to_string());
                buf.put_slice(b);
                buf.put_slice(b"\r\n");
            }
            Frame::Null => buf.put_slice(b"_\r\n"),
            Frame::Array(items) | Frame::Set(items) | Frame::Push(items) => {
                let p = match self {
                    Frame::Array(_) => b'*',
                    Frame::Set(_) => b'~',
                    _ => b'>',
                };
                line(buf, p, &items.len().to_string());
                for f in items {
                    f.write(buf);
                }
            }
            Frame::Double(s) => line(buf, b',', s),
            Frame::Boolean(b) => line(buf, b'#', if *b { "t" } else { "f" }),
            Frame::BigNumber(s) => line(buf, b'(', s),
            Frame::Verbatim(b) => {
                line(buf, b'=', &b.len().to_string());
                buf.put_slice(b);
                buf.put_slice(b"\r\n");
            }
            Frame::Map(pairs) => {
                line(buf, b'%', &pairs.len().to_string());
                for (k, v) in pairs {
                    k.write(buf);
                    v.write(buf);
                }
            }
        }
    }
}

/// Parses one frame from the front of `buf`. `Ok(Some((frame, used)))` on
/// success, `Ok(None)` if the frame is not complete yet.
pub fn parse_frame(buf: &[u8]) -> Result<Option<(Frame, usize)>, ProtocolError> {
    let mut pos = 0;
    match parse_at(buf, &mut pos, 0)? {
        Some(f) => Ok(Some((f, pos))),
        None => Ok(None),
    }
}

fn read_line<'a>(buf: &'a [u8], pos: &mut usize) -> Option<&'a [u8]> {
    let rest = buf.get(*pos..)?;
    let cr = rest.windows(2).position(|w| w == b"\r\n")?;
    let line = rest.get(..cr)?;
    *pos += cr + 2;
    Some(line)
}

fn text(line: &[u8]) -> Result<String, ProtocolError> {
    String::from_utf8(line.to_vec()).map_err(|_| ProtocolError::InvalidFrame("non-UTF-8 line"))
}

fn int(line: &[u8]) -> Result<i64, ProtocolError> {
    std::str::from_utf8(line)
        .ok()
        .and_then(|s| s.parse().ok())
        .ok_or(ProtocolError::InvalidFrame("invalid integer"))
}

fn parse_at(buf: &[u8], pos: &mut usize, depth: usize) -> Result<Option<Frame>, ProtocolError> {
    if depth > MAX_DEPTH {
        return Err(ProtocolError::InvalidFrame("nesting too deep"));
    }
    let Some(&tag) = buf.get(*pos) else {
        return Ok(None);
    };
    *pos += 1;
    let Some(line) = read_line(buf, pos) else {
        return Ok(None);
    };
    let frame = match tag {
        b'+' => Frame::Simple(text(line)?),
        b'-' => Frame::Error(text(line)?),
        b':' => Frame::Integer(int(line)?),
        b',' => Frame::Double(text(line)?),
        b'(' => Frame::BigNumber(text(line)?),
        b'_' => Frame::Null,
        b'#' => match line {
            b"t" => Frame::Boolean(true),
            b"f" => Frame::Boolean(false),
            _ => return Err(ProtocolError::InvalidFrame("invalid boolean")),
        },
        b'$' | b'=' | b'!' => {
            let n = int(line)?;
            if n == -1 && tag == b'$' {
                return Ok(Some(Frame::Null));
            }
            let n = usize::try_from(n).map_err(|_| ProtocolError::InvalidFrame("bad length"))?;
            let end = pos
                .checked_add(n)
                .ok_or(ProtocolError::InvalidFrame("bad length"))?;
            if buf.len() < end + 2 {
                return Ok(None);
            }
            let data = Bytes::copy_from_slice(buf.get(*pos..end).unwrap_or_default());
            if buf.get(end..end + 2) != Some(b"\r\n") {
                return Err(ProtocolError::InvalidFrame("missing CRLF after bulk"));
            }
            *pos = end + 2;
            match tag {
                b'$' => Frame::Bulk(data),
                b'=' => Frame::Verbatim(data),
                _ => Frame::Error(String::from_utf8_lossy(&data).into_owned()),
            }
        }
        b'*' | b'~' | b'>' | b'%' => {
            let n = int(line)?;
            if n == -1 && tag == b'*' {
                return Ok(Some(Frame::Null));
            }
            let n = usize::try_from(n).map_err(|_| ProtocolError::InvalidFrame("bad length"))?;
            if tag == b'%' {
                let mut pairs = Vec::with_capacity(n.min(1024));
                for _ in 0..n {
                    let Some(k) = parse_at(buf, pos, depth + 1)? else {
                        return Ok(None);
                    };
                    let Some(v) = parse_at(buf, pos, depth + 1)? else {
                        return Ok(None);
                    };
                    pairs.push((k, v));
                }
                Frame::Map(pairs)
            } else {
                let mut items = Vec::with_capacity(n.min(1024));
                for _ in 0..n {
                    let Some(f) = parse_at(buf, pos, depth + 1)? else {
                        return Ok(None);
                    };
                    items.push(f);
                }
                match tag {
                    b'*' => Frame::Array(items),
                    b'~' => Frame::Set(items),
                    _ => Frame::Push(items),
                }
            }
        }
        _ => return Err(ProtocolError::InvalidFrame("unknown type byte")),
    };
    Ok(Some(frame))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nested_roundtrip() {
        let f = Frame::Map(vec![(
            Frame::Bulk(Bytes::from("k")),
            Frame::Array(vec![Frame::Integer(-3), Frame::Null, Frame::Boolean(true)]),
        )]);
        let mut b = BytesMut::new();
        f.write(&mut b);
        assert_eq!(parse_frame(&b).unwrap(), Some((f, b.len())));
    }

    #[test]
    fn blob_error_with_crlf_roundtrips() {
        // Found by the fuzzer: `!5` carrying "b\r\n%0" used to be written as
        // a simple error, which split it into two frames.
        let (f, _) = parse_frame(b"!5\r\nb\r\n%0\r\n").unwrap().unwrap();
        let mut b = BytesMut::new();
        f.write(&mut b);
        assert_eq!(parse_frame(&b).unwrap().unwrap().0, f);
    }

    #[test]
    fn incomplete_is_none() {
        assert_eq!(parse_frame(b"*2\r\n:1\r\n").unwrap(), None);
        assert_eq!(parse_frame(b"$5\r\nab").unwrap(), None);
    }

    #[test]
    fn deep_nesting_is_refused() {
        let deep = "*1\r\n".repeat(MAX_DEPTH + 5);
        assert!(parse_frame(deep.as_bytes()).is_err());
    }
}
