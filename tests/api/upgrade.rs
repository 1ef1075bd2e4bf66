//! Data dirs written by earlier releases: the server migrates each on start and serves the
//! same sessions, restores and replays (`tests/fixtures/`).

use std::path::Path;

use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::*;
use crate::live_client::replay;

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures");

struct Fixture(&'static str);

impl Fixture {
    fn path(&self) -> std::path::PathBuf {
        Path::new(FIXTURES).join(self.0)
    }

    fn expected(&self, name: &str) -> Value {
        let path = self.path().join("expected").join(name);
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
    }

    fn ids(&self) -> Vec<String> {
        let ids = std::fs::read_to_string(self.path().join("ids.txt")).unwrap();
        ids.split_whitespace().map(str::to_owned).collect()
    }
}

/// The fixture's data dir, copied where the server may write.
fn copy_of_data(fixture: &Fixture) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for entry in std::fs::read_dir(fixture.path().join("data")).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), dir.path().join(entry.file_name())).unwrap();
    }
    dir
}

#[tokio::test]
async fn a_data_dir_of_schema_2_serves_the_same_sessions_and_replays_the_same_events() {
    serves_the_same(
        Fixture("sqlite-schema-2"),
        &[(
            "https://firebase.storage/image2.png",
            "restore-firebase-url.json",
        )],
    )
    .await;
}

#[tokio::test]
async fn a_data_dir_of_schema_3_serves_the_same_sessions_and_replays_the_same_events() {
    serves_the_same(
        Fixture("sqlite-schema-3"),
        &[
            ("https://fb/s3-3.png", "restore-firebase-url.json"),
            ("https://orig/s3-2.png", "restore-original-url.json"),
        ],
    )
    .await;
}

/// Starts the server on a copy of the fixture's data dir and compares what it answers with
/// what the release that wrote the data dir answered; then writes to it, and opens it again.
async fn serves_the_same(fixture: Fixture, restores: &[(&str, &str)]) {
    let dir = copy_of_data(&fixture);
    let ids = fixture.ids();
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
            fixture.expected(&format!("session-{}.json", n + 1)),
            "session {id}"
        );
        let frames = replay(&server.address, id, &token, 0).await;
        assert_eq!(
            Value::Array(frames),
            fixture.expected(&format!("replay-{}.json", n + 1)),
            "the replay of {id}"
        );
    }
    for (url, answer) in restores {
        let (_, restored) = user
            .call(
                Method::GET,
                &format!("{BASE}/by-image-url?imageUrl={}", urlencode(url)),
                None,
            )
            .await
            .unwrap();
        assert_eq!(restored, fixture.expected(answer), "restore by {url}");
    }
    let (_, listed) = user
        .call(Method::GET, &format!("{BASE}?limit=10"), None)
        .await
        .unwrap();
    assert_eq!(listed, fixture.expected("list.json"));

    // A new event beside the old ones: the log replays both kinds, in order.
    let seq = fixture.expected("session-1.json")["data"]["session"]["seq"]
        .as_u64()
        .unwrap();
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
    let frames = replay(&server.address, &ids[0], &token, 0).await;
    let before = fixture.expected("replay-1.json");
    let before = before.as_array().unwrap();
    assert_eq!(frames[..before.len() - 1], before[..before.len() - 1]);
    assert_eq!(frames[before.len() - 1]["type"], "message.added");
    assert_eq!(frames[before.len() - 1]["seq"], seq + 1);
    assert_eq!(
        frames[before.len() - 1]["message"]["prompt"],
        "after the upgrade"
    );
    server.kill9().await;

    // And it still opens after the migration (the schema is at its newest already), with the
    // write acknowledged before the kill.
    let again = ServerProcess::on_sqlite(dir.path()).await;
    let user = ProcessUser::new(&again, &token);
    let session = user.session(&ids[0]).await;
    assert_eq!(session["seq"], seq + 1);
    again.kill9().await;
}
