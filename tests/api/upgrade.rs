//! A data dir written by an earlier release: the server migrates it on start and serves the
//! same sessions, restores and replays (`tests/fixtures/`).

use std::path::Path;

use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::*;
use crate::live_client::replay;

const FIXTURE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/sqlite-schema-2"
);

fn expected(name: &str) -> Value {
    let path = Path::new(FIXTURE).join("expected").join(name);
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// The fixture's data dir, copied where the server may write.
fn copy_of_data() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for entry in std::fs::read_dir(Path::new(FIXTURE).join("data")).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), dir.path().join(entry.file_name())).unwrap();
    }
    dir
}

#[tokio::test]
async fn a_data_dir_of_schema_2_serves_the_same_sessions_and_replays_the_same_events() {
    let dir = copy_of_data();
    let ids = std::fs::read_to_string(Path::new(FIXTURE).join("ids.txt")).unwrap();
    let ids: Vec<&str> = ids.split_whitespace().collect();
    let server = ServerProcess::on_sqlite(dir.path()).await;
    let token = token_from_cli(dir.path(), "fixture-user").await;
    let user = ProcessUser::new(&server, &token);

    for (n, id) in ids.iter().enumerate() {
        let (status, body) = user
            .call(Method::GET, &format!("{BASE}/{id}"), None)
            .await
            .unwrap();
        assert_eq!(status, 200);
        assert_eq!(
            body,
            expected(&format!("session-{}.json", n + 1)),
            "session {id}"
        );
        let frames = replay(&server.address, id, &token, 0).await;
        assert_eq!(
            Value::Array(frames),
            expected(&format!("replay-{}.json", n + 1)),
            "the replay of {id}"
        );
    }
    let (_, restored) = user
        .call(
            Method::GET,
            &format!(
                "{BASE}/by-image-url?imageUrl={}",
                urlencode("https://firebase.storage/image2.png")
            ),
            None,
        )
        .await
        .unwrap();
    assert_eq!(restored, expected("restore-firebase-url.json"));
    let (_, listed) = user
        .call(Method::GET, &format!("{BASE}?limit=10"), None)
        .await
        .unwrap();
    assert_eq!(listed, expected("list.json"));

    // A new event beside the old ones: the log replays both kinds, in order.
    let (status, _) = user
        .call(
            Method::POST,
            &format!("{BASE}/{}/messages", ids[0]),
            Some(
                json!({ "prompt": "after the upgrade", "images": [{ "url": "https://img/new" }] }),
            ),
        )
        .await
        .unwrap();
    assert_eq!(status, 200);
    let frames = replay(&server.address, ids[0], &token, 0).await;
    let before = expected("replay-1.json");
    let before = before.as_array().unwrap();
    assert_eq!(frames[..before.len() - 1], before[..before.len() - 1]);
    assert_eq!(frames[before.len() - 1]["type"], "message.added");
    assert_eq!(frames[before.len() - 1]["seq"], 5);
    assert_eq!(
        frames[before.len() - 1]["message"]["prompt"],
        "after the upgrade"
    );
    server.kill9().await;

    // And it still opens after the migration (the schema is at its newest already).
    let again = ServerProcess::on_sqlite(dir.path()).await;
    let user = ProcessUser::new(&again, &token);
    let session = user.session(ids[0]).await;
    assert_eq!(session["seq"], 5);
    again.kill9().await;
}
