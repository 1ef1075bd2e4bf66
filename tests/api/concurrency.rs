//! Orders and `seq` stay gap-free, and sessions unique, under concurrent requests.

use std::collections::BTreeSet;

use crate::helpers::*;
use futures::future::join_all;
use serde_json::json;

#[tokio::test]
async fn fifty_concurrent_appends_get_orders_one_to_fifty_and_seq_fifty() {
    let app = spawn_app().await;
    let id = app.create_session("u", "s-1").await;

    let replies = join_all((1..=50).map(|n| {
        let (app, id) = (&app, &id);
        async move {
            app.append("u", id, json!({ "prompt": format!("p{n}"), "images": [image(&format!("https://img/{n}.png"))] }))
                .await
        }
    }))
    .await;

    let mut orders = BTreeSet::new();
    let mut seqs = BTreeSet::new();
    for reply in &replies {
        let data = reply.ok();
        let order = data["orders"][0].as_u64().unwrap();
        assert!(orders.insert(order), "order {order} given twice");
        assert!(
            seqs.insert(data["seq"].as_u64().unwrap()),
            "seq given twice"
        );
    }
    assert_eq!(orders, (1..=50).collect(), "orders are exactly 1..50");
    assert_eq!(seqs, (1..=50).collect(), "each append is one change");

    let session = app.session("u", &id).await;
    assert_eq!(session["seq"], 50);
    assert_eq!(session["totalImages"], 50);
    let stored = image_orders(&session);
    assert_eq!(stored, (1..=50).collect::<Vec<_>>());
    // Each image kept the order its append was answered with.
    for reply in &replies {
        let order = reply.ok()["orders"][0].as_u64().unwrap();
        let message_id = &reply.ok()["messageId"];
        let stored = &session["images"][(order - 1) as usize];
        assert_eq!(&stored["messageId"], message_id);
    }
}

#[tokio::test]
async fn twenty_concurrent_find_or_create_calls_yield_one_session() {
    let app = spawn_app().await;
    let body = json!({ "sessionId": "session-race", "model": "m" });
    let path = format!("{BASE}/find-or-create");
    let replies = join_all((0..20).map(|_| app.post(&path, "u", body.clone()))).await;

    let ids: BTreeSet<String> = replies
        .iter()
        .map(|r| r.ok()["sessionDocId"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(ids.len(), 1, "one session: {ids:?}");
    let created = replies.iter().filter(|r| r.ok()["created"] == true).count();
    assert_eq!(created, 1, "exactly one call created it");

    let listed = app.get(BASE, "u").await;
    assert_eq!(listed.ok()["sessions"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn two_users_with_the_same_session_id_get_two_sessions() {
    let app = spawn_app().await;
    let body = json!({ "sessionId": "session-1", "model": "m" });
    let alice = app
        .post(&format!("{BASE}/find-or-create"), "alice", body.clone())
        .await;
    let bob = app
        .post(&format!("{BASE}/find-or-create"), "bob", body.clone())
        .await;
    let (alice, bob) = (
        alice.ok()["sessionDocId"].clone(),
        bob.ok()["sessionDocId"].clone(),
    );
    assert_ne!(alice, bob);
    assert_eq!(
        app.session("alice", alice.as_str().unwrap()).await["uid"],
        "alice"
    );
    assert_eq!(
        app.session("bob", bob.as_str().unwrap()).await["uid"],
        "bob"
    );

    // Create (not find) is unique per user too: a second create of the pair is a conflict
    // naming the existing session.
    let again = app.post(BASE, "alice", body).await;
    again.assert_error(409, "conflict");
    assert_eq!(again.body["data"]["sessionDocId"], alice);
}

#[tokio::test]
async fn concurrent_appends_to_many_sessions_keep_each_gap_free() {
    let app = spawn_app().await;
    let mut ids = Vec::new();
    for n in 0..5 {
        ids.push(app.create_session("u", &format!("s-{n}")).await);
    }
    join_all(ids.iter().flat_map(|id| {
        let app = &app;
        (0..10).map(move |n| async move {
            app.append(
                "u",
                id,
                json!({ "prompt": "", "images": [image(&format!("https://img/{id}/{n}"))] }),
            )
            .await
            .ok();
        })
    }))
    .await;
    for id in &ids {
        let session = app.session("u", id).await;
        assert_eq!(session["seq"], 10);
        let orders = image_orders(&session);
        assert_eq!(orders, (1..=10).collect::<Vec<_>>());
    }
}
