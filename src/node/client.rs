//! A minimal HTTP/1.1 client for the CLI (`dawn push`, `dawn get`) and the tests, on hyper.

use anyhow::{bail, Context};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use serde_json::Value;

/// POSTs `body` with `content_type` to `url` (`http://host:port/path`); returns the status
/// and the JSON reply.
pub async fn post_raw(url: &str, content_type: &str, body: Vec<u8>) -> anyhow::Result<(u16, Value)> {
    let uri: hyper::Uri = url.parse().with_context(|| format!("bad URL {url}"))?;
    if uri.scheme_str() != Some("http") {
        bail!("only http:// URLs are supported, got {url}");
    }
    let host = uri.host().context("URL has no host")?.to_string();
    let port = uri.port_u16().unwrap_or(80);
    let stream = tokio::net::TcpStream::connect((host.as_str(), port))
        .await
        .with_context(|| format!("cannot reach {host}:{port}; is the node running (`dawn dev`)?"))?;
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(conn);
    let path = uri.path_and_query().map_or("/", |p| p.as_str());
    let req = hyper::Request::post(path)
        .header("host", format!("{host}:{port}"))
        .header("content-type", content_type)
        .body(Full::new(Bytes::from(body)))?;
    let resp = sender.send_request(req).await?;
    let status = resp.status().as_u16();
    let bytes = resp.into_body().collect().await?.to_bytes();
    let v = serde_json::from_slice(&bytes)
        .with_context(|| format!("reply is not JSON: {}", String::from_utf8_lossy(&bytes)))?;
    Ok((status, v))
}

/// POSTs JSON to `url`; returns the status and the JSON reply.
pub async fn post_json(url: &str, body: &Value) -> anyhow::Result<(u16, Value)> {
    post_raw(url, "application/json", serde_json::to_vec(body)?).await
}
