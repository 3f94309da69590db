//! Numbers as Redis reads and writes them: strict integer parsing
//! (`string2ll`), float parsing (`strtod` minus NaN), and `%.17g` formatting.

use crate::CmdError;

/// Parses an integer as Redis's `string2ll`: optional `-`, no `+`, no leading
/// zeros, no blanks, within `i64`.
pub fn parse_i64(s: &[u8]) -> Option<i64> {
    if s == b"0" {
        return Some(0);
    }
    let (neg, body) = match s.split_first() {
        Some((b'-', rest)) => (true, rest),
        _ => (false, s),
    };
    match body.first() {
        Some(b'1'..=b'9') => {}
        _ => return None,
    }
    if body.len() > 19 {
        return None;
    }
    let mut v: u64 = 0;
    for &c in body {
        if !c.is_ascii_digit() {
            return None;
        }
        v = v.checked_mul(10)?.checked_add(u64::from(c - b'0'))?;
    }
    if neg {
        if v > i64::MAX as u64 + 1 {
            None
        } else {
            Some((v as i128).wrapping_neg() as i64)
        }
    } else {
        i64::try_from(v).ok()
    }
}

/// Parses an integer argument, or `ERR value is not an integer or out of range`.
pub fn arg_i64(s: &[u8]) -> Result<i64, CmdError> {
    parse_i64(s).ok_or(CmdError::NotInteger)
}

/// Parses a float as Redis does (`strtod`, rejecting NaN, blanks and trailing
/// bytes). Accepts `inf`, `-inf`, `+inf`, exponents.
pub fn parse_f64(s: &[u8]) -> Option<f64> {
    let text = std::str::from_utf8(s).ok()?;
    if text.is_empty() || text.starts_with(|c: char| c.is_whitespace()) {
        return None;
    }
    let v: f64 = match text.to_ascii_lowercase().as_str() {
        "inf" | "+inf" | "infinity" | "+infinity" => f64::INFINITY,
        "-inf" | "-infinity" => f64::NEG_INFINITY,
        _ => text.parse().ok()?,
    };
    if v.is_nan() {
        None
    } else {
        Some(v)
    }
}

/// Parses a float argument, or `ERR value is not a valid float`.
pub fn arg_f64(s: &[u8]) -> Result<f64, CmdError> {
    parse_f64(s).ok_or(CmdError::NotFloat)
}

/// Formats a double as Redis's `d2string`: integers in the exact range print
/// as integers, others as C's `%.17g`; `inf`, `-inf`.
pub fn format_double(v: f64) -> String {
    if v.is_nan() {
        return "nan".into();
    }
    if v.is_infinite() {
        return if v > 0.0 { "inf".into() } else { "-inf".into() };
    }
    if v == 0.0 {
        return if v.is_sign_negative() { "-0".into() } else { "0".into() };
    }
    if v > -4_503_599_627_370_495.0 && v < 4_503_599_627_370_496.0 && v == (v as i64) as f64 {
        return (v as i64).to_string();
    }
    format_g17(v)
}

/// C's `%.17g` for a finite, non-zero double.
fn format_g17(v: f64) -> String {
    let sci = format!("{v:.16e}"); // d.dddddddddddddddde±X
    let (mant, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let neg = mant.starts_with('-');
    let digits: String = mant.chars().filter(char::is_ascii_digit).collect();
    let mut out = String::new();
    if neg {
        out.push('-');
    }
    if !(-4..17).contains(&exp) {
        let (first, rest) = digits.split_at(1);
        let rest = rest.trim_end_matches('0');
        out.push_str(first);
        if !rest.is_empty() {
            out.push('.');
            out.push_str(rest);
        }
        out.push('e');
        out.push(if exp < 0 { '-' } else { '+' });
        out.push_str(&format!("{:02}", exp.abs()));
    } else if exp < 0 {
        out.push_str("0.");
        for _ in 0..(-exp - 1) {
            out.push('0');
        }
        out.push_str(digits.trim_end_matches('0'));
    } else {
        let point = (exp + 1) as usize;
        let (int_part, frac) = digits.split_at(point.min(digits.len()));
        out.push_str(int_part);
        let frac = frac.trim_end_matches('0');
        if !frac.is_empty() {
            out.push('.');
            out.push_str(frac);
        }
    }
    out
}

/// Formats the result of `INCRBYFLOAT`/`HINCRBYFLOAT`. Redis prints a long
/// double with `%.17Lf` and trims zeros; the shortest representation that
/// round-trips an `f64` gives the same text for all but extreme magnitudes.
pub fn format_incr_float(v: f64) -> String {
    let s = format!("{v}");
    if s.contains('e') {
        format!("{v:.17}").trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strict_integers() {
        assert_eq!(parse_i64(b"123"), Some(123));
        assert_eq!(parse_i64(b"-9223372036854775808"), Some(i64::MIN));
        assert_eq!(parse_i64(b"9223372036854775808"), None);
        for bad in [&b"+1"[..], b"01", b"-0", b" 1", b"1 ", b"", b"-", b"1a"] {
            assert_eq!(parse_i64(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn g17_matches_redis() {
        assert_eq!(format_double(1.1), "1.1000000000000001");
        assert_eq!(format_double(1e20), "1e+20");
        assert_eq!(format_double(0.1), "0.10000000000000001");
        assert_eq!(format_double(1e-5), "1.0000000000000001e-05");
        assert_eq!(format_double(3e100), "2.9999999999999999e+100");
        assert_eq!(format_double(123456789.123), "123456789.123");
        assert_eq!(format_double(1.3), "1.3");
        assert_eq!(format_double(3.0), "3");
        assert_eq!(format_double(-2.5), "-2.5");
        assert_eq!(format_double(f64::INFINITY), "inf");
    }

    #[test]
    fn floats() {
        assert_eq!(parse_f64(b"1.5"), Some(1.5));
        assert_eq!(parse_f64(b"-inf"), Some(f64::NEG_INFINITY));
        assert_eq!(parse_f64(b"nan"), None);
        assert_eq!(parse_f64(b" 1"), None);
        assert_eq!(parse_f64(b"1x"), None);
        assert_eq!(format_incr_float(10.6), "10.6");
    }
}
