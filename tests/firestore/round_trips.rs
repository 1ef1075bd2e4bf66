//! The calls each operation makes to Firestore one after another, counted by the server itself
//! (`livechat_store_calls_total` ÷ `livechat_store_operations_total`): a property of the code,
//! not a timing. Each test runs the binary, whose metrics are its own.

use reqwest::Method;
use serde_json::json;

use crate::exposition::Exposition;
use crate::helpers::*;
use crate::original::{migrate, original_session, restore_path, write_original};
use crate::{emulator_host, new_project};

/// A server process on Firestore project `project` of the shared emulator.
async fn server(project: &str, dir: &tempfile::TempDir) -> ServerProcess {
    let host = emulator_host();
    ServerProcess::on_with(
        dir.path(),
        &[],
        &[
            ("LIVECHAT_STORE", "firestore"),
            ("LIVECHAT_FIRESTORE_PROJECT", project),
            ("FIRESTORE_EMULATOR_HOST", &host),
        ],
    )
    .await
}

async fn metrics(server: &ServerProcess) -> Exposition {
    Exposition::scrape(&server.address).await
}

/// Calls and operations of `op` so far.
async fn counts(server: &ServerProcess, op: &str) -> (f64, f64) {
    let m = metrics(server).await;
    let labels = [("store", "firestore"), ("op", op)];
    (
        m.count("livechat_store_calls_total", &labels),
        m.count("livechat_store_operations_total", &labels),
    )
}

/// The calls one after another that `action` made in operations `op` (asserting it made
/// `operations` of them).
async fn calls_of(
    server: &ServerProcess,
    op: &str,
    operations: f64,
    action: impl std::future::Future<Output = ()>,
) -> f64 {
    let (calls, ops) = counts(server, op).await;
    action.await;
    let (calls_after, ops_after) = counts(server, op).await;
    assert_eq!(ops_after - ops, operations, "{op}: operations");
    calls_after - calls
}

/// Reads of messages and images so far (none when a held body is current).
async fn subcollection_reads(server: &ServerProcess) -> f64 {
    metrics(server).await.count(
        "livechat_store_subcollection_reads_total",
        &[("store", "firestore")],
    )
}

fn images(tag: &str, n: usize) -> serde_json::Value {
    let images: Vec<_> = (1..=n)
        .map(|i| json!({ "url": format!("https://img/{tag}/{i}"), "firebaseUrl": format!("https://fb/{tag}/{i}") }))
        .collect();
    json!({ "prompt": "p", "images": images })
}

#[tokio::test]
async fn restore_get_and_append_make_as_few_calls_in_sequence_as_their_targets() {
    let project = new_project();
    let dir = tempfile::tempdir().unwrap();
    let server = server(&project, &dir).await;
    let user = ProcessUser::new(&server, &token_from_cli(dir.path(), "u").await);
    let id = user.create("s").await;
    let append = |tag: &'static str| {
        let user = user.clone();
        let id = id.clone();
        async move {
            let (status, body) = user
                .call(
                    Method::POST,
                    &format!("{BASE}/{id}/messages"),
                    Some(images(tag, 20)),
                )
                .await
                .unwrap();
            assert_eq!(status, 200, "{body}");
        }
    };
    // The session's actor starts by loading it, which tells the store its version: even the
    // first write is one call, and so is every write of the actor that wrote last.
    assert_eq!(calls_of(&server, "commit", 1.0, append("a")).await, 1.0);
    assert_eq!(calls_of(&server, "commit", 1.0, append("b")).await, 1.0);
    assert_eq!(calls_of(&server, "commit", 1.0, append("c")).await, 1.0);

    let get = || async { assert_eq!(user.session(&id).await["totalImages"], 60) };
    assert_eq!(
        calls_of(&server, "load", 1.0, get()).await,
        1.0,
        "get, nothing held"
    );
    let reads = subcollection_reads(&server).await;
    assert_eq!(
        calls_of(&server, "load", 1.0, get()).await,
        1.0,
        "get, body held"
    );
    assert_eq!(
        subcollection_reads(&server).await,
        reads,
        "get, body held: the session document alone"
    );

    let restore = |url: &'static str, total: u64| {
        let user = user.clone();
        async move {
            let (status, body) = user
                .call(Method::GET, &restore_path(url), None)
                .await
                .unwrap();
            assert_eq!(status, 200, "{body}");
            assert_eq!(body["data"]["session"]["totalImages"], total);
        }
    };
    assert_eq!(
        calls_of(&server, "restore", 1.0, restore("https://fb/b/7", 60)).await,
        2.0
    );
    // After a write by this instance the body it holds moves along: still no query of the
    // messages and images.
    assert_eq!(calls_of(&server, "commit", 1.0, append("d")).await, 1.0);
    let reads = subcollection_reads(&server).await;
    assert_eq!(
        calls_of(&server, "restore", 1.0, restore("https://img/a/1", 80)).await,
        2.0
    );
    assert_eq!(
        subcollection_reads(&server).await,
        reads,
        "restore after this instance's write: the body moved along with it"
    );
    server.kill9().await;

    // A fresh instance holds nothing: still two steps (the lookup, then the whole session at
    // once), and one for a get.
    let fresh = self::server(&project, &dir).await;
    let user = ProcessUser::new(&fresh, &token_from_cli(dir.path(), "u").await);
    let restored = calls_of(&fresh, "restore", 1.0, async {
        let (status, _) = user
            .call(Method::GET, &restore_path("https://img/c/3"), None)
            .await
            .unwrap();
        assert_eq!(status, 200);
    })
    .await;
    assert_eq!(restored, 2.0);
    assert_eq!(
        subcollection_reads(&fresh).await,
        1.0,
        "a fresh instance reads the messages and images, once"
    );
    fresh.kill9().await;
}

#[tokio::test]
async fn after_a_lost_race_an_append_costs_a_claim_a_read_and_one_commit() {
    let project = new_project();
    let (dir_a, dir_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let a = server(&project, &dir_a).await;
    let token = token_from_cli(dir_a.path(), "u").await;
    let b = ServerProcess::on_with(
        dir_b.path(),
        &[],
        &[
            ("LIVECHAT_STORE", "firestore"),
            ("LIVECHAT_FIRESTORE_PROJECT", &project),
            ("FIRESTORE_EMULATOR_HOST", &emulator_host()),
            (
                "LIVECHAT_JWT_SECRET",
                &std::fs::read_to_string(dir_a.path().join("jwt-secret")).unwrap(),
            ),
        ],
    )
    .await;
    let (on_a, on_b) = (ProcessUser::new(&a, &token), ProcessUser::new(&b, &token));
    let id = on_a.create("race").await;
    assert_eq!(on_a.append(&id, "https://img/1").await, Some(1));
    assert_eq!(on_b.append(&id, "https://img/2").await, Some(2));

    // A's actor commits from the version it wrote, which B has replaced: the commit is
    // refused, A claims the next turn (one call), reloads the session (one call) and commits
    // again (one call).
    let (commit_calls, commit_ops) = counts(&a, "commit").await;
    let (load_calls, load_ops) = counts(&a, "load").await;
    assert_eq!(on_a.append(&id, "https://img/3").await, Some(3));
    let (commit_calls_after, commit_ops_after) = counts(&a, "commit").await;
    let (load_calls_after, load_ops_after) = counts(&a, "load").await;
    assert_eq!(
        commit_ops_after - commit_ops,
        2.0,
        "the refused commit, then the one that landed"
    );
    assert_eq!(
        commit_calls_after - commit_calls,
        3.0,
        "the refused commit and the claim of the next turn, then the commit that landed"
    );
    assert_eq!(
        (load_ops_after - load_ops, load_calls_after - load_calls),
        (1.0, 1.0)
    );
    let session = on_b.session(&id).await;
    assert_eq!(image_orders(&session), [1, 2, 3], "one gap-free history");
    a.kill9().await;
    b.kill9().await;
}

#[tokio::test]
async fn restores_stop_querying_original_sessions_once_the_migration_records_none_is_left() {
    let project = new_project();
    write_original(
        &project,
        "OriginalDocId0000009",
        &original_session("user-123", "s-1", "z"),
    )
    .await;
    let url = "https://zata.ai/z/image2.png";
    let dir = tempfile::tempdir().unwrap();
    let before = server(&project, &dir).await;
    let token = token_from_cli(dir.path(), "user-123").await;
    let user = ProcessUser::new(&before, &token);
    let queried = metrics(&before)
        .await
        .count("livechat_store_original_queries_total", &[]);
    let (status, body) = user
        .call(Method::GET, &restore_path(url), None)
        .await
        .unwrap();
    assert_eq!(status, 200, "{body}");
    let after = metrics(&before)
        .await
        .count("livechat_store_original_queries_total", &[]);
    assert_eq!(
        after - queried,
        1.0,
        "the original session is found by its query"
    );
    before.kill9().await;

    let applied = migrate(&project, true).await;
    assert!(
        applied.contains("recorded: no session in the original shape is left"),
        "{applied}"
    );

    let migrated = server(&project, &dir).await;
    let user = ProcessUser::new(&migrated, &token);
    let (status, body) = user
        .call(Method::GET, &restore_path(url), None)
        .await
        .unwrap();
    assert_eq!(
        status, 200,
        "the converted session is restored by its lookup: {body}"
    );
    assert_eq!(
        metrics(&migrated)
            .await
            .value("livechat_store_original_queries_total", &[])
            .unwrap_or(0.0),
        0.0,
        "no query of original sessions"
    );
    migrated.kill9().await;
}
