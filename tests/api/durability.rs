//! The binary as users run it: its command line, and durability across `kill -9`.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::helpers::*;
use reqwest::Method;
use serde_json::json;
use tokio::process::Command;

#[tokio::test]
async fn acknowledged_writes_survive_kill_9() {
    let dir = tempfile::tempdir().unwrap();
    let server = ServerProcess::on(dir.path()).await;
    let user = ProcessUser::new(&server, &token_from_cli(dir.path(), "u").await);
    let id = user.create("s").await;

    // Four writers append as fast as they can; the server is killed mid-stream.
    let acknowledged: Arc<Mutex<BTreeMap<String, u64>>> = Default::default();
    let writers: Vec<_> = (0..4)
        .map(|w| {
            let (user, id, acknowledged) = (user.clone(), id.clone(), Arc::clone(&acknowledged));
            tokio::spawn(async move {
                for n in 0.. {
                    let url = format!("https://img/{w}/{n}");
                    match user.append(&id, &url).await {
                        Some(order) => acknowledged.lock().unwrap().insert(url, order),
                        None => return,
                    };
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

    // The token minted before the crash still works, and nothing acknowledged is missing.
    let server = ServerProcess::on(dir.path()).await;
    let user = user.on(&server);
    let total = assert_kept(&user.session(&id).await, &acknowledged);
    assert!(total >= acknowledged.len() as u64);

    // And the session keeps going from where it was.
    assert_eq!(user.append(&id, "https://img/after").await, Some(total + 1));
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
    let user = ProcessUser::new(&server, &token);
    let (status, _) = user.call(Method::GET, BASE, None).await.unwrap();
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
    let server = ServerProcess::on_with(dir.path(), &["--max-prompt-chars", "5"], &[]).await;
    let user = ProcessUser::new(&server, &token_from_cli(dir.path(), "u").await);
    let id = user.create("s").await;
    let body = json!({ "prompt": "123456", "images": [] });
    let (status, reply) = user
        .call(Method::POST, &format!("{BASE}/{id}/messages"), Some(body))
        .await
        .unwrap();
    assert_eq!((status, &reply["data"]["field"]), (400, &json!("prompt")));
    server.kill9().await;
}
