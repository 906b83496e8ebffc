//! The HTTP gateway (hyper 1): `GET`/`HEAD /ipfs/{cid}[/path]` with Range, ETag and
//! immutable caching, directory listings, the trustless responses (`?format=raw|car`,
//! `Accept: application/vnd.ipld.raw|application/vnd.ipld.car`), and the signed storage
//! endpoints `POST /v1/storage/add`, `POST /v1/storage/rm`, `GET /v1/storage/usage`.
//! Every endpoint, header and error: docs/IPFS.md, "Gateway".
//!
//! Disk reads and hashing run on tokio's blocking pool; bytes reach hyper through a
//! bounded channel, so a slow client holds at most [`STREAM_CHUNKS_MAX`] blocks in memory.

use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::path::Path;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http_body_util::{combinators::BoxBody, BodyExt, Full, Limited};
use hyper::body::{Body, Frame, Incoming};
use hyper::header::{self, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use serde::Deserialize;
use serde_json::json;
use sha2::{Digest as _, Sha256};

use super::auth::{AuthError, Credentials, HEADER_ACTOR, HEADER_SIGNATURE, HEADER_TIMESTAMP};
use super::blockstore::{BlockError, Blockstore, RepoError};
use super::car;
use super::cid::{Cid, CidError, Version};
use super::importer::{FileImporter, ImportOptions, Imported};
use super::quota::{self, QuotaConfig, QuotaExceeded, ANONYMOUS};
use super::reader::{self, Node, ReadError};
use crate::chain::{ChainId, Checksum256, StateView};

/// kubo's default gateway address.
pub const DEFAULT_GATEWAY_ADDR: &str = "127.0.0.1:8080";
/// Blocks buffered between the disk task and a client.
pub const STREAM_CHUNKS_MAX: usize = 8;
/// `Cache-Control` of every immutable response.
pub const CACHE_IMMUTABLE: &str = "public, max-age=29030400, immutable";
/// Longest request path accepted.
pub const PATH_BYTES_MAX: usize = 8192;

/// Gateway settings.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GatewayConfig {
    /// Quotas of uploads.
    pub quota: QuotaConfig,
    /// Largest upload body, in bytes.
    pub upload_bytes_max: u64,
    /// Accept uploads at all.
    pub uploads_enabled: bool,
}

impl Default for GatewayConfig {
    fn default() -> Self {
        Self { quota: QuotaConfig::default(), upload_bytes_max: 1 << 30, uploads_enabled: true }
    }
}

/// Why a request was refused, with its HTTP status and JSON body. Nothing is changed by
/// a refusal.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum GatewayError {
    /// The CID does not parse.
    #[error("invalid CID {text:?}: {source}")]
    BadCid {
        /// The text.
        text: String,
        /// Why.
        source: CidError,
    },
    /// A malformed request (path, query, header).
    #[error("bad request: {0}")]
    BadRequest(String),
    /// A range outside the file.
    #[error("range {range:?} not satisfiable for a file of {size} bytes")]
    BadRange {
        /// The header.
        range: String,
        /// The file's size.
        size: u64,
    },
    /// Nothing at that CID or path here.
    #[error("not found: {0}")]
    NotFound(String),
    /// A block on disk failed its hash check.
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    /// Content this gateway cannot render (HAMT directory, non-UnixFS node).
    #[error("cannot serve this content: {0}")]
    Unsupported(String),
    /// Signature or timestamp refused.
    #[error(transparent)]
    Auth(#[from] AuthError),
    /// An unsigned upload where the anonymous pool is disabled.
    #[error(
        "unsigned uploads are disabled on this node: sign the request (docs/IPFS.md, \"Signing a request\")"
    )]
    SignatureRequired,
    /// Body larger than allowed.
    #[error("upload is {len} bytes; the limit is {max}")]
    TooLarge {
        /// Bytes received or announced.
        len: u64,
        /// The limit.
        max: u64,
    },
    /// The upload does not fit the account's quota.
    #[error("{account} is {source}")]
    OverQuota {
        /// Account charged (`-`: anonymous pool).
        account: String,
        /// The figures.
        source: QuotaExceeded,
    },
    /// `rm` of a root the account does not hold.
    #[error("{account} holds no upload {cid}")]
    NotHeld {
        /// The account.
        account: String,
        /// The root.
        cid: Cid,
    },
    /// Uploads are switched off.
    #[error("uploads are disabled on this node")]
    UploadsDisabled,
    /// No such endpoint.
    #[error("no such endpoint {0}; see docs/IPFS.md")]
    NoEndpoint(String),
    /// The repo failed.
    #[error("internal error: {0}")]
    Internal(String),
}

impl GatewayError {
    /// HTTP status and stable name.
    pub fn status_and_name(&self) -> (u16, &'static str) {
        match self {
            Self::BadCid { .. } => (400, "bad_cid"),
            Self::BadRequest(_) => (400, "malformed"),
            Self::BadRange { .. } => (416, "bad_range"),
            Self::NotFound(_) => (404, "not_found"),
            Self::Corrupt(_) => (500, "corrupt_block"),
            Self::Unsupported(_) => (501, "unsupported"),
            Self::Auth(AuthError::Stale { .. }) => (401, "stale_timestamp"),
            Self::Auth(AuthError::BadHeader { .. }) => (400, "bad_auth_header"),
            Self::Auth(AuthError::UnknownAuthority(_)) => (401, "unknown_authority"),
            Self::Auth(_) => (401, "missing_authority"),
            Self::SignatureRequired => (401, "signature_required"),
            Self::TooLarge { .. } => (413, "too_large"),
            Self::OverQuota { .. } => (413, "over_quota"),
            Self::NotHeld { .. } => (404, "not_held"),
            Self::UploadsDisabled => (403, "uploads_disabled"),
            Self::NoEndpoint(_) => (404, "no_endpoint"),
            Self::Internal(_) => (500, "internal"),
        }
    }

    /// The JSON body `{code, name, message, details}`.
    pub fn body(&self) -> serde_json::Value {
        let (code, name) = self.status_and_name();
        let details: Vec<String> = match self {
            Self::OverQuota { account, source } => vec![
                format!("account {account}"),
                format!("used {}", source.used),
                format!("requested {}", source.requested),
                format!("limit {}", source.limit),
            ],
            Self::TooLarge { len, max } => vec![format!("len {len}"), format!("max {max}")],
            Self::BadRange { size, .. } => vec![format!("size {size}")],
            _ => Vec::new(),
        };
        json!({"code": code, "name": name, "message": self.to_string(), "details": details})
    }
}

impl From<ReadError> for GatewayError {
    fn from(e: ReadError) -> Self {
        match e {
            ReadError::Block(b) => b.into(),
            ReadError::NoLink { .. } => Self::NotFound(e.to_string()),
            ReadError::NotADirectory(_) => Self::NotFound(e.to_string()),
            ReadError::Sharded(_) | ReadError::Unixfs { .. } => Self::Unsupported(e.to_string()),
            ReadError::TooDeep(_) => Self::BadRequest(e.to_string()),
            ReadError::Inconsistent { .. } => Self::Corrupt(e.to_string()),
            ReadError::Stopped(_) => Self::Internal(e.to_string()),
        }
    }
}

impl From<BlockError> for GatewayError {
    fn from(e: BlockError) -> Self {
        match e {
            BlockError::NotFound(c) => Self::NotFound(format!("block {c} is not stored on this node")),
            BlockError::Corrupt { .. } | BlockError::TooLarge { .. } | BlockError::BadNode { .. } => {
                Self::Corrupt(e.to_string())
            }
            BlockError::Io { .. } => Self::Internal(e.to_string()),
        }
    }
}

impl From<RepoError> for GatewayError {
    fn from(e: RepoError) -> Self {
        match e {
            RepoError::Block(b) => b.into(),
            other => Self::Internal(other.to_string()),
        }
    }
}

/// A gateway over one repo.
pub struct Gateway {
    store: Blockstore,
    config: GatewayConfig,
    state: Arc<dyn StateView>,
    chain: ChainId,
}

impl std::fmt::Debug for Gateway {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Gateway").field("repo", &self.store.root()).field("config", &self.config).finish()
    }
}

type ResBody = BoxBody<Bytes, io::Error>;

impl Gateway {
    /// Opens the repo at `repo` (created if absent). `state` answers balances and keys;
    /// `chain` is covered by upload signatures.
    pub fn open(
        repo: &Path,
        config: GatewayConfig,
        state: Arc<dyn StateView>,
        chain: ChainId,
    ) -> Result<Self, RepoError> {
        Ok(Self { store: Blockstore::open(repo)?, config, state, chain })
    }

    /// The blockstore.
    pub fn store(&self) -> &Blockstore {
        &self.store
    }

    /// The settings.
    pub fn config(&self) -> &GatewayConfig {
        &self.config
    }

    /// Handles one request.
    pub async fn handle(self: Arc<Self>, req: Request<Incoming>) -> Response<ResBody> {
        let method = req.method().clone();
        let path = req.uri().path().to_string();
        let r = match (&method, path.as_str()) {
            (&Method::GET | &Method::HEAD, p) if p.starts_with("/ipfs/") => self.clone().get(req).await,
            (&Method::POST, "/v1/storage/add") => self.clone().add(req).await,
            (&Method::POST, "/v1/storage/rm") => self.clone().rm(req).await,
            (&Method::GET, "/v1/storage/usage") => self.clone().usage(req).await,
            _ => Err(GatewayError::NoEndpoint(format!("{method} {path}"))),
        };
        match r {
            Ok(resp) => resp,
            Err(e) => {
                let (code, name) = e.status_and_name();
                tracing::debug!(target: "dawn::ipfs", %method, %path, code, name, error = %e, "refused");
                let mut resp = json_response(StatusCode::from_u16(code).expect("valid status"), &e.body());
                if let GatewayError::BadRange { size, .. } = e {
                    resp.headers_mut().insert(header::CONTENT_RANGE, hv(&format!("bytes */{size}")));
                }
                if method == Method::HEAD {
                    *resp.body_mut() = empty();
                }
                resp
            }
        }
    }

    async fn get(self: Arc<Self>, req: Request<Incoming>) -> Result<Response<ResBody>, GatewayError> {
        let uri = req.uri().clone();
        let raw_path = uri.path();
        if raw_path.len() > PATH_BYTES_MAX {
            return Err(GatewayError::BadRequest(format!("path longer than {PATH_BYTES_MAX} bytes")));
        }
        let rest = &raw_path["/ipfs/".len()..];
        let (cid_text, sub) = rest.split_once('/').unwrap_or((rest, ""));
        let root: Cid =
            cid_text.parse().map_err(|source| GatewayError::BadCid { text: cid_text.to_string(), source })?;
        let mut segments = Vec::new();
        for s in sub.split('/').filter(|s| !s.is_empty()) {
            let d =
                percent_decode(s).ok_or_else(|| GatewayError::BadRequest(format!("bad escape in {s:?}")))?;
            if d == "." || d == ".." {
                return Err(GatewayError::BadRequest("path segments . and .. are not allowed".into()));
            }
            segments.push(d);
        }
        let format = response_format(uri.query(), req.headers().get(header::ACCEPT))?;
        let head = req.method() == Method::HEAD;
        let range = req.headers().get(header::RANGE).and_then(|v| v.to_str().ok()).map(str::to_string);
        let inm = req.headers().get(header::IF_NONE_MATCH).and_then(|v| v.to_str().ok()).map(str::to_string);
        let store = self.store.clone();
        let segs = segments.clone();
        let (target, passed, node) = tokio::task::spawn_blocking(move || {
            let refs: Vec<&str> = segs.iter().map(String::as_str).collect();
            let (target, passed) = reader::resolve(&store, &root, &refs)?;
            let node = match format {
                Format::UnixFs => Some(reader::stat(&store, &target)?),
                _ => None,
            };
            Ok::<_, GatewayError>((target, passed, node))
        })
        .await
        .map_err(|e| GatewayError::Internal(e.to_string()))??;

        let ipfs_path =
            format!("/ipfs/{root}{}", if sub.is_empty() { String::new() } else { format!("/{sub}") });
        let mut b = Response::builder()
            .header(header::CACHE_CONTROL, CACHE_IMMUTABLE)
            .header("x-ipfs-path", hv(&ipfs_path))
            .header(
                "x-ipfs-roots",
                hv(&passed
                    .iter()
                    .chain(std::iter::once(&target))
                    .map(Cid::to_string)
                    .collect::<Vec<_>>()
                    .join(",")),
            );
        match format {
            Format::Raw => {
                let etag = format!("\"{target}.raw\"");
                if etag_matches(inm.as_deref(), &etag) {
                    return Ok(not_modified(b, &etag));
                }
                let store = self.store.clone();
                let data = tokio::task::spawn_blocking(move || store.get(&target))
                    .await
                    .map_err(|e| GatewayError::Internal(e.to_string()))??;
                b = b
                    .header(header::CONTENT_TYPE, "application/vnd.ipld.raw")
                    .header(header::ETAG, hv(&etag))
                    .header(header::CONTENT_LENGTH, data.len())
                    .header("x-content-type-options", "nosniff")
                    .header(
                        header::CONTENT_DISPOSITION,
                        hv(&format!("attachment; filename=\"{target}.bin\"")),
                    )
                    .header(header::VARY, "Accept");
                Ok(b.body(if head { empty() } else { full(data) }).expect("valid response"))
            }
            Format::Car => {
                let path_tag = hex::encode(&Sha256::digest(sub.as_bytes())[..4]);
                let etag = format!("W/\"{root}.car.{path_tag}\"");
                if etag_matches(inm.as_deref(), &etag) {
                    return Ok(not_modified(b, &etag));
                }
                b = b
                    .header(header::CONTENT_TYPE, "application/vnd.ipld.car; version=1")
                    .header(header::ETAG, hv(&etag))
                    .header("x-content-type-options", "nosniff")
                    .header(
                        header::CONTENT_DISPOSITION,
                        hv(&format!("attachment; filename=\"{target}.car\"")),
                    )
                    .header(header::VARY, "Accept");
                if head {
                    return Ok(b.body(empty()).expect("valid response"));
                }
                let store = self.store.clone();
                let body = stream(move |tx| {
                    send(tx, Bytes::from(car::header(&[root])))?;
                    for c in passed.iter() {
                        let data = store.get(c)?;
                        send(tx, Bytes::from(car::section_prefix(c, data.len())))?;
                        send(tx, data)?;
                    }
                    store.walk(&target, &mut |c, data| {
                        send(tx, Bytes::from(car::section_prefix(c, data.len())))
                            .and_then(|_| send(tx, data.clone()))
                            .map_err(|_| BlockError::NotFound(*c))
                    })?;
                    Ok(())
                });
                Ok(b.body(body).expect("valid response"))
            }
            Format::UnixFs => {
                let node = node.expect("stat for unixfs");
                self.unixfs_response(b, target, &segments, node, raw_path, range, inm, head).await
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    async fn unixfs_response(
        self: Arc<Self>,
        b: hyper::http::response::Builder,
        target: Cid,
        segments: &[String],
        node: Node,
        raw_path: &str,
        range: Option<String>,
        inm: Option<String>,
        head: bool,
    ) -> Result<Response<ResBody>, GatewayError> {
        let etag = format!("\"{target}\"");
        let mut name = segments.last().cloned();
        let (file, size) = match node {
            Node::File { size } => (target, size),
            Node::Symlink { target: t } => {
                if etag_matches(inm.as_deref(), &etag) {
                    return Ok(not_modified(b, &etag));
                }
                let body = Bytes::from(t.into_bytes());
                let b = b
                    .header(header::ETAG, hv(&etag))
                    .header(header::CONTENT_TYPE, "text/plain; charset=utf-8")
                    .header(header::CONTENT_LENGTH, body.len());
                return Ok(b.body(if head { empty() } else { full(body) }).expect("valid response"));
            }
            Node::Directory { entries } => {
                if !raw_path.ends_with('/') {
                    return Ok(Response::builder()
                        .status(StatusCode::MOVED_PERMANENTLY)
                        .header(header::LOCATION, hv(&format!("{raw_path}/")))
                        .body(empty())
                        .expect("valid response"));
                }
                if let Some(index) = entries.iter().find(|e| e.name == "index.html") {
                    let store = self.store.clone();
                    let c = index.cid;
                    let size = match tokio::task::spawn_blocking(move || reader::stat(&store, &c))
                        .await
                        .map_err(|e| GatewayError::Internal(e.to_string()))??
                    {
                        Node::File { size } => size,
                        _ => return Err(GatewayError::Unsupported("index.html is not a file".into())),
                    };
                    name = Some("index.html".into());
                    (index.cid, size)
                } else {
                    let dir_etag = format!("\"DirIndex-{target}\"");
                    if etag_matches(inm.as_deref(), &dir_etag) {
                        return Ok(not_modified(b, &dir_etag));
                    }
                    let html = Bytes::from(listing(raw_path, &target, &entries));
                    let b = b
                        .header(header::ETAG, hv(&dir_etag))
                        .header(header::CONTENT_TYPE, "text/html; charset=utf-8")
                        .header(header::CONTENT_LENGTH, html.len());
                    return Ok(b.body(if head { empty() } else { full(html) }).expect("valid response"));
                }
            }
        };
        if etag_matches(inm.as_deref(), &etag) {
            return Ok(not_modified(b, &etag));
        }
        let (status, span) = match range.as_deref().map(|r| parse_range(r, size)) {
            None | Some(Ok(None)) => (StatusCode::OK, 0..size),
            Some(Ok(Some(r))) => (StatusCode::PARTIAL_CONTENT, r),
            Some(Err(())) => return Err(GatewayError::BadRange { range: range.unwrap_or_default(), size }),
        };
        // Content type from the name's extension, else sniffed from the first bytes.
        let store = self.store.clone();
        let ctype = match name.as_deref().and_then(mime_by_extension) {
            Some(t) => t.to_string(),
            None => {
                let f = file;
                tokio::task::spawn_blocking(move || {
                    let mut head = Vec::new();
                    reader::read_file(&store, &f, 0..512.min(size), &mut |b| {
                        head.extend_from_slice(&b);
                        Ok(())
                    })?;
                    Ok::<_, ReadError>(sniff(&head).to_string())
                })
                .await
                .map_err(|e| GatewayError::Internal(e.to_string()))??
            }
        };
        let mut b = b
            .status(status)
            .header(header::ETAG, hv(&etag))
            .header(header::CONTENT_TYPE, hv(&ctype))
            .header(header::ACCEPT_RANGES, "bytes")
            .header(header::CONTENT_LENGTH, span.end - span.start);
        if status == StatusCode::PARTIAL_CONTENT {
            b = b.header(
                header::CONTENT_RANGE,
                hv(&format!("bytes {}-{}/{size}", span.start, span.end.saturating_sub(1))),
            );
        }
        if head || span.is_empty() {
            return Ok(b.body(empty()).expect("valid response"));
        }
        let store = self.store.clone();
        let body = stream(move |tx| {
            reader::read_file(&store, &file, span, &mut |bytes| {
                send(tx, bytes).map_err(|_| ReadError::Stopped("client went away".into()))
            })?;
            Ok(())
        });
        Ok(b.body(body).expect("valid response"))
    }

    fn now() -> u64 {
        SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
    }

    /// Parses the credentials and checks the window before the body is read.
    fn credentials(&self, req: &Request<Incoming>) -> Result<Option<Credentials>, GatewayError> {
        let h = |n: &str| req.headers().get(n).and_then(|v| v.to_str().ok());
        let c = Credentials::parse(h(HEADER_ACTOR), h(HEADER_TIMESTAMP), h(HEADER_SIGNATURE))?;
        if let Some(c) = &c {
            let now = Self::now();
            if c.timestamp.abs_diff(now) > super::auth::TIMESTAMP_SKEW_MAX_SEC {
                return Err(AuthError::Stale { timestamp: c.timestamp, now }.into());
            }
        }
        Ok(c)
    }

    fn limit_of(&self, creds: Option<&Credentials>) -> (String, u64) {
        match creds {
            None => (ANONYMOUS.to_string(), self.config.quota.anonymous_bytes),
            Some(c) => {
                let h = quota::holding(self.state.as_ref(), &self.config.quota, c.level.actor);
                (c.level.actor.to_string(), quota::limit(&self.config.quota, h))
            }
        }
    }

    async fn add(self: Arc<Self>, req: Request<Incoming>) -> Result<Response<ResBody>, GatewayError> {
        if !self.config.uploads_enabled {
            return Err(GatewayError::UploadsDisabled);
        }
        let target = req.uri().path_and_query().map_or("/v1/storage/add".to_string(), |p| p.to_string());
        let q = query_pairs(req.uri().query())?;
        let name = q.iter().find(|(k, _)| k == "name").map(|(_, v)| v.clone()).unwrap_or_default();
        let mut opts = ImportOptions::default();
        for (k, v) in &q {
            match (k.as_str(), v.as_str()) {
                ("cid-version", "0") => opts.cid_version = Version::V0,
                ("cid-version", "1") => {
                    opts.cid_version = Version::V1;
                    opts.raw_leaves = true;
                }
                ("raw-leaves", "true") => opts.raw_leaves = true,
                ("raw-leaves", "false") => opts.raw_leaves = false,
                ("name", _) => {}
                _ => return Err(GatewayError::BadRequest(format!("unknown or bad query parameter {k}={v}"))),
            }
        }
        let creds = self.credentials(&req)?;
        if creds.is_none() && self.config.quota.anonymous_bytes == 0 {
            return Err(GatewayError::SignatureRequired);
        }
        let max = self.config.upload_bytes_max;
        let (account, limit) = self.limit_of(creds.as_ref());
        // Refuse before reading what can never fit: a DAG is never smaller than its file.
        // (Not `used + len`: re-uploading a root already held costs nothing.)
        let announced =
            req.headers().get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
        if let Some(len) = announced {
            if len > max {
                return Err(GatewayError::TooLarge { len, max });
            }
            let used = self.store.state()?.used(&account);
            if len > limit {
                let source = QuotaExceeded { used, requested: len, limit };
                return Err(GatewayError::OverQuota { account: account.clone(), source });
            }
        }

        // Import on a blocking thread, fed chunk by chunk.
        let (tx, rx) = std::sync::mpsc::sync_channel::<Bytes>(STREAM_CHUNKS_MAX);
        let store = self.store.clone();
        let job = tokio::task::spawn_blocking(move || -> Result<_, GatewayError> {
            let mut staging = store.stage()?;
            let mut sha = Sha256::new();
            let mut imp = FileImporter::new(opts, &mut staging);
            for chunk in rx {
                sha.update(&chunk);
                imp.write(&chunk).map_err(|e| GatewayError::Internal(format!("staging write: {e}")))?;
            }
            let imported = imp.finish().map_err(|e| GatewayError::Internal(format!("staging write: {e}")))?;
            Ok((imported, Checksum256(sha.finalize().into()), staging))
        });
        let mut body = req.into_body();
        let mut received: u64 = 0;
        let mut failure = None;
        while let Some(frame) = body.frame().await {
            let frame = match frame {
                Ok(f) => f,
                Err(e) => {
                    failure = Some(GatewayError::BadRequest(format!("reading the body: {e}")));
                    break;
                }
            };
            if let Ok(data) = frame.into_data() {
                received += data.len() as u64;
                if received > max {
                    failure = Some(GatewayError::TooLarge { len: received, max });
                    break;
                }
                // The same bound as for an announced length, applied as the body arrives,
                // so a body without Content-Length cannot fill the staging area either.
                if received > limit {
                    let used = self.store.state().map(|st| st.used(&account)).unwrap_or(0);
                    let source = QuotaExceeded { used, requested: received, limit };
                    failure = Some(GatewayError::OverQuota { account: account.clone(), source });
                    break;
                }
                if tx.send(data).is_err() {
                    break; // the import failed; its error is reported below
                }
            }
        }
        drop(tx);
        let result = job.await.map_err(|e| GatewayError::Internal(e.to_string()))?;
        if let Some(f) = failure {
            return Err(f); // the staging directory is dropped with `result`
        }
        let (imported, body_hash, mut staging) = result?;
        if let Some(c) = &creds {
            c.verify(self.state.as_ref(), &self.chain, Self::now(), &target, &body_hash)?;
        }
        let store = self.store.clone();
        let acct = account.clone();
        let (charged, used) = tokio::task::spawn_blocking(move || {
            let r = store.update_state(|st| {
                let held = st.uploads.get(&acct).is_some_and(|m| m.contains_key(&imported.cid));
                let used = st.used(&acct);
                if held {
                    return Ok((0, used));
                }
                quota::check(used, imported.tsize, limit)
                    .map_err(|source| GatewayError::OverQuota { account: acct.clone(), source })?;
                staging.commit()?;
                st.uploads.entry(acct.clone()).or_default().insert(imported.cid, imported.tsize);
                Ok::<_, GatewayError>((imported.tsize, used + imported.tsize))
            });
            drop(staging);
            r
        })
        .await
        .map_err(|e| GatewayError::Internal(e.to_string()))??;
        tracing::info!(target: "dawn::ipfs", account = %account, cid = %imported.cid, bytes = imported.size, charged, used, limit, "upload");
        Ok(json_response(StatusCode::OK, &upload_json(&name, &imported, charged, used, limit, &account)))
    }

    async fn rm(self: Arc<Self>, req: Request<Incoming>) -> Result<Response<ResBody>, GatewayError> {
        let target = req.uri().path_and_query().map_or(String::new(), |p| p.to_string());
        let q = query_pairs(req.uri().query())?;
        let text = q
            .iter()
            .find(|(k, _)| k == "cid")
            .map(|(_, v)| v.clone())
            .ok_or_else(|| GatewayError::BadRequest("give ?cid=".into()))?;
        let cid: Cid = text.parse().map_err(|source| GatewayError::BadCid { text: text.clone(), source })?;
        let creds = self.credentials(&req)?.ok_or(GatewayError::SignatureRequired)?;
        // A removal names its CID in the query; its body is empty (and bounded).
        let body = Limited::new(req.into_body(), RM_BODY_BYTES_MAX)
            .collect()
            .await
            .map_err(|e| GatewayError::BadRequest(format!("reading the body: {e}")))?
            .to_bytes();
        creds.verify(self.state.as_ref(), &self.chain, Self::now(), &target, &Checksum256::hash(&body))?;
        let (account, limit) = self.limit_of(Some(&creds));
        let store = self.store.clone();
        let acct = account.clone();
        let (freed, used) = tokio::task::spawn_blocking(move || {
            store.update_state(|st| {
                let m = st.uploads.get_mut(&acct);
                let freed = m
                    .and_then(|m| m.remove(&cid))
                    .ok_or(GatewayError::NotHeld { account: acct.clone(), cid })?;
                if st.uploads.get(&acct).is_some_and(|m| m.is_empty()) {
                    st.uploads.remove(&acct);
                }
                Ok::<_, GatewayError>((freed, st.used(&acct)))
            })
        })
        .await
        .map_err(|e| GatewayError::Internal(e.to_string()))??;
        tracing::info!(target: "dawn::ipfs", account = %account, %cid, freed, used, "upload removed");
        Ok(json_response(
            StatusCode::OK,
            &json!({"cid": cid.to_string(), "account": account, "freed": freed, "used": used, "limit": limit}),
        ))
    }

    async fn usage(self: Arc<Self>, req: Request<Incoming>) -> Result<Response<ResBody>, GatewayError> {
        let q = query_pairs(req.uri().query())?;
        let a = q
            .iter()
            .find(|(k, _)| k == "account")
            .map(|(_, v)| v.clone())
            .ok_or_else(|| GatewayError::BadRequest("give ?account=".into()))?;
        let st = self.store.state()?;
        let (used, limit, holding) = if a == ANONYMOUS {
            (st.used(ANONYMOUS), self.config.quota.anonymous_bytes, None)
        } else {
            let name: crate::chain::Name =
                a.parse().map_err(|e: crate::chain::NameError| GatewayError::BadRequest(e.to_string()))?;
            let h = quota::holding(self.state.as_ref(), &self.config.quota, name);
            (st.used(&a), quota::limit(&self.config.quota, h), Some(h))
        };
        let uploads: Vec<_> = st
            .uploads
            .get(&a)
            .map(|m| m.iter().map(|(c, n)| json!({"cid": c.to_string(), "bytes": n})).collect())
            .unwrap_or_default();
        Ok(json_response(
            StatusCode::OK,
            &json!({
                "account": a, "used": used, "limit": limit,
                "balance": holding.map(|h| h.balance), "supply": holding.map(|h| h.supply),
                "uploads": uploads,
            }),
        ))
    }
}

fn upload_json(
    name: &str,
    i: &Imported,
    charged: u64,
    used: u64,
    limit: u64,
    account: &str,
) -> serde_json::Value {
    json!({
        "Name": name, "Hash": i.cid.to_string(), "Size": i.size.to_string(),
        "account": account, "dag_bytes": i.tsize, "charged": charged, "used": used, "limit": limit,
    })
}

/// Serves the gateway on `listener` until `shutdown` completes; then stops accepting,
/// lets requests in flight finish (up to 10 s) and returns.
pub async fn serve(
    listener: tokio::net::TcpListener,
    gateway: Arc<Gateway>,
    shutdown: impl Future<Output = ()>,
) -> io::Result<()> {
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let mut conns = tokio::task::JoinSet::new();
    tokio::pin!(shutdown);
    tracing::info!(target: "dawn::ipfs", addr = %listener.local_addr()?, "gateway listening");
    loop {
        tokio::select! {
            _ = &mut shutdown => break,
            accepted = listener.accept() => {
                let (stream, _peer) = match accepted {
                    Ok(x) => x,
                    Err(e) => {
                        tracing::warn!(target: "dawn::ipfs", error = %e, "accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                let gw = gateway.clone();
                let mut stop = stop_rx.clone();
                conns.spawn(async move {
                    let svc = hyper::service::service_fn(move |req| {
                        let gw = gw.clone();
                        async move { Ok::<_, Infallible>(gw.handle(req).await) }
                    });
                    let conn = hyper::server::conn::http1::Builder::new()
                        .serve_connection(hyper_util::rt::TokioIo::new(stream), svc);
                    tokio::pin!(conn);
                    tokio::select! {
                        r = conn.as_mut() => { let _ = r; }
                        _ = stop.changed() => {
                            conn.as_mut().graceful_shutdown();
                            let _ = conn.await;
                        }
                    }
                });
            }
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
        }
    }
    let _ = stop_tx.send(true);
    let _ =
        tokio::time::timeout(Duration::from_secs(10), async { while conns.join_next().await.is_some() {} })
            .await;
    conns.abort_all();
    Ok(())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    UnixFs,
    Raw,
    Car,
}

fn response_format(query: Option<&str>, accept: Option<&HeaderValue>) -> Result<Format, GatewayError> {
    for (k, v) in query_pairs(query)? {
        if k == "format" {
            return match v.as_str() {
                "raw" => Ok(Format::Raw),
                "car" => Ok(Format::Car),
                other => Err(GatewayError::BadRequest(format!("format={other}: expected raw or car"))),
            };
        }
    }
    let accept = accept.and_then(|a| a.to_str().ok()).unwrap_or("");
    for part in accept.split(',') {
        let mime = part.split(';').next().unwrap_or("").trim();
        match mime {
            "application/vnd.ipld.raw" => return Ok(Format::Raw),
            "application/vnd.ipld.car" => {
                if let Some(v) = part.split(';').find_map(|p| p.trim().strip_prefix("version=")) {
                    if v.trim() != "1" {
                        return Err(GatewayError::BadRequest(format!(
                            "CAR version {v} is not supported (only 1)"
                        )));
                    }
                }
                return Ok(Format::Car);
            }
            _ => {}
        }
    }
    Ok(Format::UnixFs)
}

/// `Ok(None)`: no usable single range (serve everything); `Err`: unsatisfiable.
fn parse_range(h: &str, size: u64) -> Result<Option<std::ops::Range<u64>>, ()> {
    let Some(spec) = h.trim().strip_prefix("bytes=") else {
        return Err(());
    };
    if spec.contains(',') {
        return Ok(None); // several ranges: answered with the whole file, as RFC 9110 allows
    }
    let (a, b) = spec.split_once('-').ok_or(())?;
    let (a, b) = (a.trim(), b.trim());
    let r = if a.is_empty() {
        let n: u64 = b.parse().map_err(|_| ())?;
        if n == 0 {
            return Err(());
        }
        size.saturating_sub(n)..size
    } else {
        let start: u64 = a.parse().map_err(|_| ())?;
        let end =
            if b.is_empty() { size } else { b.parse::<u64>().map_err(|_| ())?.saturating_add(1).min(size) };
        if start >= size || end <= start {
            return Err(());
        }
        start..end
    };
    if r.start >= size {
        return Err(());
    }
    Ok(Some(r))
}

fn etag_matches(inm: Option<&str>, etag: &str) -> bool {
    inm.is_some_and(|v| v.split(',').any(|t| t.trim() == "*" || t.trim() == etag))
}

fn not_modified(b: hyper::http::response::Builder, etag: &str) -> Response<ResBody> {
    b.status(StatusCode::NOT_MODIFIED).header(header::ETAG, hv(etag)).body(empty()).expect("valid response")
}

fn hv(s: &str) -> HeaderValue {
    HeaderValue::from_str(s).unwrap_or_else(|_| HeaderValue::from_static("invalid"))
}

fn empty() -> ResBody {
    Full::new(Bytes::new()).map_err(|never: Infallible| match never {}).boxed()
}

fn full(b: Bytes) -> ResBody {
    Full::new(b).map_err(|never: Infallible| match never {}).boxed()
}

fn json_response(status: StatusCode, v: &serde_json::Value) -> Response<ResBody> {
    let body = Bytes::from(serde_json::to_vec(v).expect("json serializes"));
    Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::CONTENT_LENGTH, body.len())
        .body(full(body))
        .expect("valid response")
}

type Tx = tokio::sync::mpsc::Sender<Result<Bytes, io::Error>>;

fn send(tx: &Tx, b: Bytes) -> Result<(), GatewayError> {
    tx.blocking_send(Ok(b)).map_err(|_| GatewayError::Internal("client went away".into()))
}

/// A body fed by `produce` on the blocking pool. An error after the headers were sent
/// aborts the body (the client sees a truncated response, never wrong bytes).
fn stream(produce: impl FnOnce(&Tx) -> Result<(), GatewayError> + Send + 'static) -> ResBody {
    let (tx, rx) = tokio::sync::mpsc::channel(STREAM_CHUNKS_MAX);
    tokio::task::spawn_blocking(move || {
        if let Err(e) = produce(&tx) {
            tracing::warn!(target: "dawn::ipfs", error = %e, "response aborted");
            let _ = tx.blocking_send(Err(io::Error::other(e.to_string())));
        }
    });
    ChannelBody { rx }.boxed()
}

struct ChannelBody {
    rx: tokio::sync::mpsc::Receiver<Result<Bytes, io::Error>>,
}

impl Body for ChannelBody {
    type Data = Bytes;
    type Error = io::Error;
    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, io::Error>>> {
        self.rx.poll_recv(cx).map(|o| o.map(|r| r.map(Frame::data)))
    }
}

/// Largest body of a `POST /v1/storage/rm` (it carries none).
const RM_BODY_BYTES_MAX: usize = 4096;

/// Decodes `%XX` escapes; `None` for a bad escape or non-UTF-8 result.
pub fn percent_decode(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let h = b.get(i + 1..i + 3)?;
            if !h.iter().all(u8::is_ascii_hexdigit) {
                return None;
            }
            out.push(u8::from_str_radix(std::str::from_utf8(h).ok()?, 16).ok()?);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// Escapes everything but RFC 3986 unreserved characters.
pub fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for &c in s.as_bytes() {
        if c.is_ascii_alphanumeric() || b"-._~".contains(&c) {
            out.push(c as char);
        } else {
            out.push_str(&format!("%{c:02X}"));
        }
    }
    out
}

fn query_pairs(q: Option<&str>) -> Result<Vec<(String, String)>, GatewayError> {
    let mut out = Vec::new();
    for p in q.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
        let (k, v) = p.split_once('=').unwrap_or((p, ""));
        let dec = |s: &str| {
            percent_decode(&s.replace('+', " "))
                .ok_or_else(|| GatewayError::BadRequest(format!("bad escape in query {p:?}")))
        };
        out.push((dec(k)?, dec(v)?));
    }
    Ok(out)
}

fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

fn listing(path: &str, cid: &Cid, entries: &[reader::DirEntry]) -> String {
    let mut h = format!(
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>{p}</title></head><body>\n<h1>Index of {p}</h1>\n<p>{cid}</p>\n<table>\n",
        p = html_escape(path)
    );
    if path.trim_end_matches('/').matches('/').count() > 2 {
        h.push_str("<tr><td><a href=\"..\">..</a></td><td></td><td></td></tr>\n");
    }
    for e in entries {
        h.push_str(&format!(
            "<tr><td><a href=\"{href}\">{name}</a></td><td>{cid}</td><td>{size}</td></tr>\n",
            href = html_escape(&percent_encode(&e.name)),
            name = html_escape(&e.name),
            cid = e.cid,
            size = e.tsize,
        ));
    }
    h.push_str("</table>\n</body></html>\n");
    h
}

fn mime_by_extension(name: &str) -> Option<&'static str> {
    let ext = name.rsplit_once('.')?.1.to_ascii_lowercase();
    Some(match ext.as_str() {
        "html" | "htm" => "text/html; charset=utf-8",
        "txt" | "md" => "text/plain; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "json" => "application/json",
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "gif" => "image/gif",
        "svg" => "image/svg+xml",
        "webp" => "image/webp",
        "pdf" => "application/pdf",
        "wasm" => "application/wasm",
        "mp4" => "video/mp4",
        "mp3" => "audio/mpeg",
        "zip" => "application/zip",
        "car" => "application/vnd.ipld.car",
        _ => return None,
    })
}

fn sniff(head: &[u8]) -> &'static str {
    let trimmed = head.trim_ascii_start();
    let lower: Vec<u8> = trimmed.iter().take(16).map(u8::to_ascii_lowercase).collect();
    if lower.starts_with(b"<!doctype html") || lower.starts_with(b"<html") {
        return "text/html; charset=utf-8";
    }
    if head.starts_with(b"\x89PNG") {
        return "image/png";
    }
    if head.starts_with(b"%PDF-") {
        return "application/pdf";
    }
    // Text if it is UTF-8 (allowing a character cut at the end of the sample) without
    // control bytes other than whitespace.
    let valid = match std::str::from_utf8(head) {
        Ok(_) => true,
        Err(e) => e.error_len().is_none(),
    };
    if valid && !head.iter().any(|&c| c < 0x20 && !b"\t\n\r\x0c".contains(&c)) {
        return "text/plain; charset=utf-8";
    }
    "application/octet-stream"
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges() {
        assert_eq!(parse_range("bytes=0-9", 100), Ok(Some(0..10)));
        assert_eq!(parse_range("bytes=90-", 100), Ok(Some(90..100)));
        assert_eq!(parse_range("bytes=-10", 100), Ok(Some(90..100)));
        assert_eq!(parse_range("bytes=-500", 100), Ok(Some(0..100)));
        assert_eq!(parse_range("bytes=95-200", 100), Ok(Some(95..100)));
        assert_eq!(parse_range("bytes=100-", 100), Err(()));
        assert_eq!(parse_range("bytes=5-2", 100), Err(()));
        assert_eq!(parse_range("items=0-1", 100), Err(()));
        assert_eq!(parse_range("bytes=0-1,5-6", 100), Ok(None));
    }

    #[test]
    fn escapes() {
        assert_eq!(percent_decode("a%20b%C4%85").unwrap(), "a bą");
        assert!(percent_decode("%zz").is_none());
        // Only two hex digits make an escape: a sign is not one.
        assert!(percent_decode("%+1").is_none());
        assert!(percent_decode("%-1").is_none());
        assert!(percent_decode("%4").is_none());
        assert_eq!(percent_encode("a bą"), "a%20b%C4%85");
        assert_eq!(sniff(b"hello\n"), "text/plain; charset=utf-8");
        assert_eq!(sniff(&[0, 1, 2]), "application/octet-stream");
    }
}
