//! A TCP proxy that adds a fixed delay to every round trip through it, as a slow network link
//! does: what a client sends reaches the server `delay` later (the answers come back at once),
//! in order, with the pieces sent meanwhile still flowing behind it. Used to put one instance
//! of the server on a slow link to the store.

use std::time::Duration;

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio::time::Instant;

pub async fn delay(listen: String, target: String, delay: Duration) -> anyhow::Result<()> {
    let listener = TcpListener::bind(&listen).await?;
    eprintln!(
        "delaying {} -> {target} by {delay:?} per round trip",
        listener.local_addr()?
    );
    loop {
        let (client, _) = listener.accept().await?;
        let target = target.clone();
        tokio::spawn(async move {
            let Ok(server) = TcpStream::connect(&target).await else {
                return;
            };
            let _ = client.set_nodelay(true);
            let _ = server.set_nodelay(true);
            let (client_read, client_write) = client.into_split();
            let (server_read, server_write) = server.into_split();
            tokio::spawn(pump(client_read, server_write, delay));
            pump(server_read, client_write, Duration::ZERO).await;
        });
    }
}

/// One direction of one connection: every piece read is written `delay` after it was read.
async fn pump(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    delay: Duration,
) {
    let (pieces, mut due) = mpsc::unbounded_channel::<(Instant, Vec<u8>)>();
    let writer = tokio::spawn(async move {
        while let Some((at, piece)) = due.recv().await {
            tokio::time::sleep_until(at).await;
            if to.write_all(&piece).await.is_err() {
                return;
            }
        }
        let _ = to.shutdown().await;
    });
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        match from.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                if pieces
                    .send((Instant::now() + delay, buf[..n].to_vec()))
                    .is_err()
                {
                    break;
                }
            }
        }
    }
    drop(pieces);
    let _ = writer.await;
}
