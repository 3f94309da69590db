//! Inline commands (`PING\r\n`, what `telnet` sends): splitting a line into
//! arguments with the quoting rules of Redis's `sdssplitargs`.

use crate::ProtocolError;

fn hex_val(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

fn is_space(c: u8) -> bool {
    matches!(c, b' ' | b'\n' | b'\r' | b'\t' | 0x0b | 0x0c)
}

/// Splits one inline line into arguments, as `sdssplitargs` does: blanks separate
/// arguments; `"…"` understands `\n \r \t \b \a \\ \" \xHH`; `'…'` understands `\'`.
/// A closing quote must be followed by a blank or the end of the line.
pub fn split_inline_args(line: &[u8]) -> Result<Vec<Vec<u8>>, ProtocolError> {
    let mut args = Vec::new();
    let mut i = 0;
    let n = line.len();
    loop {
        while i < n && line.get(i).copied().is_some_and(is_space) {
            i += 1;
        }
        if i >= n {
            return Ok(args);
        }
        let mut cur = Vec::new();
        let mut in_dq = false;
        let mut in_sq = false;
        loop {
            let Some(&c) = line.get(i) else {
                if in_dq || in_sq {
                    return Err(ProtocolError::UnbalancedQuotes);
                }
                break;
            };
            if in_dq {
                if c == b'\\' && line.get(i + 1) == Some(&b'x') {
                    if let (Some(h), Some(l)) = (
                        line.get(i + 2).copied().and_then(hex_val),
                        line.get(i + 3).copied().and_then(hex_val),
                    ) {
                        cur.push(h * 16 + l);
                        i += 4;
                        continue;
                    }
                }
                if c == b'\\' {
                    if let Some(&e) = line.get(i + 1) {
                        cur.push(match e {
                            b'n' => b'\n',
                            b'r' => b'\r',
                            b't' => b'\t',
                            b'b' => 0x08,
                            b'a' => 0x07,
                            other => other,
                        });
                        i += 2;
                        continue;
                    }
                }
                if c == b'"' {
                    // The closing quote must be followed by a space or nothing.
                    if line.get(i + 1).is_some_and(|&nx| !is_space(nx)) {
                        return Err(ProtocolError::UnbalancedQuotes);
                    }
                    i += 1;
                    break;
                }
                cur.push(c);
                i += 1;
            } else if in_sq {
                if c == b'\\' && line.get(i + 1) == Some(&b'\'') {
                    cur.push(b'\'');
                    i += 2;
                    continue;
                }
                if c == b'\'' {
                    if line.get(i + 1).is_some_and(|&nx| !is_space(nx)) {
                        return Err(ProtocolError::UnbalancedQuotes);
                    }
                    i += 1;
                    break;
                }
                cur.push(c);
                i += 1;
            } else {
                match c {
                    b' ' | b'\n' | b'\r' | b'\t' | 0 => {
                        i += 1;
                        break;
                    }
                    b'"' => in_dq = true,
                    b'\'' => in_sq = true,
                    _ => cur.push(c),
                }
                i += 1;
            }
        }
        args.push(cur);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_words() {
        assert_eq!(
            split_inline_args(b"set  foo bar").unwrap(),
            vec![b"set".to_vec(), b"foo".to_vec(), b"bar".to_vec()]
        );
    }

    #[test]
    fn quotes_and_escapes() {
        assert_eq!(
            split_inline_args(br#"set "a b\x41\n" 'it\'s'"#).unwrap(),
            vec![b"set".to_vec(), b"a bA\n".to_vec(), b"it's".to_vec()]
        );
    }

    #[test]
    fn unbalanced_quotes_are_an_error() {
        assert_eq!(
            split_inline_args(b"set \"foo"),
            Err(ProtocolError::UnbalancedQuotes)
        );
        assert_eq!(
            split_inline_args(b"set \"foo\"bar"),
            Err(ProtocolError::UnbalancedQuotes)
        );
        assert_eq!(
            split_inline_args(b"set 'x"),
            Err(ProtocolError::UnbalancedQuotes)
        );
    }

    #[test]
    fn empty_line_is_no_args() {
        assert!(split_inline_args(b"   ").unwrap().is_empty());
    }
}
