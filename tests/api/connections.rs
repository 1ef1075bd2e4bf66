//! Connections that never finish a request are closed by the header-read timeout, and the cap
//! on open connections holds, while normal requests are served throughout.

use std::time::Duration;

use futures::future::join_all;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;
use tokio::time::{Instant, timeout_at};

use crate::helpers::*;

/// Reads until the server closes the connection; false if it is still open at `deadline`.
async fn closed_by(mut tcp: TcpStream, deadline: Instant) -> bool {
    let mut buffer = [0u8; 512];
    loop {
        match timeout_at(deadline, tcp.read(&mut buffer)).await {
            Ok(Ok(0) | Err(_)) => return true,
            Ok(Ok(_)) => {}
            Err(_) => return false,
        }
    }
}

#[tokio::test]
async fn a_thousand_connections_that_never_finish_their_headers_are_closed_while_requests_are_served()
 {
    let app = spawn_app_with(|config| config.ops.header_read_timeout_ms = 1_000).await;
    let id = app.create_session("u", "s").await;
    let address = app.address.trim_start_matches("http://").to_owned();
    let mut half_open = Vec::new();
    for n in 0..1_000 {
        let mut tcp = TcpStream::connect(&address).await.unwrap();
        // Half send nothing; half start a request and never end its head.
        if n % 2 == 1 {
            tcp.write_all(b"GET /healthz HTTP/1.1\r\nhost: x\r\nx-slow: ")
                .await
                .unwrap();
        }
        half_open.push(tcp);
    }
    let deadline = Instant::now() + Duration::from_secs(15);
    let closing = tokio::spawn(join_all(
        half_open
            .into_iter()
            .map(move |tcp| closed_by(tcp, deadline)),
    ));
    // Normal requests meanwhile, before and after the timeout.
    for _ in 0..10 {
        assert_eq!(app.get(&format!("{BASE}/{id}"), "u").await.status, 200);
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let closed = closing.await.unwrap();
    let open = closed.iter().filter(|closed| !**closed).count();
    assert_eq!(
        open, 0,
        "{open} of 1,000 half-open connections were still open"
    );
    assert_eq!(app.get(&format!("{BASE}/{id}"), "u").await.status, 200);
}

#[tokio::test]
async fn connections_over_the_cap_are_answered_503_until_others_close() {
    let app = spawn_app_with(|config| {
        config.ops.max_connections = 20;
        config.ops.header_read_timeout_ms = 1_000;
    })
    .await;
    let address = app.address.trim_start_matches("http://").to_owned();
    let mut idle = Vec::new();
    for _ in 0..20 {
        idle.push(TcpStream::connect(&address).await.unwrap());
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    let mut over = TcpStream::connect(&address).await.unwrap();
    let mut answer = String::new();
    over.read_to_string(&mut answer).await.unwrap();
    assert!(answer.starts_with("HTTP/1.1 503"), "{answer:?}");

    // The idle ones are closed by the header-read timeout, and their places are free again.
    let deadline = Instant::now() + Duration::from_secs(10);
    assert!(
        join_all(idle.into_iter().map(|tcp| closed_by(tcp, deadline)))
            .await
            .into_iter()
            .all(|c| c)
    );
    let reply = reqwest::Client::new()
        .get(format!("{}/healthz", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(reply.status(), 200);
}
