//! Compressed answers and request bodies: each coding decompresses to exactly the plain
//! answer, held answers are compressed once per version, `If-None-Match` works across codings,
//! small answers stay plain, and a compression bomb is refused whole.

use std::io::{Read as _, Write as _};

use serde_json::{Value, json};

use crate::exposition::Exposition;
use crate::helpers::*;

/// What a plain GET with these headers answers: status, headers, raw body bytes.
async fn raw(
    app: &TestApp,
    path: &str,
    headers: &[(&str, &str)],
) -> (u16, reqwest::header::HeaderMap, Vec<u8>) {
    let mut request = plain_client()
        .get(format!("{}{path}", app.address))
        .bearer_auth(app.token("u"));
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    (status, headers, response.bytes().await.unwrap().to_vec())
}

/// A client that hands over bodies as they came (another dependency may turn on reqwest's own
/// decompression).
fn plain_client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_gzip()
        .no_brotli()
        .no_zstd()
        .no_deflate()
        .build()
        .unwrap()
}

fn decompress(coding: &str, bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    match coding {
        "gzip" => {
            flate2::read::GzDecoder::new(bytes)
                .read_to_end(&mut out)
                .unwrap();
        }
        "br" => brotli::BrotliDecompress(&mut &bytes[..], &mut out).unwrap(),
        "zstd" => out = zstd::stream::decode_all(bytes).unwrap(),
        other => panic!("unexpected coding {other}"),
    }
    out
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    encoder.write_all(bytes).unwrap();
    encoder.finish().unwrap()
}

/// A session of `messages` messages of 10 images each, with realistic URLs.
async fn big_session(app: &TestApp, messages: usize) -> String {
    let id = app.create_session("u", &unique("big")).await;
    for m in 0..messages {
        let images: Vec<Value> = (0..10)
            .map(|i| {
                json!({
                    "url": format!("https://zata.ai/storage/users/u/generated/{m}/{i}/image.png"),
                    "storagePath": format!("users/u/generated/{m}/{i}/image.png"),
                })
            })
            .collect();
        let body = json!({ "prompt": format!("make it {m} times bluer"), "images": images });
        app.append("u", &id, body).await.ok();
    }
    id
}

#[tokio::test]
async fn a_restore_and_a_get_in_every_coding_decompress_to_exactly_the_plain_answer() {
    let app = spawn_app().await;
    let id = big_session(&app, 5).await;
    let url = urlencode("https://zata.ai/storage/users/u/generated/2/3/image.png");
    for path in [
        format!("{BASE}/{id}"),
        format!("{BASE}/by-image-url?imageUrl={url}"),
    ] {
        let (status, headers, plain) = raw(&app, &path, &[("accept-encoding", "identity")]).await;
        assert_eq!(status, 200);
        assert!(headers.get("content-encoding").is_none());
        for coding in ["br", "zstd", "gzip"] {
            let (status, headers, body) = raw(&app, &path, &[("accept-encoding", coding)]).await;
            assert_eq!(status, 200);
            assert_eq!(
                headers.get("content-encoding").map(|v| v.to_str().unwrap()),
                Some(coding),
                "{path}: {headers:?}"
            );
            assert_eq!(headers["vary"], "accept-encoding");
            assert!(body.len() < plain.len() / 2, "{coding} makes it smaller");
            assert_eq!(decompress(coding, &body), plain, "{coding} of {path}");
        }
    }
    // A list (not held) is compressed too.
    let path = format!("{BASE}?limit=5");
    let (_, _, plain) = raw(&app, &path, &[]).await;
    let (_, headers, body) = raw(&app, &path, &[("accept-encoding", "gzip")]).await;
    assert_eq!(headers["content-encoding"], "gzip");
    assert_eq!(decompress("gzip", &body), plain);
}

#[tokio::test]
async fn a_tag_of_any_coding_of_the_current_version_is_answered_304() {
    let app = spawn_app().await;
    let id = big_session(&app, 3).await;
    let path = format!("{BASE}/{id}");
    let mut tags = Vec::new();
    for coding in ["identity", "br", "zstd", "gzip"] {
        let (_, headers, _) = raw(&app, &path, &[("accept-encoding", coding)]).await;
        tags.push(headers["etag"].to_str().unwrap().to_owned());
    }
    let distinct: std::collections::BTreeSet<_> = tags.iter().collect();
    assert_eq!(distinct.len(), 4, "one tag per coding: {tags:?}");
    for tag in &tags {
        for coding in ["identity", "br", "gzip"] {
            let (status, _, body) = raw(
                &app,
                &path,
                &[("accept-encoding", coding), ("if-none-match", tag)],
            )
            .await;
            assert_eq!((status, body.len()), (304, 0), "{tag} asked with {coding}");
        }
    }
    // A new version: none of them matches any more.
    app.append("u", &id, json!({ "prompt": "more", "images": [] }))
        .await
        .ok();
    let (status, _, _) = raw(
        &app,
        &path,
        &[("accept-encoding", "gzip"), ("if-none-match", &tags[3])],
    )
    .await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn a_held_session_of_3000_images_is_compressed_once_however_often_it_is_restored() {
    let app = spawn_app().await;
    big_session(&app, 300).await;
    let url = urlencode("https://zata.ai/storage/users/u/generated/150/5/image.png");
    let path = format!("{BASE}/by-image-url?imageUrl={url}");
    let compressions = |exposition: &Exposition| {
        exposition
            .value("livechat_body_compressions_total", &[("encoding", "gzip")])
            .unwrap_or(0.0)
    };
    let (_, _, plain) = raw(&app, &path, &[]).await;
    let before = compressions(&Exposition::scrape(&app.address).await);
    let mut sizes = Vec::new();
    for _ in 0..5 {
        let (status, headers, body) = raw(&app, &path, &[("accept-encoding", "gzip")]).await;
        assert_eq!(
            (status, &headers["content-encoding"]),
            (200, &"gzip".parse().unwrap())
        );
        assert_eq!(decompress("gzip", &body), plain);
        sizes.push(body.len());
    }
    let after = compressions(&Exposition::scrape(&app.address).await);
    assert_eq!(after - before, 1.0, "compressed once, then served as held");
    assert!(
        plain.len() > 1_000_000,
        "a session of 3,000 images: {} bytes",
        plain.len()
    );
    assert!(
        sizes[0] * 5 < plain.len(),
        "gzip: {} of {} bytes",
        sizes[0],
        plain.len()
    );
}

/// The restore the product is judged by: 3,000 images, one message each, every id generated by
/// the server, under 160 KB with gzip (a random id repeated a megabyte apart would cost gzip
/// some fifteen bytes each time: 3,000 messages and 3,000 images, twice each).
#[tokio::test]
async fn a_restore_of_3000_images_one_per_message_is_under_160_kb_with_gzip() {
    use futures::StreamExt as _;
    let app = spawn_app().await;
    let id = app.create_session("u", &unique("long")).await;
    let appends = futures::stream::iter(0..3000).map(|n| {
        let (app, id) = (&app, &id);
        async move {
            let body = json!({
                "prompt": format!("make the sky bluer, take {n}"),
                "images": [image(&format!("https://zata.ai/storage/users/u/generated/{n}.png"))],
            });
            app.append("u", id, body).await.ok().clone()
        }
    });
    let answers: Vec<Value> = appends.buffer_unordered(16).collect().await;
    assert_eq!(answers.len(), 3000);
    let url = urlencode("https://zata.ai/storage/users/u/generated/1500.png");
    let path = format!("{BASE}/by-image-url?imageUrl={url}");
    let (_, _, plain) = raw(&app, &path, &[]).await;
    let (status, headers, body) = raw(&app, &path, &[("accept-encoding", "gzip")]).await;
    assert_eq!(
        (status, &headers["content-encoding"]),
        (200, &"gzip".parse().unwrap())
    );
    assert_eq!(decompress("gzip", &body), plain);
    let session: Value = serde_json::from_slice(&plain).unwrap();
    assert_eq!(session["data"]["session"]["totalImages"], 3000);
    assert!(
        body.len() < 160_000,
        "gzip: {} of {} bytes",
        body.len(),
        plain.len()
    );
}

#[tokio::test]
async fn a_compressed_request_body_is_accepted_and_a_bomb_is_refused_whole() {
    let app = spawn_app().await;
    let id = app.create_session("u", "zipped").await;
    let body = json!({ "prompt": "compressed", "images": [image("https://img/z")] });
    let sent = app
        .client
        .post(format!("{}{BASE}/{id}/messages", app.address))
        .bearer_auth(app.token("u"))
        .header("content-encoding", "gzip")
        .body(gzip(body.to_string().as_bytes()))
        .send()
        .await
        .unwrap();
    assert_eq!(sent.status(), 200);
    assert_eq!(app.session("u", &id).await["seq"], 1);

    // 2 MiB of prompt, past the 1 MiB limit once decompressed, a few KiB on the wire.
    let huge = json!({ "prompt": "a".repeat(2 << 20), "images": [] }).to_string();
    let bomb = gzip(huge.as_bytes());
    assert!(bomb.len() < 16 * 1024);
    let refused = app
        .client
        .post(format!("{}{BASE}/{id}/messages", app.address))
        .bearer_auth(app.token("u"))
        .header("content-encoding", "gzip")
        .body(bomb)
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 413);
    let envelope: Value = refused.json().await.unwrap();
    assert_eq!(envelope["data"]["code"], "payload_too_large");
    assert_eq!(app.session("u", &id).await["seq"], 1, "nothing changed");

    // A coding the server does not read is refused, naming the header.
    let path = format!("{BASE}/{id}/messages");
    let refused = app
        .send(
            reqwest::Method::POST,
            &path,
            app.client
                .post(format!("{}{path}", app.address))
                .bearer_auth(app.token("u"))
                .header("content-encoding", "deflate")
                .body(body.to_string()),
        )
        .await;
    refused.assert_invalid("Content-Encoding");
    assert_eq!(app.session("u", &id).await["seq"], 1, "nothing changed");
}

#[tokio::test]
async fn an_answer_under_a_kibibyte_is_not_compressed() {
    let app = spawn_app().await;
    let id = app.create_session("u", "small").await;
    for path in [
        format!("{BASE}/{id}"),
        BASE.to_owned(),
        "/healthz".to_owned(),
    ] {
        let (status, headers, body) = raw(&app, &path, &[("accept-encoding", "gzip, br")]).await;
        assert_eq!(status, 200, "{path}");
        assert!(body.len() < 1024, "{path} is small");
        assert!(headers.get("content-encoding").is_none(), "{path}");
    }
    let created = plain_client()
        .post(format!("{}{BASE}", app.address))
        .bearer_auth(app.token("u"))
        .header("accept-encoding", "gzip")
        .body(json!({ "sessionId": "another", "model": "m" }).to_string())
        .send()
        .await
        .unwrap();
    assert!(created.headers().get("content-encoding").is_none());
}

#[tokio::test]
async fn every_route_that_reads_a_body_reads_it_compressed() {
    let app = spawn_app().await;
    let sent = |method: reqwest::Method, path: String, body: Value, coding: &'static str| {
        let app = &app;
        async move {
            let compressed = match coding {
                "gzip" => gzip(body.to_string().as_bytes()),
                "zstd" => zstd::bulk::compress(body.to_string().as_bytes(), 3).unwrap(),
                _ => {
                    let mut out = Vec::new();
                    brotli::BrotliCompress(
                        &mut body.to_string().as_bytes(),
                        &mut out,
                        &Default::default(),
                    )
                    .unwrap();
                    out
                }
            };
            app.send(
                method.clone(),
                &path,
                app.client
                    .request(method, format!("{}{path}", app.address))
                    .bearer_auth(app.token("u"))
                    .header("content-encoding", coding)
                    .body(compressed),
            )
            .await
        }
    };
    use reqwest::Method;
    let created = sent(
        Method::POST,
        BASE.to_owned(),
        json!({ "sessionId": "zipped", "model": "m" }),
        "gzip",
    )
    .await;
    let id = created.ok()["sessionDocId"].as_str().unwrap().to_owned();
    let found = sent(
        Method::POST,
        format!("{BASE}/find-or-create"),
        json!({ "sessionId": "zipped", "model": "m" }),
        "br",
    )
    .await;
    assert_eq!(found.ok()["sessionDocId"], id.as_str());
    sent(
        Method::POST,
        format!("{BASE}/{id}/messages"),
        json!({ "prompt": "p", "images": [image("https://img/zipped")] }),
        "zstd",
    )
    .await
    .ok();
    sent(
        Method::PATCH,
        format!("{BASE}/{id}"),
        json!({ "model": "flux-pro" }),
        "gzip",
    )
    .await
    .ok();
    sent(
        Method::POST,
        format!("{BASE}/{id}/signals"),
        json!({ "data": { "stage": "started" } }),
        "br",
    )
    .await
    .ok();
    sent(
        Method::PATCH,
        format!("{BASE}/{id}/complete"),
        json!({}),
        "zstd",
    )
    .await
    .ok();

    let session = app.session("u", &id).await;
    assert_eq!(session["model"], "flux-pro");
    assert_eq!(session["status"], "completed");
    assert_eq!(session["imageUrls"], json!(["https://img/zipped"]));
}
