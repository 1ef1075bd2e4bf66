//! Live sessions over real sockets: tabs in sync, resume, auth, limits, presence.

use std::collections::BTreeSet;
use std::time::Duration;

use crate::helpers::*;
use crate::live_client::*;
use futures::future::join_all;
use serde_json::{Value, json};

async fn session_with_tabs(app: &TestApp, uid: &str, tabs: usize) -> (String, Vec<LiveClient>) {
    let id = app.create_session(uid, &unique("live")).await;
    let mut clients = Vec::new();
    for _ in 0..tabs {
        let mut tab = app.tab(uid, &id).await;
        let snapshot = tab.event().await;
        assert_eq!(snapshot["type"], "snapshot");
        assert_eq!(snapshot["seq"], 0);
        clients.push(tab);
    }
    (id, clients)
}

fn message(prompt: &str, urls: &[&str]) -> Value {
    json!({ "prompt": prompt, "images": urls.iter().map(|u| json!({ "url": u })).collect::<Vec<_>>() })
}

#[tokio::test]
async fn a_message_from_one_tab_reaches_both_tabs_as_do_rest_appends_and_added_images() {
    let app = spawn_app().await;
    let (id, mut tabs) = session_with_tabs(&app, "u", 2).await;

    let reply = tabs[0].request("message.add", json!({ "messageId": "gen-1", "prompt": "a cat", "images": [{ "url": "https://img/1" }] })).await;
    assert_eq!(reply["ok"], true, "{reply}");
    assert_eq!(
        reply["result"],
        json!({ "messageId": "gen-1", "orders": [1], "seq": 1 })
    );
    for tab in &mut tabs {
        let event = tab.event().await;
        assert_eq!(event["type"], "message.added");
        assert_eq!(event["seq"], 1);
        assert_eq!(event["message"]["id"], "gen-1");
        assert_eq!(event["message"]["images"][0]["order"], 1);
    }

    app.append("u", &id, message("from REST", &["https://img/2"]))
        .await
        .ok();
    for tab in &mut tabs {
        let event = tab.event().await;
        assert_eq!(
            (&event["type"], &event["seq"]),
            (&json!("message.added"), &json!(2))
        );
        assert_eq!(event["message"]["prompt"], "from REST");
    }

    let added = tabs[1]
        .request(
            "image.add",
            json!({ "messageId": "gen-1", "image": { "id": "late", "url": "https://img/late" } }),
        )
        .await;
    assert_eq!(added["result"], json!({ "order": 3, "seq": 3 }));
    for tab in &mut tabs {
        let event = tab.event().await;
        assert_eq!(event["type"], "image.added");
        assert_eq!(event["seq"], 3);
        assert_eq!(event["messageId"], "gen-1");
        assert_eq!(event["image"]["id"], "late");
        assert_eq!(event["image"]["order"], 3);
    }
    let session = app.session("u", &id).await;
    assert_eq!(
        session["messages"][0]["images"].as_array().unwrap().len(),
        2,
        "the image joined its message"
    );
    assert_eq!(
        session["imageUrls"],
        json!(["https://img/1", "https://img/2", "https://img/late"])
    );
}

#[tokio::test]
async fn an_image_added_without_an_id_is_given_the_session_id_and_its_order() {
    let app = spawn_app().await;
    let (id, mut tabs) = session_with_tabs(&app, "u", 1).await;
    let reply = tabs[0]
        .request(
            "message.add",
            json!({ "messageId": "gen-1", "prompt": "p", "images": [] }),
        )
        .await;
    assert_eq!(reply["ok"], true, "{reply}");
    let added = tabs[0]
        .request(
            "image.add",
            json!({ "messageId": "gen-1", "image": { "url": "https://img/1" } }),
        )
        .await;
    assert_eq!(added["result"], json!({ "order": 1, "seq": 2 }), "{added}");
    assert_eq!(tabs[0].event().await["type"], "message.added");
    let event = tabs[0].event().await;
    assert_eq!(event["type"], "image.added");
    assert_eq!(event["image"]["id"], format!("{id}-i1"));
    let session = app.session("u", &id).await;
    assert_eq!(session["images"][0]["id"], format!("{id}-i1"));
}

#[tokio::test]
async fn three_tabs_writing_concurrently_with_rest_see_one_identical_gap_free_history() {
    let app = spawn_app().await;
    let (id, mut tabs) = session_with_tabs(&app, "u", 3).await;

    // Each tab sends 20 commands without waiting; REST appends run meanwhile.
    let mut sent: Vec<Vec<i64>> = Vec::new();
    for (t, tab) in tabs.iter_mut().enumerate() {
        let mut ids = Vec::new();
        for n in 0..20 {
            ids.push(
                tab.send(
                    "message.add",
                    message(&format!("tab {t} #{n}"), &[&format!("https://img/{t}/{n}")]),
                )
                .await,
            );
        }
        sent.push(ids);
    }
    let rest = join_all((0..15).map(|n| {
        app.append(
            "u",
            &id,
            message(
                &format!("rest #{n}"),
                &[
                    &format!("https://img/rest/{n}"),
                    &format!("https://img/rest/{n}b"),
                ],
            ),
        )
    }));
    for reply in rest.await {
        reply.ok();
    }
    let total = 3 * 20 + 15;

    let mut histories = Vec::new();
    for (tab, ids) in tabs.iter_mut().zip(&sent) {
        // Commands of one tab are applied in the order sent.
        let mut last_order = 0;
        for id in ids {
            let reply = tab.reply(*id).await;
            assert_eq!(reply["ok"], true, "{reply}");
            let order = reply["result"]["orders"][0].as_u64().unwrap();
            assert!(order > last_order, "a tab's messages keep their order");
            last_order = order;
        }
        let mut history = Vec::new();
        for _ in 0..total {
            history.push(tab.event().await);
        }
        histories.push(history);
    }
    let seqs: Vec<u64> = histories[0]
        .iter()
        .map(|e| e["seq"].as_u64().unwrap())
        .collect();
    assert_eq!(
        seqs,
        (1..=total as u64).collect::<Vec<_>>(),
        "seq 1..K without gap or duplicate"
    );
    assert_eq!(
        histories[0], histories[1],
        "tabs see the identical sequence"
    );
    assert_eq!(
        histories[0], histories[2],
        "tabs see the identical sequence"
    );

    let orders: BTreeSet<u64> = histories[0]
        .iter()
        .flat_map(|e| {
            e["message"]["images"]
                .as_array()
                .unwrap()
                .iter()
                .map(|i| i["order"].as_u64().unwrap())
        })
        .collect();
    assert_eq!(
        orders,
        (1..=(60 + 30)).collect(),
        "image orders are gap-free"
    );
    assert_eq!(app.session("u", &id).await["seq"], total as u64);
}

#[tokio::test]
async fn tabs_behind_the_in_memory_ring_catch_up_from_the_log_in_order() {
    // One slot: every group commit of two or more events leaves the other tabs behind the ring.
    let app = spawn_app_with(|config| config.live.ws_room_slots = 1).await;
    let (id, mut tabs) = session_with_tabs(&app, "u", 3).await;
    let burst = 60;
    let mut ids = Vec::new();
    for n in 0..burst {
        let url = format!("https://img/burst/{n}");
        ids.push(
            tabs[0]
                .send("message.add", message(&format!("#{n}"), &[&url]))
                .await,
        );
    }
    for id in ids {
        assert_eq!(tabs[0].reply(id).await["ok"], true);
    }
    for tab in &mut tabs {
        let mut prompts = Vec::new();
        for seq in 1..=burst {
            let event = tab.event().await;
            assert_eq!(event["type"], "message.added");
            assert_eq!(event["seq"], seq, "in order, nothing missed or repeated");
            prompts.push(event["message"]["prompt"].as_str().unwrap().to_owned());
        }
        let sent: Vec<String> = (0..burst).map(|n| format!("#{n}")).collect();
        assert_eq!(prompts, sent);
    }
    // Still attached: the next write arrives live on every tab.
    app.append("u", &id, message("after", &["https://img/after"]))
        .await
        .ok();
    for tab in &mut tabs {
        let event = tab.event().await;
        assert_eq!(event["seq"], burst + 1);
        assert_eq!(event["message"]["prompt"], "after");
    }
}

#[tokio::test]
async fn a_tab_resumes_with_exactly_the_events_it_missed() {
    let app = spawn_app().await;
    let (id, mut tabs) = session_with_tabs(&app, "u", 1).await;
    let mut tab = tabs.pop().unwrap();
    for n in 0..3 {
        tab.request("message.add", message("p", &[&format!("https://img/{n}")]))
            .await;
    }
    let mut k = 0;
    for _ in 0..3 {
        k = tab.event().await["seq"].as_u64().unwrap();
    }
    assert_eq!(k, 3);
    tab.close().await;

    for n in 0..10 {
        if n % 2 == 0 {
            app.append(
                "u",
                &id,
                message("missed", &[&format!("https://img/missed/{n}")]),
            )
            .await
            .ok();
        } else {
            app.patch(
                &format!("{BASE}/{id}"),
                "u",
                json!({ "style": format!("style {n}") }),
            )
            .await
            .ok();
        }
    }

    let mut back =
        LiveClient::connect(&live_url(&app.address, &id, Some(k)), Some(&app.token("u"))).await;
    for expected in k + 1..=k + 10 {
        let event = back.event().await;
        assert_eq!(event["seq"], expected, "{event}");
        let kind = if (expected - k) % 2 == 1 {
            "message.added"
        } else {
            "session.updated"
        };
        assert_eq!(event["type"], kind);
    }
    assert_eq!(
        back.event().await,
        json!({ "type": "resumed", "seq": k + 10 })
    );

    // Live events follow the resume without a gap.
    app.append("u", &id, message("after", &["https://img/after"]))
        .await
        .ok();
    assert_eq!(back.event().await["seq"], k + 11);
}

#[tokio::test]
async fn resuming_from_the_current_seq_or_beyond_the_log_is_exact_or_a_snapshot() {
    let app = spawn_app().await;
    let id = app.create_session("u", "s").await;
    app.append("u", &id, message("p", &["https://img/1"]))
        .await
        .ok();

    let mut current =
        LiveClient::connect(&live_url(&app.address, &id, Some(1)), Some(&app.token("u"))).await;
    assert_eq!(
        current.event().await,
        json!({ "type": "resumed", "seq": 1 })
    );

    let mut ahead = LiveClient::connect(
        &live_url(&app.address, &id, Some(99)),
        Some(&app.token("u")),
    )
    .await;
    let snapshot = ahead.event().await;
    assert_eq!(
        (&snapshot["type"], &snapshot["seq"]),
        (&json!("snapshot"), &json!(1))
    );
    assert_eq!(snapshot["session"], app.session("u", &id).await);

    let mut bad = LiveClient::connect(
        &format!(
            "{}{BASE}/{id}/live?sinceSeq=-1",
            app.address.replacen("http", "ws", 1)
        ),
        Some(&app.token("u")),
    )
    .await;
    assert_eq!(bad.closed().await, 4009);
}

#[tokio::test]
async fn header_and_first_frame_auth_both_attach() {
    let app = spawn_app().await;
    let id = app.create_session("u", "s").await;

    let mut by_header = app.tab("u", &id).await;
    assert_eq!(by_header.event().await["type"], "snapshot");

    let mut by_frame = LiveClient::connect(&live_url(&app.address, &id, None), None).await;
    let reply = by_frame
        .request("auth", json!({ "token": app.token("u") }))
        .await;
    assert_eq!(reply["ok"], true, "{reply}");
    assert_eq!(reply["result"]["uid"], "u");
    assert_eq!(by_frame.event().await["type"], "snapshot");
}

#[tokio::test]
async fn sockets_without_a_valid_token_or_of_another_user_are_closed() {
    let app = spawn_app_with(|c| c.live.ws_auth_timeout_ms = 300).await;
    let id = app.create_session("alice", "s").await;
    let url = live_url(&app.address, &id, None);

    let mut silent = LiveClient::connect(&url, None).await;
    assert_eq!(silent.closed().await, 4001, "no auth within the window");

    let wrong_secret = livechat_sessions::auth::TokenIssuer::hs256(b"other")
        .issue("alice", 60)
        .unwrap();
    let mut bad_header = LiveClient::connect(&url, Some(&wrong_secret)).await;
    assert_eq!(bad_header.closed().await, 4001);

    let mut bad_frame = LiveClient::connect(&url, None).await;
    bad_frame
        .send("auth", json!({ "token": "not.a.token" }))
        .await;
    assert_eq!(bad_frame.closed().await, 4001);

    let mut not_auth_first = LiveClient::connect(&url, None).await;
    not_auth_first.send("ping", json!({})).await;
    assert_eq!(not_auth_first.closed().await, 4001);

    let mut other_user = LiveClient::connect(&url, Some(&app.token("mallory"))).await;
    assert_eq!(other_user.closed().await, 4004);
    let mut unknown = LiveClient::connect(
        &live_url(&app.address, "AAAAAAAAAAAAAAAAAAAA", None),
        Some(&app.token("alice")),
    )
    .await;
    assert_eq!(unknown.closed().await, 4004);
    assert!(
        other_user.log.is_empty() && unknown.log.is_empty(),
        "nothing about the session is sent"
    );
}

#[tokio::test]
async fn an_expired_token_closes_the_socket_unless_refreshed() {
    let app = spawn_app().await;
    let id = app.create_session("u", "s").await;
    let issuer = livechat_sessions::auth::TokenIssuer::hs256(app.secret.as_bytes());
    let url = live_url(&app.address, &id, None);

    let mut expiring = LiveClient::connect(&url, Some(&issuer.issue("u", 1).unwrap())).await;
    assert_eq!(expiring.event().await["type"], "snapshot");
    assert_eq!(expiring.closed().await, 4001);

    let mut refreshed = LiveClient::connect(&url, Some(&issuer.issue("u", 2).unwrap())).await;
    assert_eq!(refreshed.event().await["type"], "snapshot");
    let reply = refreshed
        .request("auth", json!({ "token": issuer.issue("u", 3600).unwrap() }))
        .await;
    assert_eq!(reply["ok"], true);
    let other = refreshed
        .request(
            "auth",
            json!({ "token": issuer.issue("someone-else", 3600).unwrap() }),
        )
        .await;
    assert_eq!(
        other["error"]["code"], "unauthenticated",
        "a token for another user is refused"
    );
    tokio::time::sleep(Duration::from_millis(3_200)).await;
    let pong = refreshed.request("ping", json!({})).await;
    assert_eq!(pong["ok"], true, "still open past the first token's expiry");
}

#[tokio::test]
async fn a_malformed_frame_gets_an_error_reply_and_changes_nothing() {
    let app = spawn_app().await;
    let (id, mut tabs) = session_with_tabs(&app, "u", 1).await;
    let tab = &mut tabs[0];
    let before = app.session("u", &id).await;

    tab.send_text("this is not json").await;
    let reply = loop {
        let frame = tab.next().await;
        if frame["type"] == "reply" {
            break frame;
        }
    };
    assert_eq!(
        (&reply["id"], &reply["ok"], &reply["error"]["code"]),
        (&Value::Null, &json!(false), &json!("invalid_frame"))
    );
    tab.send_text(json!({ "id": 7, "type": "message.explode" }).to_string())
        .await;
    assert_eq!(tab.reply(7).await["error"]["code"], "unknown_command");
    let invalid = tab
        .request(
            "message.add",
            json!({ "prompt": "p", "images": [{ "url": "nope" }] }),
        )
        .await;
    assert_eq!(invalid["error"]["code"], "invalid_argument");
    assert_eq!(invalid["error"]["field"], "images[0].url");
    let unknown_message = tab
        .request(
            "image.add",
            json!({ "messageId": "nope", "image": { "url": "https://img/x" } }),
        )
        .await;
    assert_eq!(unknown_message["error"]["field"], "messageId");
    assert_eq!(app.session("u", &id).await, before, "nothing changed");

    for _ in 0..5 {
        tab.send_text("[1, 2, 3]").await;
    }
    assert_eq!(
        tab.closed().await,
        4009,
        "repeated malformed frames end the socket"
    );
}

#[tokio::test]
async fn an_oversize_frame_closes_with_1009() {
    let app = spawn_app().await;
    let (id, mut tabs) = session_with_tabs(&app, "u", 1).await;
    let huge =
        json!({ "id": 1, "type": "message.add", "prompt": "x".repeat(70 * 1024), "images": [] });
    tabs[0].send_text(huge.to_string()).await;
    assert_eq!(tabs[0].closed().await, 1009);
    assert_eq!(app.session("u", &id).await["seq"], 0);
}

#[tokio::test]
async fn a_command_flood_gets_rate_limited_replies_one_per_command() {
    let app = spawn_app().await;
    let (_, mut tabs) = session_with_tabs(&app, "u", 1).await;
    let tab = &mut tabs[0];
    let ids: Vec<i64> = {
        let mut ids = Vec::new();
        for _ in 0..150 {
            ids.push(tab.send("ping", json!({})).await);
        }
        ids
    };
    let mut limited = 0;
    for id in ids {
        let reply = tab.reply(id).await;
        if reply["ok"] == false {
            assert_eq!(reply["error"]["code"], "rate_limited");
            assert_eq!(reply["error"]["retryable"], true);
            limited += 1;
        }
    }
    assert!(limited >= 40, "the burst is 100: {limited} of 150 limited");
    assert_eq!(
        tab.log.iter().filter(|f| f["type"] == "reply").count(),
        150,
        "exactly one reply per command"
    );
}

#[tokio::test]
async fn a_tab_that_never_reads_is_closed_with_4008_while_others_keep_receiving() {
    let app = spawn_app_with(|c| c.live.ws_queue = 8).await;
    let id = app.create_session("u", "s").await;

    let mut stalled = LiveClient::stalled(&app.address, &id, &app.token("u")).await;

    let mut reader = app.tab("u", &id).await;
    assert_eq!(reader.event().await["type"], "snapshot");
    // Large events (64 images with long URLs, ~125 KB each): more than the kernel buffers
    // between the two ends can hold.
    let writes = 80u64;
    for n in 0..writes {
        let images: Vec<Value> = (0..64)
            .map(|i| image(&format!("https://img/{n}/{i}/{}", "x".repeat(1_900))))
            .collect();
        app.append("u", &id, json!({ "prompt": "p", "images": images }))
            .await
            .ok();
        assert_eq!(
            reader.event().await["seq"],
            n + 1,
            "the reading tab keeps receiving"
        );
    }

    assert_eq!(stalled.closed().await, 4008);
    let seqs: Vec<u64> = stalled
        .log
        .iter()
        .filter_map(|f| f["seq"].as_u64())
        .collect();
    assert!(
        seqs.len() < writes as usize,
        "it was closed before receiving everything"
    );
    assert_eq!(
        seqs,
        (0..seqs.len() as u64).collect::<Vec<_>>(),
        "what it did receive has no gap"
    );
}

#[tokio::test]
async fn presence_counts_the_sockets_attached_as_tabs_come_and_go() {
    let app = spawn_app().await;
    let id = app.create_session("u", "s").await;
    let mut first = app.tab("u", &id).await;
    assert_eq!(first.presence().await, 1);
    let mut second = app.tab("u", &id).await;
    second.presence_reaches(2).await;
    first.presence_reaches(2).await;
    let third = app.tab("u", &id).await;
    first.presence_reaches(3).await;
    third.close().await;
    first.presence_reaches(2).await;
    second.presence_reaches(2).await;
}

#[tokio::test]
async fn updates_completion_and_deletion_reach_every_tab() {
    let app = spawn_app().await;
    let (id, mut tabs) = session_with_tabs(&app, "u", 2).await;
    let updated = tabs[0]
        .request(
            "session.update",
            json!({ "changes": { "style": "noir", "frameSize": null } }),
        )
        .await;
    assert_eq!(updated["result"], json!({ "seq": 1 }));
    let completed = tabs[0]
        .request(
            "session.complete",
            json!({ "completedAt": "2025-01-15T10:30:00Z" }),
        )
        .await;
    assert_eq!(completed["result"], json!({ "seq": 2 }));
    for tab in &mut tabs {
        assert_eq!(
            tab.event().await,
            json!({ "type": "session.updated", "seq": 1, "changes": { "style": "noir" } })
        );
        assert_eq!(
            tab.event().await,
            json!({ "type": "session.updated", "seq": 2, "changes": { "status": "completed", "completedAt": "2025-01-15T10:30:00.000Z" } })
        );
    }
    app.call(
        reqwest::Method::DELETE,
        &format!("{BASE}/{id}"),
        Some("u"),
        None,
    )
    .await
    .ok();
    for tab in &mut tabs {
        assert_eq!(
            tab.event().await,
            json!({ "type": "session.deleted", "seq": 3 })
        );
        assert_eq!(tab.closed().await, 4004);
    }
}

#[test]
fn every_protocol_example_matches_the_schema() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/protocol/examples.json");
    let examples: Vec<Value> =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    assert!(examples.len() >= 20);
    for example in &examples {
        let which = match example["direction"].as_str() {
            Some("server") => ServerOrClient::Server,
            Some("client") => ServerOrClient::Client,
            other => panic!("unknown direction {other:?}"),
        };
        let errors: Vec<String> = schema(which)
            .iter_errors(&example["frame"])
            .map(|e| e.to_string())
            .collect();
        assert!(errors.is_empty(), "{}: {errors:?}", example["name"]);
    }
}
