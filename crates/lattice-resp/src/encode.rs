//! #[PerformanceCriticalPath]
//! Writing reply frames. Each function appends one frame (or a frame header) to
//! a buffer; the RESP version decides how RESP3-only types degrade in RESP2
//! (maps become flat arrays, doubles bulk strings, null the `$-1` form).

use bytes::{BufMut, BytesMut};

/// The protocol version a connection speaks (`HELLO 2|3`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Version {
    /// RESP2, the default.
    #[default]
    Resp2,
    /// RESP3.
    Resp3,
}

fn put_int_line(buf: &mut BytesMut, prefix: u8, n: i64) {
    let mut b = itoa::Buffer::new();
    buf.put_u8(prefix);
    buf.put_slice(b.format(n).as_bytes());
    buf.put_slice(b"\r\n");
}

/// `+text\r\n`. The text must contain no CR or LF; callers pass fixed strings.
pub fn simple(buf: &mut BytesMut, text: &str) {
    buf.put_u8(b'+');
    buf.put_slice(text.as_bytes());
    buf.put_slice(b"\r\n");
}

/// `-text\r\n`; CR and LF inside the text are replaced by spaces, as Redis does.
pub fn error(buf: &mut BytesMut, text: &str) {
    buf.put_u8(b'-');
    for &b in text.as_bytes() {
        buf.put_u8(if b == b'\r' || b == b'\n' { b' ' } else { b });
    }
    buf.put_slice(b"\r\n");
}

/// `:n\r\n`.
pub fn integer(buf: &mut BytesMut, n: i64) {
    put_int_line(buf, b':', n);
}

/// `$len\r\nbytes\r\n`.
pub fn bulk(buf: &mut BytesMut, data: &[u8]) {
    put_int_line(buf, b'$', data.len() as i64);
    buf.put_slice(data);
    buf.put_slice(b"\r\n");
}

/// The null bulk: `$-1` in RESP2, `_` in RESP3.
pub fn null(buf: &mut BytesMut, v: Version) {
    match v {
        Version::Resp2 => buf.put_slice(b"$-1\r\n"),
        Version::Resp3 => buf.put_slice(b"_\r\n"),
    }
}

/// The null array: `*-1` in RESP2, `_` in RESP3.
pub fn null_array(buf: &mut BytesMut, v: Version) {
    match v {
        Version::Resp2 => buf.put_slice(b"*-1\r\n"),
        Version::Resp3 => buf.put_slice(b"_\r\n"),
    }
}

/// An array header `*n`.
pub fn array_header(buf: &mut BytesMut, n: usize) {
    put_int_line(buf, b'*', n as i64);
}

/// A set header: `~n` in RESP3, an array in RESP2.
pub fn set_header(buf: &mut BytesMut, n: usize, v: Version) {
    put_int_line(buf, if v == Version::Resp3 { b'~' } else { b'*' }, n as i64);
}

/// A map header of `n` pairs: `%n` in RESP3, a flat array of `2n` in RESP2.
pub fn map_header(buf: &mut BytesMut, n: usize, v: Version) {
    match v {
        Version::Resp3 => put_int_line(buf, b'%', n as i64),
        Version::Resp2 => put_int_line(buf, b'*', (n * 2) as i64),
    }
}

/// A push header `>n` (RESP3); RESP2 clients get an array (pub/sub messages).
pub fn push_header(buf: &mut BytesMut, n: usize, v: Version) {
    put_int_line(buf, if v == Version::Resp3 { b'>' } else { b'*' }, n as i64);
}

/// A double: `,text` in RESP3, a bulk string in RESP2. `text` is already
/// formatted (Redis formats doubles differently per command).
pub fn double(buf: &mut BytesMut, text: &str, v: Version) {
    match v {
        Version::Resp3 => {
            buf.put_u8(b',');
            buf.put_slice(text.as_bytes());
            buf.put_slice(b"\r\n");
        }
        Version::Resp2 => bulk(buf, text.as_bytes()),
    }
}

/// A boolean: `#t`/`#f` in RESP3, `:1`/`:0` in RESP2.
pub fn boolean(buf: &mut BytesMut, b: bool, v: Version) {
    match v {
        Version::Resp3 => buf.put_slice(if b { b"#t\r\n" } else { b"#f\r\n" }),
        Version::Resp2 => integer(buf, i64::from(b)),
    }
}

/// Verbatim text (`=len\r\ntxt:...`) in RESP3, a bulk string in RESP2.
pub fn verbatim(buf: &mut BytesMut, data: &[u8], v: Version) {
    match v {
        Version::Resp3 => {
            put_int_line(buf, b'=', (data.len() + 4) as i64);
            buf.put_slice(b"txt:");
            buf.put_slice(data);
            buf.put_slice(b"\r\n");
        }
        Version::Resp2 => bulk(buf, data),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_text_loses_newlines() {
        let mut b = BytesMut::new();
        error(&mut b, "ERR a\r\nb");
        assert_eq!(&b[..], b"-ERR a  b\r\n");
    }

    #[test]
    fn map_degrades_in_resp2() {
        let mut b = BytesMut::new();
        map_header(&mut b, 2, Version::Resp2);
        map_header(&mut b, 2, Version::Resp3);
        assert_eq!(&b[..], b"*4\r\n%2\r\n");
    }
}
