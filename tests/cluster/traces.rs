//! Traces across instances: an append on one instance, with the caller's `traceparent`, is one
//! trace holding the request, the group commit, the store call and the Redis publish there, and
//! the delivery to a socket on the other instance. A small OTLP/HTTP receiver stands in for
//! the collector, decoding what each instance exports. Without the variables, nothing is
//! exported and the logs carry no trace ids.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use prost::Message as _;
use reqwest::Method;
use serde_json::json;

use crate::helpers::*;
use crate::live_client::{LiveClient, live_url};
use crate::{Cluster, redis_url};

/// One exported span: its service, name, ids (hex) and the span ids it links to.
#[derive(Debug, Clone)]
struct Exported {
    service: String,
    name: String,
    trace_id: String,
    span_id: String,
    parent_span_id: String,
    links: Vec<String>,
}

/// An OTLP/HTTP receiver (`POST /v1/traces`, protobuf) keeping every span it is sent.
struct Receiver {
    address: String,
    spans: Arc<Mutex<Vec<Exported>>>,
}

impl Receiver {
    async fn start(addr: &str) -> Self {
        let spans = Arc::new(Mutex::new(Vec::new()));
        let kept = Arc::clone(&spans);
        let app = axum::Router::new().route(
            "/v1/traces",
            axum::routing::post(move |body: Bytes| {
                let kept = Arc::clone(&kept);
                async move {
                    let request = ExportTraceServiceRequest::decode(body)
                        .expect("an OTLP/HTTP protobuf export");
                    let mut kept = kept.lock().unwrap();
                    for resource in request.resource_spans {
                        let service = resource
                            .resource
                            .iter()
                            .flat_map(|r| &r.attributes)
                            .find(|a| a.key == "service.name")
                            .and_then(|a| a.value.as_ref())
                            .and_then(|v| match &v.value {
                                Some(opentelemetry_proto::tonic::common::v1::any_value::Value::StringValue(s)) => Some(s.clone()),
                                _ => None,
                            })
                            .unwrap_or_default();
                        for scope in resource.scope_spans {
                            for span in scope.spans {
                                kept.push(Exported {
                                    service: service.clone(),
                                    name: span.name,
                                    trace_id: hex(&span.trace_id),
                                    span_id: hex(&span.span_id),
                                    parent_span_id: hex(&span.parent_span_id),
                                    links: span.links.iter().map(|l| hex(&l.span_id)).collect(),
                                });
                            }
                        }
                    }
                    // An empty ExportTraceServiceResponse.
                    (
                        [(axum::http::header::CONTENT_TYPE, "application/x-protobuf")],
                        Vec::<u8>::new(),
                    )
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .unwrap_or_else(|err| panic!("the OTLP receiver cannot listen on {addr}: {err}"));
        let address = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Self { address, spans }
    }

    fn spans(&self) -> Vec<Exported> {
        self.spans.lock().unwrap().clone()
    }

    /// The spans of `trace_id`, once every name in `names` is among them (or after 20 s).
    async fn trace(&self, trace_id: &str, names: &[(&str, &str)]) -> Vec<Exported> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        loop {
            let spans: Vec<Exported> = self
                .spans()
                .into_iter()
                .filter(|s| s.trace_id == trace_id)
                .collect();
            let complete = names.iter().all(|(service, name)| {
                spans
                    .iter()
                    .any(|s| s.service == *service && s.name == *name)
            });
            if complete || tokio::time::Instant::now() > deadline {
                return spans;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// What an instance exporting to `endpoint` as `service` is started with: every span of a
/// parented trace sampled, exported within 100 ms, the request's log line in JSON.
fn traced_env(endpoint: &str, service: &str) -> Vec<(&'static str, String)> {
    vec![
        ("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint.to_owned()),
        ("OTEL_SERVICE_NAME", service.to_owned()),
        ("OTEL_TRACES_SAMPLER", "parentbased_always_on".to_owned()),
        ("OTEL_BSP_SCHEDULE_DELAY", "100".to_owned()),
        ("LIVECHAT_LOG_FORMAT", "json".to_owned()),
        ("RUST_LOG", "info,livechat_sessions::api=debug".to_owned()),
    ]
}

fn as_refs<'a>(env: &'a [(&'static str, String)]) -> Vec<(&'static str, &'a str)> {
    env.iter().map(|(k, v)| (*k, v.as_str())).collect()
}

/// Appends one image over REST with the caller's `traceparent`.
async fn append_traced(user: &ProcessUser, id: &str, traceparent: &str) {
    let response = user
        .client
        .request(
            Method::POST,
            format!("{}{BASE}/{id}/messages", user.address),
        )
        .bearer_auth(&user.token)
        .header("traceparent", traceparent)
        .body(
            json!({ "prompt": "traced", "images": [{ "url": "https://img/traced" }] }).to_string(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
}

#[tokio::test]
async fn one_append_is_one_trace_from_the_request_to_the_other_instance_s_socket() {
    let receiver = Receiver::start("127.0.0.1:0").await;
    let mut cluster = Cluster::new(&redis_url());
    let env_a = traced_env(&receiver.address, "instance-a");
    let env_b = traced_env(&receiver.address, "instance-b");
    let a = cluster.start_with(0, &as_refs(&env_a)).await;
    let b = cluster.start_with(1, &as_refs(&env_b)).await;
    let token = cluster.token("u");
    let user_a = ProcessUser::new(&a, &token);
    let id = user_a.create("traced").await;

    let mut tab = LiveClient::connect(&live_url(&b.address, &id, None), Some(&token)).await;
    assert_eq!(tab.next().await["type"], "snapshot");

    let trace_id = "4bf92f3577b34da6a3ce929d0e0e4736";
    let caller = "00f067aa0ba902b7";
    append_traced(&user_a, &id, &format!("00-{trace_id}-{caller}-01")).await;
    let event = tab.event().await;
    assert_eq!(event["type"], "message.added");

    let wanted = [
        ("instance-a", "request"),
        ("instance-a", "commit"),
        ("instance-a", "store"),
        ("instance-a", "redis.publish"),
        ("instance-b", "deliver"),
    ];
    let spans = receiver.trace(trace_id, &wanted).await;
    let find = |service: &str, name: &str| {
        spans
            .iter()
            .find(|s| s.service == service && s.name == name)
            .unwrap_or_else(|| panic!("no {name} span of {service} in the trace: {spans:#?}"))
            .clone()
    };
    let request = find("instance-a", "request");
    assert_eq!(
        request.parent_span_id, caller,
        "the caller's trace continues"
    );
    let commit = find("instance-a", "commit");
    assert_eq!(commit.parent_span_id, request.span_id);
    assert!(
        commit.links.contains(&request.span_id),
        "the commit links its writes"
    );
    let store_commit = spans
        .iter()
        .find(|s| s.name == "store" && s.parent_span_id == commit.span_id)
        .unwrap_or_else(|| panic!("no store call under the commit: {spans:#?}"));
    assert_eq!(store_commit.service, "instance-a");
    let publish = find("instance-a", "redis.publish");
    assert_eq!(publish.parent_span_id, commit.span_id);
    let deliver = find("instance-b", "deliver");
    assert_eq!(
        deliver.parent_span_id, publish.span_id,
        "the trace crossed Redis"
    );

    // The request's log lines carry the trace's ids.
    let log = cluster.log(0);
    let answered = log
        .lines()
        .find(|line| line.contains("\"answered\"") && line.contains("/messages"))
        .unwrap_or_else(|| panic!("no log line of the append: {log}"));
    assert!(
        answered.contains(&format!("\"trace_id\":\"{trace_id}\"")),
        "{answered}"
    );
    assert!(
        answered.contains(&format!("\"span_id\":\"{}\"", request.span_id)),
        "{answered}"
    );

    // A socket command's `traceparent` is continued the same way.
    let socket_trace = "0af7651916cd43dd8448eb211c80319c";
    let reply = tab
        .request(
            "message.add",
            json!({
                "prompt": "traced by socket",
                "images": [{ "url": "https://img/traced-by-socket" }],
                "traceparent": format!("00-{socket_trace}-b7ad6b7169203331-01"),
            }),
        )
        .await;
    assert_eq!(reply["ok"], true, "{reply}");
    let spans = receiver
        .trace(
            socket_trace,
            &[("instance-b", "command"), ("instance-b", "commit")],
        )
        .await;
    let command = spans
        .iter()
        .find(|s| s.name == "command")
        .unwrap_or_else(|| panic!("no command span: {spans:#?}"));
    assert_eq!(command.parent_span_id, "b7ad6b7169203331");
    assert!(
        spans
            .iter()
            .any(|s| s.name == "commit" && s.parent_span_id == command.span_id),
        "{spans:#?}"
    );

    for server in [a, b] {
        server.kill9().await;
    }
}

#[tokio::test]
async fn without_an_endpoint_nothing_is_exported_and_no_log_line_carries_a_trace() {
    // A receiver where the exporter would send by default, to see that nothing comes.
    let receiver = Receiver::start("127.0.0.1:4318").await;
    let mut cluster = Cluster::new(&redis_url());
    let a = cluster
        .start_with(
            0,
            &[
                ("OTEL_SERVICE_NAME", "untraced"),
                ("OTEL_TRACES_SAMPLER", "always_on"),
                ("LIVECHAT_LOG_FORMAT", "json"),
                ("RUST_LOG", "info,livechat_sessions::api=debug"),
            ],
        )
        .await;
    let token = cluster.token("u");
    let user = ProcessUser::new(&a, &token);
    let id = user.create("untraced").await;
    append_traced(
        &user,
        &id,
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
    )
    .await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let log = cluster.log(0);
    let answered = log
        .lines()
        .find(|line| line.contains("\"answered\"") && line.contains("/messages"))
        .unwrap_or_else(|| panic!("no log line of the append: {log}"));
    assert!(!answered.contains("trace_id"), "{answered}");
    assert!(!log.contains("exporting traces"), "{log}");
    a.kill9().await;
    assert!(receiver.spans().is_empty(), "{:#?}", receiver.spans());
}
