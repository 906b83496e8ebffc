//! The HTTP API (hyper, HTTP/1.1), with EOS.IO's chain API paths. Requests and responses
//! are specified in docs/API.md.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde::Deserialize;
use serde_json::{json, Value};
use tokio::net::TcpListener;

use crate::chain::{
    self, codec, BlockNum, ExecutedRoots, Name, PermissionLevel, Signature, SignedTransaction, Transaction,
    TxId,
};

use super::{Ack, IngestError, Intake};

/// Largest request body for one transaction.
pub const REQUEST_BYTES_MAX: usize = 1 << 20;
/// Largest request body for a batch.
pub const BATCH_REQUEST_BYTES_MAX: usize = 64 << 20;
/// Most rows one get_table_rows or get_currency_balance returns.
pub const TABLE_ROWS_MAX: usize = 1_000;
/// Most transactions in one push_transactions request.
pub const BATCH_TRANSACTIONS_MAX: usize = 50_000;

/// Serves the API on `listener` until `shutdown` completes.
pub async fn serve(listener: TcpListener, intake: Intake, shutdown: impl Future<Output = ()>) {
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            _ = &mut shutdown => break,
            accepted = listener.accept() => {
                let (stream, peer) = match accepted {
                    Ok(x) => x,
                    Err(e) => {
                        tracing::warn!(target: "dawn::ingest::http", error = %e, "accept failed");
                        continue;
                    }
                };
                let intake = intake.clone();
                tokio::spawn(async move {
                    let svc = hyper::service::service_fn(move |req| handle(intake.clone(), req));
                    if let Err(e) = hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(stream), svc).await {
                        tracing::debug!(target: "dawn::ingest::http", %peer, error = %e, "connection ended with an error");
                    }
                });
            }
        }
    }
}

/// Binds the API address.
pub async fn bind(addr: SocketAddr) -> std::io::Result<TcpListener> {
    TcpListener::bind(addr).await
}

fn reply(status: u16, body: &Value) -> Response<Full<Bytes>> {
    Response::builder()
        .status(StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR))
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(serde_json::to_vec(body).expect("json"))))
        .expect("response")
}

fn error(e: &IngestError) -> Response<Full<Bytes>> {
    let body = e.body();
    reply(body.code, &serde_json::to_value(&body).expect("json"))
}

async fn handle(intake: Intake, req: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    let path = req.uri().path().to_string();
    let query = req.uri().query().unwrap_or("").to_string();
    let method = req.method().clone();
    let binary = req
        .headers()
        .get("content-type")
        .is_some_and(|v| v.as_bytes().starts_with(b"application/octet-stream"));
    let limit = if path.ends_with("push_transactions") { BATCH_REQUEST_BYTES_MAX } else { REQUEST_BYTES_MAX };
    let body = match Limited::new(req.into_body(), limit).collect().await {
        Ok(b) => b.to_bytes(),
        Err(e) => {
            let err = if e.downcast_ref::<http_body_util::LengthLimitError>().is_some() {
                IngestError::TooLarge { what: "request body", len: limit + 1, max: limit }
            } else {
                IngestError::Malformed(format!("reading body: {e}"))
            };
            return Ok(error(&err));
        }
    };
    let result = route(&intake, &method, &path, &query, binary, &body).await;
    Ok(match result {
        Ok(v) => reply(200, &v),
        Err(e) => error(&e),
    })
}

fn param(query: &str, key: &str) -> Option<String> {
    query.split('&').filter_map(|kv| kv.split_once('=')).find(|(k, _)| *k == key).map(|(_, v)| v.to_string())
}

fn json_body(body: &[u8]) -> Result<Value, IngestError> {
    if body.is_empty() {
        return Ok(Value::Object(Default::default()));
    }
    serde_json::from_slice(body).map_err(|e| IngestError::Malformed(format!("JSON: {e}")))
}

async fn route(
    intake: &Intake,
    method: &Method,
    path: &str,
    query: &str,
    binary: bool,
    body: &[u8],
) -> Result<Value, IngestError> {
    let post_or_get = *method == Method::POST || *method == Method::GET;
    match path {
        "/v1/chain/push_transaction" if *method == Method::POST => {
            let tx = if binary { intake.decode(body)? } else { parse_push(intake, &json_body(body)?)? };
            let mut r = intake.push(vec![tx]).await;
            let deadline = tokio::time::Instant::now() + WAIT_APPLIED_MAX;
            ack_json(intake, r.pop().expect("one result"), query, deadline).await
        }
        "/v1/chain/push_transactions" if *method == Method::POST => {
            let txs: Vec<SignedTransaction> = if binary {
                codec::decode(body, BATCH_REQUEST_BYTES_MAX as u64)
                    .map_err(|e| IngestError::Malformed(e.to_string()))?
            } else {
                match json_body(body)? {
                    Value::Array(items) => {
                        items.iter().map(|v| parse_push(intake, v)).collect::<Result<_, _>>()?
                    }
                    _ => return Err(IngestError::Malformed("push_transactions takes a JSON array".into())),
                }
            };
            if txs.len() > BATCH_TRANSACTIONS_MAX {
                return Err(IngestError::TooLarge {
                    what: "batch (transactions)",
                    len: txs.len(),
                    max: BATCH_TRANSACTIONS_MAX,
                });
            }
            let results = intake.push(txs).await;
            let mut out = Vec::with_capacity(results.len());
            // One deadline for the whole batch: its blocks are executed in order.
            let deadline = tokio::time::Instant::now() + WAIT_APPLIED_MAX;
            for r in results {
                out.push(
                    ack_json(intake, r, query, deadline)
                        .await
                        .unwrap_or_else(|e| serde_json::to_value(e.body()).expect("json")),
                );
            }
            Ok(Value::Array(out))
        }
        "/v1/chain/get_info" if post_or_get => Ok(info_json(intake)),
        "/v1/chain/get_block" if post_or_get => {
            let v = json_body(body)?;
            let key = v
                .get("block_num_or_id")
                .cloned()
                .or_else(|| param(query, "block_num_or_id").map(Value::String));
            let wanted_id = match &key {
                Some(Value::String(s)) if s.len() == 64 => Some(s.clone()),
                _ => None,
            };
            let num = match key {
                Some(Value::Number(n)) => n.as_u64().and_then(|n| u32::try_from(n).ok()),
                Some(Value::String(s)) if s.len() == 64 => {
                    s.parse::<chain::Checksum256>().ok().map(|c| chain::BlockId(c).num().0)
                }
                Some(Value::String(s)) => s.parse().ok(),
                _ => None,
            }
            .ok_or_else(|| {
                IngestError::Malformed("give block_num_or_id: a block number or a 64-hex block id".into())
            })?;
            let block = intake.block(BlockNum(num))?;
            let id = block.header.id();
            if let Some(s) = wanted_id {
                if s != id.to_string() {
                    return Err(IngestError::NotFound(format!("block id {s}")));
                }
            }
            let mut j = serde_json::to_value(&block).expect("json");
            j["id"] = json!(id);
            j["block_num"] = json!(num);
            j["ref_block_prefix"] = json!(id.ref_block_prefix());
            Ok(j)
        }
        "/v1/chain/get_account" if post_or_get => {
            let v = json_body(body)?;
            let name = v
                .get("account_name")
                .and_then(Value::as_str)
                .map(String::from)
                .or_else(|| param(query, "account_name"));
            let name: Name = name
                .ok_or_else(|| IngestError::Malformed("give account_name".into()))?
                .parse()
                .map_err(|e: chain::NameError| IngestError::Malformed(e.to_string()))?;
            let state = intake.state();
            if !state.account_exists(name) {
                return Err(IngestError::UnknownAccount(name));
            }
            let perms: Vec<Value> = ["owner", "active"]
                .iter()
                .filter_map(|p| {
                    let level = PermissionLevel { actor: name, permission: chain::n(p) };
                    state.permission(&level).map(|auth| {
                        json!({"perm_name": p, "parent": if *p == "owner" { "" } else { "owner" }, "required_auth": &*auth})
                    })
                })
                .collect();
            Ok(json!({"account_name": name, "permissions": perms}))
        }
        "/v1/history/get_transaction" if post_or_get => {
            let v = json_body(body)?;
            let id = v.get("id").and_then(Value::as_str).map(String::from).or_else(|| param(query, "id"));
            let id = TxId(
                id.ok_or_else(|| IngestError::Malformed("give id".into()))?
                    .parse()
                    .map_err(|e: chain::KeyError| IngestError::Malformed(e.to_string()))?,
            );
            match intake.status(&id) {
                None => Err(IngestError::NotFound(format!(
                    "transaction {id} (unknown, or past its expiration window: look it up through its block)"
                ))),
                Some((None, _)) => Ok(json!({"id": id, "status": "pending", "executed": false})),
                Some((Some(p), irreversible)) => {
                    let block = intake.block(p.block)?;
                    let trx = block.transactions.get(p.index as usize).cloned();
                    let receipt = receipt_json(intake, p.block, p.index);
                    let executed = receipt.is_some();
                    let mut v = json!({
                        "id": id,
                        "block_num": p.block,
                        "block_index": p.index,
                        "status": commitment(executed, irreversible),
                        "irreversible": irreversible,
                        "executed": executed,
                        "trx": trx,
                    });
                    if let Some(r) = receipt {
                        v["receipt"] = r;
                    }
                    Ok(v)
                }
            }
        }
        "/v1/chain/compute_scopes" if *method == Method::POST => {
            let v = json_body(body)?;
            let tx: Transaction = match v.get("transaction") {
                Some(t) => serde_json::from_value(t.clone()),
                None => serde_json::from_value(v),
            }
            .map_err(|e| IngestError::Malformed(format!("compute_scopes takes a transaction: {e}")))?;
            if tx.actions.is_empty() {
                return Err(IngestError::Scopes(chain::ScopeError::NoActions));
            }
            let state = intake.state().clone();
            let r = tokio::task::spawn_blocking(move || state.compute_scopes(&tx))
                .await
                .map_err(|e| IngestError::Internal(e.to_string()))?;
            match r {
                None => Err(IngestError::NoEndpoint("compute_scopes: this node does not execute".into())),
                Some(Ok((read, write))) => Ok(json!({"read_scopes": read, "write_scopes": write})),
                Some(Err(e)) => Err(IngestError::Speculation(e)),
            }
        }
        "/v1/chain/get_table_rows" if post_or_get => {
            let v = json_body(body)?;
            let name_field = |k: &str| -> Result<Name, IngestError> {
                v.get(k)
                    .and_then(Value::as_str)
                    .map(String::from)
                    .or_else(|| param(query, k))
                    .ok_or_else(|| IngestError::Malformed(format!("give {k}")))?
                    .parse()
                    .map_err(|e: chain::NameError| IngestError::Malformed(format!("{k}: {e}")))
            };
            let (code, scope, table) = (name_field("code")?, name_field("scope")?, name_field("table")?);
            // Numbers may come as JSON numbers or strings, in the body or the query.
            let number = |k: &str, default: u64| -> Result<u64, IngestError> {
                let text = match v.get(k) {
                    Some(Value::Number(x)) => x.to_string(),
                    Some(Value::String(x)) => x.clone(),
                    Some(other) => {
                        return Err(IngestError::Malformed(format!("{k}: expected a number, got {other}")))
                    }
                    None => match param(query, k) {
                        Some(x) => x,
                        None => return Ok(default),
                    },
                };
                text.parse()
                    .map_err(|_| IngestError::Malformed(format!("{k}: {text:?} is not an unsigned integer")))
            };
            let lower = number("lower_bound", 0)?;
            let limit = number("limit", 10)?.min(TABLE_ROWS_MAX as u64) as usize;
            let rows = intake.state().table_rows(code, scope, table, lower, limit + 1);
            let more = rows.len() > limit;
            let rows: Vec<Value> = rows
                .into_iter()
                .take(limit)
                .map(|(id, data)| json!({"id": id.to_string(), "data": hex::encode(data)}))
                .collect();
            Ok(json!({"rows": rows, "more": more}))
        }
        "/v1/chain/get_currency_balance" if post_or_get => {
            let v = json_body(body)?;
            let get =
                |k: &str| v.get(k).and_then(Value::as_str).map(String::from).or_else(|| param(query, k));
            let code: Name = get("code")
                .unwrap_or_else(|| "eosio.token".into())
                .parse()
                .map_err(|e: chain::NameError| IngestError::Malformed(format!("code: {e}")))?;
            let account: Name = get("account")
                .ok_or_else(|| IngestError::Malformed("give account".into()))?
                .parse()
                .map_err(|e: chain::NameError| IngestError::Malformed(format!("account: {e}")))?;
            let symbol = get("symbol");
            // Balances are `accounts` rows in the holder's scope, one per symbol.
            let rows = intake.state().table_rows(code, account, chain::token::T_ACCOUNTS, 0, TABLE_ROWS_MAX);
            let balances: Vec<String> = rows
                .iter()
                .filter_map(|(_, data)| chain::token::Balance::decode(data).ok())
                .map(|b| b.balance)
                .filter(|a| symbol.as_deref().is_none_or(|s| a.symbol.code() == s))
                .map(|a| a.to_string())
                .collect();
            Ok(json!(balances))
        }
        _ => Err(IngestError::NoEndpoint(format!("{method} {path}"))),
    }
}

/// The JSON push forms: EOS.IO's packed form `{signatures, compression, packed_trx}` (the
/// transaction's binary encoding in hex) or the full form `{transaction, signatures}`.
fn parse_push(intake: &Intake, v: &Value) -> Result<SignedTransaction, IngestError> {
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Packed {
        signatures: Vec<Signature>,
        #[serde(default)]
        compression: Option<String>,
        packed_trx: chain::Bytes,
        #[serde(default)]
        packed_context_free_data: Option<String>,
    }
    if v.get("packed_trx").is_some() {
        let p: Packed =
            serde_json::from_value(v.clone()).map_err(|e| IngestError::Malformed(e.to_string()))?;
        if p.compression.as_deref().is_some_and(|c| c != "none") {
            return Err(IngestError::Malformed("only compression \"none\" is supported".into()));
        }
        if p.packed_context_free_data.as_deref().is_some_and(|c| !c.is_empty()) {
            return Err(IngestError::Malformed("context-free data is not supported".into()));
        }
        let max = intake.config().transaction_bytes_max;
        if p.packed_trx.0.len() > max {
            return Err(IngestError::TooLarge { what: "transaction", len: p.packed_trx.0.len(), max });
        }
        let transaction: Transaction =
            codec::decode(&p.packed_trx.0, max as u64).map_err(|e| IngestError::Malformed(e.to_string()))?;
        return Ok(SignedTransaction { transaction, signatures: p.signatures.into() });
    }
    serde_json::from_value(v.clone()).map_err(|e| IngestError::Malformed(e.to_string()))
}

/// Longest `?wait=applied` wait.
pub const WAIT_APPLIED_MAX: std::time::Duration = std::time::Duration::from_secs(30);

/// The commitment level of a durable transaction.
fn commitment(executed: bool, irreversible: bool) -> &'static str {
    match (executed, irreversible) {
        (true, true) => "irreversible",
        (true, false) => "applied",
        (false, _) => "accepted",
    }
}

/// The receipt of the transaction at `index` of block `num`, once executed.
fn receipt_json(intake: &Intake, num: BlockNum, index: u32) -> Option<Value> {
    let (receipt, error) = intake.state().receipt(num, index)?;
    let mut v = serde_json::to_value(&receipt).expect("json");
    if let Some(e) = error {
        v["error"] = json!(e);
    }
    Some(v)
}

/// Waits until exec has executed block `num`; false once `deadline` passes. Woken by each
/// executed block where the state view can notify; polls otherwise.
async fn wait_applied(intake: &Intake, num: BlockNum, deadline: tokio::time::Instant) -> bool {
    let done = |e: Option<ExecutedRoots>| e.is_some_and(|e| e.num >= num);
    if let Some(mut changes) = intake.state().executed_changes() {
        loop {
            if done(*changes.borrow_and_update()) {
                return true;
            }
            match tokio::time::timeout_at(deadline, changes.changed()).await {
                Ok(Ok(())) => {}
                // Exec has stopped: nothing more will execute.
                Ok(Err(_)) => return done(intake.state().executed()),
                Err(_) => return false,
            }
        }
    }
    loop {
        if done(intake.state().executed()) {
            return true;
        }
        if tokio::time::Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(std::time::Duration::from_millis(2)).await;
    }
}

async fn ack_json(
    intake: &Intake,
    r: Result<Ack, IngestError>,
    query: &str,
    deadline: tokio::time::Instant,
) -> Result<Value, IngestError> {
    let ack = r?;
    let mut v = json!({
        "transaction_id": ack.id,
        "block_num": ack.block_num,
        "block_index": ack.index,
        "status": "accepted",
        "executed": false,
    });
    if param(query, "wait").as_deref() == Some("applied") {
        if !wait_applied(intake, ack.block_num, deadline).await {
            return Err(IngestError::Timeout(format!(
                "transaction {} is durable in block {} but was not executed within {} s; ask get_transaction later",
                ack.id,
                ack.block_num,
                WAIT_APPLIED_MAX.as_secs()
            )));
        }
        let r = receipt_json(intake, ack.block_num, ack.index).ok_or_else(|| {
            IngestError::Internal(format!(
                "block {} is executed but its results cannot be read",
                ack.block_num
            ))
        })?;
        let irreversible = ack.block_num <= intake.info().last_irreversible_block_num;
        v["status"] = json!(commitment(true, irreversible));
        v["executed"] = json!(true);
        v["receipt"] = r;
    }
    Ok(v)
}

fn info_json(intake: &Intake) -> Value {
    let i = intake.info();
    let executed = intake.state().executed();
    let mut v = json!({
        "server_version": env!("CARGO_PKG_VERSION"),
        "chain_id": i.chain_id,
        "head_block_num": i.head_block_num,
        "head_block_id": i.head_block_id,
        "head_block_time": i.head_block_time,
        "head_block_producer": i.head_block_producer,
        "last_irreversible_block_num": i.last_irreversible_block_num,
        "last_irreversible_block_id": i.last_irreversible_block_id,
        "pending_transactions": i.pending_transactions,
        "executed_block_num": executed.map_or(0, |e| e.num.0),
        "executed_state_root": executed.map(|e| e.state_root),
        "executed_results_root": executed.map(|e| e.results_root),
    });
    for (k, val) in &intake.config().info_extra {
        v[k.as_str()] = json!(val);
    }
    v
}
