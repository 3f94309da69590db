//! `struct`: binary packing with the behaviour of lua_struct 0.2 as Redis
//! 7.0 bundles it (with Redis's overflow fixes): `pack(fmt, ...)`,
//! `unpack(fmt, s [, pos])` (values, then the next position) and
//! `size(fmt)`. The format options are `>` `<` `!n` ` ` (control), `x`
//! (padding), `b B h H l L T i[n] I[n]` (integers; `l`, `L` and `T` are 8
//! bytes, `i` is 4 unless sized, up to 32), `f d` (floats), `s`
//! (zero-terminated string) and `c[n]` (fixed-length string; `c0` packs the
//! whole string and unpacks with the previous result as its length).
//! Native byte order is little-endian, as on the x86-64 Redis it mirrors,
//! and out-of-range numbers convert as C's casts do there.

use mlua::{Lua, Table, Value};

use super::{
    arg_error, c_double_to_i64, c_double_to_u64, check_number, check_string, opt_integer,
    packed_function, to_number, type_name, Args, Fail, LibResult, Ret, LUA_MAX_CSTACK,
};

/// `MAXINTSIZE`: the widest integer option.
const MAX_INT_SIZE: usize = 32;

/// `MAXALIGN`: the default of `!` (the alignment of a double on x86-64).
const MAX_ALIGN: usize = 8;

#[derive(Clone, Copy, PartialEq)]
enum Endian {
    Big,
    Little,
}

/// `Header`: the byte order and maximum alignment in force.
struct Header {
    endian: Endian,
    align: usize,
}

impl Header {
    fn new() -> Self {
        Header {
            endian: Endian::Little,
            align: 1,
        }
    }
}

/// A format string as the C code reads it: it stops at a NUL.
struct Fmt<'a> {
    s: &'a [u8],
    pos: usize,
}

impl Fmt<'_> {
    fn peek(&self) -> u8 {
        self.s.get(self.pos).copied().unwrap_or(0)
    }

    /// The next option character, or `None` at the end.
    fn next_opt(&mut self) -> Option<u8> {
        match self.peek() {
            0 => None,
            c => {
                self.pos += 1;
                Some(c)
            }
        }
    }

    /// `getnum`: an optional decimal count (at most `INT_MAX`).
    fn getnum(&mut self, default: usize) -> LibResult<usize> {
        if !self.peek().is_ascii_digit() {
            return Ok(default);
        }
        let mut a: i32 = 0;
        while self.peek().is_ascii_digit() {
            let d = i32::from(self.peek() - b'0');
            if a > i32::MAX / 10 || a * 10 > i32::MAX - d {
                return Err("integral size overflow".into());
            }
            a = a * 10 + d;
            self.pos += 1;
        }
        Ok(usize::try_from(a).unwrap_or(0))
    }
}

/// `optsize`: the size of option `opt` (0 for those without one).
fn optsize(opt: u8, fmt: &mut Fmt) -> LibResult<usize> {
    Ok(match opt {
        b'B' | b'b' => 1,
        b'H' | b'h' => 2,
        b'L' | b'l' | b'T' | b'd' => 8,
        b'f' => 4,
        b'x' => 1,
        b'c' => fmt.getnum(1)?,
        b'i' | b'I' => {
            let sz = fmt.getnum(4)?;
            if sz > MAX_INT_SIZE {
                return Err(
                    format!("integral size {sz} is larger than limit of {MAX_INT_SIZE}").into(),
                );
            }
            sz
        }
        _ => 0,
    })
}

/// `gettoalign`: padding before an item of `size` at offset `len`. Wrapping
/// arithmetic on purpose: the C code computes in `size_t` and is only
/// meaningful for power-of-two sizes.
fn gettoalign(len: usize, h: &Header, opt: u8, size: usize) -> usize {
    if size == 0 || opt == b'c' {
        return 0;
    }
    let size = size.min(h.align);
    (size.wrapping_sub(len & size.wrapping_sub(1))) & size.wrapping_sub(1)
}

/// `controloptions`: the options that only change the header.
fn controloptions(opt: u8, fmt: &mut Fmt, h: &mut Header, fname: &str) -> LibResult<()> {
    match opt {
        b' ' => {}
        b'>' => h.endian = Endian::Big,
        b'<' => h.endian = Endian::Little,
        b'!' => {
            let a = fmt.getnum(MAX_ALIGN)?;
            if !a.is_power_of_two() {
                return Err(format!("alignment {a} is not a power of 2").into());
            }
            h.align = a;
        }
        _ => {
            let mut msg = b"invalid format option '".to_vec();
            msg.push(opt);
            msg.push(b'\'');
            return Err(arg_error(fname, 1, msg));
        }
    }
    Ok(())
}

/// Builds the `struct` table.
pub(super) fn module(lua: &Lua) -> mlua::Result<Table> {
    let t = lua.create_table()?;
    t.set("pack", packed_function(lua, pack)?)?;
    t.set("unpack", packed_function(lua, unpack)?)?;
    t.set("size", packed_function(lua, size)?)?;
    Ok(t)
}

/// lua_struct's `pack` reads its values after pushing a nil marker, so an
/// argument just past the last one reads as nil rather than "no value".
fn pack_arg_error(args: &Args, narg: usize, expected: &str) -> LibResult<Fail> {
    let got = if narg == args.len() + 1 {
        "nil"
    } else if args.is_none(narg) {
        "no value"
    } else {
        type_name(&args.get(narg)?)
    };
    Ok(arg_error(
        "pack",
        narg,
        format!("{expected} expected, got {got}"),
    ))
}

fn pack_number(lua: &Lua, args: &Args, narg: usize) -> LibResult<f64> {
    if args.is_none(narg) {
        return Err(pack_arg_error(args, narg, "number")?);
    }
    check_number(lua, args, narg, "pack")
}

/// `b_pack`.
fn pack(lua: &Lua, args: &Args) -> LibResult<Ret> {
    let fmt_s = check_string(lua, args, 1, "pack")?;
    let fmt_b = fmt_s.as_bytes();
    let mut fmt = Fmt { s: &fmt_b, pos: 0 };
    let mut h = Header::new();
    let mut arg = 2;
    let mut out: Vec<u8> = Vec::new();
    while let Some(opt) = fmt.next_opt() {
        let mut size = optsize(opt, &mut fmt)?;
        let toalign = gettoalign(out.len(), &h, opt, size);
        out.resize(out.len() + toalign, 0);
        match opt {
            b'b' | b'B' | b'h' | b'H' | b'l' | b'L' | b'T' | b'i' | b'I' => {
                let n = pack_number(lua, args, arg)?;
                arg += 1;
                // (Uinttype)(Inttype)n for negatives, (Uinttype)n otherwise.
                let mut value = if n < 0.0 {
                    c_double_to_i64(n) as u64
                } else {
                    c_double_to_u64(n)
                };
                let mut buf = vec![0u8; size];
                // Bytes past the eighth are zero, even for negative values.
                let mut put = |slot: &mut u8| {
                    *slot = (value & 0xff) as u8;
                    value >>= 8;
                };
                if h.endian == Endian::Little {
                    buf.iter_mut().for_each(&mut put);
                } else {
                    buf.iter_mut().rev().for_each(&mut put);
                }
                out.extend_from_slice(&buf);
            }
            b'x' => out.push(0),
            b'f' => {
                // C's double-to-float conversion rounds to nearest like `as`.
                #[allow(clippy::cast_possible_truncation)]
                let f = pack_number(lua, args, arg)? as f32;
                arg += 1;
                out.extend_from_slice(&match h.endian {
                    Endian::Little => f.to_le_bytes(),
                    Endian::Big => f.to_be_bytes(),
                });
            }
            b'd' => {
                let d = pack_number(lua, args, arg)?;
                arg += 1;
                out.extend_from_slice(&match h.endian {
                    Endian::Little => d.to_le_bytes(),
                    Endian::Big => d.to_be_bytes(),
                });
            }
            b'c' | b's' => {
                if args.is_none(arg) {
                    return Err(pack_arg_error(args, arg, "string")?);
                }
                let s = check_string(lua, args, arg, "pack")?;
                arg += 1;
                let s = s.as_bytes();
                if size == 0 {
                    size = s.len();
                }
                // lua_struct reports the argument after the string here.
                let part = s
                    .get(..size)
                    .ok_or_else(|| arg_error("pack", arg, "string too short"))?;
                out.extend_from_slice(part);
                if opt == b's' {
                    out.push(0);
                }
            }
            _ => controloptions(opt, &mut fmt, &mut h, "pack")?,
        }
    }
    Ok(Ret::One(Value::String(lua.create_string(out)?)))
}

/// `getinteger`: `size` bytes as an integer; only the last eight count.
fn getinteger(bytes: &[u8], endian: Endian, signed: bool, size: usize) -> f64 {
    let mut l: u64 = 0;
    let mut take = |b: &u8| l = (l << 8) | u64::from(*b);
    match endian {
        Endian::Big => bytes.iter().for_each(&mut take),
        Endian::Little => bytes.iter().rev().for_each(&mut take),
    }
    if !signed {
        // A Lua number is a double.
        #[allow(clippy::cast_precision_loss)]
        return l as f64;
    }
    // `~0 << (size*8 - 1)` with x86's shift (the count taken modulo 64).
    let shift = (size as i64 * 8 - 1) as u32;
    let mask = u64::MAX.wrapping_shl(shift);
    if l & mask != 0 {
        l |= mask;
    }
    #[allow(clippy::cast_precision_loss, clippy::cast_possible_wrap)]
    let v = l as i64 as f64;
    v
}

/// `b_unpack`.
fn unpack(lua: &Lua, args: &Args) -> LibResult<Ret> {
    let fmt_s = check_string(lua, args, 1, "unpack")?;
    let data_s = check_string(lua, args, 2, "unpack")?;
    let fmt_b = fmt_s.as_bytes();
    let data = data_s.as_bytes();
    let ld = data.len();
    // size_t arithmetic: a negative position wraps to a huge one.
    let pos = opt_integer(lua, args, 3, "unpack", 1)? as u64 as usize;
    if pos == 0 {
        return Err(arg_error("unpack", 3, "offset must be 1 or greater"));
    }
    let mut pos = pos - 1;
    let mut fmt = Fmt { s: &fmt_b, pos: 0 };
    let mut h = Header::new();
    let out = lua.create_table()?;
    let mut n: usize = 0;
    // What `lua_isnumber`/`lua_tonumber` see in the previous result (for `c0`).
    let mut last: Option<Value> = None;
    let short = || arg_error("unpack", 2, "data string too short");
    while let Some(opt) = fmt.next_opt() {
        let mut size = optsize(opt, &mut fmt)?;
        pos = pos.wrapping_add(gettoalign(pos, &h, opt, size));
        if size > ld || pos > ld - size {
            return Err(short());
        }
        // luaL_checkstack(L, 2): the arguments and results so far, plus two.
        if args.len() + n + 2 > LUA_MAX_CSTACK {
            return Err("stack overflow (too many results)".into());
        }
        let item = data.get(pos..pos + size).ok_or_else(short)?;
        let value = match opt {
            b'b' | b'B' | b'h' | b'H' | b'l' | b'L' | b'T' | b'i' | b'I' => Some(Value::Number(
                getinteger(item, h.endian, opt.is_ascii_lowercase(), size),
            )),
            b'x' => None,
            b'f' => {
                let mut b = [0u8; 4];
                b.copy_from_slice(item);
                let f = match h.endian {
                    Endian::Little => f32::from_le_bytes(b),
                    Endian::Big => f32::from_be_bytes(b),
                };
                Some(Value::Number(f64::from(f)))
            }
            b'd' => {
                let mut b = [0u8; 8];
                b.copy_from_slice(item);
                Some(Value::Number(match h.endian {
                    Endian::Little => f64::from_le_bytes(b),
                    Endian::Big => f64::from_be_bytes(b),
                }))
            }
            b'c' => {
                if size == 0 {
                    let prev = match &last {
                        Some(v) if n > 0 => to_number(lua, v)?,
                        _ => None,
                    };
                    let Some(prev) = prev else {
                        return Err("format 'c0' needs a previous size".into());
                    };
                    size = c_double_to_u64(prev) as usize;
                    out.raw_set(n, Value::Nil)?;
                    n -= 1;
                    if size > ld || pos > ld - size {
                        return Err(short());
                    }
                }
                let s = data.get(pos..pos + size).ok_or_else(short)?;
                Some(Value::String(lua.create_string(s)?))
            }
            b's' => {
                let rest = data.get(pos..).unwrap_or_default();
                let Some(z) = rest.iter().position(|&b| b == 0) else {
                    return Err("unfinished string in data".into());
                };
                size = z + 1;
                Some(Value::String(
                    lua.create_string(rest.get(..z).unwrap_or_default())?,
                ))
            }
            _ => {
                controloptions(opt, &mut fmt, &mut h, "unpack")?;
                None
            }
        };
        if let Some(v) = value {
            n += 1;
            out.raw_set(n, v.clone())?;
            last = Some(v);
        }
        pos = pos.wrapping_add(size);
    }
    // lua_pushinteger(pos + 1): back to a signed count.
    #[allow(clippy::cast_precision_loss, clippy::cast_possible_wrap)]
    let next = pos.wrapping_add(1) as i64 as f64;
    n += 1;
    out.raw_set(n, next)?;
    Ok(Ret::Many(out, n))
}

/// `b_size`.
fn size(lua: &Lua, args: &Args) -> LibResult<Ret> {
    let fmt_s = check_string(lua, args, 1, "size")?;
    let fmt_b = fmt_s.as_bytes();
    let mut fmt = Fmt { s: &fmt_b, pos: 0 };
    let mut h = Header::new();
    let mut pos: usize = 0;
    while let Some(opt) = fmt.next_opt() {
        let size = optsize(opt, &mut fmt)?;
        pos = pos.wrapping_add(gettoalign(pos, &h, opt, size));
        if opt == b's' {
            return Err(arg_error("size", 1, "option 's' has no fixed size"));
        } else if opt == b'c' && size == 0 {
            return Err(arg_error("size", 1, "option 'c0' has no fixed size"));
        }
        // Unknown letters and digits pass silently here, as in C.
        if !opt.is_ascii_alphanumeric() {
            controloptions(opt, &mut fmt, &mut h, "size")?;
        }
        pos = pos.wrapping_add(size);
    }
    #[allow(clippy::cast_precision_loss, clippy::cast_possible_wrap)]
    let pos = pos as i64 as f64;
    Ok(Ret::One(Value::Number(pos)))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]

    use super::super::testutil::{bytes, error_of, eval, vm};

    #[test]
    fn packs_integers() {
        let lua = vm();
        assert_eq!(bytes(&lua, "return struct.pack('>I2', 258)"), b"\x01\x02");
        assert_eq!(bytes(&lua, "return struct.pack('<I2', 258)"), b"\x02\x01");
        assert_eq!(bytes(&lua, "return struct.pack('I2', 258)"), b"\x02\x01");
        assert_eq!(bytes(&lua, "return struct.pack('b', -1)"), b"\xff");
        assert_eq!(bytes(&lua, "return struct.pack('b', 300)"), b"\x2c");
        assert_eq!(
            bytes(&lua, "return struct.pack('>i10', -2)"),
            b"\x00\x00\xff\xff\xff\xff\xff\xff\xff\xfe"
        );
        assert_eq!(
            bytes(&lua, "return struct.pack('>l', 1)"),
            b"\0\0\0\0\0\0\0\x01"
        );
        assert_eq!(bytes(&lua, "return struct.pack('i', 1)"), b"\x01\0\0\0");
        assert_eq!(bytes(&lua, "return struct.pack('i0', 1)"), b"");
    }

    #[test]
    fn out_of_range_numbers_convert_like_x86() {
        let lua = vm();
        for (v, want) in [("1e30", &b"\x00"[..]), ("-1e30", b"\x00")] {
            assert_eq!(
                bytes(&lua, &format!("return struct.pack('b', {v})")),
                want,
                "{v}"
            );
        }
        for (v, want) in [
            ("-1e30", &b"\x80\0\0\0\0\0\0\0"[..]),
            ("0/0", b"\x80\0\0\0\0\0\0\0"),
            ("2^64", b"\0\0\0\0\0\0\0\0"),
            ("2^63", b"\x80\0\0\0\0\0\0\0"),
            ("1e300", b"\0\0\0\0\0\0\0\0"),
            ("1.8e19", b"\xf9\xcc\xd8\xa1\xc5\x08\x00\x00"),
            ("-1.5", b"\xff\xff\xff\xff\xff\xff\xff\xff"),
            ("math.huge", b"\0\0\0\0\0\0\0\0"),
            ("-math.huge", b"\x80\0\0\0\0\0\0\0"),
        ] {
            assert_eq!(
                bytes(&lua, &format!("return struct.pack('>L', {v})")),
                want,
                "{v}"
            );
        }
    }

    #[test]
    fn packs_floats_strings_and_padding() {
        let lua = vm();
        assert_eq!(
            bytes(&lua, "return struct.pack('>d', 1.5)"),
            b"\x3f\xf8\0\0\0\0\0\0"
        );
        assert_eq!(
            bytes(&lua, "return struct.pack('<f', 1.5)"),
            b"\0\0\xc0\x3f"
        );
        assert_eq!(bytes(&lua, "return struct.pack('c', 'abc')"), b"a");
        assert_eq!(bytes(&lua, "return struct.pack('c0', 123)"), b"123");
        assert_eq!(bytes(&lua, "return struct.pack('c2', 'abc')"), b"ab");
        assert_eq!(bytes(&lua, "return struct.pack('s', 'a\\0b')"), b"a\0b\0");
        assert_eq!(
            bytes(&lua, "return struct.pack('bxb', 1, 2)"),
            b"\x01\0\x02"
        );
        assert_eq!(
            bytes(&lua, "return struct.pack('!4 b i', 1, 2)"),
            b"\x01\0\0\0\x02\0\0\0"
        );
        assert_eq!(
            bytes(&lua, "return struct.pack('!b d', 1, 0)"),
            b"\x01\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0"
        );
        assert_eq!(
            bytes(&lua, "return struct.pack('!2 b i', 1, 2)"),
            b"\x01\0\x02\0\0\0"
        );
        assert_eq!(
            bytes(&lua, "return struct.pack('d', -0.0)"),
            b"\0\0\0\0\0\0\0\x80"
        );
        assert_eq!(bytes(&lua, "return struct.pack('b\\0b', 1, 2)"), b"\x01");
    }

    #[test]
    fn unpacks() {
        let lua = vm();
        let v: Vec<f64> = eval(&lua, "return {struct.unpack('>I2', '\\1\\2')}");
        assert_eq!(v, vec![258.0, 3.0]);
        let v: Vec<f64> = eval(
            &lua,
            "return {struct.unpack('>i9', '\\255\\255\\255\\255\\255\\255\\255\\255\\255')}",
        );
        assert_eq!(v, vec![-1.0, 10.0]);
        let s: String = eval(
            &lua,
            "return tostring(struct.unpack('<I8', '\\255\\255\\255\\255\\255\\255\\255\\255'))",
        );
        assert_eq!(s, "1.844674407371e+19");
        let v: Vec<f64> = eval(&lua, "return {struct.unpack('b', '\\1', nil)}");
        assert_eq!(v, vec![1.0, 2.0]);
        let v: Vec<f64> = eval(&lua, "return {struct.unpack('b', 'x\\1', 2.9)}");
        assert_eq!(v, vec![1.0, 3.0]);
        let v: Vec<f64> = eval(&lua, "return {struct.unpack('b', '\\1', '1')}");
        assert_eq!(v, vec![1.0, 2.0]);
        let (a, b, c): (String, String, i64) =
            eval(&lua, "return struct.unpack('sc2', 'hi\\0abz')");
        assert_eq!((a.as_str(), b.as_str(), c), ("hi", "ab", 6));
        let (a, b): (String, i64) = eval(&lua, "return struct.unpack('bc0', '\\2ab')");
        assert_eq!((a.as_str(), b), ("ab", 4));
        let (a, b): (String, i64) = eval(&lua, "return struct.unpack('c1c0', '2ab')");
        assert_eq!((a.as_str(), b), ("ab", 4));
        let v: Vec<f64> = eval(
            &lua,
            "return {struct.unpack('<d>f!4xi', struct.pack('<d>f!4xi', 0.25, -2, 7))}",
        );
        assert_eq!(v, vec![0.25, -2.0, 7.0, 21.0]);
        let n: i64 = eval(&lua, "return struct.unpack('', 'abc', 3)");
        assert_eq!(n, 3);
    }

    #[test]
    fn sizes() {
        let lua = vm();
        let v: Vec<i64> = eval(
            &lua,
            "return {struct.size('y'), struct.size('!i3d'), struct.size('x!4i'), struct.size('!'), \
             struct.size('bhilTfdc5'), struct.size('i32')}",
        );
        assert_eq!(v, vec![0, 16, 8, 0, 1 + 2 + 4 + 8 + 8 + 4 + 8 + 5, 32]);
    }

    #[test]
    fn errors_match_lua_struct() {
        let lua = vm();
        let cases = [
            (
                "struct.pack('i99', 1)",
                "integral size 99 is larger than limit of 32",
            ),
            ("struct.pack('c99999999999', 1)", "integral size overflow"),
            (
                "struct.unpack('c2', 'abc', 0)",
                "bad argument #3 to 'unpack' (offset must be 1 or greater)",
            ),
            (
                "struct.unpack('i', 'abcd', 3)",
                "bad argument #2 to 'unpack' (data string too short)",
            ),
            (
                "struct.unpack('i', 'abcd', -1)",
                "bad argument #2 to 'unpack' (data string too short)",
            ),
            ("struct.pack('!3i', 1)", "alignment 3 is not a power of 2"),
            ("struct.pack('!0i', 1)", "alignment 0 is not a power of 2"),
            (
                "struct.pack('y', 1)",
                "bad argument #1 to 'pack' (invalid format option 'y')",
            ),
            (
                "struct.unpack('=', '')",
                "bad argument #1 to 'unpack' (invalid format option '=')",
            ),
            (
                "struct.pack('c5', 'ab')",
                "bad argument #3 to 'pack' (string too short)",
            ),
            (
                "struct.unpack('c0', 'ab')",
                "format 'c0' needs a previous size",
            ),
            (
                "struct.unpack('c1c0', 'xab')",
                "format 'c0' needs a previous size",
            ),
            (
                "struct.unpack('bc0', '\\255ab')",
                "bad argument #2 to 'unpack' (data string too short)",
            ),
            (
                "struct.unpack('c2c0', '-1ab')",
                "bad argument #2 to 'unpack' (data string too short)",
            ),
            (
                "struct.unpack('i40', 'ab')",
                "integral size 40 is larger than limit of 32",
            ),
            ("struct.unpack('s', 'abc')", "unfinished string in data"),
            (
                "struct.size('i99')",
                "integral size 99 is larger than limit of 32",
            ),
            (
                "struct.size('s')",
                "bad argument #1 to 'size' (option 's' has no fixed size)",
            ),
            (
                "struct.size('c0')",
                "bad argument #1 to 'size' (option 'c0' has no fixed size)",
            ),
            (
                "struct.size('#')",
                "bad argument #1 to 'size' (invalid format option '#')",
            ),
            ("struct.size('c99999999999999')", "integral size overflow"),
            (
                "struct.pack('i2', 'x')",
                "bad argument #2 to 'pack' (number expected, got string)",
            ),
            (
                "struct.pack('i2')",
                "bad argument #2 to 'pack' (number expected, got nil)",
            ),
            (
                "struct.pack('i2i2', 1)",
                "bad argument #3 to 'pack' (number expected, got nil)",
            ),
            (
                "struct.pack('i2i2i2', 1)",
                "bad argument #3 to 'pack' (number expected, got nil)",
            ),
            (
                "struct.pack('c1')",
                "bad argument #2 to 'pack' (string expected, got nil)",
            ),
            (
                "struct.pack('c1', {})",
                "bad argument #2 to 'pack' (string expected, got table)",
            ),
            (
                "struct.pack()",
                "bad argument #1 to 'pack' (string expected, got no value)",
            ),
            (
                "struct.unpack('b')",
                "bad argument #2 to 'unpack' (string expected, got no value)",
            ),
            (
                "struct.unpack('b', '\\1', 'x')",
                "bad argument #3 to 'unpack' (number expected, got string)",
            ),
        ];
        for (code, want) in cases {
            assert_eq!(error_of(&lua, code), want, "{code}");
        }
    }

    #[test]
    fn result_count_limit_matches_redis() {
        let lua = vm();
        let n: usize = eval(
            &lua,
            "return #{struct.unpack(string.rep('b', 7997), string.rep('\\0', 8000))}",
        );
        assert_eq!(n, 7998);
        assert_eq!(
            error_of(
                &lua,
                "struct.unpack(string.rep('b', 7998), string.rep('\\0', 8000))"
            ),
            "stack overflow (too many results)"
        );
        let n: usize = eval(
            &lua,
            "return #{struct.unpack(string.rep('b', 7996), string.rep('\\0', 8000), 1)}",
        );
        assert_eq!(n, 7997);
        assert_eq!(
            error_of(
                &lua,
                "struct.unpack(string.rep('b', 7997), string.rep('\\0', 8000), 1)"
            ),
            "stack overflow (too many results)"
        );
    }

    #[test]
    fn huge_counts_allocate_nothing() {
        let lua = vm();
        assert_eq!(
            error_of(&lua, "struct.unpack('c2147483647', 'x')"),
            "bad argument #2 to 'unpack' (data string too short)"
        );
        assert_eq!(
            error_of(&lua, "struct.pack('c2147483647', 'x')"),
            "bad argument #3 to 'pack' (string too short)"
        );
        assert_eq!(
            error_of(&lua, "struct.unpack('bc0', '\\255\\1')"),
            "bad argument #2 to 'unpack' (data string too short)"
        );
        // A length that converts to 0 (as 1e300 does on x86) reads nothing.
        let (a, b): (String, i64) =
            eval(&lua, "return struct.unpack('dc0', struct.pack('d', 1e300))");
        assert_eq!((a.as_str(), b), ("", 9));
        let n: i64 = eval(&lua, "return struct.size(string.rep('c2147483647', 1000))");
        assert_eq!(n, 2147483647 * 1000);
    }
}
