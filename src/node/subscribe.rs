//! `dawn subscribe`: follow a node's publish stream and print each message as a JSON line
//! (`{"type": "transaction", ...}`), reconnecting and resuming by itself after drops.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::{bail, Context};
use clap::Args;
use serde_json::Value;

use crate::chain::{BlockId, BlockNum, Name, TransactionStatus};
use crate::publish::protocol::PROTOCOL_VERSION;
use crate::publish::{
    ClientConfig, Commitment, Cursor, Filter, Fingerprint, Identity, Message, NameLists, Projection,
    ResumingSubscriber, Start, Subscribe, Trust, TxFilter,
};

/// `dawn subscribe` arguments.
#[derive(Debug, Clone, Args)]
pub struct SubscribeArgs {
    /// The node's publish endpoint (UDP).
    #[arg(long, default_value = crate::publish::server::DEFAULT_ADDR)]
    pub server: SocketAddr,
    /// Pin the server's certificate by its SHA-256 fingerprint (`dawn dev` prints it; so
    /// does get_info). Without it or --ca-file, the fingerprint is read from get_info at
    /// --url (trust on first use: only over a connection you trust).
    #[arg(long)]
    pub fingerprint: Option<Fingerprint>,
    /// Trust servers whose certificate chains to a CA in this PEM file instead.
    #[arg(long, conflicts_with = "fingerprint")]
    pub ca_file: Option<PathBuf>,
    /// The server name to check the certificate against (with --ca-file).
    #[arg(long, default_value = crate::publish::tls::SERVER_NAME)]
    pub server_name: String,
    /// A client certificate (PEM), for nodes that accept only known subscribers.
    #[arg(long, requires = "client_key")]
    pub client_cert: Option<PathBuf>,
    /// Its PKCS#8 private key (PEM).
    #[arg(long, requires = "client_cert")]
    pub client_key: Option<PathBuf>,
    /// The node's HTTP API (to read the fingerprint when none is given).
    #[arg(long, default_value = "http://127.0.0.1:8888", env = "DAWN_URL")]
    pub url: String,
    /// A filter as JSON (repeatable; a transaction matching any is sent), e.g.
    /// '{"contracts":{"include":["eosio.token"]},"actors":{"exclude":["bot"]},"statuses":["executed"]}'.
    /// Fields: contracts, actions, actors, scopes, write_scopes (each with include, require,
    /// exclude lists) and statuses.
    #[arg(long = "filter", value_name = "JSON")]
    pub filters: Vec<String>,
    /// Only actions of this contract (repeatable: any of them; added to one filter with
    /// the other shortcuts).
    #[arg(long)]
    pub contract: Vec<Name>,
    /// Only these action names (repeatable).
    #[arg(long)]
    pub action: Vec<Name>,
    /// Only transactions authorized by this actor (repeatable).
    #[arg(long)]
    pub actor: Vec<Name>,
    /// Only transactions declaring this scope, read or written (repeatable).
    #[arg(long)]
    pub scope: Vec<Name>,
    /// Only these receipt statuses (repeatable): executed, soft_fail, hard_fail, delayed,
    /// expired.
    #[arg(long, value_parser = parse_status)]
    pub status: Vec<TransactionStatus>,
    /// Where to start: `head` (new blocks only), `oldest`, a block number, or a cursor
    /// (`BLOCK.SEQ`, `BLOCK.end`) to resume after, with --block-id.
    #[arg(long, default_value = "head")]
    pub from: String,
    /// The id of the --from cursor's block (what the stream printed with it), so that a
    /// cursor on a dropped fork is rewound rather than continued.
    #[arg(long)]
    pub block_id: Option<String>,
    /// Stream blocks once `applied` (executed) or `irreversible`.
    #[arg(long, value_enum, default_value_t = Commitment::Applied)]
    pub commitment: Commitment,
    /// `full` (transactions, receipts, traces), `receipts`, or `headers` (blocks only).
    #[arg(long, value_enum, default_value_t = Projection::Full)]
    pub projection: Projection,
    /// Stop after this many transactions.
    #[arg(long)]
    pub limit: Option<u64>,
    /// Print heartbeats too.
    #[arg(long)]
    pub heartbeats: bool,
}

fn parse_status(s: &str) -> Result<TransactionStatus, String> {
    serde_json::from_value(Value::String(s.into()))
        .map_err(|_| format!("{s:?}: give executed, soft_fail, hard_fail, delayed or expired"))
}

fn lists(include: &[Name]) -> NameLists {
    NameLists { include: include.to_vec(), ..Default::default() }
}

/// The filter the arguments describe.
pub fn filter_of(args: &SubscribeArgs) -> anyhow::Result<Filter> {
    let mut filters = Vec::new();
    for f in &args.filters {
        let one: TxFilter = serde_json::from_str(f).with_context(|| format!("--filter {f}"))?;
        filters.push(one);
    }
    if !(args.contract.is_empty()
        && args.action.is_empty()
        && args.actor.is_empty()
        && args.scope.is_empty()
        && args.status.is_empty())
    {
        filters.push(TxFilter {
            contracts: lists(&args.contract),
            actions: lists(&args.action),
            actors: lists(&args.actor),
            scopes: lists(&args.scope),
            statuses: args.status.clone(),
            ..Default::default()
        });
    }
    let mut filter = Filter(filters);
    filter.normalize().map_err(|e| anyhow::anyhow!("bad filter: {e}"))?;
    Ok(filter)
}

/// Where `--from` says to start.
pub fn start_of(from: &str, block_id: Option<&str>) -> anyhow::Result<Start> {
    Ok(match from {
        "head" => Start::Head,
        "oldest" => Start::Oldest,
        f if f.contains('.') => {
            let cursor: Cursor = f.parse().map_err(anyhow::Error::msg)?;
            let Some(id) = block_id else {
                bail!("resuming after cursor {cursor} needs --block-id, the id of block {}", cursor.block_num)
            };
            let id = BlockId(id.parse().context("--block-id is 64 hex digits")?);
            Start::After { cursor, locator: vec![(cursor.block_num, id)] }
        }
        f => Start::Block(BlockNum(
            f.parse()
                .with_context(|| format!("--from {f:?}: give head, oldest, a block number or a cursor"))?,
        )),
    })
}

/// A message as a JSON object with a `type` field.
pub fn message_json(m: &Message) -> Value {
    let v = serde_json::to_value(m).expect("messages serialize");
    let (kind, body) = match v {
        Value::Object(map) => map.into_iter().next().expect("an externally tagged enum"),
        other => return other,
    };
    let kind = match kind.as_str() {
        "BlockBegin" => "block_begin",
        "Transaction" => "transaction",
        "BlockEnd" => "block_end",
        "Undo" => "undo",
        "Irreversible" => "irreversible",
        "Heartbeat" => "heartbeat",
        _ => "error",
    };
    let mut out = serde_json::Map::new();
    out.insert("type".into(), Value::String(kind.into()));
    out.insert("cursor".into(), Value::String(m.cursor().to_string()));
    if let Value::Object(fields) = body {
        for (k, v) in fields {
            if k != "cursor" {
                out.insert(k, v);
            }
        }
    }
    Value::Object(out)
}

/// Runs `dawn subscribe`.
pub async fn run(args: SubscribeArgs) -> anyhow::Result<()> {
    let trust = match (&args.fingerprint, &args.ca_file) {
        (Some(fp), _) => Trust::Pinned(*fp),
        (None, Some(ca)) => Trust::CaFile(ca.clone()),
        (None, None) => {
            let info = super::cli::get_info(args.url.trim_end_matches('/')).await.context(
                "no --fingerprint or --ca-file, and the node's get_info (for its fingerprint) failed",
            )?;
            let fp = info["publish_fingerprint"]
                .as_str()
                .context("the node's get_info has no publish_fingerprint: is its publish endpoint on?")?;
            eprintln!("pinning the certificate fingerprint {fp} from {}", args.url);
            Trust::Pinned(fp.parse().map_err(anyhow::Error::msg)?)
        }
    };
    let identity = match (&args.client_cert, &args.client_key) {
        (Some(c), Some(k)) => Some(Identity::from_pem_files(c, k)?),
        _ => None,
    };
    let config = ClientConfig {
        server: args.server,
        server_name: args.server_name.clone(),
        trust,
        identity,
        receive_window_bytes: crate::publish::client::RECEIVE_WINDOW_BYTES,
    };
    let request = Subscribe {
        version: PROTOCOL_VERSION,
        commitment: args.commitment,
        start: start_of(&args.from, args.block_id.as_deref())?,
        filter: filter_of(&args)?,
        projection: args.projection,
        heartbeat_ms: 0,
    };
    let mut sub = ResumingSubscriber::new(config, request);
    let mut transactions = 0u64;
    let stdout = std::io::stdout();
    loop {
        let batch = tokio::select! {
            b = sub.next() => b?,
            _ = tokio::signal::ctrl_c() => return Ok(()),
        };
        use std::io::Write;
        let mut out = stdout.lock();
        for m in &batch {
            if matches!(m, Message::Heartbeat { .. }) && !args.heartbeats {
                continue;
            }
            writeln!(out, "{}", message_json(m))?;
            if matches!(m, Message::Transaction(_)) {
                transactions += 1;
                if args.limit.is_some_and(|l| transactions >= l) {
                    out.flush()?;
                    return Ok(());
                }
            }
        }
        out.flush()?;
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        args: SubscribeArgs,
    }

    fn args(extra: &[&str]) -> Result<SubscribeArgs, clap::Error> {
        Cli::try_parse_from(std::iter::once("subscribe").chain(extra.iter().copied())).map(|c| c.args)
    }

    #[test]
    fn starts_parse_and_bad_ones_say_what_to_write() {
        assert_eq!(start_of("head", None).unwrap(), Start::Head);
        assert_eq!(start_of("oldest", None).unwrap(), Start::Oldest);
        assert_eq!(start_of("12", None).unwrap(), Start::Block(BlockNum(12)));
        let id = "00".repeat(32);
        match start_of("5.3", Some(&id)).unwrap() {
            Start::After { cursor, locator } => {
                assert_eq!(cursor, Cursor::result(BlockNum(5), 2));
                assert_eq!(locator.len(), 1);
            }
            other => panic!("{other:?}"),
        }
        assert!(start_of("5.3", None).unwrap_err().to_string().contains("--block-id"));
        assert!(start_of("5.3", Some("xyz")).is_err());
        assert!(start_of("5.x", Some(&id)).unwrap_err().to_string().contains("BLOCK.SEQ"));
        assert!(start_of("abc", None).unwrap_err().to_string().contains("head, oldest"));
    }

    #[test]
    fn filters_combine_json_and_shortcuts_and_refuse_nonsense() {
        let a = args(&[
            "--actor",
            "alice",
            "--status",
            "hard_fail",
            "--filter",
            r#"{"contracts":{"include":["eosio.token"]}}"#,
        ])
        .unwrap();
        let f = filter_of(&a).unwrap();
        assert_eq!(f.0.len(), 2);
        assert_eq!(f.0[1].statuses, vec![TransactionStatus::HardFail]);
        assert!(args(&["--status", "lost"]).is_err());
        let bad_json = args(&["--filter", "{not json"]).unwrap();
        assert!(filter_of(&bad_json).unwrap_err().to_string().contains("--filter"));
        let unknown_field = args(&["--filter", r#"{"senders":{"include":["bob"]}}"#]).unwrap();
        assert!(filter_of(&unknown_field).is_err());
        let contradictory =
            args(&["--filter", r#"{"actors":{"require":["bob"],"exclude":["bob"]}}"#]).unwrap();
        assert!(filter_of(&contradictory).unwrap_err().to_string().contains("bad filter"));
        assert!(filter_of(&args(&[]).unwrap()).unwrap().is_all());
    }
}
