//! Browsers on other origins: preflights and allow headers (`--cors-origins`), and the
//! `Origin` check on socket upgrades.

use crate::helpers::*;
use crate::live_client::{LiveClient, live_url};

const APP: &str = "https://app.example.com";

async fn preflight(app: &TestApp, origin: &str) -> reqwest::Response {
    app.client
        .request(
            reqwest::Method::OPTIONS,
            format!("{}{BASE}/find-or-create", app.address),
        )
        .header("origin", origin)
        .header("access-control-request-method", "POST")
        .header(
            "access-control-request-headers",
            "authorization,content-type",
        )
        .send()
        .await
        .unwrap()
}

fn header<'r>(response: &'r reqwest::Response, name: &str) -> Option<&'r str> {
    response.headers().get(name).and_then(|v| v.to_str().ok())
}

#[tokio::test]
async fn a_preflight_from_a_listed_origin_is_answered_with_that_origin_methods_and_headers() {
    let app = spawn_app_with(|c| {
        c.auth.cors_origins = Some(format!("{APP}, http://localhost:5173"));
    })
    .await;
    let response = preflight(&app, APP).await;
    assert!(response.status().is_success(), "{response:?}");
    assert_eq!(header(&response, "access-control-allow-origin"), Some(APP));
    assert_eq!(
        header(&response, "access-control-allow-credentials"),
        Some("true")
    );
    let methods = header(&response, "access-control-allow-methods").unwrap();
    for method in ["GET", "POST", "PATCH", "DELETE"] {
        assert!(methods.contains(method), "{methods}");
    }
    let headers = header(&response, "access-control-allow-headers")
        .unwrap()
        .to_ascii_lowercase();
    assert!(
        headers.contains("authorization") && headers.contains("content-type"),
        "{headers}"
    );
    assert!(header(&response, "vary").is_some_and(|v| v.to_ascii_lowercase().contains("origin")));
}

#[tokio::test]
async fn an_unlisted_origin_gets_no_allow_header() {
    let app = spawn_app_with(|c| c.auth.cors_origins = Some(APP.to_owned())).await;
    let response = preflight(&app, "https://evil.example").await;
    assert_eq!(header(&response, "access-control-allow-origin"), None);
    let simple = app
        .client
        .get(format!("{}{BASE}", app.address))
        .bearer_auth(app.token("u"))
        .header("origin", "https://evil.example")
        .send()
        .await
        .unwrap();
    assert_eq!(header(&simple, "access-control-allow-origin"), None);
}

#[tokio::test]
async fn simple_requests_from_a_listed_origin_carry_the_allow_header() {
    let app = spawn_app_with(|c| c.auth.cors_origins = Some(APP.to_owned())).await;
    for (method, path) in [
        (reqwest::Method::GET, BASE.to_owned()),
        (reqwest::Method::GET, "/healthz".to_owned()),
        (reqwest::Method::GET, format!("{BASE}/AAAA")),
    ] {
        let response = app
            .client
            .request(method.clone(), format!("{}{path}", app.address))
            .bearer_auth(app.token("u"))
            .header("origin", APP)
            .send()
            .await
            .unwrap();
        assert_eq!(
            header(&response, "access-control-allow-origin"),
            Some(APP),
            "{method} {path}: errors carry it too, so the page can read them"
        );
    }
}

#[tokio::test]
async fn with_a_wildcard_any_origin_is_allowed_without_credentials() {
    let app = spawn_app_with(|c| c.auth.cors_origins = Some("*".to_owned())).await;
    let response = preflight(&app, "https://anyone.example").await;
    assert_eq!(header(&response, "access-control-allow-origin"), Some("*"));
    assert_eq!(header(&response, "access-control-allow-credentials"), None);
}

#[tokio::test]
async fn without_a_list_preflights_are_not_answered() {
    let app = spawn_app().await;
    let response = preflight(&app, APP).await;
    assert_eq!(response.status(), 405);
    assert_eq!(header(&response, "access-control-allow-origin"), None);
}

#[tokio::test]
async fn a_socket_upgrade_from_an_unlisted_origin_is_refused_with_403() {
    let app = spawn_app_with(|c| c.auth.cors_origins = Some(APP.to_owned())).await;
    let id = app.create_session("u", "s").await;
    let url = live_url(&app.address, &id, None);
    let token = format!("Bearer {}", app.token("u"));

    let refused = LiveClient::connect_with(
        &url,
        &[
            ("authorization", &token),
            ("origin", "https://evil.example"),
        ],
    )
    .await
    .err()
    .expect("an unlisted origin is refused");
    assert_eq!(refused.0, 403);
    assert_eq!(refused.1["data"]["code"], "forbidden");

    for origin in [Some(APP), None] {
        let mut headers = vec![("authorization", token.as_str())];
        if let Some(origin) = origin {
            headers.push(("origin", origin));
        }
        let mut tab = LiveClient::connect_with(&url, &headers)
            .await
            .unwrap_or_else(|refused| panic!("{origin:?} was refused: {refused:?}"));
        assert_eq!(tab.event().await["type"], "snapshot");
    }
}
