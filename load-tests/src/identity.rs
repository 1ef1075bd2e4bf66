//! Firebase-shaped identities for the scenarios: a signing key and its published certificate
//! (`keys`), ID tokens signed with it (`--firebase-key`), and the cost of verifying one token of
//! each kind in-process (`verify`).

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use jsonwebtoken::jwk::{Jwk, JwkSet};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use livechat_sessions::auth::keys::KeySettings;
use livechat_sessions::auth::{
    AuthSettings, Authenticator, FirebaseSettings, JwksSettings, TokenIssuer,
};
use serde_json::{Value, json};

/// The `kid` of the key `keys` writes.
pub const KID: &str = "load-tests";

/// Writes a new RSA key (`firebase-key.pem`) and the x509 map that publishes its certificate
/// (`x509.json`, Google's shape) into `dir`.
pub fn write_keys(dir: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir)?;
    let pair = rcgen::KeyPair::generate_for(&rcgen::PKCS_RSA_SHA256)?;
    let certificate = rcgen::CertificateParams::new(vec!["load-tests".to_owned()])?
        .self_signed(&pair)?
        .pem();
    std::fs::write(dir.join("firebase-key.pem"), pair.serialize_pem())?;
    std::fs::write(
        dir.join("x509.json"),
        json!({ KID: certificate }).to_string(),
    )?;
    println!(
        "wrote {0}/firebase-key.pem and {0}/x509.json (kid {KID})",
        dir.display()
    );
    Ok(())
}

/// A Firebase ID token of `project` for `uid`, valid for a day, signed with the PEM key.
pub fn firebase_token(key_pem: &Path, project: &str, uid: &str) -> anyhow::Result<String> {
    let pem =
        std::fs::read(key_pem).with_context(|| format!("cannot read {}", key_pem.display()))?;
    let key = EncodingKey::from_rsa_pem(&pem)?;
    let mut header = Header::new(Algorithm::RS256);
    header.kid = Some(KID.to_owned());
    Ok(jsonwebtoken::encode(
        &header,
        &id_token_claims(project, uid, 24 * 3600),
        &key,
    )?)
}

fn id_token_claims(project: &str, uid: &str, ttl: u64) -> Value {
    let now = jsonwebtoken::get_current_timestamp();
    json!({
        "iss": format!("https://securetoken.google.com/{project}"),
        "aud": project,
        "auth_time": now,
        "user_id": uid,
        "sub": uid,
        "iat": now,
        "exp": now + ttl,
        "email": format!("{uid}@example.com"),
        "email_verified": false,
        "firebase": { "identities": { "email": [format!("{uid}@example.com")] }, "sign_in_provider": "password" },
    })
}

/// Measures `Authenticator::verify` for each kind of token, on keys already cached.
pub async fn verify_cost(iterations: u32) -> anyhow::Result<()> {
    const PROJECT: &str = "load-tests";
    const ISSUER: &str = "https://issuer.load-tests/";
    let rsa = rcgen::KeyPair::generate_for(&rcgen::PKCS_RSA_SHA256)?;
    let certificate = rcgen::CertificateParams::new(vec!["load-tests".to_owned()])?
        .self_signed(&rsa)?
        .pem();
    let rsa_key = EncodingKey::from_rsa_pem(rsa.serialize_pem().as_bytes())?;
    let ec = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)?;
    let ec_key = EncodingKey::from_ec_pem(ec.serialize_pem().as_bytes())?;
    let mut ec_jwk = Jwk::from_encoding_key(&ec_key, Algorithm::ES256)?;
    ec_jwk.common.key_id = Some("ec".into());

    let x509 = json!({ KID: certificate }).to_string();
    let jwks = serde_json::to_string(&JwkSet { keys: vec![ec_jwk] })?;
    let router = axum::Router::new()
        .route(
            "/x509",
            axum::routing::get(move || std::future::ready(x509.clone())),
        )
        .route(
            "/jwks",
            axum::routing::get(move || std::future::ready(jwks.clone())),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}", listener.local_addr()?);
    tokio::spawn(async move { axum::serve(listener, router).await });

    let secret = b"load-tests-secret".to_vec();
    let settings = AuthSettings {
        secret: secret.clone(),
        firebase: Some(FirebaseSettings {
            project: PROJECT.into(),
            id_keys_url: format!("{base}/x509"),
            session_keys_url: format!("{base}/x509"),
            emulator_host: None,
        }),
        jwks: Some(JwksSettings {
            url: format!("{base}/jwks"),
            issuer: ISSUER.into(),
            audience: PROJECT.into(),
        }),
        session_cookie: "__session".into(),
        keys: KeySettings::default(),
    };

    // Distinct tokens (one uid each), so that each verification is a first one: the server
    // keeps tokens it verified and answers the same token again from memory.
    let mut rs256 = Header::new(Algorithm::RS256);
    rs256.kid = Some(KID.into());
    let mut es256 = Header::new(Algorithm::ES256);
    es256.kid = Some("ec".into());
    let issuer = TokenIssuer::hs256(&secret);
    let mint = |kind: &str, n: u32| -> anyhow::Result<String> {
        let uid = format!("u{n}");
        Ok(match kind {
            "hs256" => issuer.issue(&uid, 3600)?,
            "firebase_rs256" => {
                jsonwebtoken::encode(&rs256, &id_token_claims(PROJECT, &uid, 3600), &rsa_key)?
            }
            _ => {
                let mut claims = id_token_claims(PROJECT, &uid, 3600);
                claims["iss"] = json!(ISSUER);
                jsonwebtoken::encode(&es256, &claims, &ec_key)?
            }
        })
    };

    let mut first = serde_json::Map::new();
    let mut again = serde_json::Map::new();
    for kind in ["hs256", "firebase_rs256", "jwks_es256"] {
        let tokens = (0..iterations)
            .map(|n| mint(kind, n))
            .collect::<anyhow::Result<Vec<_>>>()?;
        let warm_up = mint(kind, iterations)?;
        let (mut fresh, mut cached) = (Vec::new(), Vec::new());
        for _ in 0..5 {
            // A new authenticator per batch: nothing verified yet, its keys fetched once.
            let auth = Authenticator::new(&settings)?;
            auth.verify(&warm_up)
                .await
                .with_context(|| format!("{kind} does not verify"))?;
            let started = Instant::now();
            for token in &tokens {
                auth.verify(token).await?;
            }
            fresh.push(per_call_us(started.elapsed(), iterations));
            let started = Instant::now();
            for token in &tokens {
                auth.verify(token).await?;
            }
            cached.push(per_call_us(started.elapsed(), iterations));
        }
        fresh.sort_by(f64::total_cmp);
        cached.sort_by(f64::total_cmp);
        println!(
            "{kind:<16} {:>8.1} µs per first verify, {:>6.2} µs again (medians of 5 batches of {iterations}; {fresh:.1?}; {cached:.2?})",
            fresh[2], cached[2]
        );
        first.insert(kind.into(), json!(fresh[2]));
        again.insert(kind.into(), json!(cached[2]));
    }
    println!(
        "{}",
        json!({ "scenario": "verify", "us_per_verify": first, "us_per_verify_again": again })
    );
    Ok(())
}

fn per_call_us(elapsed: Duration, calls: u32) -> f64 {
    elapsed.as_secs_f64() * 1e6 / f64::from(calls)
}
