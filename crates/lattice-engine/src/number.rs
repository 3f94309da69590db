//! Numbers as Redis reads and writes them: strict integer parsing
//! (`string2ll`), floats as C's `strtod` reads them (hex floats, `inf`,
//! overflow as ERANGE) with Redis's `getDoubleFromObject` rules on top, and
//! `%.17g` formatting. One implementation serves every command family.

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

/// What `strtod` made of a prefix of its input.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Strtod {
    /// The value converted.
    pub value: f64,
    /// Bytes consumed; 0 when nothing was converted.
    pub used: usize,
    /// `errno == ERANGE`: overflow to ±inf or underflow to 0.
    pub erange: bool,
}

impl Strtod {
    /// A converted number: `value` from `used` bytes whose digits were not
    /// all zero when `nonzero`. glibc reports ERANGE on overflow and on
    /// underflow, subnormal results included.
    fn converted(value: f64, used: usize, nonzero: bool) -> Strtod {
        let erange = value.is_infinite()
            || (value == 0.0 && nonzero)
            || (value != 0.0 && value.abs() < f64::MIN_POSITIVE);
        Strtod {
            value,
            used,
            erange,
        }
    }
}

/// C's `isspace` in the C locale.
pub fn is_c_space(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r')
}

fn starts_with_ci(s: &[u8], prefix: &[u8]) -> bool {
    s.get(..prefix.len())
        .is_some_and(|p| p.eq_ignore_ascii_case(prefix))
}

fn hex_val(c: u8) -> Option<u64> {
    (c as char).to_digit(16).map(u64::from)
}

/// C's `strtod` (glibc): leading blanks, a sign, then a decimal or hex
/// float, `inf`, `infinity` or `nan[(…)]`.
pub fn strtod(s: &[u8]) -> Strtod {
    let none = Strtod {
        value: 0.0,
        used: 0,
        erange: false,
    };
    let at = |i: usize| s.get(i).copied().unwrap_or(0);
    let mut i = 0;
    while is_c_space(at(i)) {
        i += 1;
    }
    let neg = at(i) == b'-';
    if matches!(at(i), b'+' | b'-') {
        i += 1;
    }
    let sign = if neg { -1.0 } else { 1.0 };
    let rest = s.get(i..).unwrap_or(&[]);
    if starts_with_ci(rest, b"infinity") {
        return Strtod {
            value: sign * f64::INFINITY,
            used: i + 8,
            erange: false,
        };
    }
    if starts_with_ci(rest, b"inf") {
        return Strtod {
            value: sign * f64::INFINITY,
            used: i + 3,
            erange: false,
        };
    }
    if starts_with_ci(rest, b"nan") {
        let mut used = i + 3;
        if at(used) == b'(' {
            let mut j = used + 1;
            while at(j).is_ascii_alphanumeric() || at(j) == b'_' {
                j += 1;
            }
            if at(j) == b')' {
                used = j + 1;
            }
        }
        return Strtod {
            value: f64::NAN,
            used,
            erange: false,
        };
    }
    if at(i) == b'0' && matches!(at(i + 1), b'x' | b'X') {
        let digit_follows =
            hex_val(at(i + 2)).is_some() || (at(i + 2) == b'.' && hex_val(at(i + 3)).is_some());
        if digit_follows {
            return strtod_hex(s, i + 2, sign);
        }
    }
    // Decimal: digits [. digits] [e [sign] digits].
    let start = i;
    let mut nonzero = false;
    let mut digits = 0;
    while at(i).is_ascii_digit() {
        nonzero |= at(i) != b'0';
        digits += 1;
        i += 1;
    }
    if at(i) == b'.' {
        i += 1;
        while at(i).is_ascii_digit() {
            nonzero |= at(i) != b'0';
            digits += 1;
            i += 1;
        }
    }
    if digits == 0 {
        return none;
    }
    if matches!(at(i), b'e' | b'E') {
        let mut j = i + 1;
        if matches!(at(j), b'+' | b'-') {
            j += 1;
        }
        if at(j).is_ascii_digit() {
            while at(j).is_ascii_digit() {
                j += 1;
            }
            i = j;
        }
    }
    // Rust's float grammar accepts every form matched above ("5.", ".5",
    // "1E+5"), rounding correctly as glibc does.
    let text = std::str::from_utf8(s.get(start..i).unwrap_or(&[])).unwrap_or("");
    let value = sign * text.parse::<f64>().unwrap_or(0.0);
    Strtod::converted(value, i, nonzero)
}

/// The hex part of [`strtod`], from the first digit after `0x`.
fn strtod_hex(s: &[u8], mut i: usize, sign: f64) -> Strtod {
    let at = |i: usize| s.get(i).copied().unwrap_or(0);
    let mut mant: u64 = 0;
    let mut exp2: i64 = 0;
    let mut nonzero = false;
    while let Some(d) = hex_val(at(i)) {
        nonzero |= d != 0;
        if mant < (1 << 59) {
            mant = mant * 16 + d;
        } else {
            exp2 += 4;
        }
        i += 1;
    }
    if at(i) == b'.' {
        i += 1;
        while let Some(d) = hex_val(at(i)) {
            nonzero |= d != 0;
            if mant < (1 << 59) {
                mant = mant * 16 + d;
                exp2 -= 4;
            }
            i += 1;
        }
    }
    if matches!(at(i), b'p' | b'P') {
        let mut j = i + 1;
        let neg = at(j) == b'-';
        if matches!(at(j), b'+' | b'-') {
            j += 1;
        }
        if at(j).is_ascii_digit() {
            let mut e: i64 = 0;
            while at(j).is_ascii_digit() {
                e = (e * 10 + i64::from(at(j) - b'0')).min(1 << 20);
                j += 1;
            }
            exp2 += if neg { -e } else { e };
            i = j;
        }
    }
    // Scale in steps so no intermediate power of two overflows.
    let mut value = mant as f64;
    let mut e = exp2.clamp(-4000, 4000);
    while e != 0 && value != 0.0 && value.is_finite() {
        let step = e.clamp(-1000, 1000);
        value *= 2f64.powi(step as i32);
        e -= step;
    }
    let value = sign * value;
    Strtod::converted(value, i, nonzero)
}

/// A float argument as Redis's `getDoubleFromObject` takes it: the whole
/// string, no leading blank, no NaN, no overflow or underflow to zero.
pub fn parse_f64(s: &[u8]) -> Option<f64> {
    if s.first().is_none_or(|&c| is_c_space(c)) {
        return None;
    }
    let r = strtod(s);
    if r.used != s.len()
        || r.value.is_nan()
        || (r.erange && (r.value.is_infinite() || r.value == 0.0))
    {
        return None;
    }
    Some(r.value)
}

/// Cuts a C string at its first NUL, as `strtod`-based parsers see it.
pub fn c_str(s: &[u8]) -> &[u8] {
    s.iter()
        .position(|&c| c == 0)
        .and_then(|p| s.get(..p))
        .unwrap_or(s)
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
        return if v.is_sign_negative() {
            "-0".into()
        } else {
            "0".into()
        };
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
        format!("{v:.17}")
            .trim_end_matches('0')
            .trim_end_matches('.')
            .to_string()
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
