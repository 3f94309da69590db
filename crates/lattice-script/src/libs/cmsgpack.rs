//! `cmsgpack`: MessagePack with the behaviour of lua_cmsgpack 0.4.0 as
//! Redis 7.0 bundles it on Lua 5.1: `pack(...)` encodes each argument and
//! concatenates them, `unpack`, `unpack_one` and `unpack_limit` decode a
//! stream. Encoding follows its choices (integers in the smallest form,
//! float32 when the double survives the round trip, a table is an array
//! only when its keys are exactly 1..n, tables nested 16 deep become nil);
//! decoding reproduces its results (uint64 wrapping to negative, nil or NaN
//! map keys failing) and its errors, including where its use of the Lua C
//! stack makes it fail.

use mlua::{Lua, Table, Value};

use super::{
    arg_error, check_integer, check_string, exact_get, exact_numbers, is_lossy, number_of,
    opt_integer, packed_function, Args, ExactNumbers, Fail, Ignore, LibResult, Ret, LUA_MAX_CSTACK,
    MAX_HELD_REFS, MAX_OUTPUT,
};

/// `LUACMSGPACK_MAX_NESTING`: a table this deep is encoded as nil.
const MAX_NESTING: usize = 16;

/// Builds the `cmsgpack` table.
pub(super) fn module(lua: &Lua) -> mlua::Result<Table> {
    let t = lua.create_table()?;
    t.set("pack", packed_function(lua, pack)?)?;
    t.set(
        "unpack",
        packed_function(lua, |lua, args| {
            let s = check_string(lua, args, 1, "unpack")?;
            unpack_full(lua, &s.as_bytes(), 0, 0)
        })?,
    )?;
    t.set(
        "unpack_one",
        packed_function(lua, |lua, args| {
            let offset = opt_integer(lua, args, 2, "unpack_one", 0)?;
            let s = check_string(lua, args, 1, "unpack_one")?;
            unpack_full(lua, &s.as_bytes(), 1, offset)
        })?,
    )?;
    t.set(
        "unpack_limit",
        packed_function(lua, |lua, args| {
            let limit = check_integer(lua, args, 2, "unpack_limit")?;
            let offset = opt_integer(lua, args, 3, "unpack_limit", 0)?;
            let s = check_string(lua, args, 1, "unpack_limit")?;
            unpack_full(lua, &s.as_bytes(), limit, offset)
        })?,
    )?;
    t.set("_NAME", "cmsgpack")?;
    t.set("_VERSION", "lua-cmsgpack 0.4.0")?;
    t.set("_COPYRIGHT", "Copyright (C) 2012, Salvatore Sanfilippo")?;
    t.set("_DESCRIPTION", "MessagePack C implementation for Lua")?;
    Ok(t)
}

// ===== Encoding =====

/// `mp_pack`.
fn pack(lua: &Lua, args: &Args) -> LibResult<Ret> {
    let n = args.len();
    if n == 0 {
        return Err(arg_error("pack", 0, "MessagePack pack needs input."));
    }
    // lua_checkstack(L, nargs) with the nargs arguments already there.
    if n + n > LUA_MAX_CSTACK {
        return Err(arg_error(
            "pack",
            0,
            "Too many arguments for MessagePack pack.",
        ));
    }
    let mut out = Vec::new();
    for i in 1..=n {
        encode(lua, &mut out, &args.get(i)?, 0)?;
    }
    Ok(Ret::One(Value::String(lua.create_string(out)?)))
}

/// `mp_encode_lua_type`. Recursion is bounded by [`MAX_NESTING`].
fn encode(lua: &Lua, out: &mut Vec<u8>, v: &Value, level: usize) -> LibResult<()> {
    if out.len() > MAX_OUTPUT {
        return Err("MessagePack output too large".into());
    }
    match v {
        Value::String(s) => encode_bytes(out, &s.as_bytes()),
        Value::Boolean(b) => out.push(if *b { 0xc3 } else { 0xc2 }),
        Value::Integer(_) | Value::Number(_) => {
            encode_number(out, number_of(v).unwrap_or_default())
        }
        Value::Table(t) if level < MAX_NESTING => {
            if table_is_an_array(t)? {
                let len = t.raw_len();
                encode_array_header(out, len);
                for j in 1..=len {
                    encode(lua, out, &exact_get(t, j)?, level + 1)?;
                }
            } else {
                encode_map(lua, out, t, level)?;
            }
        }
        // nil, functions, userdata (cjson.null too), threads, and tables
        // past the nesting limit.
        _ => out.push(0xc0),
    }
    Ok(())
}

/// `mp_encode_lua_table_as_map`: counts the pairs, then writes them.
fn encode_map(lua: &Lua, out: &mut Vec<u8>, t: &Table, level: usize) -> LibResult<()> {
    let mut count = 0usize;
    let mut lossy = false;
    t.for_each::<Value, Value>(|k, v| {
        count += 1;
        lossy |= is_lossy(&k) || is_lossy(&v);
        Ok(())
    })?;
    encode_map_header(out, count);
    // Near-zero numbers come back exact only from a walk in Lua.
    let exact: Option<ExactNumbers> = if lossy {
        Some(exact_numbers(lua, t)?)
    } else {
        None
    };
    let exact_at = |v: Value, n: Option<f64>| match (is_lossy(&v), n) {
        (true, Some(n)) => Value::Number(n),
        _ => v,
    };
    for (pos, pair) in t.pairs::<Value, Value>().enumerate() {
        let (k, v) = pair?;
        let (k, v) = match &exact {
            Some(e) => (exact_at(k, e.key(pos + 1)?), exact_at(v, e.val(pos + 1)?)),
            None => (k, v),
        };
        encode(lua, out, &k, level + 1)?;
        encode(lua, out, &v, level + 1)?;
    }
    Ok(())
}

/// `table_is_an_array` on Lua 5.1: every key a number with `(int)n == n`
/// and `n > 0`, and the largest equal to the count (so keys are 1..n; the
/// empty table counts as an array).
fn table_is_an_array(t: &Table) -> LibResult<bool> {
    let mut count: i64 = 0;
    let mut max: i64 = 0;
    let mut array = true;
    t.for_each::<Value, Ignore>(|k, _| {
        if !array {
            return Ok(());
        }
        match number_of(&k) {
            Some(n) if n > 0.0 && f64::from(super::c_double_to_i32(n)) == n => {
                max = max.max(i64::from(super::c_double_to_i32(n)));
                count += 1;
            }
            _ => array = false,
        }
        Ok(())
    })?;
    Ok(array && max == count)
}

/// `mp_encode_bytes`: fixraw, raw8 (0xd9), raw16, raw32.
fn encode_bytes(out: &mut Vec<u8>, s: &[u8]) {
    let len = s.len();
    if len < 32 {
        out.push(0xa0 | len as u8);
    } else if len <= 0xff {
        out.extend_from_slice(&[0xd9, len as u8]);
    } else if len <= 0xffff {
        out.push(0xda);
        out.extend_from_slice(&(len as u16).to_be_bytes());
    } else {
        // The C code writes the low 32 bits of longer lengths too.
        out.push(0xdb);
        out.extend_from_slice(&(len as u32).to_be_bytes());
    }
    out.extend_from_slice(s);
}

/// `mp_encode_lua_number` on Lua 5.1: an integer if `(int64_t)n == n`,
/// else float32 when exact, else float64.
fn encode_number(out: &mut Vec<u8>, n: f64) {
    let i = super::c_double_to_i64(n);
    // Comparing in double, as C does (i64::MIN converts exactly).
    #[allow(clippy::cast_precision_loss)]
    let integral = n.is_finite() && i as f64 == n;
    if integral {
        encode_int(out, i);
        return;
    }
    // C's double-to-float conversion rounds to nearest, as `as` does.
    #[allow(clippy::cast_possible_truncation)]
    let f = n as f32;
    if f64::from(f) == n {
        out.push(0xca);
        out.extend_from_slice(&f.to_bits().to_be_bytes());
    } else {
        out.push(0xcb);
        out.extend_from_slice(&n.to_bits().to_be_bytes());
    }
}

/// `mp_encode_int`: the smallest encoding.
fn encode_int(out: &mut Vec<u8>, n: i64) {
    // Each branch has checked that the value fits the width it writes.
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    if n >= 0 {
        if n <= 127 {
            out.push(n as u8);
        } else if n <= 0xff {
            out.extend_from_slice(&[0xcc, n as u8]);
        } else if n <= 0xffff {
            out.push(0xcd);
            out.extend_from_slice(&(n as u16).to_be_bytes());
        } else if n <= 0xffff_ffff {
            out.push(0xce);
            out.extend_from_slice(&(n as u32).to_be_bytes());
        } else {
            out.push(0xcf);
            out.extend_from_slice(&(n as u64).to_be_bytes());
        }
    } else if n >= -32 {
        out.push(n as u8);
    } else if n >= -128 {
        out.extend_from_slice(&[0xd0, n as u8]);
    } else if n >= -32768 {
        out.push(0xd1);
        out.extend_from_slice(&(n as i16).to_be_bytes());
    } else if n >= -2_147_483_648 {
        out.push(0xd2);
        out.extend_from_slice(&(n as i32).to_be_bytes());
    } else {
        out.push(0xd3);
        out.extend_from_slice(&n.to_be_bytes());
    }
}

// The C code writes the low 32 bits of larger counts too.
#[allow(clippy::cast_possible_truncation)]
fn encode_array_header(out: &mut Vec<u8>, n: usize) {
    if n <= 15 {
        out.push(0x90 | n as u8);
    } else if n <= 0xffff {
        out.push(0xdc);
        out.extend_from_slice(&(n as u16).to_be_bytes());
    } else {
        out.push(0xdd);
        out.extend_from_slice(&(n as u32).to_be_bytes());
    }
}

#[allow(clippy::cast_possible_truncation)]
fn encode_map_header(out: &mut Vec<u8>, n: usize) {
    if n <= 15 {
        out.push(0x80 | n as u8);
    } else if n <= 0xffff {
        out.push(0xde);
        out.extend_from_slice(&(n as u16).to_be_bytes());
    } else {
        out.push(0xdf);
        out.extend_from_slice(&(n as u32).to_be_bytes());
    }
}

// ===== Decoding =====

const MISSING: &str = "Missing bytes in input.";
const BAD: &str = "Bad data format in input.";
const TOO_MANY: &str =
    "stack overflow (too many return values at once; use unpack_one or unpack_limit instead.)";

/// `mp_unpack_full`: decodes up to `limit` values from `offset` (all of them,
/// without the offset result, when both are 0).
fn unpack_full(lua: &Lua, s: &[u8], limit: i64, offset: i64) -> LibResult<Ret> {
    let len = s.len();
    let decode_all = limit == 0 && offset == 0;
    // The C message prints the input length where it means the limit, and
    // prints both through (int).
    #[allow(clippy::cast_possible_truncation, clippy::cast_possible_wrap)]
    let (off32, len32) = (offset as i32, len as i32);
    if offset < 0 || limit < 0 {
        return Err(format!(
            "Invalid request to unpack with offset of {off32} and limit of {len32}."
        )
        .into());
    }
    let start = usize::try_from(offset).unwrap_or(usize::MAX);
    if start > len {
        return Err(format!("Start offset {off32} greater than input length {len32}.").into());
    }
    let limit = if decode_all {
        i64::from(i32::MAX)
    } else {
        limit
    };
    let mut d = Decoder {
        lua,
        data: s,
        pos: start,
    };
    let out = lua.create_table()?;
    // The offset result goes first; values follow.
    let first = usize::from(!decode_all);
    let mut cnt: usize = 0;
    while d.pos < len && i64::try_from(cnt).unwrap_or(i64::MAX) < limit {
        // On the C stack: the string argument and the values so far.
        let v = d.value(1 + cnt)?;
        out.raw_set(first + cnt + 1, v)?;
        cnt += 1;
    }
    if !decode_all {
        let next = if d.pos >= len {
            -1
        } else {
            i64::try_from(d.pos).unwrap_or(-1)
        };
        out.raw_set(1, next)?;
    }
    Ok(Ret::Many(out, first + cnt))
}

/// A container being filled.
enum Open {
    Array {
        table: Table,
        left: usize,
        next: i64,
    },
    /// `key` is the decoded key whose value comes next.
    Map {
        table: Table,
        left: usize,
        key: Option<Value>,
    },
}

enum Head {
    Value(Value),
    Array(usize),
    Map(usize),
}

struct Decoder<'a> {
    lua: &'a Lua,
    data: &'a [u8],
    pos: usize,
}

impl<'a> Decoder<'a> {
    /// `mp_cur_need` + read: `n` bytes at the cursor.
    fn take(&mut self, n: usize) -> LibResult<&'a [u8]> {
        let end = self.pos.checked_add(n).ok_or(Fail::from(MISSING))?;
        let bytes = self.data.get(self.pos..end).ok_or(Fail::from(MISSING))?;
        self.pos = end;
        Ok(bytes)
    }

    fn array<const N: usize>(&mut self) -> LibResult<[u8; N]> {
        let b = self.take(N)?;
        let mut a = [0u8; N];
        a.copy_from_slice(b);
        Ok(a)
    }

    fn string(&mut self, n: usize) -> LibResult<Value> {
        let b = self.take(n)?;
        Ok(Value::String(self.lua.create_string(b)?))
    }

    /// One complete value (`mp_decode_to_lua_type`), with nested containers
    /// on an explicit stack. `top` is the C stack height before it.
    fn value(&mut self, top: usize) -> LibResult<Value> {
        let mut stack: Vec<Open> = Vec::new();
        let mut top = top;
        // mlua handles kept: a table per open container and pending keys.
        let mut held = 0usize;
        loop {
            let head = self.head(top)?;
            let mut v = match head {
                Head::Value(v) => v,
                Head::Array(n) => {
                    self.check_held(held)?;
                    // The table is on the stack, and mp_decode_to_lua_array
                    // checks for one more slot.
                    if top + 2 > LUA_MAX_CSTACK {
                        return Err("stack overflow (in function mp_decode_to_lua_array)".into());
                    }
                    // Not sized from the claimed length, which costs nothing
                    // to claim (lua_cmsgpack does not presize either).
                    let table = self.lua.create_table()?;
                    if n == 0 {
                        Value::Table(table)
                    } else {
                        stack.push(Open::Array {
                            table,
                            left: n,
                            next: 1,
                        });
                        held += 1;
                        // Table and index under each element.
                        top += 2;
                        continue;
                    }
                }
                Head::Map(n) => {
                    self.check_held(held)?;
                    let table = self.lua.create_table()?;
                    if n == 0 {
                        Value::Table(table)
                    } else {
                        stack.push(Open::Map {
                            table,
                            left: n,
                            key: None,
                        });
                        held += 1;
                        // The table under each key.
                        top += 1;
                        continue;
                    }
                }
            };
            // Store `v` in its container, closing the ones it completes.
            loop {
                match stack.last_mut() {
                    None => return Ok(v),
                    Some(Open::Array { table, left, next }) => {
                        table.raw_set(*next, v)?;
                        *next += 1;
                        *left -= 1;
                        if *left > 0 {
                            break;
                        }
                        top -= 2;
                    }
                    Some(Open::Map { table, left, key }) => match key.take() {
                        None => {
                            if matches!(v, Value::String(_) | Value::Table(_)) {
                                held += 1;
                            }
                            *key = Some(v);
                            // The key stays on the stack under its value.
                            top += 1;
                            break;
                        }
                        Some(k) => {
                            match &k {
                                // lua_settable's own errors: no position.
                                Value::Nil => {
                                    return Err(Fail::Runtime(b"table index is nil".to_vec()))
                                }
                                Value::Number(n) if n.is_nan() => {
                                    return Err(Fail::Runtime(b"table index is NaN".to_vec()))
                                }
                                Value::String(_) | Value::Table(_) => held -= 1,
                                _ => {}
                            }
                            table.raw_set(k, v)?;
                            top -= 1;
                            *left -= 1;
                            if *left > 0 {
                                break;
                            }
                            top -= 1;
                        }
                    },
                }
                v = match stack.pop() {
                    Some(Open::Array { table, .. } | Open::Map { table, .. }) => {
                        held -= 1;
                        Value::Table(table)
                    }
                    // The match above returned when the stack was empty.
                    None => return Err("internal error: MessagePack nesting underflow".into()),
                };
            }
        }
    }

    /// Refuses nesting that would keep too many mlua handles alive (only
    /// reached before the C stack limit when map keys are tables).
    fn check_held(&self, held: usize) -> LibResult<()> {
        if held + 1 > MAX_HELD_REFS {
            return Err(TOO_MANY.into());
        }
        Ok(())
    }

    /// Reads a value's type byte and fixed-size payload.
    fn head(&mut self, top: usize) -> LibResult<Head> {
        let b = *self.data.get(self.pos).ok_or(Fail::from(MISSING))?;
        // luaL_checkstack(L, 1, ...) in mp_decode_to_lua_type.
        if top + 1 > LUA_MAX_CSTACK {
            return Err(TOO_MANY.into());
        }
        self.pos += 1;
        let num = |n: f64| Ok(Head::Value(Value::Number(n)));
        match b {
            0xcc => num(f64::from(self.array::<1>()?[0])),
            0xd0 => num(f64::from(self.array::<1>()?[0] as i8)),
            0xcd => num(f64::from(u16::from_be_bytes(self.array()?))),
            0xd1 => num(f64::from(i16::from_be_bytes(self.array()?))),
            0xce => num(f64::from(u32::from_be_bytes(self.array()?))),
            0xd2 => num(f64::from(i32::from_be_bytes(self.array()?))),
            // lua_pushinteger of a uint64: values from 2^63 wrap negative.
            #[allow(clippy::cast_precision_loss, clippy::cast_possible_wrap)]
            0xcf => num(u64::from_be_bytes(self.array()?) as i64 as f64),
            #[allow(clippy::cast_precision_loss)]
            0xd3 => num(i64::from_be_bytes(self.array()?) as f64),
            0xc0 => Ok(Head::Value(Value::Nil)),
            0xc3 => Ok(Head::Value(Value::Boolean(true))),
            0xc2 => Ok(Head::Value(Value::Boolean(false))),
            0xca => num(f64::from(f32::from_bits(u32::from_be_bytes(self.array()?)))),
            0xcb => num(f64::from_bits(u64::from_be_bytes(self.array()?))),
            0xd9 => {
                let n = usize::from(self.array::<1>()?[0]);
                Ok(Head::Value(self.string(n)?))
            }
            0xda => {
                let n = usize::from(u16::from_be_bytes(self.array()?));
                Ok(Head::Value(self.string(n)?))
            }
            0xdb => {
                let n = u32::from_be_bytes(self.array()?) as usize;
                Ok(Head::Value(self.string(n)?))
            }
            0xdc => Ok(Head::Array(usize::from(u16::from_be_bytes(self.array()?)))),
            0xdd => Ok(Head::Array(u32::from_be_bytes(self.array()?) as usize)),
            0xde => Ok(Head::Map(usize::from(u16::from_be_bytes(self.array()?)))),
            0xdf => Ok(Head::Map(u32::from_be_bytes(self.array()?) as usize)),
            0x00..=0x7f => num(f64::from(b)),
            0xe0..=0xff => num(f64::from(b as i8)),
            0xa0..=0xbf => Ok(Head::Value(self.string(usize::from(b & 0x1f))?)),
            0x90..=0x9f => Ok(Head::Array(usize::from(b & 0xf))),
            0x80..=0x8f => Ok(Head::Map(usize::from(b & 0xf))),
            // 0xc1, bin, ext and fixext: not part of this MessagePack.
            _ => {
                self.pos -= 1;
                Err(BAD.into())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]

    use super::super::testutil::{bytes, error_of, eval, vm};

    #[test]
    fn packs_what_redis_packs() {
        let lua = vm();
        assert_eq!(bytes(&lua, "return cmsgpack.pack(1, 2)"), b"\x01\x02");
        assert_eq!(bytes(&lua, "return cmsgpack.pack({})"), b"\x90");
        assert_eq!(
            bytes(
                &lua,
                "local z = 0 return cmsgpack.pack(0.5, 0.1, -z, 1/z, -1/z, 2^63, -2^63, 2^64, -1, -33, 255, 65536)"
            ),
            b"\xca\x3f\x00\x00\x00\xcb\x3f\xb9\x99\x99\x99\x99\x99\x9a\x00\xca\x7f\x80\x00\x00\
              \xca\xff\x80\x00\x00\xca\x5f\x00\x00\x00\xd3\x80\x00\x00\x00\x00\x00\x00\x00\
              \xca\x5f\x80\x00\x00\xff\xd0\xdf\xcc\xff\xce\x00\x01\x00\x00"
        );
        assert_eq!(bytes(&lua, "return cmsgpack.pack({a=1})"), b"\x81\xa1a\x01");
        assert_eq!(
            bytes(
                &lua,
                "return cmsgpack.pack(nil, true, false, cjson.null, print)"
            ),
            b"\xc0\xc3\xc2\xc0\xc0"
        );
        assert_eq!(
            bytes(&lua, "return cmsgpack.pack({1, 2, 3})"),
            b"\x93\x01\x02\x03"
        );
        assert_eq!(bytes(&lua, "return cmsgpack.pack({[1]=1, [3]=3})")[0], 0x82);
        assert_eq!(
            bytes(
                &lua,
                "return cmsgpack.pack(-129, -32769, -2147483649, 4294967296, 65535)"
            ),
            b"\xd1\xff\x7f\xd2\xff\xff\x7f\xff\xd3\xff\xff\xff\xff\x7f\xff\xff\xff\
              \xcf\x00\x00\x00\x01\x00\x00\x00\x00\xcd\xff\xff"
        );
        let nan = bytes(&lua, "return cmsgpack.pack(0/0)");
        assert_eq!(nan.len(), 9);
        assert_eq!(nan[0], 0xcb);
    }

    #[test]
    fn string_headers() {
        let lua = vm();
        for (n, head) in [
            (31usize, vec![0xbf]),
            (32, vec![0xd9, 32]),
            (255, vec![0xd9, 255]),
            (256, vec![0xda, 1, 0]),
            (65536, vec![0xdb, 0, 1, 0, 0]),
        ] {
            let b = bytes(&lua, &format!("return cmsgpack.pack(string.rep('x', {n}))"));
            assert_eq!(&b[..head.len()], &head[..], "{n}");
            assert_eq!(b.len(), head.len() + n);
        }
        let b = bytes(
            &lua,
            "local t = {} for i = 1, 16 do t[i] = i end return cmsgpack.pack(t)",
        );
        assert_eq!(&b[..3], b"\xdc\x00\x10");
        let b = bytes(
            &lua,
            "local t = {} for i = 1, 16 do t['k'..i] = i end return cmsgpack.pack(t)",
        );
        assert_eq!(&b[..3], b"\xde\x00\x10");
    }

    #[test]
    fn nesting_past_sixteen_becomes_nil() {
        let lua = vm();
        let b = bytes(&lua, "local t = {} t[1] = t return cmsgpack.pack(t)");
        let mut want = vec![0x91u8; 16];
        want.push(0xc0);
        assert_eq!(b, want);
        let b = bytes(&lua, "local t = {} t.a = t return cmsgpack.pack(t)");
        assert_eq!(b.len(), 16 * 3 + 1);
        assert_eq!(*b.last().unwrap(), 0xc0);
    }

    #[test]
    fn round_trips() {
        let lua = vm();
        let ok: bool = eval(
            &lua,
            r#"local a, b, c, d = cmsgpack.unpack(cmsgpack.pack({1, 2, {x = 'y', [5] = false}}, 'str', -1.5, 2^40))
               return a[1] == 1 and a[2] == 2 and a[3].x == 'y' and a[3][5] == false
                 and b == 'str' and c == -1.5 and d == 2^40"#,
        );
        assert!(ok);
        let n: f64 = eval(&lua, "return cmsgpack.unpack(cmsgpack.pack(0.1))");
        assert_eq!(n, 0.1);
    }

    #[test]
    fn decodes_what_redis_decodes() {
        let lua = vm();
        let v: Vec<f64> = eval(
            &lua,
            "return {cmsgpack.unpack('\\207\\255\\255\\255\\255\\255\\255\\255\\255\\211\\128\\0\\0\\0\\0\\0\\0\\0\\208\\128\\209\\128\\0\\210\\128\\0\\0\\0\\255\\224')}",
        );
        assert_eq!(
            v,
            vec![
                -1.0,
                -9223372036854775808.0,
                -128.0,
                -32768.0,
                -2147483648.0,
                -1.0,
                -32.0
            ]
        );
        let s: String = eval(
            &lua,
            "return tostring(cmsgpack.unpack('\\207\\128\\0\\0\\0\\0\\0\\0\\0'))",
        );
        assert_eq!(s, "-9.2233720368548e+18");
        let n: usize = eval(&lua, "return select('#', cmsgpack.unpack(''))");
        assert_eq!(n, 0);
        let (a, b, c): (Option<i64>, bool, String) =
            eval(&lua, "return cmsgpack.unpack('\\192\\195\\163abc')");
        assert_eq!((a, b, c.as_str()), (None, true, "abc"));
    }

    #[test]
    fn unpack_one_and_limit_return_the_next_offset() {
        let lua = vm();
        let v: Vec<i64> = eval(&lua, "return {cmsgpack.unpack_one('\\1\\2')}");
        assert_eq!(v, vec![1, 1]);
        let v: Vec<i64> = eval(&lua, "return {cmsgpack.unpack_one('\\1\\2', 1)}");
        assert_eq!(v, vec![-1, 2]);
        let v: Vec<i64> = eval(&lua, "return {cmsgpack.unpack_one('\\1\\2', 2)}");
        assert_eq!(v, vec![-1]);
        let v: Vec<i64> = eval(&lua, "return {cmsgpack.unpack_limit('\\1\\2\\3', 0)}");
        assert_eq!(v, vec![1, 2, 3]);
        let v: Vec<i64> = eval(&lua, "return {cmsgpack.unpack_limit('\\1\\2\\3', 2)}");
        assert_eq!(v, vec![2, 1, 2]);
        // A zero limit with an offset decodes nothing and returns the offset.
        let v: Vec<i64> = eval(&lua, "return {cmsgpack.unpack_limit('\\1\\2\\3', 0, 1)}");
        assert_eq!(v, vec![1]);
        assert_eq!(
            error_of(&lua, "cmsgpack.unpack_one('\\1\\2', 3)"),
            "Start offset 3 greater than input length 2."
        );
        assert_eq!(
            error_of(&lua, "cmsgpack.unpack_limit('\\1\\2\\3', -1)"),
            "Invalid request to unpack with offset of 0 and limit of 3."
        );
        assert_eq!(
            error_of(&lua, "cmsgpack.unpack_one('\\1\\2\\3', -1)"),
            "Invalid request to unpack with offset of -1 and limit of 3."
        );
        assert_eq!(
            error_of(&lua, "cmsgpack.unpack_one('\\1\\2\\3', 'x')"),
            "bad argument #2 to 'unpack_one' (number expected, got string)"
        );
        assert_eq!(
            error_of(&lua, "cmsgpack.unpack_limit('\\1')"),
            "bad argument #2 to 'unpack_limit' (number expected, got no value)"
        );
    }

    #[test]
    fn malformed_input_fails_cleanly() {
        let lua = vm();
        let cases = [
            ("'\\129\\192\\1'", "table index is nil"),
            (
                "'\\129\\203\\255\\248\\0\\0\\0\\0\\0\\0\\1'",
                "table index is NaN",
            ),
            ("'\\146\\1'", "Missing bytes in input."),
            ("'\\129\\1'", "Missing bytes in input."),
            ("'\\193'", "Bad data format in input."),
            ("'\\196\\1a'", "Bad data format in input."),
            ("'\\1\\212'", "Bad data format in input."),
            ("'\\221\\255\\255\\255\\255'", "Missing bytes in input."),
            ("'\\223\\255\\255\\255\\255\\1'", "Missing bytes in input."),
            ("'\\219\\255\\255\\255\\255abc'", "Missing bytes in input."),
            ("'\\218\\0'", "Missing bytes in input."),
            ("'\\203\\0\\0'", "Missing bytes in input."),
            ("'\\217\\5ab'", "Missing bytes in input."),
        ];
        for (input, want) in cases {
            assert_eq!(
                error_of(&lua, &format!("cmsgpack.unpack({input})")),
                want,
                "{input}"
            );
        }
        assert_eq!(
            error_of(&lua, "cmsgpack.unpack()"),
            "bad argument #1 to 'unpack' (string expected, got no value)"
        );
        assert_eq!(
            error_of(&lua, "cmsgpack.pack()"),
            "bad argument #0 to 'pack' (MessagePack pack needs input.)"
        );
    }

    #[test]
    fn stack_limits_match_redis() {
        let lua = vm();
        let n: usize = eval(&lua, "return #{cmsgpack.unpack(string.rep('\\1', 7999))}");
        assert_eq!(n, 7999);
        let too_many =
            "stack overflow (too many return values at once; use unpack_one or unpack_limit instead.)";
        assert_eq!(
            error_of(&lua, "cmsgpack.unpack(string.rep('\\1', 8000))"),
            too_many
        );
        let n: usize = eval(
            &lua,
            "return #{cmsgpack.unpack(string.rep('\\145', 3999)..'\\1')}",
        );
        assert_eq!(n, 1);
        assert_eq!(
            error_of(&lua, "cmsgpack.unpack(string.rep('\\145', 4000)..'\\1')"),
            "stack overflow (in function mp_decode_to_lua_array)"
        );
        let n: usize = eval(
            &lua,
            "return #{cmsgpack.unpack(string.rep('\\129\\1', 3999)..'\\1')}",
        );
        assert_eq!(n, 1);
        assert_eq!(
            error_of(&lua, "cmsgpack.unpack(string.rep('\\129\\1', 4000)..'\\1')"),
            too_many
        );
        assert_eq!(
            error_of(
                &lua,
                "cmsgpack.unpack('\\1'..string.rep('\\145', 3999)..'\\1')"
            ),
            too_many
        );
        assert_eq!(
            error_of(
                &lua,
                "cmsgpack.unpack(string.rep('\\129\\145', 3999)..'\\1')"
            ),
            too_many
        );
        // Nested maps whose keys are tables hold two handles a level.
        assert_eq!(
            error_of(
                &lua,
                "cmsgpack.unpack(string.rep('\\129\\128', 3000)..'\\1')"
            ),
            too_many
        );
        assert_eq!(
            error_of(&lua, "cmsgpack.unpack(string.rep('\\145', 100000))"),
            "stack overflow (in function mp_decode_to_lua_array)"
        );
    }

    #[test]
    fn claimed_lengths_allocate_nothing() {
        let lua = vm();
        // Every level claims 2^32 - 1 entries.
        assert_eq!(
            error_of(
                &lua,
                "cmsgpack.unpack(string.rep('\\221\\255\\255\\255\\255', 3000))"
            ),
            "Missing bytes in input."
        );
        assert_eq!(
            error_of(
                &lua,
                "cmsgpack.unpack(string.rep('\\223\\255\\255\\255\\255', 3000))"
            ),
            "Missing bytes in input."
        );
        assert_eq!(
            error_of(&lua, "cmsgpack.unpack('\\219\\127\\255\\255\\255')"),
            "Missing bytes in input."
        );
    }

    #[test]
    fn garbage_never_panics() {
        let lua = vm();
        let f: mlua::Function = lua
            .load("return function(s) return pcall(cmsgpack.unpack, s) end")
            .eval()
            .unwrap();
        let mut seed: u64 = 0x2545_F491_4F6C_DD1D;
        for _ in 0..3000 {
            let mut s = Vec::new();
            for _ in 0..(seed % 24) {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                s.push((seed >> 24) as u8);
            }
            let (ok, v): (bool, mlua::Value) = f.call(lua.create_string(&s).unwrap()).unwrap();
            if !ok {
                assert!(matches!(v, mlua::Value::String(_)));
            }
        }
    }
}
