//! docs/CLI.md is generated from `dawn --help` output; this test keeps them in step.
//! Regenerate with `DAWN_BLESS=1 cargo test --test cli_docs`.

use std::process::Command;

const COMMANDS: &[&[&str]] = &[
    &[],
    &["dev"],
    &["run"],
    &["keys"],
    &["keys", "new"],
    &["push"],
    &["get"],
    &["get", "info"],
    &["get", "block"],
    &["get", "tx"],
    &["get", "account"],
    &["get", "table"],
    &["get", "balance"],
    &["subscribe"],
    &["ipfs"],
    &["ipfs", "add"],
    &["ipfs", "cat"],
    &["ipfs", "get"],
    &["ipfs", "pin"],
    &["ipfs", "gc"],
    &["ipfs", "verify"],
    &["genesis"],
    &["genesis", "dev"],
    &["genesis", "import-erc20"],
    &["bench"],
    &["bench", "exec"],
    &["bench", "ingest"],
    &["bench", "publish"],
    &["bench", "ipfs"],
    &["log"],
    &["log", "inspect"],
    &["log", "fill"],
    &["log", "export"],
    &["log", "import"],
    &["log", "prune"],
    &["log", "bench"],
];

fn render() -> String {
    let mut out = String::from(
        "# dawn command line\n\nGenerated from `dawn --help`; do not edit by hand (see tests/cli_docs.rs).\n",
    );
    for cmd in COMMANDS {
        let output = Command::new(env!("CARGO_BIN_EXE_dawn"))
            .args(*cmd)
            .arg("--help")
            .env("COLUMNS", "100")
            .output()
            .unwrap();
        assert!(output.status.success(), "dawn {} --help failed", cmd.join(" "));
        let title = if cmd.is_empty() { "dawn".to_string() } else { format!("dawn {}", cmd.join(" ")) };
        out.push_str(&format!("\n## {title}\n\n```text\n{}```\n", String::from_utf8(output.stdout).unwrap()));
    }
    out
}

#[test]
fn cli_doc_matches_help() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/CLI.md");
    let want = render();
    if std::env::var_os("DAWN_BLESS").is_some() {
        std::fs::write(path, &want).unwrap();
        return;
    }
    let have = std::fs::read_to_string(path).unwrap_or_default();
    assert!(have == want, "docs/CLI.md is stale: run `DAWN_BLESS=1 cargo test --test cli_docs`");
}
