//! The binary encoding of log entries (the payload of a `lattice-storage`
//! record; the record adds the index framing and checksums). Layout, all
//! integers little-endian, described with the rules for readers in
//! `docs/design/log-format.md` ("Entry payload"):
//!
//! ```text
//! entry   = term:u64 node:u64 index:u64 kind:u8 body
//! kind    = 0 blank | 1 normal (count:u32 command*) | 2 membership
//! command = 1 client:u64 writeop | 2 client:u64 | 3 client:u64 db:u32 time:u64 argv
//!         | 4 client:u64 | 5 | 6 db:u32 count:u64 prefix:bytes has_size:u8 size:u64 time:u64
//!         | 7 client:u64 db:u32 time:u64 seed:u64 resp3:u8 argv (script) | 8 argv (function)
//! writeop = 1 db:u32 time:u64 seed:u64 argv | 2 db:u32 time:u64 argv (expire)
//!         | 3 db:u32 time:u64 argv (evict) | 4 time:u64 seed:u64 n:u32 (db:u32 argv)*
//! argv    = n:u32 bytes*        bytes = len:u32 octets
//! membership = nconf:u32 (n:u32 id:u64*)* nnodes:u32 (id:u64 addr:bytes)*
//! ```
//!
//! Decoding never trusts a count or length beyond the bytes present, so a
//! damaged payload (which the record checksum should already have caught)
//! is an error, never a panic or a huge allocation.

use std::collections::{BTreeMap, BTreeSet};

use bytes::{BufMut, Bytes};
use lattice_engine::WriteOp;
use openraft::{BasicNode, CommittedLeaderId, EntryPayload, Membership};

use crate::{Command, Entry, LogId, Proposal};

/// A payload that is not a valid entry.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("bad log entry at byte {offset}: {reason}")]
pub struct DecodeError {
    /// Byte offset in the payload.
    pub offset: usize,
    /// What is wrong.
    pub reason: &'static str,
}

/// Encodes a log id (term, node, index).
pub fn put_log_id(out: &mut Vec<u8>, id: &LogId) {
    out.put_u64_le(id.leader_id.term);
    out.put_u64_le(id.leader_id.node_id);
    out.put_u64_le(id.index);
}

/// Encodes an entry.
pub fn encode_entry(e: &Entry, out: &mut Vec<u8>) {
    put_log_id(out, &e.log_id);
    match &e.payload {
        EntryPayload::Blank => out.put_u8(0),
        EntryPayload::Normal(p) => {
            out.put_u8(1);
            out.put_u32_le(p.0.len() as u32);
            for c in p.0.iter() {
                put_command(out, c);
            }
        }
        EntryPayload::Membership(m) => {
            out.put_u8(2);
            put_membership(out, m);
        }
    }
}

/// Encodes a membership configuration.
pub fn put_membership(out: &mut Vec<u8>, m: &Membership<u64, BasicNode>) {
    let configs = m.get_joint_config();
    out.put_u32_le(configs.len() as u32);
    for c in configs {
        out.put_u32_le(c.len() as u32);
        for id in c {
            out.put_u64_le(*id);
        }
    }
    let nodes: Vec<_> = m.nodes().collect();
    out.put_u32_le(nodes.len() as u32);
    for (id, n) in nodes {
        out.put_u64_le(*id);
        put_bytes(out, n.addr.as_bytes());
    }
}

/// Encodes a length-prefixed byte string (`bytes` above).
pub fn put_bytes(out: &mut Vec<u8>, b: &[u8]) {
    out.put_u32_le(b.len() as u32);
    out.put_slice(b);
}

/// Encodes a list of byte strings (`argv` above).
pub fn put_argv(out: &mut Vec<u8>, argv: &[Bytes]) {
    out.put_u32_le(argv.len() as u32);
    for a in argv {
        put_bytes(out, a);
    }
}

fn put_command(out: &mut Vec<u8>, c: &Command) {
    match c {
        Command::Write { client, op } => {
            out.put_u8(1);
            out.put_u64_le(*client);
            put_write_op(out, op);
        }
        Command::Unblock { client } => {
            out.put_u8(2);
            out.put_u64_le(*client);
        }
        Command::Watch {
            client,
            db,
            keys,
            time_ms,
        } => {
            out.put_u8(3);
            out.put_u64_le(*client);
            out.put_u32_le(*db as u32);
            out.put_u64_le(*time_ms);
            put_argv(out, keys);
        }
        Command::Unwatch { client } => {
            out.put_u8(4);
            out.put_u64_le(*client);
        }
        Command::ResetSessions => out.put_u8(5),
        Command::Populate {
            db,
            count,
            prefix,
            size,
            time_ms,
        } => {
            out.put_u8(6);
            out.put_u32_le(*db as u32);
            out.put_u64_le(*count);
            put_bytes(out, prefix);
            out.put_u8(u8::from(size.is_some()));
            out.put_u64_le(size.unwrap_or(0));
            out.put_u64_le(*time_ms);
        }
        Command::Script {
            client,
            db,
            argv,
            time_ms,
            seed,
            resp3,
        } => {
            out.put_u8(7);
            out.put_u64_le(*client);
            out.put_u32_le(*db as u32);
            out.put_u64_le(*time_ms);
            out.put_u64_le(*seed);
            out.put_u8(u8::from(*resp3));
            put_argv(out, argv);
        }
        Command::Function { argv } => {
            out.put_u8(8);
            put_argv(out, argv);
        }
    }
}

fn put_write_op(out: &mut Vec<u8>, op: &WriteOp) {
    match op {
        WriteOp::Command {
            db,
            args,
            time_ms,
            seed,
        } => {
            out.put_u8(1);
            out.put_u32_le(*db as u32);
            out.put_u64_le(*time_ms);
            out.put_u64_le(*seed);
            put_argv(out, args);
        }
        WriteOp::Expire { db, keys, time_ms } | WriteOp::Evict { db, keys, time_ms } => {
            out.put_u8(if matches!(op, WriteOp::Expire { .. }) {
                2
            } else {
                3
            });
            out.put_u32_le(*db as u32);
            out.put_u64_le(*time_ms);
            put_argv(out, keys);
        }
        WriteOp::Batch {
            cmds,
            time_ms,
            seed,
        } => {
            out.put_u8(4);
            out.put_u64_le(*time_ms);
            out.put_u64_le(*seed);
            out.put_u32_le(cmds.len() as u32);
            for (db, args) in cmds {
                out.put_u32_le(*db as u32);
                put_argv(out, args);
            }
        }
    }
}

/// A cursor over a payload that refuses to read past its end.
struct Reader {
    buf: Bytes,
    pos: usize,
}

impl Reader {
    fn err(&self, reason: &'static str) -> DecodeError {
        DecodeError {
            offset: self.pos,
            reason,
        }
    }

    fn take(&mut self, n: usize) -> Result<Bytes, DecodeError> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|&e| e <= self.buf.len())
            .ok_or_else(|| self.err("truncated"))?;
        let b = self.buf.slice(self.pos..end);
        self.pos = end;
        Ok(b)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], DecodeError> {
        let b = self.take(N)?;
        let mut a = [0u8; N];
        a.copy_from_slice(&b);
        Ok(a)
    }

    fn u8(&mut self) -> Result<u8, DecodeError> {
        Ok(self.array::<1>()?[0])
    }

    fn u32(&mut self) -> Result<u32, DecodeError> {
        Ok(u32::from_le_bytes(self.array()?))
    }

    fn u64(&mut self) -> Result<u64, DecodeError> {
        Ok(u64::from_le_bytes(self.array()?))
    }

    fn remaining(&self) -> usize {
        self.buf.len().saturating_sub(self.pos)
    }

    /// A count of items each at least `min` bytes long, checked against
    /// what is left so it cannot drive a huge allocation.
    fn count(&mut self, min: usize) -> Result<usize, DecodeError> {
        let n = self.u32()? as usize;
        if n.saturating_mul(min) > self.remaining() {
            return Err(self.err("count larger than the payload"));
        }
        Ok(n)
    }

    fn bytes(&mut self) -> Result<Bytes, DecodeError> {
        let n = self.u32()? as usize;
        self.take(n)
    }

    fn argv(&mut self) -> Result<Vec<Bytes>, DecodeError> {
        let n = self.count(4)?;
        (0..n).map(|_| self.bytes()).collect()
    }

    fn db(&mut self) -> Result<usize, DecodeError> {
        Ok(self.u32()? as usize)
    }

    fn log_id(&mut self) -> Result<LogId, DecodeError> {
        let term = self.u64()?;
        let node = self.u64()?;
        let index = self.u64()?;
        Ok(LogId::new(CommittedLeaderId::new(term, node), index))
    }
}

/// Decodes an entry written by [`encode_entry`].
pub fn decode_entry(buf: Bytes) -> Result<Entry, DecodeError> {
    let mut r = Reader { buf, pos: 0 };
    let log_id = r.log_id()?;
    let payload = match r.u8()? {
        0 => EntryPayload::Blank,
        1 => {
            let n = r.count(1)?;
            let mut cmds = Vec::with_capacity(n);
            for _ in 0..n {
                cmds.push(read_command(&mut r)?);
            }
            EntryPayload::Normal(Proposal::from(cmds))
        }
        2 => EntryPayload::Membership(read_membership(&mut r)?),
        _ => return Err(r.err("unknown entry kind")),
    };
    if r.remaining() != 0 {
        return Err(r.err("trailing bytes"));
    }
    Ok(Entry { log_id, payload })
}

/// Decodes just a log id (term, node, index) from the start of `buf`.
pub fn decode_log_id(buf: Bytes) -> Result<LogId, DecodeError> {
    Reader { buf, pos: 0 }.log_id()
}

/// Decodes a membership written by [`put_membership`] from `buf`, returning
/// it and the bytes consumed.
pub fn decode_membership(buf: Bytes) -> Result<(Membership<u64, BasicNode>, usize), DecodeError> {
    let mut r = Reader { buf, pos: 0 };
    let m = read_membership(&mut r)?;
    Ok((m, r.pos))
}

fn read_membership(r: &mut Reader) -> Result<Membership<u64, BasicNode>, DecodeError> {
    let nconf = r.count(4)?;
    let mut configs = Vec::with_capacity(nconf);
    for _ in 0..nconf {
        let n = r.count(8)?;
        let mut set = BTreeSet::new();
        for _ in 0..n {
            set.insert(r.u64()?);
        }
        configs.push(set);
    }
    let nnodes = r.count(12)?;
    let mut nodes = BTreeMap::new();
    for _ in 0..nnodes {
        let id = r.u64()?;
        let addr = r.bytes()?;
        let addr = String::from_utf8(addr.to_vec()).map_err(|_| r.err("node address not UTF-8"))?;
        nodes.insert(id, BasicNode { addr });
    }
    // Every voter must have a node entry, or openraft's constructor panics.
    for c in &configs {
        if c.iter().any(|id| !nodes.contains_key(id)) {
            return Err(r.err("voter without a node entry"));
        }
    }
    Ok(Membership::new(configs, nodes))
}

fn read_command(r: &mut Reader) -> Result<Command, DecodeError> {
    Ok(match r.u8()? {
        1 => {
            let client = r.u64()?;
            Command::Write {
                client,
                op: read_write_op(r)?,
            }
        }
        2 => Command::Unblock { client: r.u64()? },
        3 => {
            let client = r.u64()?;
            let db = r.db()?;
            let time_ms = r.u64()?;
            let keys = r.argv()?;
            Command::Watch {
                client,
                db,
                keys,
                time_ms,
            }
        }
        4 => Command::Unwatch { client: r.u64()? },
        5 => Command::ResetSessions,
        6 => {
            let db = r.db()?;
            let count = r.u64()?;
            let prefix = r.bytes()?;
            let has = r.u8()?;
            let size = r.u64()?;
            let time_ms = r.u64()?;
            Command::Populate {
                db,
                count,
                prefix,
                size: (has != 0).then_some(size),
                time_ms,
            }
        }
        7 => {
            let client = r.u64()?;
            let db = r.db()?;
            let time_ms = r.u64()?;
            let seed = r.u64()?;
            let resp3 = match r.u8()? {
                0 => false,
                1 => true,
                _ => return Err(r.err("bad resp3 flag")),
            };
            let argv = r.argv()?;
            Command::Script {
                client,
                db,
                argv,
                time_ms,
                seed,
                resp3,
            }
        }
        8 => Command::Function { argv: r.argv()? },
        _ => return Err(r.err("unknown command tag")),
    })
}

fn read_write_op(r: &mut Reader) -> Result<WriteOp, DecodeError> {
    Ok(match r.u8()? {
        1 => {
            let db = r.db()?;
            let time_ms = r.u64()?;
            let seed = r.u64()?;
            let args = r.argv()?;
            WriteOp::Command {
                db,
                args,
                time_ms,
                seed,
            }
        }
        tag @ (2 | 3) => {
            let db = r.db()?;
            let time_ms = r.u64()?;
            let keys = r.argv()?;
            if tag == 2 {
                WriteOp::Expire { db, keys, time_ms }
            } else {
                WriteOp::Evict { db, keys, time_ms }
            }
        }
        4 => {
            let time_ms = r.u64()?;
            let seed = r.u64()?;
            let n = r.count(8)?;
            let mut cmds = Vec::with_capacity(n);
            for _ in 0..n {
                let db = r.db()?;
                cmds.push((db, r.argv()?));
            }
            WriteOp::Batch {
                cmds,
                time_ms,
                seed,
            }
        }
        _ => return Err(r.err("unknown write tag")),
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn b(s: &str) -> Bytes {
        Bytes::copy_from_slice(s.as_bytes())
    }

    fn sample() -> Vec<Entry> {
        let id = |i| LogId::new(CommittedLeaderId::new(3, 1), i);
        let mut nodes = BTreeMap::new();
        nodes.insert(1, BasicNode::new("127.0.0.1:6379"));
        nodes.insert(2, BasicNode::new("[::1]:7000"));
        let m = Membership::new(vec![[1, 2].into_iter().collect()], nodes);
        vec![
            Entry {
                log_id: id(1),
                payload: EntryPayload::Blank,
            },
            Entry {
                log_id: id(2),
                payload: EntryPayload::Membership(m),
            },
            Entry {
                log_id: id(3),
                payload: EntryPayload::Normal(Proposal::from(vec![
                    Command::Write {
                        client: 7,
                        op: WriteOp::Command {
                            db: 2,
                            args: vec![b("SET"), b("k"), b("v\r\n\0")],
                            time_ms: 1_700_000_000_000,
                            seed: u64::MAX,
                        },
                    },
                    Command::Write {
                        client: 0,
                        op: WriteOp::Expire {
                            db: 0,
                            keys: vec![b("a"), b("")],
                            time_ms: 5,
                        },
                    },
                    Command::Write {
                        client: 0,
                        op: WriteOp::Evict {
                            db: 15,
                            keys: vec![b("x")],
                            time_ms: 6,
                        },
                    },
                    Command::Write {
                        client: 9,
                        op: WriteOp::Batch {
                            cmds: vec![(0, vec![b("INCR"), b("n")]), (1, vec![])],
                            time_ms: 8,
                            seed: 4,
                        },
                    },
                    Command::Unblock { client: 3 },
                    Command::Watch {
                        client: 4,
                        db: 1,
                        keys: vec![b("w")],
                        time_ms: 10,
                    },
                    Command::Unwatch { client: 4 },
                    Command::ResetSessions,
                    Command::Populate {
                        db: 0,
                        count: 10,
                        prefix: b("key"),
                        size: Some(16),
                        time_ms: 11,
                    },
                    Command::Populate {
                        db: 0,
                        count: 1,
                        prefix: b(""),
                        size: None,
                        time_ms: 12,
                    },
                    Command::Script {
                        client: 5,
                        db: 3,
                        argv: vec![b("EVAL"), b("return 1"), b("0")],
                        time_ms: 13,
                        seed: 99,
                        resp3: true,
                    },
                    Command::Function {
                        argv: vec![b("LOAD"), b("#!lua name=x\n")],
                    },
                ])),
            },
        ]
    }

    #[test]
    fn every_entry_kind_round_trips() {
        for e in sample() {
            let mut buf = Vec::new();
            encode_entry(&e, &mut buf);
            let back = decode_entry(Bytes::from(buf)).unwrap();
            assert_eq!(back.log_id, e.log_id);
            assert_eq!(format!("{:?}", back.payload), format!("{:?}", e.payload));
        }
    }

    #[test]
    fn every_truncation_is_an_error() {
        for e in sample() {
            let mut buf = Vec::new();
            encode_entry(&e, &mut buf);
            for cut in 0..buf.len() {
                let r = decode_entry(Bytes::copy_from_slice(&buf[..cut]));
                assert!(r.is_err(), "cut at {cut} decoded");
            }
            let mut longer = buf.clone();
            longer.push(0);
            assert_eq!(
                decode_entry(Bytes::from(longer)).unwrap_err().reason,
                "trailing bytes"
            );
        }
    }

    #[test]
    fn huge_counts_are_refused_without_allocating() {
        let mut buf = Vec::new();
        put_log_id(&mut buf, &LogId::new(CommittedLeaderId::new(1, 1), 1));
        buf.push(1);
        buf.extend_from_slice(&u32::MAX.to_le_bytes());
        let e = decode_entry(Bytes::from(buf)).unwrap_err();
        assert_eq!(e.reason, "count larger than the payload");
    }

    #[test]
    fn a_voter_without_a_node_is_refused() {
        let mut buf = Vec::new();
        put_log_id(&mut buf, &LogId::new(CommittedLeaderId::new(1, 1), 1));
        buf.push(2);
        buf.extend_from_slice(&1u32.to_le_bytes());
        buf.extend_from_slice(&1u32.to_le_bytes());
        buf.extend_from_slice(&5u64.to_le_bytes());
        buf.extend_from_slice(&0u32.to_le_bytes());
        let e = decode_entry(Bytes::from(buf)).unwrap_err();
        assert_eq!(e.reason, "voter without a node entry");
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..200)) {
            let _ = decode_entry(Bytes::from(data));
        }

        #[test]
        fn mutated_entries_never_panic(pos in 0usize..400, byte in any::<u8>()) {
            for e in sample() {
                let mut buf = Vec::new();
                encode_entry(&e, &mut buf);
                let at = pos % buf.len().max(1);
                if let Some(x) = buf.get_mut(at) {
                    *x = byte;
                }
                let _ = decode_entry(Bytes::from(buf));
            }
        }
    }
}
