//! A JWKS provider (Auth0, Supabase, Keycloak, Clerk…): its keys from a local JWK Set, each
//! verifying the algorithm it declares, for the configured issuer and audience only.

use jsonwebtoken::{Algorithm, Header};
use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::*;
use crate::identity::*;
use crate::live_client::{LiveClient, live_url};

const ISSUER: &str = "https://tenant.auth.example.com/";
const AUDIENCE: &str = "https://api.livechat.example.com";

struct JwksApp {
    app: TestApp,
    rsa: SigningKey,
    ec: SigningKey,
    ed: SigningKey,
    _keys: KeyServer,
}

async fn jwks_app() -> JwksApp {
    let rsa = SigningKey::rsa("rsa-1");
    let ec = SigningKey::es256("ec-1");
    let ed = SigningKey::ed25519("ed-1");
    let keys = KeyServer::start(Published::Jwks, &[&rsa, &ec, &ed]).await;
    let url = keys.url.clone();
    let app = spawn_app_with(move |config| {
        config.auth.jwks_url = Some(url);
        config.auth.jwt_issuer = Some(ISSUER.to_owned());
        config.auth.jwt_audience = Some(AUDIENCE.to_owned());
    })
    .await;
    JwksApp {
        app,
        rsa,
        ec,
        ed,
        _keys: keys,
    }
}

fn claims(uid: &str) -> Value {
    json!({
        "iss": ISSUER,
        "sub": uid,
        // Auth0 sends a list when the token is for several APIs.
        "aud": [AUDIENCE, "https://tenant.auth.example.com/userinfo"],
        "iat": now(),
        "exp": now() + 600,
        "scope": "openid profile",
    })
}

#[tokio::test]
async fn es256_rs256_and_eddsa_tokens_of_the_configured_issuer_and_audience_are_accepted() {
    let jwks = jwks_app().await;
    let id = jwks.app.create_session("auth0|alice", "s").await;
    for key in [&jwks.rsa, &jwks.ec, &jwks.ed] {
        let token = key.sign(&claims("auth0|alice"));
        let reply = jwks
            .app
            .call_with_token(Method::GET, &format!("{BASE}/{id}"), &token, None)
            .await;
        assert_eq!(
            reply.ok()["session"]["uid"],
            "auth0|alice",
            "{:?}",
            key.algorithm
        );
    }
    let mut tab = LiveClient::connect(
        &live_url(&jwks.app.address, &id, None),
        Some(&jwks.ec.sign(&claims("auth0|alice"))),
    )
    .await;
    assert_eq!(tab.event().await["type"], "snapshot");
}

#[tokio::test]
async fn a_jwks_token_for_another_audience_or_issuer_is_401() {
    let jwks = jwks_app().await;
    for (what, changes) in [
        (
            "another audience",
            json!({ "aud": "https://other.example.com" }),
        ),
        ("no audience", json!({ "aud": null })),
        (
            "another issuer",
            json!({ "iss": "https://other.auth.example.com/" }),
        ),
        ("expired", json!({ "exp": now() - 1 })),
    ] {
        let token = jwks.ec.sign(&with(claims("u"), changes));
        let reply = jwks
            .app
            .call_with_token(Method::GET, BASE, &token, None)
            .await;
        assert_eq!(reply.status, 401, "{what}: {reply:?}");
        reply.assert_error(401, "unauthenticated");
    }
}

#[tokio::test]
async fn a_jwks_token_whose_header_names_another_algorithm_than_its_key_is_401() {
    let jwks = jwks_app().await;
    // The RSA key's id on a token claiming ES256 (signed by the EC key): the key declares RS256.
    let mut header = Header::new(Algorithm::ES256);
    header.kid = Some(jwks.rsa.kid.clone());
    let token = jwks.ec.sign_with(header, &claims("u"));
    jwks.app
        .call_with_token(Method::GET, BASE, &token, None)
        .await
        .assert_error(401, "unauthenticated");
    // HS256 with the public JWK as its secret.
    let mut header = Header::new(Algorithm::HS256);
    header.kid = Some(jwks.rsa.kid.clone());
    let forged = jsonwebtoken::encode(
        &header,
        &claims("u"),
        &jsonwebtoken::EncodingKey::from_secret(jwks.rsa.certificate.as_bytes()),
    )
    .unwrap();
    jwks.app
        .call_with_token(Method::GET, BASE, &forged, None)
        .await
        .assert_error(401, "unauthenticated");
}
