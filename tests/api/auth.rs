//! Every route needs a valid token, and never reveals another user's session.

use crate::helpers::*;
use livechat_sessions::auth::TokenIssuer;
use reqwest::Method;
use serde_json::{Value, json};

/// Every authenticated route, with a body where it takes one.
pub fn routes(id: &str) -> Vec<(Method, String, Option<Value>)> {
    vec![
        (
            Method::POST,
            BASE.to_owned(),
            Some(json!({ "sessionId": "new", "model": "m" })),
        ),
        (Method::GET, BASE.to_owned(), None),
        (
            Method::POST,
            format!("{BASE}/find-or-create"),
            Some(json!({ "sessionId": "s", "model": "m" })),
        ),
        (
            Method::GET,
            format!(
                "{BASE}/by-image-url?imageUrl={}",
                urlencode("https://img/1")
            ),
            None,
        ),
        (Method::GET, format!("{BASE}/{id}"), None),
        (
            Method::PATCH,
            format!("{BASE}/{id}"),
            Some(json!({ "style": "noir" })),
        ),
        (
            Method::POST,
            format!("{BASE}/{id}/messages"),
            Some(json!({ "prompt": "p", "images": [image("https://img/2")] })),
        ),
        (
            Method::PATCH,
            format!("{BASE}/{id}/complete"),
            Some(json!({})),
        ),
        (Method::DELETE, format!("{BASE}/{id}"), None),
    ]
}

fn signed(secret: &[u8], claims: Value) -> String {
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(secret),
    )
    .unwrap()
}

#[tokio::test]
async fn every_route_refuses_a_missing_expired_or_wrongly_signed_token() {
    let app = spawn_app().await;
    let id = app.session_with_image("alice", "s", "https://img/1").await;
    let before = app.session("alice", &id).await;

    let now = jsonwebtoken::get_current_timestamp();
    let secret = app.secret.as_bytes();
    let bad_headers: Vec<(&str, Option<String>)> = vec![
        ("missing", None),
        (
            "expired",
            Some(format!(
                "Bearer {}",
                signed(secret, json!({ "sub": "alice", "exp": now - 5 }))
            )),
        ),
        (
            "wrong secret",
            Some(format!(
                "Bearer {}",
                TokenIssuer::hs256(b"not-the-secret")
                    .issue("alice", 3600)
                    .unwrap()
            )),
        ),
        (
            "not valid for another hour",
            Some(format!(
                "Bearer {}",
                signed(
                    secret,
                    json!({ "sub": "alice", "exp": now + 7200, "nbf": now + 3600 })
                )
            )),
        ),
        (
            "no expiry",
            Some(format!(
                "Bearer {}",
                signed(secret, json!({ "sub": "alice" }))
            )),
        ),
        (
            "empty subject",
            Some(format!(
                "Bearer {}",
                signed(secret, json!({ "sub": "", "exp": now + 60 }))
            )),
        ),
        ("malformed", Some("Bearer not.a.jwt".to_owned())),
        (
            "unsigned",
            Some(format!(
                "Bearer eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.{}.",
                base64_claims("alice", now + 60)
            )),
        ),
        (
            "other scheme",
            Some(format!("Basic {}", app.token("alice"))),
        ),
        ("empty bearer", Some("Bearer ".to_owned())),
    ];
    for (method, path, body) in routes(&id) {
        for (what, header) in &bad_headers {
            let mut request = app
                .client
                .request(method.clone(), format!("{}{path}", app.address));
            if let Some(header) = header {
                request = request.header("authorization", header);
            }
            if let Some(body) = &body {
                request = request.body(body.to_string());
            }
            let reply = app.send(method.clone(), &path, request).await;
            assert_eq!(
                reply.status, 401,
                "{what} token on {method} {path}: {reply:?}"
            );
            reply.assert_error(401, "unauthenticated");
        }
    }
    assert_eq!(app.session("alice", &id).await, before, "nothing changed");
    assert_eq!(
        app.get(BASE, "alice").await.ok()["sessions"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
}

fn base64_claims(sub: &str, exp: u64) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(json!({ "sub": sub, "exp": exp }).to_string())
}

#[tokio::test]
async fn another_users_session_is_404_on_every_route_and_stays_unchanged() {
    let app = spawn_app().await;
    let id = app.session_with_image("alice", "s", "https://img/1").await;
    let before = app.session("alice", &id).await;

    for (method, path, body) in routes(&id)
        .into_iter()
        .filter(|(_, path, _)| path.contains(&id))
    {
        let reply = app
            .call(method.clone(), &path, Some("mallory"), body.clone())
            .await;
        reply.assert_error(404, "not_found");
        let unknown_path = path.replace(&id, "AAAAAAAAAAAAAAAAAAAA");
        let unknown = app
            .call(method.clone(), &unknown_path, Some("mallory"), body)
            .await;
        assert_eq!(
            reply.body, unknown.body,
            "{method} {path}: indistinguishable from an unknown id"
        );
    }
    let restore = app
        .get(
            &format!(
                "{BASE}/by-image-url?imageUrl={}",
                urlencode("https://img/1")
            ),
            "mallory",
        )
        .await;
    restore.assert_error(404, "not_found");
    let listed = app.get(BASE, "mallory").await;
    assert_eq!(listed.ok()["sessions"], json!([]));
    assert_eq!(
        app.session("alice", &id).await,
        before,
        "alice's session is untouched"
    );
}
