//! Reading and writing frames on QUIC streams (the layouts are in protocol.rs).

use bytes::Bytes;

use super::protocol::{parse_header, FrameError, FrameKind, FRAME_HEADER_BYTES};

/// A frame could not be read from a stream.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReadFrameError {
    /// The frame itself is bad.
    #[error(transparent)]
    Frame(#[from] FrameError),
    /// The stream ended inside a frame.
    #[error("the stream ended inside a frame")]
    Truncated,
    /// The peer reset the stream with this application code.
    #[error("the stream was reset with code {0}")]
    Reset(u64),
    /// The stream or connection failed.
    #[error("{0}")]
    Stream(String),
}

/// Reads one frame of kind `expected`; `None` when the stream ended cleanly before it.
pub async fn read_frame(
    recv: &mut quinn::RecvStream,
    expected: FrameKind,
) -> Result<Option<Vec<u8>>, ReadFrameError> {
    let mut buf = Vec::new();
    Ok(read_frame_into(recv, expected, &mut buf).await?.map(|len| {
        buf.truncate(len);
        buf
    }))
}

/// Reads one frame of kind `expected` into `buf` (reused across frames, so a stream of
/// large frames does not allocate and clear a new buffer for each) and returns its body
/// length: the body is `buf[..len]`. `None` when the stream ended cleanly before it.
pub async fn read_frame_into(
    recv: &mut quinn::RecvStream,
    expected: FrameKind,
    buf: &mut Vec<u8>,
) -> Result<Option<usize>, ReadFrameError> {
    let mut header = [0u8; FRAME_HEADER_BYTES];
    let mut got = 0;
    while got < header.len() {
        match recv.read(&mut header[got..]).await {
            Ok(Some(n)) => got += n,
            Ok(None) if got == 0 => return Ok(None),
            Ok(None) => return Err(ReadFrameError::Truncated),
            Err(e) => return Err(read_error(e)),
        }
    }
    let (kind, len) = parse_header(header)?;
    if kind != expected {
        return Err(FrameError::UnexpectedKind { expected, got: kind }.into());
    }
    let len = len as usize;
    if buf.len() < len {
        buf.resize(len, 0);
    }
    recv.read_exact(&mut buf[..len]).await.map_err(|e| match e {
        quinn::ReadExactError::FinishedEarly(_) => ReadFrameError::Truncated,
        quinn::ReadExactError::ReadError(e) => read_error(e),
    })?;
    Ok(Some(len))
}

fn read_error(e: quinn::ReadError) -> ReadFrameError {
    match e {
        quinn::ReadError::Reset(code) => ReadFrameError::Reset(code.into_inner()),
        e => ReadFrameError::Stream(e.to_string()),
    }
}

/// Writes `chunks` (a frame's header and body pieces) in order.
pub async fn write_chunks(
    send: &mut quinn::SendStream,
    chunks: &mut [Bytes],
) -> Result<(), quinn::WriteError> {
    send.write_all_chunks(chunks).await
}
