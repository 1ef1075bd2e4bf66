//! The binary as users run it: its command line, and durability across `kill -9`.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::helpers::*;
use serde_json::{Value, json};
use tokio::process::Command;

async fn call(
    client: &reqwest::Client,
    method: reqwest::Method,
    url: String,
    token: &str,
    body: Option<Value>,
) -> reqwest::Result<(u16, Value)> {
    let mut request = client.request(method, url).bearer_auth(token);
    if let Some(body) = body {
        request = request.body(body.to_string());
    }
    let response = request.send().await?;
    let status = response.status().as_u16();
    Ok((status, response.json().await?))
}

#[tokio::test]
async fn acknowledged_writes_survive_kill_9() {
    let dir = tempfile::tempdir().unwrap();
    let server = ServerProcess::on(dir.path()).await;
    let token = token_from_cli(dir.path(), "u").await;
    let client = reqwest::Client::new();
    let base = format!("{}{BASE}", server.address);

    let (_, created) = call(
        &client,
        reqwest::Method::POST,
        base.clone(),
        &token,
        Some(json!({ "sessionId": "s", "model": "m" })),
    )
    .await
    .unwrap();
    let id = created["data"]["sessionDocId"].as_str().unwrap().to_owned();

    // Four writers append as fast as they can; the server is killed mid-stream.
    let acknowledged: Arc<Mutex<BTreeMap<String, u64>>> = Default::default();
    let writers: Vec<_> = (0..4)
        .map(|w| {
            let (client, token, acknowledged) =
                (client.clone(), token.clone(), Arc::clone(&acknowledged));
            let url = format!("{base}/{id}/messages");
            tokio::spawn(async move {
                for n in 0.. {
                    let image_url = format!("https://img/{w}/{n}");
                    let body = json!({ "prompt": "p", "images": [{ "url": image_url }] });
                    match call(
                        &client,
                        reqwest::Method::POST,
                        url.clone(),
                        &token,
                        Some(body),
                    )
                    .await
                    {
                        Ok((200, reply)) => {
                            let order = reply["data"]["orders"][0].as_u64().unwrap();
                            acknowledged.lock().unwrap().insert(image_url, order);
                        }
                        _ => return,
                    }
                }
            })
        })
        .collect();
    while acknowledged.lock().unwrap().len() < 200 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    server.kill9().await;
    for writer in writers {
        writer.await.unwrap();
    }
    let acknowledged = acknowledged.lock().unwrap().clone();

    let server = ServerProcess::on(dir.path()).await;
    let base = format!("{}{BASE}", server.address);
    let (status, reply) = call(
        &client,
        reqwest::Method::GET,
        format!("{base}/{id}"),
        &token,
        None,
    )
    .await
    .unwrap();
    assert_eq!(
        status, 200,
        "the token minted before the crash still works: {reply}"
    );
    let session = &reply["data"]["session"];
    let stored: BTreeMap<String, u64> = session["images"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            (
                i["url"].as_str().unwrap().to_owned(),
                i["order"].as_u64().unwrap(),
            )
        })
        .collect();
    for (url, order) in &acknowledged {
        assert_eq!(
            stored.get(url),
            Some(order),
            "acknowledged {url} (order {order}) was lost"
        );
    }
    let total = stored.len() as u64;
    let mut orders: Vec<u64> = stored.values().copied().collect();
    orders.sort();
    assert_eq!(
        orders,
        (1..=total).collect::<Vec<_>>(),
        "orders stay gap-free"
    );
    assert_eq!(session["seq"].as_u64(), Some(total));
    assert!(total >= acknowledged.len() as u64);

    // And the session keeps going from where it was.
    let (status, reply) = call(
        &client,
        reqwest::Method::POST,
        format!("{base}/{id}/messages"),
        &token,
        Some(json!({ "prompt": "after", "images": [{ "url": "https://img/after" }] })),
    )
    .await
    .unwrap();
    assert_eq!(status, 200);
    assert_eq!(reply["data"]["orders"], json!([total + 1]));
    server.kill9().await;
}

#[tokio::test]
async fn no_subcommand_means_serve_and_settings_come_from_the_environment() {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().to_str().unwrap();
    let server = ServerProcess::start(
        &[],
        &[
            ("LIVECHAT_ADDR", "127.0.0.1:0"),
            ("LIVECHAT_DATA_DIR", data_dir),
            ("LIVECHAT_JWT_SECRET", "s3cret"),
        ],
    )
    .await;
    let health = reqwest::get(format!("{}/healthz", server.address))
        .await
        .unwrap();
    assert_eq!(health.status(), 200);

    // The configured secret is the one both commands use; no secret file is written.
    let token = livechat_sessions::auth::TokenIssuer::hs256(b"s3cret")
        .issue("u", 60)
        .unwrap();
    let (status, _) = call(
        &reqwest::Client::new(),
        reqwest::Method::GET,
        format!("{}{BASE}", server.address),
        &token,
        None,
    )
    .await
    .unwrap();
    assert_eq!(status, 200);
    assert!(!dir.path().join("jwt-secret").exists());
    server.kill9().await;
}

#[tokio::test]
async fn serve_help_lists_every_setting_with_its_variable() {
    let output = Command::new(BIN)
        .args(["serve", "--help"])
        .output()
        .await
        .unwrap();
    let help = String::from_utf8(output.stdout).unwrap();
    for variable in [
        "LIVECHAT_ADDR",
        "LIVECHAT_DATA_DIR",
        "LIVECHAT_JWT_SECRET",
        "LIVECHAT_STORE",
        "LIVECHAT_SQLITE_SYNCHRONOUS",
        "LIVECHAT_SQLITE_READERS",
        "LIVECHAT_ACTOR_IDLE_SECS",
        "LIVECHAT_ACTOR_MAILBOX",
        "LIVECHAT_MAX_BODY_BYTES",
        "LIVECHAT_MAX_PROMPT_CHARS",
        "LIVECHAT_MAX_IMAGES_PER_MESSAGE",
        "LIVECHAT_MAX_URL_CHARS",
        "LIVECHAT_MAX_FIELD_CHARS",
        "LIVECHAT_MAX_IMAGES_PER_SESSION",
        "LIVECHAT_WS_PING_MS",
        "LIVECHAT_WS_IDLE_TIMEOUT_MS",
        "LIVECHAT_WS_AUTH_TIMEOUT_MS",
        "LIVECHAT_WS_QUEUE",
        "LIVECHAT_WS_MAX_FRAME_BYTES",
        "LIVECHAT_WS_RATE",
        "LIVECHAT_WS_BURST",
        "LIVECHAT_SHUTDOWN_GRACE_MS",
    ] {
        assert!(
            help.contains(variable),
            "--help does not mention {variable}:\n{help}"
        );
    }
}

#[tokio::test]
async fn a_configured_limit_applies() {
    let dir = tempfile::tempdir().unwrap();
    let server = ServerProcess::start(
        &[
            "--addr",
            "127.0.0.1:0",
            "--data-dir",
            dir.path().to_str().unwrap(),
            "--max-prompt-chars",
            "5",
        ],
        &[],
    )
    .await;
    let token = token_from_cli(dir.path(), "u").await;
    let client = reqwest::Client::new();
    let base = format!("{}{BASE}", server.address);
    let (_, created) = call(
        &client,
        reqwest::Method::POST,
        base.clone(),
        &token,
        Some(json!({ "sessionId": "s", "model": "m" })),
    )
    .await
    .unwrap();
    let id = created["data"]["sessionDocId"].as_str().unwrap();
    let (status, reply) = call(
        &client,
        reqwest::Method::POST,
        format!("{base}/{id}/messages"),
        &token,
        Some(json!({ "prompt": "123456", "images": [] })),
    )
    .await
    .unwrap();
    assert_eq!((status, &reply["data"]["field"]), (400, &json!("prompt")));
    server.kill9().await;
}
