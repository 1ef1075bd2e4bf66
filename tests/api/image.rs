//! The container image, without a container engine: the binary is started exactly as the
//! `Dockerfile`'s runtime stage starts it (its entry point, command, environment and user),
//! from a copy of the binary in an empty directory, with a temporary directory for `/data`.

use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt as _, BufReader};
use tokio::process::Command;

use crate::helpers::*;

/// What the runtime stage of the `Dockerfile` says.
#[derive(Debug, Default)]
struct RuntimeStage {
    env: Vec<(String, String)>,
    user: Option<String>,
    entrypoint: Vec<String>,
    cmd: Vec<String>,
    healthcheck: Vec<String>,
    exposed: Vec<String>,
}

fn runtime_stage() -> RuntimeStage {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/Dockerfile"))
        .expect("a Dockerfile at the root");
    // Instructions, with continuation lines joined and comments dropped.
    let mut instructions: Vec<String> = Vec::new();
    let mut current = String::new();
    for line in text.lines() {
        let line = line.trim();
        if line.starts_with('#') || (line.is_empty() && current.is_empty()) {
            continue;
        }
        match line.strip_suffix('\\') {
            Some(part) => current.push_str(part),
            None => {
                current.push_str(line);
                instructions.push(std::mem::take(&mut current));
            }
        }
    }
    let last_from = instructions
        .iter()
        .rposition(|i| i.starts_with("FROM "))
        .expect("a FROM");
    let mut stage = RuntimeStage::default();
    for instruction in &instructions[last_from + 1..] {
        let (keyword, rest) = instruction.split_once(' ').unwrap_or((instruction, ""));
        match keyword {
            "ENV" => {
                for pair in rest.split_whitespace() {
                    let (key, value) = pair.split_once('=').expect("ENV KEY=VALUE");
                    stage
                        .env
                        .push((key.to_owned(), value.trim_matches('"').to_owned()));
                }
            }
            "USER" => stage.user = Some(rest.trim().to_owned()),
            "ENTRYPOINT" => stage.entrypoint = exec_form(rest),
            "CMD" => stage.cmd = exec_form(rest),
            "EXPOSE" => stage.exposed.push(rest.trim().to_owned()),
            "HEALTHCHECK" => {
                let (_, command) = rest.split_once("CMD").expect("HEALTHCHECK … CMD […]");
                stage.healthcheck = exec_form(command);
            }
            _ => {}
        }
    }
    stage
}

/// The JSON array of an exec-form instruction (`["/bin", "arg"]`).
fn exec_form(text: &str) -> Vec<String> {
    serde_json::from_str(text.trim()).unwrap_or_else(|e| panic!("not exec form: {text:?}: {e}"))
}

/// Runs as the image runs: the copied binary for the entry point, the stage's environment
/// only (with `/data` and the port replaced), and its numeric user when this test may switch
/// to it.
struct AsTheImage {
    stage: RuntimeStage,
    bin: PathBuf,
    data: PathBuf,
    user: Option<(u32, u32)>,
    _root: tempfile::TempDir,
}

impl AsTheImage {
    fn new() -> Self {
        let stage = runtime_stage();
        let root = tempfile::tempdir().unwrap();
        std::fs::set_permissions(root.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        let bin = root.path().join("livechat-sessions");
        std::fs::copy(BIN, &bin).unwrap();
        let data = root.path().join("data");
        std::fs::create_dir(&data).unwrap();
        let user = stage.user.as_deref().map(|user| {
            let (uid, gid) = user.split_once(':').unwrap_or((user, user));
            let ids = (
                uid.parse().expect("a numeric uid"),
                gid.parse().expect("a numeric gid"),
            );
            assert_ne!(ids.0, 0, "the image does not run as root");
            ids
        });
        // Only root can become another user; anyone else already is not root.
        let user = user.filter(|_| is_root());
        if let Some((uid, gid)) = user {
            std::os::unix::fs::chown(&data, Some(uid), Some(gid)).unwrap();
        }
        Self {
            stage,
            bin,
            data,
            user,
            _root: root,
        }
    }

    /// A command for the image's entry point with `args`, `LIVECHAT_ADDR` bound to `addr`.
    fn command(&self, args: &[String], addr: &str) -> Command {
        let entrypoint = &self.stage.entrypoint;
        assert_eq!(entrypoint.len(), 1, "the entry point is the binary");
        assert!(
            entrypoint[0].ends_with("/livechat-sessions"),
            "{entrypoint:?}"
        );
        let mut command = match self.user {
            Some((uid, gid)) => {
                let mut setpriv = Command::new("setpriv");
                setpriv
                    .arg(format!("--reuid={uid}"))
                    .arg(format!("--regid={gid}"))
                    .arg("--clear-groups")
                    .arg("--")
                    .arg(&self.bin);
                setpriv
            }
            None => Command::new(&self.bin),
        };
        command
            .args(args)
            .env_clear()
            .current_dir(self.bin.parent().unwrap())
            .kill_on_drop(true);
        for (key, value) in &self.stage.env {
            let value = match key.as_str() {
                "LIVECHAT_DATA_DIR" => {
                    assert_eq!(value, "/data");
                    self.data.to_str().unwrap().to_owned()
                }
                "LIVECHAT_ADDR" => {
                    assert_eq!(value, "0.0.0.0:8080", "all interfaces, port 8080");
                    addr.to_owned()
                }
                _ => value.clone(),
            };
            command.env(key, value);
        }
        command
    }
}

fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find(|l| l.starts_with("Uid:"))
                .map(|l| l.split_whitespace().nth(1) == Some("0"))
        })
        .unwrap_or(false)
}

#[tokio::test]
async fn the_binary_serves_the_embedded_default_as_the_image_runs_it() {
    let image = AsTheImage::new();
    assert_eq!(image.stage.exposed, ["8080"]);
    assert!(
        image
            .stage
            .env
            .iter()
            .any(|(k, v)| k == "LIVECHAT_LOG_FORMAT" && v == "json"),
        "the image logs JSON"
    );
    let mut child = image
        .command(&image.stage.cmd, "0.0.0.0:0")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the binary starts");
    let mut stdout = BufReader::new(child.stdout.take().unwrap()).lines();
    let line = tokio::time::timeout(Duration::from_secs(30), stdout.next_line())
        .await
        .expect("it prints its address")
        .unwrap()
        .unwrap();
    let port = line
        .strip_prefix("listening on http://0.0.0.0:")
        .unwrap_or_else(|| panic!("on all interfaces: {line:?}"));
    let address = format!("http://127.0.0.1:{port}");

    // A token from the binary, run the same way: same user, same data dir, same secret.
    let output = image
        .command(&["token".into(), "--uid".into(), "u".into()], "0.0.0.0:0")
        .output()
        .await
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    let token = String::from_utf8(output.stdout).unwrap().trim().to_owned();
    let client = reqwest::Client::new();
    let call = |method: Method, path: String, body: Option<Value>| {
        let mut request = client
            .request(method, format!("{address}{path}"))
            .bearer_auth(&token);
        if let Some(body) = body {
            request = request.body(body.to_string());
        }
        async move {
            let response = request.send().await.unwrap();
            (
                response.status().as_u16(),
                response.json::<Value>().await.unwrap(),
            )
        }
    };
    let (status, created) = call(
        Method::POST,
        BASE.into(),
        Some(json!({ "sessionId": "s", "model": "m" })),
    )
    .await;
    assert_eq!(status, 200, "{created}");
    let id = created["data"]["sessionDocId"].as_str().unwrap().to_owned();
    let (status, _) = call(
        Method::POST,
        format!("{BASE}/{id}/messages"),
        Some(json!({ "prompt": "p", "images": [{ "url": "https://img/1" }] })),
    )
    .await;
    assert_eq!(status, 200);
    let (status, restored) = call(
        Method::GET,
        format!(
            "{BASE}/by-image-url?imageUrl={}",
            urlencode("https://img/1")
        ),
        None,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(restored["data"]["session"]["id"], id.as_str());
    for path in ["/healthz", "/readyz"] {
        let (status, _) = call(Method::GET, path.into(), None).await;
        assert_eq!(status, 200, "{path}");
    }

    // The image's health check, against the server and against nothing.
    let healthy = image
        .command(&image.stage.healthcheck[1..], &format!("0.0.0.0:{port}"))
        .status()
        .await
        .unwrap();
    assert!(healthy.success(), "the health check passes while it serves");

    if let Some((uid, _)) = image.user {
        for entry in std::fs::read_dir(&image.data).unwrap() {
            let entry = entry.unwrap();
            let owner = std::os::unix::fs::MetadataExt::uid(&entry.metadata().unwrap());
            assert_eq!(owner, uid, "{:?} is the image user's", entry.path());
        }
    }
    assert!(
        image.data.join("sessions.sqlite3").exists(),
        "the data lives in the /data stand-in"
    );
    child.start_kill().unwrap();
    child.wait().await.unwrap();
    let mut stderr = BufReader::new(child.stderr.take().unwrap()).lines();
    while let Some(line) = stderr.next_line().await.unwrap() {
        serde_json::from_str::<Value>(&line)
            .unwrap_or_else(|e| panic!("the image logs JSON lines: {line:?}: {e}"));
    }
    let unhealthy = image
        .command(&image.stage.healthcheck[1..], &format!("0.0.0.0:{port}"))
        .status()
        .await
        .unwrap();
    assert!(
        !unhealthy.success(),
        "the health check fails once it is gone"
    );
}

#[test]
fn the_runtime_stage_is_distroless_non_root_and_holds_only_the_binary() {
    let text =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("Dockerfile")).unwrap();
    let runtime = &text[text.rfind("\nFROM ").expect("stages")..];
    let from = runtime.lines().nth(1).unwrap();
    assert!(
        from.starts_with("FROM gcr.io/distroless/"),
        "a distroless runtime: {from}"
    );
    let copies: Vec<&str> = runtime.lines().filter(|l| l.starts_with("COPY")).collect();
    assert_eq!(
        copies.len(),
        2,
        "the binary and the empty /data: {copies:?}"
    );
    assert!(copies[0].ends_with("/livechat-sessions /usr/local/bin/livechat-sessions"));
    assert!(copies[1].ends_with(" /data /data"));
    assert!(
        !runtime.contains("RUN "),
        "nothing is built or installed in the runtime stage"
    );
    assert!(
        text.contains("cargo chef cook"),
        "the dependencies are built in a layer of their own"
    );
}
