//! The user's list, live: a `sessions` page on every attach, then the summary of every change
//! of the user's sessions, whoever made it, and their removal.

use std::collections::BTreeMap;
use std::time::Duration;

use futures::future::join_all;
use serde_json::{Value, json};

use crate::helpers::*;
use crate::live_client::*;

/// The next push of a list socket, of the given types.
async fn next_of(tab: &mut LiveClient, kinds: &[&str]) -> Value {
    loop {
        let frame = tab.event().await;
        if kinds.contains(&frame["type"].as_str().unwrap_or("")) {
            return frame;
        }
    }
}

/// The next `session.changed` of session `id` (summaries of other sessions are skipped).
async fn changed(tab: &mut LiveClient, id: &str) -> Value {
    loop {
        let frame = next_of(tab, &["session.changed"]).await;
        if frame["id"] == id {
            return frame;
        }
    }
}

fn summary_fields_only(summary: &Value) {
    for absent in ["messages", "images", "imageUrls", "imageOrderMap"] {
        assert!(
            summary.get(absent).is_none(),
            "{absent} is not in a summary: {summary}"
        );
    }
    for present in [
        "id",
        "sessionId",
        "status",
        "updatedAt",
        "totalImages",
        "seq",
        "lastImages",
    ] {
        assert!(
            summary.get(present).is_some(),
            "{present} is in a summary: {summary}"
        );
    }
}

#[tokio::test]
async fn a_list_socket_starts_with_the_first_page_of_summaries_then_follows_every_change_of_every_route_and_command()
 {
    let app = spawn_app().await;
    let older = app
        .session_with_image("u", &unique("older"), "https://img/older")
        .await;
    let newer = app.create_session("u", &unique("newer")).await;
    let mut list = app.list_tab("u", "").await;
    let first = list.event().await;
    assert_eq!(first["type"], "sessions");
    let ids: Vec<&str> = first["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_str().unwrap())
        .collect();
    assert_eq!(
        ids,
        vec![newer.as_str(), older.as_str()],
        "updatedAt descending"
    );
    summary_fields_only(&first["sessions"][1]);
    assert_eq!(
        first["sessions"][1]["lastImages"],
        json!([{ "url": "https://img/older", "order": 1, "messageId": first["sessions"][1]["lastImages"][0]["messageId"] }])
    );
    assert!(first.get("nextCursor").is_none(), "no more pages");

    // Create, and find-or-create that creates.
    let created = app.create_session("u", "created-here").await;
    let frame = changed(&mut list, &created).await;
    assert_eq!(
        (
            frame["seq"].as_u64(),
            frame["session"]["sessionId"].as_str()
        ),
        (Some(0), Some("created-here"))
    );
    summary_fields_only(&frame["session"]);
    let found = app
        .post(
            &format!("{BASE}/find-or-create"),
            "u",
            json!({ "sessionId": "found", "model": "m" }),
        )
        .await;
    let found = found.ok()["sessionDocId"].as_str().unwrap().to_owned();
    assert_eq!(changed(&mut list, &found).await["seq"], 0);

    // An append over REST.
    app.append(
        "u",
        &created,
        json!({ "messageId": "gen-1", "prompt": "a cat", "images": [image("https://img/1")] }),
    )
    .await
    .ok();
    let frame = changed(&mut list, &created).await;
    assert_eq!(frame["seq"], 1);
    assert_eq!(frame["session"]["totalImages"], 1);
    assert_eq!(
        frame["session"]["lastImages"],
        json!([{ "url": "https://img/1", "order": 1, "messageId": "gen-1" }])
    );

    // Every command of a session's socket.
    let mut tab = app.tab("u", &created).await;
    assert_eq!(tab.event().await["type"], "snapshot");
    let commands = [
        (
            "message.add",
            json!({ "prompt": "more", "images": [image("https://img/2")] }),
        ),
        (
            "image.add",
            json!({ "messageId": "gen-1", "image": image("https://img/3") }),
        ),
        (
            "session.update",
            json!({ "changes": { "style": "watercolor" } }),
        ),
        ("session.complete", json!({})),
    ];
    for (seq, (kind, fields)) in commands.into_iter().enumerate() {
        let reply = tab.request(kind, fields).await;
        assert_eq!(reply["ok"], true, "{reply}");
        let frame = changed(&mut list, &created).await;
        assert_eq!(frame["seq"], seq as u64 + 2, "{kind}");
        assert_eq!(frame["session"]["seq"], seq as u64 + 2);
    }
    assert_eq!(app.session("u", &created).await["status"], "completed");

    // PATCH and complete over REST.
    app.patch(
        &format!("{BASE}/{created}"),
        "u",
        json!({ "status": "active" }),
    )
    .await
    .ok();
    let frame = changed(&mut list, &created).await;
    assert_eq!(
        (frame["seq"].as_u64(), frame["session"]["status"].as_str()),
        (Some(6), Some("active"))
    );
    app.patch(&format!("{BASE}/{created}/complete"), "u", json!({}))
        .await
        .ok();
    let frame = changed(&mut list, &created).await;
    assert_eq!(
        (frame["seq"].as_u64(), frame["session"]["status"].as_str()),
        (Some(7), Some("completed"))
    );
    assert_eq!(frame["session"]["lastImages"].as_array().unwrap().len(), 3);

    // Deletion.
    app.call(
        reqwest::Method::DELETE,
        &format!("{BASE}/{created}"),
        Some("u"),
        None,
    )
    .await
    .ok();
    let frame = next_of(&mut list, &["session.removed"]).await;
    assert_eq!(
        frame,
        json!({ "type": "session.removed", "id": created, "seq": 8 })
    );
}

#[tokio::test]
async fn another_users_changes_never_reach_a_list_socket() {
    let app = spawn_app().await;
    let mut list = app.list_tab("alice", "").await;
    assert_eq!(list.event().await["sessions"], json!([]));
    let bobs = app.create_session("bob", "bobs").await;
    app.append(
        "bob",
        &bobs,
        json!({ "prompt": "p", "images": [image("https://img/bob")] }),
    )
    .await
    .ok();
    app.call(
        reqwest::Method::DELETE,
        &format!("{BASE}/{bobs}"),
        Some("bob"),
        None,
    )
    .await
    .ok();
    // Alice's own change arrives, and nothing of Bob's came before it.
    let mine = app.create_session("alice", "mine").await;
    let frame = list.event().await;
    assert_eq!(
        (frame["type"].as_str(), frame["id"].as_str()),
        (Some("session.changed"), Some(mine.as_str()))
    );
    let bobs_session = app.get(&format!("{BASE}/{bobs}"), "alice").await;
    bobs_session.assert_error(404, "not_found");
}

#[tokio::test]
async fn a_list_socket_with_a_status_filter_lists_only_that_status_and_says_when_a_session_leaves_it()
 {
    let app = spawn_app().await;
    let done = app.create_session("u", "done").await;
    app.patch(&format!("{BASE}/{done}/complete"), "u", json!({}))
        .await
        .ok();
    let active = app.create_session("u", "active").await;
    let mut list = app.list_tab("u", "status=active&limit=5").await;
    let first = list.event().await;
    let ids: Vec<&str> = first["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, vec![active.as_str()]);

    app.patch(&format!("{BASE}/{active}/complete"), "u", json!({}))
        .await
        .ok();
    let frame = list.event().await;
    assert_eq!(
        frame,
        json!({ "type": "session.removed", "id": active, "seq": 1 })
    );
    // An append reactivates the completed one: it joins the list.
    app.append("u", &done, json!({ "prompt": "again", "images": [] }))
        .await
        .ok();
    let frame = list.event().await;
    assert_eq!(
        (frame["type"].as_str(), frame["id"].as_str()),
        (Some("session.changed"), Some(done.as_str()))
    );
    assert_eq!(frame["session"]["status"], "active");
}

#[tokio::test]
async fn a_list_socket_takes_auth_and_ping_but_no_write_and_bad_queries_are_refused_before_the_upgrade()
 {
    let app = spawn_app().await;
    let mut list = app.list_tab("u", "").await;
    assert_eq!(list.event().await["type"], "sessions");
    let reply = list.request("ping", json!({})).await;
    assert_eq!(reply["ok"], true);
    let reply = list
        .request("message.add", json!({ "prompt": "p", "images": [] }))
        .await;
    assert_eq!(reply["error"]["code"], "unknown_command", "{reply}");
    let reply = list.request("signal", json!({ "data": 1 })).await;
    assert_eq!(reply["error"]["code"], "unknown_command", "{reply}");

    let token = format!("Bearer {}", app.token("u"));
    for (query, field) in [
        ("status=paused", "status"),
        ("limit=0", "limit"),
        ("limit=101", "limit"),
    ] {
        let refused =
            LiveClient::connect_with(&list_url(&app.address, query), &[("authorization", &token)])
                .await;
        let Err((status, body)) = refused else {
            panic!("{query} is refused")
        };
        assert_eq!(status, 400);
        assert_eq!(body["data"]["field"], field);
    }
}

#[tokio::test]
async fn list_sockets_count_in_the_users_socket_quota() {
    let app = spawn_app_with(|config| config.live.ws_max_sockets_per_user = 1).await;
    let _list = app.list_tab("u", "").await;
    let token = format!("Bearer {}", app.token("u"));
    let refused =
        LiveClient::connect_with(&list_url(&app.address, ""), &[("authorization", &token)]).await;
    assert_eq!(refused.err().map(|(status, _)| status), Some(429));
}

#[tokio::test]
async fn view_summary_lists_summaries_and_an_unknown_view_is_refused() {
    let app = spawn_app().await;
    let id = app.session_with_image("u", "s", "https://img/x").await;
    let page = app.get(&format!("{BASE}?view=summary"), "u").await;
    let sessions = page.ok()["sessions"].as_array().unwrap().clone();
    assert_eq!(sessions.len(), 1);
    summary_fields_only(&sessions[0]);
    assert_eq!(sessions[0]["id"], id);
    assert_eq!(sessions[0]["lastImages"][0]["url"], "https://img/x");
    let full = app.get(&format!("{BASE}?view=full"), "u").await;
    assert!(full.ok()["sessions"][0].get("messages").is_some());
    app.get(&format!("{BASE}?view=tiny"), "u")
        .await
        .assert_invalid("view");
}

#[tokio::test]
async fn a_summary_shows_the_last_six_images_by_order_even_when_an_earlier_message_grows() {
    let app = spawn_app().await;
    let id = app.create_session("u", "many").await;
    let urls: Vec<String> = (1..=8).map(|n| format!("https://img/{n}")).collect();
    let images: Vec<Value> = urls.iter().map(|u| image(u)).collect();
    app.append(
        "u",
        &id,
        json!({ "messageId": "first", "prompt": "p", "images": images }),
    )
    .await
    .ok();
    app.append(
        "u",
        &id,
        json!({ "prompt": "q", "images": [image("https://img/9")] }),
    )
    .await
    .ok();
    let mut tab = app.tab("u", &id).await;
    tab.event().await;
    let mut list = app.list_tab("u", "").await;
    assert_eq!(list.event().await["type"], "sessions");
    let reply = tab
        .request(
            "image.add",
            json!({ "messageId": "first", "image": image("https://img/10") }),
        )
        .await;
    assert_eq!(reply["result"]["order"], 10);
    let page = app.get(&format!("{BASE}?view=summary"), "u").await;
    let last = page.ok()["sessions"][0]["lastImages"].clone();
    let orders: Vec<u64> = last
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["order"].as_u64().unwrap())
        .collect();
    assert_eq!(orders, vec![5, 6, 7, 8, 9, 10]);
    assert_eq!(last[5]["messageId"], "first");
    // The list socket's summary (kept as images are added) is the same as the listed one.
    let pushed = changed(&mut list, &id).await;
    assert_eq!(pushed["session"]["lastImages"], last);
}

/// What a list socket shows: the sessions it holds, by id, as their summaries. Applies frames
/// until `until` says to stop; checks that no summary of a session goes back in `seq`.
struct ShownList {
    sessions: BTreeMap<String, Value>,
}

impl ShownList {
    fn apply(&mut self, frame: &Value, seen: &mut BTreeMap<String, u64>) {
        match frame["type"].as_str() {
            Some("sessions") => {
                self.sessions.clear();
                for summary in frame["sessions"].as_array().unwrap() {
                    self.sessions
                        .insert(summary["id"].as_str().unwrap().to_owned(), summary.clone());
                }
            }
            Some("session.changed") => {
                let (id, seq) = (
                    frame["id"].as_str().unwrap(),
                    frame["seq"].as_u64().unwrap(),
                );
                if let Some(before) = seen.get(id) {
                    assert!(
                        seq > *before,
                        "session {id} went back from seq {before} to {seq}"
                    );
                }
                seen.insert(id.to_owned(), seq);
                self.sessions
                    .insert(id.to_owned(), frame["session"].clone());
            }
            Some("session.removed") => {
                self.sessions.remove(frame["id"].as_str().unwrap());
            }
            _ => {}
        }
    }
}

/// Appends `appends` one-image messages to each session over REST, the sessions concurrently.
async fn append_to_each(address: String, token: String, ids: Vec<String>, appends: usize) {
    let client = reqwest::Client::new();
    join_all(ids.iter().enumerate().map(|(n, id)| {
        let (client, address, token) = (&client, &address, &token);
        async move {
            for k in 0..appends {
                let body =
                    json!({ "prompt": "p", "images": [{ "url": format!("https://img/{n}/{k}") }] });
                let sent = client
                    .post(format!("{address}{BASE}/{id}/messages"))
                    .bearer_auth(token)
                    .json(&body)
                    .send()
                    .await
                    .unwrap();
                assert_eq!(sent.status(), 200);
            }
        }
    }))
    .await;
}

/// The user's first 20 sessions as `GET /?view=summary` lists them, by id.
async fn stored_list(app: &TestApp) -> BTreeMap<String, Value> {
    app.get(&format!("{BASE}?view=summary&limit=20"), "u")
        .await
        .ok()["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (s["id"].as_str().unwrap().to_owned(), s.clone()))
        .collect()
}

#[tokio::test]
async fn a_list_socket_dropped_and_reattached_ten_times_while_twenty_sessions_are_written_ends_equal_to_the_list()
 {
    let app = spawn_app().await;
    let mut ids = Vec::new();
    for n in 0..20 {
        ids.push(app.create_session("u", &format!("busy-{n}")).await);
    }
    let writers = tokio::spawn(append_to_each(
        app.address.clone(),
        app.token("u"),
        ids.clone(),
        15,
    ));
    let mut shown = ShownList {
        sessions: BTreeMap::new(),
    };
    let mut tab = app.list_tab("u", "limit=20").await;
    for _ in 0..10 {
        let mut seen = BTreeMap::new();
        // A few frames, or what comes within a moment once the writers are done.
        for _ in 0..8 {
            let Ok(frame) = tokio::time::timeout(Duration::from_millis(300), tab.event()).await
            else {
                break;
            };
            shown.apply(&frame, &mut seen);
        }
        drop(tab);
        tab = app.list_tab("u", "limit=20").await;
    }
    writers.await.unwrap();
    // Once the writes stop, the socket settles on the list as it stands.
    let expected = stored_list(&app).await;
    let mut seen = BTreeMap::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while shown.sessions != expected {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the list never settled on the stored one"
        );
        let frame = tab.event().await;
        shown.apply(&frame, &mut seen);
    }
    assert_eq!(expected.len(), 20);
    assert!(expected.values().all(|s| s["seq"] == 15));
}

#[tokio::test]
async fn every_tab_of_a_user_gets_every_change_in_order_though_each_is_sent_the_intervals_summaries_at_its_own_moment()
 {
    let app = spawn_app().await;
    let mut ids = Vec::new();
    for n in 0..10 {
        ids.push(app.create_session("u", &format!("tab-{n}")).await);
    }
    // Five tabs: the feed holds each one's coalesced summaries back for a different delay.
    let mut tabs = Vec::new();
    for _ in 0..5 {
        tabs.push(app.list_tab("u", "limit=20").await);
    }
    append_to_each(app.address.clone(), app.token("u"), ids.clone(), 10).await;
    app.call(
        reqwest::Method::DELETE,
        &format!("{BASE}/{}", ids[0]),
        Some("u"),
        None,
    )
    .await
    .ok();
    let expected = stored_list(&app).await;
    assert_eq!(expected.len(), 9);
    for (n, mut tab) in tabs.into_iter().enumerate() {
        let mut shown = ShownList {
            sessions: BTreeMap::new(),
        };
        let mut seen = BTreeMap::new();
        while shown.sessions != expected {
            let Ok(frame) = tokio::time::timeout(Duration::from_secs(10), tab.event()).await else {
                panic!("tab {n} never settled on the stored list");
            };
            shown.apply(&frame, &mut seen);
        }
    }
}
