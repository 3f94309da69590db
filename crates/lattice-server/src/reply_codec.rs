//! #[PerformanceCriticalPath]
//! Encodes engine [`Reply`] values as RESP2 or RESP3 frames.

use bytes::BytesMut;
use lattice_engine::{number::format_double, Reply};
use lattice_resp::encode::{self, Version};

/// Appends `reply` to `buf` in the connection's protocol version.
pub fn write_reply(buf: &mut BytesMut, reply: &Reply, v: Version) {
    match reply {
        Reply::Ok => buf.extend_from_slice(b"+OK\r\n"),
        Reply::Status(s) => encode::simple(buf, s),
        Reply::Int(n) => encode::integer(buf, *n),
        Reply::Bulk(b) => encode::bulk(buf, b),
        Reply::Nil => encode::null(buf, v),
        Reply::NilArray => encode::null_array(buf, v),
        Reply::Array(items) => {
            encode::array_header(buf, items.len());
            for r in items {
                write_reply(buf, r, v);
            }
        }
        Reply::Set(items) => {
            encode::set_header(buf, items.len(), v);
            for r in items {
                write_reply(buf, r, v);
            }
        }
        Reply::Map(pairs) => {
            encode::map_header(buf, pairs.len(), v);
            for (k, val) in pairs {
                write_reply(buf, k, v);
                write_reply(buf, val, v);
            }
        }
        Reply::Pairs(pairs) => match v {
            Version::Resp3 => {
                encode::array_header(buf, pairs.len());
                for (a, b) in pairs {
                    encode::array_header(buf, 2);
                    write_reply(buf, a, v);
                    write_reply(buf, b, v);
                }
            }
            Version::Resp2 => {
                encode::array_header(buf, pairs.len() * 2);
                for (a, b) in pairs {
                    write_reply(buf, a, v);
                    write_reply(buf, b, v);
                }
            }
        },
        Reply::Double(d) => encode::double(buf, &format_double(*d), v),
        Reply::Bool(b) => encode::boolean(buf, *b, v),
        Reply::Verbatim(s) => encode::verbatim(buf, s.as_bytes(), v),
        Reply::Error(e) => encode::error(buf, &e.wire_text()),
        // A WouldBlock never reaches the wire: dispatch turns it into waiting.
        Reply::WouldBlock { .. } => encode::null_array(buf, v),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    fn enc(r: &Reply, v: Version) -> Vec<u8> {
        let mut b = BytesMut::new();
        write_reply(&mut b, r, v);
        b.to_vec()
    }

    #[test]
    fn pairs_nest_in_resp3_and_flatten_in_resp2() {
        let r = Reply::Pairs(vec![(Reply::Bulk(Bytes::from("a")), Reply::Double(1.5))]);
        assert_eq!(enc(&r, Version::Resp2), b"*2\r\n$1\r\na\r\n$3\r\n1.5\r\n");
        assert_eq!(enc(&r, Version::Resp3), b"*1\r\n*2\r\n$1\r\na\r\n,1.5\r\n");
    }

    #[test]
    fn nulls_and_doubles() {
        assert_eq!(enc(&Reply::Nil, Version::Resp2), b"$-1\r\n");
        assert_eq!(enc(&Reply::NilArray, Version::Resp3), b"_\r\n");
        assert_eq!(
            enc(&Reply::Double(0.1), Version::Resp3),
            b",0.10000000000000001\r\n"
        );
    }
}
