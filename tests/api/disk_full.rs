//! The embedded store on a disk that fills up: writes are refused with 503 and change nothing,
//! reads keep working, nothing acknowledged is lost (not even across `kill -9`), and writes
//! succeed again once there is room. The disk is a small tmpfs this test mounts, so it runs as
//! root (as CI does); without root it fails rather than skips.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::*;

/// A tmpfs of `size` mounted on a temporary directory, unmounted when dropped.
struct SmallDisk {
    dir: tempfile::TempDir,
}

impl SmallDisk {
    fn mount(size: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let status = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir.path())
            .status()
            .expect("mount runs");
        assert!(
            status.success(),
            "cannot mount a {size} tmpfs: the disk-full test needs root (CI runs as root)"
        );
        Self { dir }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Writes a file until the disk refuses another byte.
    fn fill(&self) -> PathBuf {
        let path = self.path().join("filler");
        let mut file = std::fs::File::create(&path).unwrap();
        let chunk = vec![0u8; 64 * 1024];
        while file.write_all(&chunk).is_ok() {}
        let mut byte = [0u8; 1];
        while file.write_all(&byte).is_ok() {
            byte[0] = 1;
        }
        path
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(self.dir.path())
            .status();
    }
}

async fn append(user: &ProcessUser, id: &str, n: u64) -> (u16, Value) {
    let body = json!({
        "messageId": format!("m-{n}"),
        "prompt": "x".repeat(2_000),
        "images": [{ "url": format!("https://img.example/{n}") }],
    });
    user.call(Method::POST, &format!("{BASE}/{id}/messages"), Some(body))
        .await
        .unwrap()
}

#[tokio::test]
async fn a_full_disk_refuses_writes_with_503_keeps_reads_and_loses_nothing() {
    let disk = SmallDisk::mount("24m");
    let data = disk.path().join("data");
    let server = ServerProcess::on_sqlite(&data).await;
    let user = ProcessUser::new(&server, &token_from_cli(&data, "u").await);
    let id = user.create("s").await;
    let mut acknowledged = BTreeMap::new();
    for n in 0..20 {
        let (status, reply) = append(&user, &id, n).await;
        assert_eq!(status, 200, "{reply}");
        acknowledged.insert(
            format!("https://img.example/{n}"),
            reply["data"]["orders"][0].as_u64().unwrap(),
        );
    }

    // The disk fills up. Appends that still fit in space already allocated may be acknowledged;
    // the first refused one is a 503, and refusals change nothing.
    let filler = disk.fill();
    let mut refused = Vec::new();
    for n in 20..220 {
        let (status, reply) = append(&user, &id, n).await;
        match status {
            200 => {
                acknowledged.insert(
                    format!("https://img.example/{n}"),
                    reply["data"]["orders"][0].as_u64().unwrap(),
                );
            }
            503 => {
                assert_eq!(reply["data"]["code"], "unavailable");
                assert_eq!(reply["data"]["retryable"], true);
                refused.push(n);
            }
            other => panic!("an append on a full disk answered {other}: {reply}"),
        }
        if refused.len() >= 5 {
            break;
        }
    }
    assert_eq!(refused.len(), 5, "appends on a full disk were not refused");

    // Reads keep working, and show exactly what was acknowledged.
    let session = user.session(&id).await;
    assert_eq!(session["seq"], acknowledged.len() as u64);
    assert_kept(&session, &acknowledged);
    let (status, _) = user
        .call(Method::GET, &format!("{BASE}?limit=5"), None)
        .await
        .unwrap();
    assert_eq!(status, 200);
    let (status, restored) = user
        .call(
            Method::GET,
            &format!(
                "{BASE}/by-image-url?imageUrl={}",
                urlencode("https://img.example/3")
            ),
            None,
        )
        .await
        .unwrap();
    assert_eq!(status, 200);
    assert_eq!(restored["data"]["session"]["id"], id.as_str());
    let (status, _) = user.call(Method::GET, "/readyz", None).await.unwrap();
    assert_eq!(status, 503, "not ready while the journal cannot be written");

    // Room again: the same appends succeed (once each), and later ones too.
    std::fs::remove_file(filler).unwrap();
    for n in refused.iter().copied().chain(300..310) {
        let mut answer = append(&user, &id, n).await;
        for _ in 0..50 {
            if answer.0 == 200 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
            answer = append(&user, &id, n).await;
        }
        assert_eq!(
            answer.0, 200,
            "writes resume once there is room: {}",
            answer.1
        );
        acknowledged.insert(
            format!("https://img.example/{n}"),
            answer.1["data"]["orders"][0].as_u64().unwrap(),
        );
    }

    // Nothing acknowledged is lost, not even by a crash right now.
    server.kill9().await;
    let server = ServerProcess::on_sqlite(&data).await;
    let user = user.on(&server);
    let session = user.session(&id).await;
    assert_eq!(
        assert_kept(&session, &acknowledged),
        acknowledged.len() as u64
    );
    assert_eq!(
        session["seq"],
        acknowledged.len() as u64,
        "no refused append was applied"
    );
    server.kill9().await;
}
