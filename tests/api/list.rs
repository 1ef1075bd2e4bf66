//! Listing a user's sessions: `updatedAt` order, pagination, filters, bad queries.

use std::collections::HashSet;

use crate::helpers::*;
use serde_json::{Value, json};

/// Every page of `GET /?{query}` for `uid`, following `nextCursor`.
async fn all_pages(app: &TestApp, uid: &str, query: &str) -> Vec<Vec<Value>> {
    let mut pages = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut path = format!("{BASE}?{query}");
        if let Some(cursor) = &cursor {
            path.push_str(&format!("&cursor={}", urlencode(cursor)));
        }
        let data = app.get(&path, uid).await.ok().clone();
        pages.push(data["sessions"].as_array().unwrap().clone());
        match data.get("nextCursor") {
            Some(next) => cursor = Some(next.as_str().unwrap().to_owned()),
            None => return pages,
        }
        assert!(pages.len() < 100, "pagination does not end");
    }
}

#[tokio::test]
async fn paging_25_sessions_by_7_visits_each_once_in_updated_order() {
    let app = spawn_app().await;
    let mut ids = Vec::new();
    for n in 0..25 {
        ids.push(app.create_session("u", &format!("s-{n}")).await);
    }
    // Move some to the front by updating them, in an order unlike creation.
    for n in [3, 17, 0, 24, 11] {
        app.append("u", &ids[n], json!({ "prompt": "", "images": [] }))
            .await
            .ok();
    }
    app.create_session("someone-else", "s-0").await;

    let pages = all_pages(&app, "u", "limit=7").await;
    assert_eq!(pages.iter().map(Vec::len).collect::<Vec<_>>(), [7, 7, 7, 4]);
    let visited: Vec<&Value> = pages.iter().flatten().collect();
    let unique: HashSet<&str> = visited.iter().map(|s| s["id"].as_str().unwrap()).collect();
    assert_eq!(unique.len(), 25, "each session exactly once");
    assert_eq!(unique, ids.iter().map(String::as_str).collect());

    let keys: Vec<(String, String)> = visited
        .iter()
        .map(|s| {
            (
                s["updatedAt"].as_str().unwrap().to_owned(),
                s["id"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let mut sorted = keys.clone();
    sorted.sort_by(|a, b| b.cmp(a));
    assert_eq!(keys, sorted, "updatedAt descending, ties by id descending");
    let front: Vec<&str> = visited[..5]
        .iter()
        .map(|s| s["id"].as_str().unwrap())
        .collect();
    assert_eq!(
        front,
        [&ids[11], &ids[24], &ids[0], &ids[17], &ids[3]].map(String::as_str)
    );
}

#[tokio::test]
async fn the_default_page_is_20_and_next_cursor_appears_only_when_more_remain() {
    let app = spawn_app().await;
    for n in 0..21 {
        app.create_session("u", &format!("s-{n}")).await;
    }
    let first = app.get(BASE, "u").await;
    assert_eq!(first.ok()["sessions"].as_array().unwrap().len(), 20);
    assert!(first.ok()["nextCursor"].is_string());
    let pages = all_pages(&app, "u", "limit=21").await;
    assert_eq!(pages.len(), 1, "no cursor when nothing remains");
    let empty = app.get(BASE, "nobody").await;
    assert_eq!(empty.ok()["sessions"], json!([]));
    assert!(empty.ok().get("nextCursor").is_none());
}

#[tokio::test]
async fn status_filters_the_listing() {
    let app = spawn_app().await;
    let mut completed = HashSet::new();
    for n in 0..9 {
        let id = app.create_session("u", &format!("s-{n}")).await;
        if n % 3 == 0 {
            app.patch(&format!("{BASE}/{id}/complete"), "u", json!({}))
                .await
                .ok();
            completed.insert(id);
        } else if n % 3 == 1 {
            app.patch(&format!("{BASE}/{id}"), "u", json!({ "status": "failed" }))
                .await
                .ok();
        }
    }
    let pages = all_pages(&app, "u", "status=completed&limit=2").await;
    let listed: HashSet<String> = pages
        .iter()
        .flatten()
        .map(|s| s["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(listed, completed);
    for status in ["active", "failed"] {
        let pages = all_pages(&app, "u", &format!("status={status}")).await;
        let sessions: Vec<&Value> = pages.iter().flatten().collect();
        assert_eq!(sessions.len(), 3, "{status}");
        assert!(sessions.iter().all(|s| s["status"] == status));
    }
}

#[tokio::test]
async fn bad_limit_status_or_cursor_is_400() {
    let app = spawn_app().await;
    for _ in 0..3 {
        app.create_session("alice", &crate::helpers::unique("s"))
            .await;
    }
    for limit in ["0", "101", "-1", "abc", "1.5", ""] {
        app.get(&format!("{BASE}?limit={limit}"), "alice")
            .await
            .assert_invalid("limit");
    }
    for status in ["done", "ACTIVE", ""] {
        app.get(&format!("{BASE}?status={status}"), "alice")
            .await
            .assert_invalid("status");
    }
    for cursor in ["garbage", "%FF%FE", "bm90LWEtY3Vyc29y"] {
        app.get(&format!("{BASE}?cursor={cursor}"), "alice")
            .await
            .assert_invalid("cursor");
    }
    let alices = app.get(&format!("{BASE}?limit=1"), "alice").await;
    let cursor = alices.ok()["nextCursor"].as_str().unwrap().to_owned();
    app.get(&format!("{BASE}?cursor={}", urlencode(&cursor)), "bob")
        .await
        .assert_invalid("cursor");
    let next = app
        .get(
            &format!("{BASE}?limit=1&cursor={}", urlencode(&cursor)),
            "alice",
        )
        .await;
    assert_eq!(next.ok()["sessions"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn an_empty_cursor_is_the_first_page() {
    let app = spawn_app().await;
    let id = app.create_session("u", "s").await;
    let page = app.get(&format!("{BASE}?cursor="), "u").await;
    assert_eq!(page.ok()["sessions"][0]["id"], id.as_str());
}
