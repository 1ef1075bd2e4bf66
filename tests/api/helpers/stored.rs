//! What the store holds, counted, for tests that prove something wrote nothing: the rows of
//! every SQLite table and the size of every file in the data dir, or every document of the
//! test's Firestore project.

use std::collections::BTreeMap;
use std::time::Duration;

use super::{TestApp, project_for};

impl TestApp {
    /// The counts, once two reads 200 ms apart agree (the embedded store moves journaled
    /// commits into its tables in the background).
    pub async fn settled_store_counts(&self) -> BTreeMap<String, u64> {
        let mut last = self.store_counts().await;
        for _ in 0..25 {
            tokio::time::sleep(Duration::from_millis(200)).await;
            let now = self.store_counts().await;
            if now == last {
                return now;
            }
            last = now;
        }
        panic!("the store kept changing: {last:?}");
    }

    async fn store_counts(&self) -> BTreeMap<String, u64> {
        match std::env::var("LIVECHAT_STORE").as_deref() {
            Ok("firestore") => self.firestore_documents().await,
            _ => self.sqlite_rows_and_files(),
        }
    }

    fn sqlite_rows_and_files(&self) -> BTreeMap<String, u64> {
        let dir = self.data_dir();
        let mut counts = BTreeMap::new();
        for entry in std::fs::read_dir(dir).unwrap().flatten() {
            let size = entry.metadata().map(|m| m.len()).unwrap_or(0);
            counts.insert(
                format!("file {}", entry.file_name().to_string_lossy()),
                size,
            );
        }
        let db = rusqlite::Connection::open_with_flags(
            dir.join("sessions.sqlite3"),
            rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
        )
        .unwrap();
        let tables: Vec<String> = db
            .prepare("SELECT name FROM sqlite_master WHERE type = 'table'")
            .unwrap()
            .query_map([], |row| row.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        for table in tables {
            let rows: u64 = db
                .query_row(&format!("SELECT count(*) FROM \"{table}\""), [], |row| {
                    row.get(0)
                })
                .unwrap();
            counts.insert(format!("table {table}"), rows);
        }
        counts
    }

    async fn firestore_documents(&self) -> BTreeMap<String, u64> {
        let host = std::env::var("FIRESTORE_EMULATOR_HOST").unwrap();
        let project = project_for(self.data_dir());
        let url =
            format!("http://{host}/v1/projects/{project}/databases/(default)/documents:runQuery");
        let body =
            serde_json::json!({ "structuredQuery": { "from": [{ "allDescendants": true }] } });
        let answer: Vec<serde_json::Value> = reqwest::Client::new()
            .post(url)
            .bearer_auth("owner")
            .json(&body)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let mut counts = BTreeMap::new();
        for document in answer
            .iter()
            .filter_map(|entry| entry["document"]["name"].as_str())
        {
            // Counted by collection: `…/documents/sessions/ID/messages/M` → `sessions/messages`.
            let path = document.split("/documents/").nth(1).unwrap_or(document);
            let collections: Vec<&str> = path.split('/').step_by(2).collect();
            *counts.entry(collections.join("/")).or_default() += 1;
        }
        counts
    }
}
