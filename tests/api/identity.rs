//! Identity providers for the tests: signing keys generated here, a local key server standing
//! in for Google's (its x509 map) or for a JWKS provider, and the tokens they would issue.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use jsonwebtoken::jwk::{Jwk, JwkSet};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};

/// A key the test signs with, and what a provider publishes of it.
pub struct SigningKey {
    pub kid: String,
    pub algorithm: Algorithm,
    encoding: EncodingKey,
    /// The self-signed X.509 certificate of the public key (PEM), as Google publishes keys.
    pub certificate: String,
    jwk: Jwk,
}

impl SigningKey {
    pub fn rsa(kid: &str) -> Self {
        Self::generate(kid, &rcgen::PKCS_RSA_SHA256, Algorithm::RS256)
    }

    pub fn es256(kid: &str) -> Self {
        Self::generate(kid, &rcgen::PKCS_ECDSA_P256_SHA256, Algorithm::ES256)
    }

    pub fn ed25519(kid: &str) -> Self {
        Self::generate(kid, &rcgen::PKCS_ED25519, Algorithm::EdDSA)
    }

    fn generate(kid: &str, alg: &'static rcgen::SignatureAlgorithm, algorithm: Algorithm) -> Self {
        let pair = rcgen::KeyPair::generate_for(alg).expect("key generation");
        let certificate = rcgen::CertificateParams::new(vec!["keys.test".to_owned()])
            .unwrap()
            .self_signed(&pair)
            .unwrap()
            .pem();
        let private = pair.serialize_pem();
        let encoding = match algorithm {
            Algorithm::RS256 => EncodingKey::from_rsa_pem(private.as_bytes()),
            Algorithm::ES256 => EncodingKey::from_ec_pem(private.as_bytes()),
            _ => EncodingKey::from_ed_pem(private.as_bytes()),
        }
        .unwrap();
        let mut jwk = match algorithm {
            // `from_encoding_key` reads only PKCS#8 v1 Ed25519 keys; this one is v2.
            Algorithm::EdDSA => serde_json::from_value(json!({
                "kty": "OKP",
                "crv": "Ed25519",
                "alg": "EdDSA",
                "x": base64::Engine::encode(
                    &base64::engine::general_purpose::URL_SAFE_NO_PAD,
                    pair.public_key_raw(),
                ),
            }))
            .unwrap(),
            _ => Jwk::from_encoding_key(&encoding, algorithm).unwrap(),
        };
        jwk.common.key_id = Some(kid.to_owned());
        Self {
            kid: kid.to_owned(),
            algorithm,
            encoding,
            certificate,
            jwk,
        }
    }

    /// A token of `claims` signed with this key, its header naming the key.
    pub fn sign(&self, claims: &Value) -> String {
        let mut header = Header::new(self.algorithm);
        header.kid = Some(self.kid.clone());
        self.sign_with(header, claims)
    }

    /// A token of `claims` with exactly this header.
    pub fn sign_with(&self, header: Header, claims: &Value) -> String {
        jsonwebtoken::encode(&header, claims, &self.encoding).unwrap()
    }
}

/// How a key server publishes its keys.
#[derive(Clone, Copy)]
pub enum Published {
    /// Google's: `{"kid": "-----BEGIN CERTIFICATE-----…"}`.
    X509Map,
    Jwks,
}

struct Served {
    body: String,
    up: bool,
}

/// A local key server on port 0, counting the fetches it answers.
pub struct KeyServer {
    pub url: String,
    format: Published,
    served: Arc<Mutex<Served>>,
    fetches: Arc<AtomicUsize>,
}

#[derive(Clone)]
struct KeyServerState {
    served: Arc<Mutex<Served>>,
    fetches: Arc<AtomicUsize>,
}

impl KeyServer {
    pub async fn start(format: Published, keys: &[&SigningKey]) -> Self {
        let served = Arc::new(Mutex::new(Served {
            body: String::new(),
            up: true,
        }));
        let fetches = Arc::new(AtomicUsize::new(0));
        let state = KeyServerState {
            served: Arc::clone(&served),
            fetches: Arc::clone(&fetches),
        };
        let router = axum::Router::new()
            .route("/keys", axum::routing::get(serve_keys))
            .with_state(state);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/keys", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, router).await });
        let server = Self {
            url,
            format,
            served,
            fetches,
        };
        server.publish(keys);
        server
    }

    /// From now on, the keys served are these.
    pub fn publish(&self, keys: &[&SigningKey]) {
        let body = match self.format {
            Published::X509Map => {
                let map: serde_json::Map<String, Value> = keys
                    .iter()
                    .map(|k| (k.kid.clone(), Value::String(k.certificate.clone())))
                    .collect();
                Value::Object(map).to_string()
            }
            Published::Jwks => serde_json::to_string(&JwkSet {
                keys: keys.iter().map(|k| k.jwk.clone()).collect(),
            })
            .unwrap(),
        };
        self.served.lock().unwrap().body = body;
    }

    /// Up: it answers with the keys. Down: every fetch gets a 503.
    pub fn set_up(&self, up: bool) {
        self.served.lock().unwrap().up = up;
    }

    /// Fetches answered so far (failed ones included).
    pub fn fetches(&self) -> usize {
        self.fetches.load(Ordering::SeqCst)
    }
}

async fn serve_keys(State(state): State<KeyServerState>) -> axum::response::Response {
    state.fetches.fetch_add(1, Ordering::SeqCst);
    let served = state.served.lock().unwrap();
    if !served.up {
        return StatusCode::SERVICE_UNAVAILABLE.into_response();
    }
    (
        [
            (header::CONTENT_TYPE, "application/json; charset=UTF-8"),
            // Google's own header, as its key URLs send it.
            (
                header::CACHE_CONTROL,
                "public, max-age=19302, must-revalidate, no-transform",
            ),
        ],
        served.body.clone(),
    )
        .into_response()
}

pub fn now() -> u64 {
    jsonwebtoken::get_current_timestamp()
}

/// The claims of a Firebase ID token for `uid` of `project`, as Google issues them.
pub fn id_token_claims(project: &str, uid: &str) -> Value {
    json!({
        "iss": format!("https://securetoken.google.com/{project}"),
        "aud": project,
        "auth_time": now() - 60,
        "user_id": uid,
        "sub": uid,
        "iat": now() - 10,
        "exp": now() + 3600,
        "email": format!("{uid}@example.com"),
        "firebase": { "identities": {}, "sign_in_provider": "password" },
    })
}

/// The claims of a Firebase session cookie for `uid` of `project`.
pub fn session_cookie_claims(project: &str, uid: &str) -> Value {
    let mut claims = id_token_claims(project, uid);
    claims["iss"] = json!(format!("https://session.firebase.google.com/{project}"));
    claims
}

/// `claims` with `changes` merged in (a `null` removes a claim).
pub fn with(mut claims: Value, changes: Value) -> Value {
    for (key, value) in changes.as_object().unwrap() {
        if value.is_null() {
            claims.as_object_mut().unwrap().remove(key);
        } else {
            claims[key] = value.clone();
        }
    }
    claims
}
