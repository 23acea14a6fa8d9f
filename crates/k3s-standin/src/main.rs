//! `k3s` — a labelled STAND-IN for the K3s binary (see `k3s --help`).

use std::process::ExitCode;

use k3strading_k3s_standin::cli::{self, Command, HELP};
use k3strading_k3s_standin::node::KUBELET_VERSION;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let inv = match cli::parse(&args) {
        Ok(Command::Help) => {
            print!("{HELP}");
            return ExitCode::SUCCESS;
        }
        Ok(Command::Version) => {
            println!("k3s version {KUBELET_VERSION} (STAND-IN, not K3s)");
            return ExitCode::SUCCESS;
        }
        Ok(Command::Run(inv)) => inv,
        Err(e) => {
            eprintln!("k3s (stand-in): {e}");
            return ExitCode::from(2);
        }
    };
    match run(&inv) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // K3s logs its fatal errors in this shape; journal readers grep it.
            eprintln!("level=fatal msg=\"{e:#}\"");
            ExitCode::FAILURE
        }
    }
}

fn run(inv: &cli::Invocation) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    runtime.block_on(k3strading_k3s_standin::run(inv))?;
    Ok(())
}
