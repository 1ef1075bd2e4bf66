//! A reader of Server-Sent Events over a plain GET, as a client behind a proxy that refuses
//! WebSocket upgrades reads a session: each event's `data`, in order; comments (heartbeats)
//! skipped.

use anyhow::{Context as _, bail};
use futures::stream::{self, BoxStream, StreamExt as _};

use crate::Client;

/// Opens the stream at `url` with the client's token; yields each event's data until it ends.
pub async fn open(client: &Client, url: &str) -> anyhow::Result<BoxStream<'static, String>> {
    let response = client
        .http
        .get(url)
        .bearer_auth(&client.token)
        .header(reqwest::header::ACCEPT, "text/event-stream")
        .send()
        .await
        .context("open the event stream")?;
    if !response.status().is_success() {
        bail!("the event stream answered {}", response.status());
    }
    let reader = Reader {
        response,
        buffer: Vec::new(),
    };
    Ok(stream::unfold(reader, |mut reader| async move {
        let data = reader.next_data().await?;
        Some((data, reader))
    })
    .boxed())
}

struct Reader {
    response: reqwest::Response,
    /// What came of the event being read.
    buffer: Vec<u8>,
}

impl Reader {
    /// The next event's data (its `data:` lines joined by newlines), or `None` at the end.
    async fn next_data(&mut self) -> Option<String> {
        loop {
            if let Some(end) = self.buffer.windows(2).position(|pair| pair == b"\n\n") {
                let block: Vec<u8> = self.buffer.drain(..end + 2).collect();
                let block = String::from_utf8_lossy(&block);
                let data: Vec<&str> = block
                    .lines()
                    .filter_map(|line| line.strip_prefix("data:"))
                    .map(|data| data.strip_prefix(' ').unwrap_or(data))
                    .collect();
                if !data.is_empty() {
                    return Some(data.join("\n"));
                }
                continue;
            }
            let chunk = self.response.chunk().await.ok()??;
            self.buffer.extend_from_slice(&chunk);
        }
    }
}
