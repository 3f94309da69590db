//! `bit`: LuaBitOp 1.0.2 as Redis 7.0 bundles it. Every argument becomes
//! a 32-bit integer the way LuaBitOp does it on a double-number Lua (add
//! 2^52+2^51 and keep the low 32 bits of the result's representation, which
//! rounds to nearest and wraps modulo 2^32), and results come back as
//! signed 32-bit numbers.

use mlua::{Lua, Table, Value};

use super::{direct_function, to_number, type_error, Args, LibResult};

/// `barg`: argument `narg` as LuaBitOp's 32-bit value. A non-number fails
/// with `luaL_typerror`, as LuaBitOp does on Lua 5.1.
fn barg(lua: &Lua, args: &Args, narg: usize, fname: &str) -> LibResult<u32> {
    match to_number(lua, &args.get(narg)?)? {
        Some(n) => Ok(tobit(n)),
        None => Err(type_error(args, fname, narg, "number")?),
    }
}

/// The magic-number conversion: exact for the doubles LuaBitOp's users
/// pass, and bit-for-bit what it does for the rest (huge numbers, NaN).
fn tobit(n: f64) -> u32 {
    // The low 32 bits of the IEEE representation are the point.
    #[allow(clippy::cast_possible_truncation)]
    let b = (n + 6_755_399_441_055_744.0).to_bits() as u32;
    b
}

/// `BRET`: the bits as a signed 32-bit number.
fn bret(b: u32) -> LibResult<Value> {
    Ok(Value::Number(f64::from(b as i32)))
}

/// Builds the `bit` table.
pub(super) fn module(lua: &Lua) -> mlua::Result<Table> {
    let t = lua.create_table()?;
    t.set(
        "tobit",
        direct_function(lua, |lua, a| bret(barg(lua, a, 1, "tobit")?))?,
    )?;
    t.set(
        "bnot",
        direct_function(lua, |lua, a| bret(!barg(lua, a, 1, "bnot")?))?,
    )?;
    type Fold = fn(u32, u32) -> u32;
    let folds: [(&'static str, Fold); 3] = [
        ("band", |x, y| x & y),
        ("bor", |x, y| x | y),
        ("bxor", |x, y| x ^ y),
    ];
    for (name, op) in folds {
        t.set(
            name,
            direct_function(lua, move |lua, a| {
                let mut b = barg(lua, a, 1, name)?;
                // LuaBitOp reads the rest from the last one down, so the
                // highest bad argument is the one reported.
                for i in (2..=a.len()).rev() {
                    b = op(b, barg(lua, a, i, name)?);
                }
                bret(b)
            })?,
        )?;
    }
    let shifts: [(&'static str, Fold); 5] = [
        ("lshift", |b, n| b << n),
        ("rshift", |b, n| b >> n),
        ("arshift", |b, n| ((b as i32) >> n) as u32),
        ("rol", |b, n| b.rotate_left(n)),
        ("ror", |b, n| b.rotate_right(n)),
    ];
    for (name, op) in shifts {
        t.set(
            name,
            direct_function(lua, move |lua, a| {
                let b = barg(lua, a, 1, name)?;
                let n = barg(lua, a, 2, name)? & 31;
                bret(op(b, n))
            })?,
        )?;
    }
    t.set(
        "bswap",
        direct_function(lua, |lua, a| bret(barg(lua, a, 1, "bswap")?.swap_bytes()))?,
    )?;
    t.set(
        "tohex",
        direct_function(lua, |lua, a| {
            let mut b = barg(lua, a, 1, "tohex")?;
            let n = if a.is_none(2) {
                8
            } else {
                barg(lua, a, 2, "tohex")? as i32
            };
            let digits: &[u8; 16] = if n < 0 {
                b"0123456789ABCDEF"
            } else {
                b"0123456789abcdef"
            };
            // C negates INT_MIN into itself; capping the magnitude at 8
            // gives the 8 digits Redis prints for it.
            let width = usize::try_from(n.unsigned_abs().min(8)).unwrap_or(8);
            let mut buf = vec![0u8; width];
            for slot in buf.iter_mut().rev() {
                *slot = digits.get((b & 15) as usize).copied().unwrap_or(b'0');
                b >>= 4;
            }
            Ok(Value::String(lua.create_string(buf)?))
        })?,
    )?;
    Ok(t)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]

    use super::super::testutil::{error_of, eval, vm};

    #[test]
    fn conversions_wrap_and_round_like_luabitop() {
        let lua = vm();
        let v: Vec<f64> = eval(
            &lua,
            "return {bit.band(0xffffffff, 1), bit.tobit(2^32+5), bit.tobit(2^31), bit.bnot(0), \
             bit.tobit(1.5), bit.tobit(2.5), bit.tobit(-1.5), bit.tobit('10'), bit.tobit(2^53+3), \
             bit.tobit(1e300), bit.tobit(0/0), bit.tobit(1/0), bit.tobit(-1e20), bit.tobit(-1)}",
        );
        assert_eq!(
            v,
            vec![
                1.0,
                5.0,
                -2147483648.0,
                -1.0,
                2.0,
                2.0,
                -2.0,
                10.0,
                2.0,
                -2013235812.0,
                0.0,
                0.0,
                2025163840.0,
                -1.0
            ]
        );
    }

    #[test]
    fn operations() {
        let lua = vm();
        let v: Vec<f64> = eval(
            &lua,
            "return {bit.lshift(1, 31), bit.rshift(-1, 28), bit.arshift(-256, 4), \
             bit.rol(0x80000001, 1), bit.ror(1, 1), bit.bswap(0x12345678), bit.lshift(1, 33), \
             bit.bor(1, 2, 4, 8), bit.bxor(5, 3), bit.band(7), bit.band(0xff, 0x0f, 0x3)}",
        );
        assert_eq!(
            v,
            vec![
                -2147483648.0,
                15.0,
                -16.0,
                3.0,
                -2147483648.0,
                2018915346.0,
                2.0,
                15.0,
                6.0,
                7.0,
                3.0
            ]
        );
    }

    #[test]
    fn tohex() {
        let lua = vm();
        let v: Vec<String> = eval(
            &lua,
            "return {bit.tohex(-1), bit.tohex(255, 2), bit.tohex(255, -4), bit.tohex(1, 0), \
             bit.tohex(0x12345678, 20), bit.tohex(1, -2147483648), bit.tohex(0xabcdef, -6)}",
        );
        assert_eq!(
            v,
            vec!["ffffffff", "ff", "00FF", "", "12345678", "00000001", "ABCDEF"]
        );
    }

    #[test]
    fn argument_errors_name_the_argument() {
        let lua = vm();
        assert_eq!(
            error_of(&lua, "bit.band(1, 'x', nil)"),
            "bad argument #3 to 'band' (number expected, got nil)"
        );
        assert_eq!(
            error_of(&lua, "bit.band()"),
            "bad argument #1 to 'band' (number expected, got no value)"
        );
        assert_eq!(
            error_of(&lua, "bit.lshift(1)"),
            "bad argument #2 to 'lshift' (number expected, got no value)"
        );
        assert_eq!(
            error_of(&lua, "bit.tohex(1, nil)"),
            "bad argument #2 to 'tohex' (number expected, got nil)"
        );
        assert_eq!(
            error_of(&lua, "bit.tobit({})"),
            "bad argument #1 to 'tobit' (number expected, got table)"
        );
    }
}
