//! Two server instances writing to one session in one Firestore database.

use std::collections::BTreeSet;

use crate::helpers::*;
use crate::{firestore_app, new_project};
use futures::future::join_all;
use serde_json::json;

#[tokio::test]
async fn two_instances_appending_concurrently_keep_orders_gap_free_and_lose_nothing() {
    let project = new_project();
    let a = firestore_app(&project).await;
    let b = firestore_app(&project).await;
    let id = a.create_session("u", "shared").await;

    let appends = (0..50).map(|n| {
        let (app, id) = (if n % 2 == 0 { &a } else { &b }, &id);
        async move {
            let body = json!({ "prompt": format!("#{n}"), "images": [image(&format!("https://img/{n}"))] });
            (n, app.append("u", id, body).await)
        }
    });
    let replies = join_all(appends).await;

    let mut orders = BTreeSet::new();
    for (n, reply) in &replies {
        assert_eq!(
            reply.status, 200,
            "append {n} failed instead of retrying: {reply:?}"
        );
        assert!(
            orders.insert(reply.ok()["orders"][0].as_u64().unwrap()),
            "an order given twice"
        );
    }
    assert_eq!(orders, (1..=50).collect());

    for app in [&a, &b] {
        let session = app.session("u", &id).await;
        assert_eq!(session["seq"], 50);
        assert_eq!(session["totalImages"], 50);
        let urls: BTreeSet<String> = session["imageUrls"]
            .as_array()
            .unwrap()
            .iter()
            .map(|u| u.as_str().unwrap().to_owned())
            .collect();
        assert_eq!(urls.len(), 50, "no write lost");
    }
}

#[tokio::test]
async fn find_or_create_on_two_instances_yields_one_session() {
    let project = new_project();
    let a = firestore_app(&project).await;
    let b = firestore_app(&project).await;
    let body = json!({ "sessionId": "race", "model": "m" });
    let path = format!("{BASE}/find-or-create");
    let replies = join_all(
        (0..10)
            .map(|n| if n % 2 == 0 { &a } else { &b })
            .map(|app| app.post(&path, "u", body.clone())),
    )
    .await;
    let ids: BTreeSet<String> = replies
        .iter()
        .map(|r| r.ok()["sessionDocId"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(ids.len(), 1, "{ids:?}");
}
