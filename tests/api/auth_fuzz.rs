//! No token can crash a verifier or make the server answer 500: random headers, payloads and
//! signatures, shaped enough to reach every verifier (Firebase, session cookie, JWKS, HS256)
//! with every algorithm and key id, sent as a bearer token and as the session cookie.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use reqwest::Method;
use serde_json::{Value, json};

use crate::firebase::{PROJECT, firebase_app_with};
use crate::helpers::*;
use crate::identity::*;

const JWKS_ISSUER: &str = "https://issuer.example.com/";

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// A JSON value of any shape, small.
fn any_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(|f| json!(f)),
        ".{0,40}".prop_map(Value::from),
    ];
    leaf.prop_recursive(2, 8, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::from),
            prop::collection::btree_map(".{0,8}", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

fn a_time() -> impl Strategy<Value = Value> {
    let now = now() as i64;
    prop_oneof![
        Just(json!(now + 600)),
        Just(json!(now - 600)),
        (-10_000i64..10_000).prop_map(move |d| json!(now + d)),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(|f| json!(f)),
        any_json(),
    ]
}

fn header_part(kids: Vec<String>) -> impl Strategy<Value = String> {
    let alg = prop_oneof![
        Just(json!("none")),
        Just(json!("HS256")),
        Just(json!("RS256")),
        Just(json!("ES256")),
        Just(json!("EdDSA")),
        Just(json!("PS256")),
        any_json(),
    ];
    let kid = prop_oneof![
        Just(Value::Null),
        prop::sample::select(kids).prop_map(Value::from),
        any_json(),
    ];
    prop_oneof![
        (alg, kid).prop_map(
            |(alg, kid)| b64(json!({ "alg": alg, "kid": kid, "typ": "JWT" })
                .to_string()
                .as_bytes())
        ),
        prop::collection::vec(any::<u8>(), 0..64).prop_map(|b| b64(&b)),
        "[A-Za-z0-9_=+/-]{0,40}",
    ]
}

fn payload_part() -> impl Strategy<Value = String> {
    let iss = prop_oneof![
        Just(Value::Null),
        Just(json!(format!("https://securetoken.google.com/{PROJECT}"))),
        Just(json!(format!(
            "https://session.firebase.google.com/{PROJECT}"
        ))),
        Just(json!(JWKS_ISSUER)),
        any_json(),
    ];
    let sub = prop_oneof![
        Just(json!("u")),
        ".{0,200}".prop_map(Value::from),
        any_json()
    ];
    let aud = prop_oneof![
        Just(json!(PROJECT)),
        Just(json!([PROJECT, "x"])),
        any_json()
    ];
    let claims = (
        iss,
        sub,
        aud,
        a_time(),
        a_time(),
        a_time(),
        a_time(),
        any_json(),
    )
        .prop_map(|(iss, sub, aud, exp, iat, auth_time, nbf, extra)| {
            b64(json!({
                "iss": iss, "sub": sub, "aud": aud, "exp": exp, "iat": iat,
                "auth_time": auth_time, "nbf": nbf, "extra": extra,
            })
            .to_string()
            .as_bytes())
        });
    prop_oneof![
        4 => claims,
        1 => prop::collection::vec(any::<u8>(), 0..128).prop_map(|b| b64(&b)),
        1 => any_json().prop_map(|v| b64(v.to_string().as_bytes())),
    ]
}

fn signature_part() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(String::new()),
        prop::collection::vec(any::<u8>(), 0..300).prop_map(|b| b64(&b)),
        "[A-Za-z0-9_=.+/-]{0,20}",
    ]
}

#[test]
fn no_token_makes_a_verifier_panic_or_the_server_answer_500() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let (app, kids, _servers) = runtime.block_on(async {
        let ec = SigningKey::es256("ec-1");
        let ed = SigningKey::ed25519("ed-1");
        let rsa = SigningKey::rsa("rsa-1");
        let jwks = KeyServer::start(Published::Jwks, &[&ec, &ed, &rsa]).await;
        let url = jwks.url.clone();
        let fb = firebase_app_with(move |config| {
            config.auth.jwks_url = Some(url);
            config.auth.jwt_issuer = Some(JWKS_ISSUER.to_owned());
            config.auth.jwt_audience = Some(PROJECT.to_owned());
        })
        .await;
        let kids = vec![
            fb.key.kid.clone(),
            fb.session_key.kid.clone(),
            ec.kid.clone(),
            ed.kid.clone(),
            rsa.kid.clone(),
        ];
        // Every verifier has its keys before the first random token.
        let warm = fb.id_token("u");
        fb.app
            .call_with_token(Method::GET, BASE, &warm, None)
            .await
            .ok();
        (fb.app, kids, (jwks, fb.id_keys, fb.session_keys))
    });

    let token = (
        header_part(kids),
        payload_part(),
        signature_part(),
        prop_oneof![Just("."), Just(".."), Just("")],
    )
        .prop_map(|(header, payload, signature, extra_dot)| {
            format!("{header}.{payload}{extra_dot}.{signature}")
        });
    let mut runner = TestRunner::new(Config {
        cases: 400,
        failure_persistence: None,
        ..Config::default()
    });
    runner
        .run(&(token, any::<bool>()), |(token, as_cookie)| {
            let reply = runtime.block_on(async {
                let url = format!("{}{BASE}", app.address);
                let request = if as_cookie {
                    app.client
                        .get(url)
                        .header("cookie", format!("__session={token}"))
                } else {
                    app.client.get(url).bearer_auth(&token)
                };
                app.send(Method::GET, BASE, request).await
            });
            prop_assert_eq!(reply.status, 401, "{} → {:?}", token, reply);
            Ok(())
        })
        .unwrap();
    // And the server is still serving.
    runtime.block_on(async { app.get(BASE, "u").await.ok().clone() });
}
