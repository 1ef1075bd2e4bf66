//! Writers on several instances appending to one session at once, each retrying a refused
//! append with the same `messageId` until it is acknowledged: how long each instance's writes
//! take from the first try to the acknowledgement. With one instance's store link slowed (see
//! `delay`), the figure of that instance says whether the others starve it.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::json;

use crate::report::Recorder;
use crate::{Client, Common, run_id};

pub async fn contend(common: Common, spread: Vec<String>) -> anyhow::Result<()> {
    let mut targets = vec![common.target.clone()];
    targets.extend(spread);
    let first = Client::new(&common, "load-contend")?;
    let run = run_id();
    let id = Arc::new(first.create(&format!("contend-{run}")).await?);
    let deadline = Instant::now() + Duration::from_secs(common.duration);
    let started = Instant::now();
    let mut writers = Vec::new();
    for (t, target) in targets.iter().enumerate() {
        let mut at = common.clone();
        at.target = target.clone();
        for w in 0..common.connections {
            let client = Client::new(&at, "load-contend")?;
            let (id, run) = (Arc::clone(&id), run.clone());
            writers.push(tokio::spawn(async move {
                let mut recorder = Recorder::new();
                let mut retries = 0u64;
                let mut n = 0u64;
                while Instant::now() < deadline {
                    n += 1;
                    let message_id = format!("{run}-{t}-{w}-{n}");
                    let url = format!("https://img.example/{message_id}.png");
                    let body = json!({
                        "prompt": "make the sky a little bluer",
                        "images": [{ "url": url }],
                        "messageId": message_id,
                    })
                    .to_string();
                    let first_try = Instant::now();
                    let outcome = loop {
                        let request = client
                            .http
                            .post(format!("{}/{id}/messages", client.base))
                            .body(body.clone());
                        match client.check(request).await {
                            Ok(_) => break None,
                            // Refused for now (503, a conflict, a dropped connection): the same
                            // write again, as a client retrying by messageId does.
                            Err(err) if retryable(&err) => {
                                retries += 1;
                                if first_try.elapsed() > Duration::from_secs(60) {
                                    break Some(err);
                                }
                                tokio::time::sleep(Duration::from_millis(50)).await;
                            }
                            Err(err) => break Some(err),
                        }
                    };
                    recorder.record(first_try.elapsed(), outcome);
                }
                (t, recorder, retries)
            }));
        }
    }
    let mut per_target: Vec<(Recorder, u64)> =
        targets.iter().map(|_| (Recorder::new(), 0)).collect();
    for writer in writers {
        let (t, recorder, retries) = writer.await?;
        per_target[t].0.merge(recorder);
        per_target[t].1 += retries;
    }
    let elapsed = started.elapsed();
    let mut figures = Vec::new();
    println!(
        "contend: one session, {} writer(s) on each of {} instance(s), {:.1} s",
        common.connections,
        targets.len(),
        elapsed.as_secs_f64()
    );
    println!(
        "  {:<28} {:>6} {:>9} {:>9} {:>9} {:>8} {:>7}",
        "instance", "acks", "p50 ms", "p99 ms", "max ms", "retries", "errors"
    );
    for (target, (recorder, retries)) in targets.iter().zip(per_target.iter_mut()) {
        recorder.finish(elapsed);
        let figure = recorder.figures();
        println!(
            "  {target:<28} {:>6} {:>9.1} {:>9.1} {:>9.1} {retries:>8} {:>7}",
            recorder.ok(),
            figure["p50_ms"].as_f64().unwrap_or_default(),
            figure["p99_ms"].as_f64().unwrap_or_default(),
            figure["max_ms"].as_f64().unwrap_or_default(),
            recorder.errors(),
        );
        let mut figure = figure;
        figure["target"] = json!(target);
        figure["retries"] = json!(retries);
        figures.push(figure);
    }
    println!(
        "{}",
        json!({
            "scenario": "contend",
            "connections": common.connections,
            "seconds": elapsed.as_secs_f64(),
            "instances": figures,
        })
    );
    Ok(())
}

/// Whether a refused append is one a client retries: the server was unavailable or busy, or
/// the connection failed.
fn retryable(err: &anyhow::Error) -> bool {
    if err.downcast_ref::<reqwest::Error>().is_some() {
        return true;
    }
    let text = err.to_string();
    ["503", "502", "504", "429"]
        .iter()
        .any(|status| text.starts_with(status))
}
