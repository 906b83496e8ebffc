//! Runs `dawn bench ipfs` from cargo: `cargo bench --bench ipfs -- [--json] [--size-mib N]`.
//! Import and gateway throughput against a SHA-256 baseline from the same run; see
//! `dawn::ipfs::bench`.

use clap::Parser;
use dawn::ipfs::bench::{run, IpfsBenchArgs};

#[derive(Parser)]
struct Cli {
    #[command(flatten)]
    args: IpfsBenchArgs,
}

fn main() -> anyhow::Result<()> {
    // cargo passes `--bench`; the bench's own flags follow `--`.
    let argv = std::env::args().filter(|a| a != "--bench");
    run(&Cli::parse_from(argv).args)
}
