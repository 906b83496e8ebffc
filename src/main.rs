//! The `dawn` command line.

use clap::{Parser, Subcommand};

// Exec allocates on its worker threads and frees on the committing thread; glibc's malloc
// serializes such cross-thread frees on arena locks, mimalloc does not.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;
use tracing_subscriber::EnvFilter;

/// dawn: a producer node for an EOS.IO-style blockchain, built around a segmented log.
#[derive(Debug, Parser)]
#[command(name = "dawn", version, about, long_about = None, propagate_version = true)]
struct Cli {
    /// Log filter for messages on stderr (e.g. `info`, `dawn::log=debug`); overrides RUST_LOG.
    #[arg(long, global = true, value_name = "FILTER")]
    log_level: Option<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Node commands: dev, run, keys, push, get, genesis.
    #[command(flatten)]
    Node(dawn::node::cli::NodeCommand),
    /// Work with a segmented log directory: inspect, fill, export, import, prune, bench.
    #[command(subcommand)]
    Log(dawn::log::cli::LogCommand),
}

/// Turns transparent huge pages off for this process. The allocator returns freed memory
/// to the kernel and takes it back as blocks, frames and batches come and go; with huge
/// pages every such fault clears 2 MiB, which took a sixth of the node's CPU in `dawn
/// bench` (measured: efficiency 0.31 with them, 0.40 without, and a third less resident
/// memory). Mappings made before this call are affected too: the kernel checks the flag at
/// each fault.
fn disable_transparent_huge_pages() {
    #[cfg(target_os = "linux")]
    // SAFETY: PR_SET_THP_DISABLE takes plain integer arguments and touches no memory of ours.
    unsafe {
        libc::prctl(libc::PR_SET_THP_DISABLE, 1, 0, 0, 0);
    }
}

fn main() {
    disable_transparent_huge_pages();
    let cli = Cli::parse();
    let filter = match &cli.log_level {
        Some(f) => EnvFilter::try_new(f),
        None => EnvFilter::try_from_default_env().or_else(|_| EnvFilter::try_new("warn,dawn=info")),
    };
    let filter = match filter {
        Ok(f) => f,
        Err(e) => {
            eprintln!("error: invalid log filter: {e}");
            std::process::exit(2);
        }
    };
    tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).with_target(true).init();
    let result = match cli.command {
        Command::Log(cmd) => dawn::log::cli::run(cmd),
        Command::Node(cmd) => dawn::node::cli::run(cmd),
    };
    if let Err(e) = result {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_is_well_formed() {
        Cli::command().debug_assert();
    }

    #[test]
    fn parses_log_commands() {
        let c = Cli::try_parse_from(["dawn", "log", "inspect", "/x", "--json"]).unwrap();
        assert!(matches!(c.command, Command::Log(dawn::log::cli::LogCommand::Inspect { json: true, .. })));
        let c = Cli::try_parse_from(["dawn", "log", "fill", "d", "--sync", "interval:5", "--records", "10"])
            .unwrap();
        assert!(matches!(c.command, Command::Log(dawn::log::cli::LogCommand::Fill { records: 10, .. })));
        assert!(Cli::try_parse_from(["dawn", "log", "fill", "d", "--sync", "sometimes"]).is_err());
        assert!(Cli::try_parse_from(["dawn", "log", "bench", "--json"]).is_ok());
    }
}
