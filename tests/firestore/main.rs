//! Tests of the Firestore store beyond the behavioural suite (which `scripts/test` also runs on
//! Firestore): several instances on one database, sessions larger than a document, sessions of
//! the original system, and the emulator going away. They need the emulator named by
//! `FIRESTORE_EMULATOR_HOST` (`scripts/firestore-emulator start`) and fail without it.

// Shared with the behavioural suite; not every helper is used here.
#[allow(dead_code)]
#[path = "../api/helpers/mod.rs"]
mod helpers;

#[allow(dead_code)]
#[path = "../api/live_client.rs"]
mod live_client;

#[allow(dead_code)]
#[path = "../api/exposition.rs"]
mod exposition;

mod event_log;
mod instances;
mod large;
mod original;
mod outage;
mod round_trips;

/// The emulator every test here uses (each with a project of its own).
pub fn emulator_host() -> String {
    std::env::var("FIRESTORE_EMULATOR_HOST").expect(
        "FIRESTORE_EMULATOR_HOST must name a running emulator (scripts/firestore-emulator start)",
    )
}

/// A server on Firestore project `project` of the shared emulator.
pub async fn firestore_app(project: &str) -> helpers::TestApp {
    emulator_host();
    let project = project.to_owned();
    helpers::spawn_app_with(move |config| {
        config.store = livechat_sessions::config::StoreKind::Firestore;
        config.firestore.firestore_project = Some(project);
    })
    .await
}

pub fn new_project() -> String {
    format!(
        "test-{}",
        livechat_sessions::domain::new_id().to_lowercase()
    )
}
