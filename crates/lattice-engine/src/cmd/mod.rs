//! The command table: one declarative `CommandSpec` per command (name, arity,
//! flags, key positions, group, handler), joined from one `SPECS` list per
//! family file. It drives `COMMAND`, arity errors, key extraction and ACL
//! categories. Handlers live beside their specs, one file per type.

use std::collections::HashMap;
use std::sync::OnceLock;

use bytes::Bytes;

use crate::exec::Exec;
use crate::{CmdError, Reply};

pub mod bitmap;
pub mod dump;
pub mod hash;
pub mod hll;
pub mod keys;
pub mod list;
pub mod server;
pub mod set;
pub mod sort;
pub mod string;
pub mod zset;

/// A command handler. `args[0]` is the command name, as in Redis's argv.
pub type Handler = fn(&mut Exec<'_>, &[Bytes]) -> Result<Reply, CmdError>;

/// Finds key positions in `args` for commands whose keys move (numkeys …).
pub type GetKeys = fn(&[Bytes]) -> Vec<usize>;

/// Command flags (Redis's names in `COMMAND INFO`).
pub mod flags {
    /// May modify the dataset.
    pub const WRITE: u32 = 1;
    /// Never modifies the dataset.
    pub const READONLY: u32 = 1 << 1;
    /// May grow memory: refused when over `maxmemory`.
    pub const DENYOOM: u32 = 1 << 2;
    /// Administrative.
    pub const ADMIN: u32 = 1 << 3;
    /// Pub/sub related.
    pub const PUBSUB: u32 = 1 << 4;
    /// Not allowed in scripts.
    pub const NOSCRIPT: u32 = 1 << 5;
    /// May block the client.
    pub const BLOCKING: u32 = 1 << 6;
    /// Allowed while loading.
    pub const LOADING: u32 = 1 << 7;
    /// Allowed on a stale replica.
    pub const STALE: u32 = 1 << 8;
    /// O(1) or O(log N).
    pub const FAST: u32 = 1 << 9;
    /// Allowed before authentication.
    pub const NO_AUTH: u32 = 1 << 10;
    /// Key positions depend on the arguments.
    pub const MOVABLEKEYS: u32 = 1 << 11;
    /// Not allowed inside MULTI.
    pub const NO_MULTI: u32 = 1 << 12;
    /// Skipped by SLOWLOG.
    pub const SKIP_SLOWLOG: u32 = 1 << 13;

    /// (flag, name) pairs for `COMMAND INFO`.
    pub const NAMES: &[(u32, &str)] = &[
        (WRITE, "write"),
        (READONLY, "readonly"),
        (DENYOOM, "denyoom"),
        (ADMIN, "admin"),
        (PUBSUB, "pubsub"),
        (NOSCRIPT, "noscript"),
        (BLOCKING, "blocking"),
        (LOADING, "loading"),
        (STALE, "stale"),
        (SKIP_SLOWLOG, "skip_slowlog"),
        (FAST, "fast"),
        (NO_AUTH, "no_auth"),
        (NO_MULTI, "no_multi"),
        (MOVABLEKEYS, "movablekeys"),
    ];
}

/// Command groups (COMMAND DOCS `group`, and the ACL category of the type).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Group {
    /// Key-space commands.
    Generic,
    /// Strings.
    String,
    /// Lists.
    List,
    /// Sets.
    Set,
    /// Sorted sets.
    SortedSet,
    /// Hashes.
    Hash,
    /// HyperLogLog.
    HyperLogLog,
    /// Bitmaps.
    Bitmap,
    /// Connection.
    Connection,
    /// Server.
    Server,
    /// Pub/sub.
    PubSub,
    /// Transactions.
    Transactions,
    /// Scripting.
    Scripting,
}

impl Group {
    /// COMMAND DOCS group name.
    pub fn name(self) -> &'static str {
        match self {
            Group::Generic => "generic",
            Group::String => "string",
            Group::List => "list",
            Group::Set => "set",
            Group::SortedSet => "sorted-set",
            Group::Hash => "hash",
            Group::HyperLogLog => "hyperloglog",
            Group::Bitmap => "bitmap",
            Group::Connection => "connection",
            Group::Server => "server",
            Group::PubSub => "pubsub",
            Group::Transactions => "transactions",
            Group::Scripting => "scripting",
        }
    }

    /// ACL category of the group.
    pub fn acl_category(self) -> &'static str {
        match self {
            Group::Generic => "@keyspace",
            Group::String => "@string",
            Group::List => "@list",
            Group::Set => "@set",
            Group::SortedSet => "@sortedset",
            Group::Hash => "@hash",
            Group::HyperLogLog => "@hyperloglog",
            Group::Bitmap => "@bitmap",
            Group::Connection => "@connection",
            Group::Server => "@admin",
            Group::PubSub => "@pubsub",
            Group::Transactions => "@transaction",
            Group::Scripting => "@scripting",
        }
    }
}

/// One command's declaration.
#[derive(Debug, Clone, Copy)]
pub struct CommandSpec {
    /// Lowercase name (`get`; subcommands: `setname`).
    pub name: &'static str,
    /// Arity as Redis: N exact, -N at least N (the name counts).
    pub arity: i32,
    /// `flags::*` bits.
    pub flags: u32,
    /// First key position (0: none).
    pub first_key: i32,
    /// Last key position (-1: last argument).
    pub last_key: i32,
    /// Step between keys.
    pub step: i32,
    /// Group.
    pub group: Group,
    /// One-line summary (COMMAND DOCS).
    pub summary: &'static str,
    /// The engine handler; `None` when the server layer executes it.
    pub handler: Option<Handler>,
    /// Key finder for movable keys.
    pub getkeys: Option<GetKeys>,
    /// Subcommands (CLIENT SETNAME …), each with its own arity.
    pub subcommands: &'static [CommandSpec],
}

impl CommandSpec {
    /// A spec with the essentials; the rest via the `with_*` builders.
    pub const fn new(
        name: &'static str,
        arity: i32,
        flags: u32,
        keys: (i32, i32, i32),
        group: Group,
        handler: Option<Handler>,
    ) -> Self {
        Self {
            name,
            arity,
            flags,
            first_key: keys.0,
            last_key: keys.1,
            step: keys.2,
            group,
            summary: "",
            handler,
            getkeys: None,
            subcommands: &[],
        }
    }

    /// Adds a summary.
    pub const fn with_summary(mut self, s: &'static str) -> Self {
        self.summary = s;
        self
    }

    /// Adds a key finder (and the movablekeys flag).
    pub const fn with_getkeys(mut self, f: GetKeys) -> Self {
        self.getkeys = Some(f);
        self.flags |= flags::MOVABLEKEYS;
        self
    }

    /// Adds subcommands.
    pub const fn with_subcommands(mut self, subs: &'static [CommandSpec]) -> Self {
        self.subcommands = subs;
        self
    }

    /// True if the command may modify data.
    pub fn is_write(&self) -> bool {
        self.flags & flags::WRITE != 0
    }

    /// Whether `argc` arguments (name included) fit the arity.
    pub fn arity_ok(&self, argc: usize) -> bool {
        let argc = argc as i64;
        let a = i64::from(self.arity);
        if a >= 0 {
            argc == a
        } else {
            argc >= -a
        }
    }

    /// Finds a subcommand by name (case-insensitive).
    pub fn subcommand(&self, name: &[u8]) -> Option<&'static CommandSpec> {
        self.subcommands
            .iter()
            .find(|s| s.name.as_bytes().eq_ignore_ascii_case(name))
    }

    /// Positions of the keys in `args` (COMMAND GETKEYS, ACL key checks, slots).
    pub fn key_positions(&self, args: &[Bytes]) -> Vec<usize> {
        if let Some(f) = self.getkeys {
            return f(args);
        }
        if self.first_key <= 0 {
            return Vec::new();
        }
        let first = self.first_key as usize;
        let last = if self.last_key < 0 {
            args.len() as i64 + i64::from(self.last_key)
        } else {
            i64::from(self.last_key)
        };
        let step = self.step.max(1) as usize;
        let mut out = Vec::new();
        let mut i = first;
        while (i as i64) <= last && i < args.len() {
            out.push(i);
            i += step;
        }
        out
    }

    /// ACL categories, derived from flags and group as Redis does.
    pub fn acl_categories(&self) -> Vec<&'static str> {
        let mut c = Vec::new();
        if self.flags & flags::WRITE != 0 {
            c.push("@write");
        }
        if self.flags & flags::READONLY != 0 && self.group != Group::Server {
            c.push("@read");
        }
        c.push(self.group.acl_category());
        if self.flags & flags::ADMIN != 0 {
            c.push("@admin");
            c.push("@dangerous");
        }
        if self.flags & flags::BLOCKING != 0 {
            c.push("@blocking");
        }
        c.push(if self.flags & flags::FAST != 0 {
            "@fast"
        } else {
            "@slow"
        });
        c.dedup();
        c
    }
}

/// Every family's specs, in table order.
fn families() -> [&'static [CommandSpec]; 11] {
    [
        string::SPECS,
        keys::SPECS,
        hash::SPECS,
        list::SPECS,
        set::SPECS,
        zset::SPECS,
        hll::SPECS,
        bitmap::SPECS,
        sort::SPECS,
        dump::SPECS,
        server::SPECS,
    ]
}

struct Table {
    all: Vec<&'static CommandSpec>,
    /// Looked up several times per command (dispatch, apply): keyed by
    /// bytes (no UTF-8 check) with the fast hasher rather than SipHash, both
    /// of which showed in `-P 16` profiles.
    by_name: HashMap<&'static [u8], &'static CommandSpec, crate::keyspace::FastHasher>,
}

fn table() -> &'static Table {
    static TABLE: OnceLock<Table> = OnceLock::new();
    TABLE.get_or_init(|| {
        let all: Vec<&'static CommandSpec> = families().into_iter().flatten().collect();
        let by_name = all.iter().map(|s| (s.name.as_bytes(), *s)).collect();
        Table { all, by_name }
    })
}

/// Looks a command up by name (case-insensitive), without allocating.
pub fn lookup(name: &[u8]) -> Option<&'static CommandSpec> {
    let mut buf = [0u8; 32];
    let lower = buf.get_mut(..name.len())?;
    for (d, s) in lower.iter_mut().zip(name) {
        *d = s.to_ascii_lowercase();
    }
    table().by_name.get(&*lower).copied()
}

/// Every command, in table order.
pub fn all_commands() -> &'static [&'static CommandSpec] {
    &table().all
}

/// A command resolved from argv: the spec to run and, for a subcommand,
/// its container.
#[derive(Debug, Clone, Copy)]
pub struct Resolved {
    /// The (sub)command to run.
    pub spec: &'static CommandSpec,
    /// The container (`client` for `client setname`), if any.
    pub parent: Option<&'static CommandSpec>,
}

/// Resolves argv to a command, checking existence and arity with Redis's
/// errors. A container called with a subcommand resolves to the
/// subcommand; `COMMAND` alone resolves to the container.
pub fn resolve(args: &[Bytes]) -> Result<Resolved, CmdError> {
    let spec = args
        .first()
        .and_then(|n| lookup(n))
        .ok_or_else(|| unknown_command_error(args))?;
    if !spec.arity_ok(args.len()) {
        return Err(arity_error(spec, None));
    }
    if spec.subcommands.is_empty() || (args.len() == 1 && spec.arity_ok(1)) {
        return Ok(Resolved { spec, parent: None });
    }
    let sub_name = args.get(1).map_or(&[][..], |b| &b[..]);
    let sub = spec
        .subcommand(sub_name)
        .ok_or_else(|| unknown_subcommand_error(spec, sub_name))?;
    if !sub.arity_ok(args.len()) {
        return Err(arity_error(sub, Some(spec)));
    }
    Ok(Resolved {
        spec: sub,
        parent: Some(spec),
    })
}

/// The `ERR wrong number of arguments` error for a (sub)command.
pub fn arity_error(spec: &CommandSpec, parent: Option<&CommandSpec>) -> CmdError {
    match parent {
        Some(p) => CmdError::Arity(format!("{}|{}", p.name, spec.name)),
        None => CmdError::Arity(spec.name.to_string()),
    }
}

/// The `ERR unknown command` error, as Redis formats it.
pub fn unknown_command_error(args: &[Bytes]) -> CmdError {
    let name = args
        .first()
        .map(|n| String::from_utf8_lossy(n).into_owned())
        .unwrap_or_default();
    let name: String = name.chars().take(128).collect();
    let mut rest = String::new();
    for a in args.iter().skip(1) {
        let s = String::from_utf8_lossy(a);
        let s: String = s.chars().take(128 - rest.len().min(128)).collect();
        rest.push_str(&format!("'{s}' "));
        if rest.len() >= 128 {
            break;
        }
    }
    CmdError::err(format!(
        "unknown command '{name}', with args beginning with: {rest}"
    ))
}

/// The `ERR unknown subcommand` error.
pub fn unknown_subcommand_error(parent: &CommandSpec, sub: &[u8]) -> CmdError {
    let sub: String = String::from_utf8_lossy(sub).chars().take(128).collect();
    CmdError::err(format!(
        "unknown subcommand '{sub}'. Try {} HELP.",
        parent.name.to_ascii_uppercase()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_lowercase() {
        let mut seen = std::collections::HashSet::new();
        for s in all_commands() {
            assert!(seen.insert(s.name), "duplicate {}", s.name);
            assert_eq!(s.name, s.name.to_ascii_lowercase());
            let mut subs = std::collections::HashSet::new();
            for sub in s.subcommands {
                assert!(subs.insert(sub.name), "duplicate {}|{}", s.name, sub.name);
            }
        }
    }

    #[test]
    fn only_server_layer_commands_lack_a_handler() {
        let server_names: Vec<&str> = server::SPECS.iter().map(|s| s.name).collect();
        for s in all_commands() {
            if s.handler.is_none() && s.subcommands.is_empty() {
                assert!(server_names.contains(&s.name), "{} has no handler", s.name);
            }
            let both = flags::WRITE | flags::READONLY;
            assert_ne!(
                s.flags & both,
                both,
                "{} is both write and readonly",
                s.name
            );
        }
    }

    #[test]
    fn key_positions_follow_the_spec() {
        let mset = lookup(b"MSET").unwrap();
        let args: Vec<Bytes> = ["MSET", "a", "1", "b", "2"]
            .iter()
            .map(|s| Bytes::from(*s))
            .collect();
        assert_eq!(mset.key_positions(&args), vec![1, 3]);
    }

    #[test]
    fn lookup_is_case_insensitive_and_bounded() {
        assert_eq!(lookup(b"gEt").unwrap().name, "get");
        assert!(lookup(&[b'a'; 100]).is_none());
        assert!(lookup(b"\xff\xfe").is_none());
        assert!(all_commands().iter().all(|s| s.name.len() <= 32));
    }

    #[test]
    fn unknown_command_text() {
        let args: Vec<Bytes> = ["foo", "a", "b"].iter().map(|s| Bytes::from(*s)).collect();
        assert_eq!(
            unknown_command_error(&args).wire_text(),
            "ERR unknown command 'foo', with args beginning with: 'a' 'b' "
        );
    }
}
