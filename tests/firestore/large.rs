//! A session beyond what one Firestore document could hold.

use crate::helpers::*;
use crate::{firestore_app, new_project};
use futures::stream::{self, StreamExt as _};
use serde_json::{Value, json};

#[tokio::test]
async fn a_session_of_3000_images_with_long_prompts_is_written_restored_and_listed() {
    let app = firestore_app(&new_project()).await;
    let id = app.create_session("u", "large").await;
    let prompt = "p".repeat(2_000);

    // 100 messages of 30 images: ~6 MB of prompts alone, far over the 1 MiB document limit.
    let replies: Vec<Reply> = stream::iter(0..100)
        .map(|m| {
            let (app, id, prompt) = (&app, &id, &prompt);
            async move {
                let images: Vec<Value> = (0..30)
                    .map(|i| image(&format!("https://img.example/{m}/{i}.png")))
                    .collect();
                app.append(
                    "u",
                    id,
                    json!({ "messageId": format!("m{m:03}"), "prompt": prompt, "images": images }),
                )
                .await
            }
        })
        .buffer_unordered(8)
        .collect()
        .await;
    assert!(replies.iter().all(|r| r.status == 200));

    let restore = format!(
        "{BASE}/by-image-url?imageUrl={}",
        urlencode("https://img.example/99/29.png")
    );
    let last = replies
        .iter()
        .find(|r| r.ok()["messageId"] == "m099")
        .unwrap();
    let session = app.get(&restore, "u").await.ok()["session"].clone();
    assert_eq!(session["id"], id.as_str());
    assert_eq!(session["totalImages"], 3_000);
    assert_eq!(session["seq"], 100);
    assert_eq!(session["messages"].as_array().unwrap().len(), 100);
    assert_eq!(
        session["messages"][0]["prompt"].as_str().unwrap().len(),
        2_000
    );
    let orders = image_orders(&session);
    assert_eq!(orders, (1..=3_000).collect::<Vec<_>>());
    let last_order = last.ok()["orders"][29].as_u64().unwrap();
    assert_eq!(
        session["imageOrderMap"]["https://img.example/99/29.png"],
        last_order
    );

    let listed = app.get(BASE, "u").await;
    let sessions = listed.ok()["sessions"].as_array().unwrap();
    assert_eq!(sessions.len(), 1);
    assert_eq!(sessions[0]["totalImages"], 3_000);
}
