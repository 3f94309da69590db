//! Glob-style pattern matching with Redis's `stringmatchlen` rules: `*`, `?`,
//! `[abc]`, `[^a-z]`, `\x` escapes. Used by KEYS, SCAN MATCH, CONFIG GET and
//! pattern subscriptions. Iterative with bounded backtracking work.

/// Does `pattern` match `s` (case-sensitive)?
pub fn glob_match(pattern: &[u8], s: &[u8]) -> bool {
    glob_match_impl(pattern, s, false)
}

/// Case-insensitive variant (CONFIG GET).
pub fn glob_match_nocase(pattern: &[u8], s: &[u8]) -> bool {
    glob_match_impl(pattern, s, true)
}

fn eq(a: u8, b: u8, nocase: bool) -> bool {
    if nocase {
        a.eq_ignore_ascii_case(&b)
    } else {
        a == b
    }
}

fn glob_match_impl(p: &[u8], s: &[u8], nocase: bool) -> bool {
    // Classic star-backtracking: remember the last `*` and where it matched.
    let (mut pi, mut si) = (0usize, 0usize);
    let mut star: Option<(usize, usize)> = None;
    loop {
        if pi < p.len() {
            let c = p.get(pi).copied().unwrap_or(0);
            if c == b'*' {
                // Collapse runs of stars.
                while p.get(pi) == Some(&b'*') {
                    pi += 1;
                }
                if pi == p.len() {
                    return true;
                }
                star = Some((pi, si));
                continue;
            }
            if si < s.len() {
                let sc = s.get(si).copied().unwrap_or(0);
                if let Some(len) = match_one(p, pi, sc, nocase) {
                    pi += len;
                    si += 1;
                    continue;
                }
            }
        } else if si == s.len() {
            return true;
        }
        match star {
            Some((sp, ss)) if ss < s.len() => {
                star = Some((sp, ss + 1));
                pi = sp;
                si = ss + 1;
            }
            _ => return false,
        }
    }
}

/// Matches one pattern element at `pi` against byte `c`; returns the
/// element's length in the pattern if it matches.
fn match_one(p: &[u8], pi: usize, c: u8, nocase: bool) -> Option<usize> {
    match p.get(pi)? {
        b'?' => Some(1),
        b'\\' if pi + 1 < p.len() => {
            let lit = *p.get(pi + 1)?;
            eq(lit, c, nocase).then_some(2)
        }
        b'[' => {
            let mut i = pi + 1;
            let not = p.get(i) == Some(&b'^');
            if not {
                i += 1;
            }
            let mut matched = false;
            loop {
                match p.get(i) {
                    None => {
                        // Unterminated class: Redis treats the end as closing it.
                        i -= 1;
                        break;
                    }
                    Some(b']') => break,
                    Some(b'\\') if i + 1 < p.len() => {
                        i += 1;
                        if eq(*p.get(i)?, c, nocase) {
                            matched = true;
                        }
                    }
                    Some(&lo) if p.get(i + 1) == Some(&b'-') && i + 2 < p.len() => {
                        let hi = *p.get(i + 2)?;
                        let (mut lo, mut hi) = if lo > hi { (hi, lo) } else { (lo, hi) };
                        let mut cc = c;
                        if nocase {
                            lo = lo.to_ascii_lowercase();
                            hi = hi.to_ascii_lowercase();
                            cc = cc.to_ascii_lowercase();
                        }
                        if cc >= lo && cc <= hi {
                            matched = true;
                        }
                        i += 2;
                    }
                    Some(&lit) => {
                        if eq(lit, c, nocase) {
                            matched = true;
                        }
                    }
                }
                i += 1;
            }
            let matched = if not { !matched } else { matched };
            matched.then_some(i + 1 - pi)
        }
        &lit => eq(lit, c, nocase).then_some(1),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns() {
        assert!(glob_match(b"*", b""));
        assert!(glob_match(b"h?llo", b"hello"));
        assert!(glob_match(b"h*llo", b"heeeello"));
        assert!(glob_match(b"h[ae]llo", b"hallo"));
        assert!(!glob_match(b"h[^e]llo", b"hello"));
        assert!(glob_match(b"h[a-b]llo", b"hbllo"));
        assert!(glob_match(b"h\\*llo", b"h*llo"));
        assert!(!glob_match(b"h\\*llo", b"hello"));
        assert!(glob_match(b"*a*b*", b"xxaxxbxx"));
        assert!(!glob_match(b"a*b", b"acbd"));
        assert!(glob_match_nocase(b"MAX*", b"maxmemory"));
    }

    #[test]
    fn pathological_pattern_terminates() {
        let p = b"a*a*a*a*a*a*a*a*a*a*a*a*b";
        let s = vec![b'a'; 200];
        assert!(!glob_match(p, &s));
    }
}
