//! The `lattice-bench` binary: parses the command line, runs the load and
//! prints the JSON report on stdout. Exits 1 when the run could not start
//! (bad option, connection refused) and 2 when it finished with errors.

use std::process::ExitCode;

use anyhow::Context;
use lattice_bench::{parse_args, run, Parsed};

fn main() -> ExitCode {
    match real_main() {
        Ok(code) => code,
        Err(e) => {
            eprintln!("lattice-bench: {e:#}");
            ExitCode::from(1)
        }
    }
}

fn real_main() -> anyhow::Result<ExitCode> {
    let cfg = match parse_args(std::env::args().skip(1))? {
        Parsed::Help => {
            println!("{}", lattice_bench::config::USAGE);
            return Ok(ExitCode::SUCCESS);
        }
        Parsed::Run(cfg) => cfg,
    };
    let report = run(&cfg)?;
    let json = report.to_json()?;
    println!(
        "{}",
        serde_json::to_string_pretty(&json).context("encoding the report")?
    );
    let errors = report.stats.errors();
    if errors > 0 {
        eprintln!(
            "lattice-bench: {errors} of {} requests failed; first errors: {:?}",
            report.stats.requests(),
            report.stats.error_samples
        );
        return Ok(ExitCode::from(2));
    }
    Ok(ExitCode::SUCCESS)
}
