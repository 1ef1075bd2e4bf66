//! Starting the server for a test, talking to it, and checking what it answers.

mod app;
mod openapi;
mod process;
mod stored;

use std::path::Path;

use serde_json::Value;

pub use app::*;
pub use openapi::*;
pub use process::*;

/// A name no other call returns, for ids that must not collide.
pub fn unique(prefix: &str) -> String {
    format!("{prefix}-{}", livechat_sessions::domain::new_id())
}

/// The Firestore project of the server on `data_dir`: one per test, so tests sharing an
/// emulator never see each other's data. (Used when `LIVECHAT_STORE=firestore`.)
pub fn project_for(data_dir: &Path) -> String {
    use sha2::Digest as _;
    let digest = sha2::Sha256::digest(data_dir.to_string_lossy().as_bytes());
    let hex: String = digest[..8].iter().map(|b| format!("{b:02x}")).collect();
    format!("test-{hex}")
}

/// Asserts that every acknowledged image (url → order) is in `session` with its order, and
/// that the session's orders and `seq` have no gap. Returns the number of images.
#[track_caller]
pub fn assert_kept(session: &Value, acknowledged: &std::collections::BTreeMap<String, u64>) -> u64 {
    let stored: std::collections::BTreeMap<String, u64> = session["images"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            (
                i["url"].as_str().unwrap().to_owned(),
                i["order"].as_u64().unwrap(),
            )
        })
        .collect();
    for (url, order) in acknowledged {
        assert_eq!(
            stored.get(url),
            Some(order),
            "acknowledged {url} (order {order}) was lost"
        );
    }
    let total = stored.len() as u64;
    let mut orders: Vec<u64> = stored.values().copied().collect();
    orders.sort();
    assert_eq!(
        orders,
        (1..=total).collect::<Vec<_>>(),
        "orders stay gap-free"
    );
    assert_eq!(session["seq"].as_u64(), Some(total), "one change per image");
    total
}

/// The `order` of every image of a session object, as listed in its flattened `images`.
pub fn image_orders(session: &Value) -> Vec<u64> {
    session["images"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["order"].as_u64().unwrap())
        .collect()
}
