//! COMMAND and its subcommands, generated from the engine's command table.

use bytes::Bytes;
use lattice_engine::cmd::{all_commands, lookup, resolve};
use lattice_engine::glob::glob_match_nocase;
use lattice_engine::{flags, CmdError, CommandSpec, Reply};

use super::{arg, help};

fn info_entry(spec: &CommandSpec, parent: Option<&CommandSpec>) -> Reply {
    let name = match parent {
        Some(p) => format!("{}|{}", p.name, spec.name),
        None => spec.name.to_string(),
    };
    let fl: Vec<Reply> = flags::NAMES
        .iter()
        .filter(|(bit, _)| spec.flags & bit != 0)
        .map(|(_, n)| Reply::Status((*n).to_string()))
        .collect();
    let acl: Vec<Reply> = spec
        .acl_categories()
        .into_iter()
        .map(|c| Reply::Status(c.to_string()))
        .collect();
    let subs: Vec<Reply> = spec
        .subcommands
        .iter()
        .map(|s| info_entry(s, Some(spec)))
        .collect();
    Reply::Array(vec![
        Reply::bulk_str(&name),
        Reply::Int(i64::from(spec.arity)),
        Reply::Set(fl),
        Reply::Int(i64::from(spec.first_key)),
        Reply::Int(i64::from(spec.last_key)),
        Reply::Int(i64::from(spec.step)),
        Reply::Set(acl),
        Reply::Set(vec![]),
        Reply::Array(vec![]),
        Reply::Array(subs),
    ])
}

fn docs_entry(spec: &CommandSpec) -> Reply {
    let mut fields = vec![
        (Reply::bulk_str("summary"), Reply::bulk_str(spec.summary)),
        (Reply::bulk_str("since"), Reply::bulk_str("1.0.0")),
        (Reply::bulk_str("group"), Reply::bulk_str(spec.group.name())),
    ];
    if !spec.subcommands.is_empty() {
        let subs = spec
            .subcommands
            .iter()
            .map(|s| {
                (
                    Reply::bulk_str(&format!("{}|{}", spec.name, s.name)),
                    docs_entry(s),
                )
            })
            .collect();
        fields.push((Reply::bulk_str("subcommands"), Reply::Map(subs)));
    }
    Reply::Map(fields)
}

pub(super) fn command_all() -> Result<Reply, CmdError> {
    Ok(Reply::Array(
        all_commands().iter().map(|s| info_entry(s, None)).collect(),
    ))
}

pub(super) fn run(sub: &str, args: &[Bytes]) -> Result<Reply, CmdError> {
    match sub {
        "count" => Ok(Reply::Int(all_commands().len() as i64)),
        "info" => {
            if args.len() == 2 {
                return command_all();
            }
            Ok(Reply::Array(
                args.iter()
                    .skip(2)
                    .map(|n| lookup(n).map_or(Reply::NilArray, |s| info_entry(s, None)))
                    .collect(),
            ))
        }
        "docs" => {
            let specs: Vec<&CommandSpec> = if args.len() == 2 {
                all_commands().to_vec()
            } else {
                args.iter().skip(2).filter_map(|n| lookup(n)).collect()
            };
            Ok(Reply::Map(
                specs
                    .iter()
                    .map(|s| (Reply::bulk_str(s.name), docs_entry(s)))
                    .collect(),
            ))
        }
        "getkeys" => {
            let target = args.get(2..).unwrap_or_default();
            let r = resolve(target).map_err(|e| match e {
                CmdError::Arity(_) => {
                    CmdError::err("Invalid number of arguments specified for command")
                }
                _ => CmdError::err("Invalid command specified"),
            })?;
            let pos = r.spec.key_positions(target);
            // Shard channels have key positions (cluster routing) but are
            // `not_key` in Redis's key specs: GETKEYS reports none.
            if pos.is_empty() || r.spec.flags & flags::PUBSUB != 0 {
                return Err(CmdError::err("The command has no key arguments"));
            }
            Ok(Reply::Array(
                pos.iter()
                    .filter_map(|&i| target.get(i))
                    .map(|k| Reply::bulk(k))
                    .collect(),
            ))
        }
        "list" => {
            let filter = match args.len() {
                2 => None,
                5 if arg(args, 2).eq_ignore_ascii_case(b"FILTERBY") => {
                    Some((arg(args, 3).to_ascii_uppercase(), arg(args, 4).to_vec()))
                }
                _ => return Err(CmdError::Syntax),
            };
            let mut names = Vec::new();
            for s in all_commands() {
                let keep = match &filter {
                    None => true,
                    Some((k, v)) if k == b"PATTERN" => glob_match_nocase(v, s.name.as_bytes()),
                    Some((k, v)) if k == b"ACLCAT" => {
                        let cat = format!("@{}", String::from_utf8_lossy(v).to_ascii_lowercase());
                        s.acl_categories().contains(&cat.as_str())
                    }
                    Some((k, _)) if k == b"MODULE" => false,
                    Some(_) => return Err(CmdError::Syntax),
                };
                if keep {
                    names.push(Reply::bulk_str(s.name));
                }
                for sub in s.subcommands {
                    let full = format!("{}|{}", s.name, sub.name);
                    if filter.is_none()
                        || matches!(&filter, Some((k, v)) if k == b"PATTERN" && glob_match_nocase(v, full.as_bytes()))
                    {
                        names.push(Reply::bulk_str(&full));
                    }
                }
            }
            Ok(Reply::Array(names))
        }
        "help" => Ok(help(&[
            "COMMAND <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
            "(no subcommand)",
            "    Return details about all Redis commands.",
            "COUNT",
            "    Return the total number of commands in this Redis server.",
            "LIST",
            "    Return a list of all commands in this Redis server.",
            "INFO [<command-name> ...]",
            "    Return details about multiple Redis commands.",
            "    If no command names are given, documentation details for all",
            "    commands are returned.",
            "DOCS [<command-name> ...]",
            "    Return documentation details about multiple Redis commands.",
            "    If no command names are given, documentation details for all",
            "    commands are returned.",
            "GETKEYS <full-command>",
            "    Return the keys from a full Redis command.",
            "HELP",
            "    Prints this help.",
        ])),
        _ => Err(CmdError::Syntax),
    }
}
