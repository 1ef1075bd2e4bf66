//! Event documents written before the log was versioned (each held its push frame as
//! `frame`) still replay, beside those written now.

use firestore::{FirestoreDb, FirestoreDbOptions};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::helpers::*;
use crate::live_client::replay;
use crate::{emulator_host, firestore_app, new_project};

/// An event document as the earlier release wrote it.
#[derive(Serialize, Deserialize)]
struct FrameEventDoc {
    seq: i64,
    frame: String,
}

#[tokio::test]
async fn event_documents_holding_push_frames_still_replay() {
    let project = new_project();
    let app = firestore_app(&project).await;
    let id = app.create_session("u", "s").await;
    app.append(
        "u",
        &id,
        json!({ "prompt": "Ünïcode \"q\"", "images": [
            { "id": "a", "url": "https://img/a", "firebaseUrl": "https://fb/a" }] }),
    )
    .await
    .ok();
    app.patch(
        &format!("{BASE}/{id}"),
        "u",
        json!({ "style": "noir", "frameSize": null }),
    )
    .await
    .ok();
    let now = replay(&app.address, &id, &app.token("u"), 0).await;
    assert_eq!(now.len(), 3, "{now:?}");

    // Rewrite the log as the earlier release had it: each event's push frame, as text.
    emulator_host();
    let db = FirestoreDb::with_options(FirestoreDbOptions::new(project.clone()))
        .await
        .unwrap();
    let parent = db.parent_path("liveChatSessions", &id).unwrap();
    for frame in &now[..2] {
        let seq = frame["seq"].as_i64().unwrap();
        db.fluent()
            .update()
            .in_col("events")
            .document_id(format!("{seq:012}"))
            .parent(&parent)
            .object(&FrameEventDoc {
                seq,
                frame: frame.to_string(),
            })
            .execute::<()>()
            .await
            .unwrap();
    }
    let stored: Vec<Value> = db
        .fluent()
        .select()
        .from("events")
        .parent(&parent)
        .obj()
        .query()
        .await
        .unwrap();
    let old = stored
        .iter()
        .filter(|doc| doc.get("event").is_none())
        .count();
    assert_eq!(old, 2, "two documents in the old form: {stored:?}");
    assert_eq!(
        replay(&app.address, &id, &app.token("u"), 0).await,
        now,
        "the same replay from the old documents"
    );
    app.append("u", &id, json!({ "prompt": "after", "images": [] }))
        .await
        .ok();
    let after = replay(&app.address, &id, &app.token("u"), 0).await;
    assert_eq!(after[..2], now[..2]);
    assert_eq!(after[2]["type"], "message.added");
    assert_eq!(after[2]["seq"], 3);
}
