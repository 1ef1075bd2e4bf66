//! Server-Sent Events across instances: a stream on one instance follows writes made on another.

use crate::event_stream::Events;
use crate::helpers::*;
use crate::{Cluster, redis_url};

#[tokio::test]
async fn a_stream_on_one_instance_delivers_the_events_written_on_another() {
    let mut cluster = Cluster::new(&redis_url());
    let (servers, token, users) = cluster.start_all(3, "u").await;
    let id = users[0].create("streamed").await;
    let mut streams = Vec::new();
    for server in &servers[1..] {
        let url = format!("{}{BASE}/{id}/events", server.address);
        let mut stream = Events::connect(&url, &token, &[]).await;
        assert_eq!(stream.next().await.kind, "snapshot");
        streams.push(stream);
    }
    let list_url = format!("{}{BASE}/events", servers[2].address);
    let mut list = Events::connect(&list_url, &token, &[]).await;
    assert_eq!(list.next().await.kind, "sessions");
    for n in 1..=5u64 {
        assert_eq!(
            users[0].append(&id, &format!("https://img/{n}")).await,
            Some(n)
        );
    }
    for stream in &mut streams {
        for n in 1..=5u64 {
            let event = stream.next().await;
            assert_eq!(
                (event.kind.as_str(), event.id),
                ("message.added", Some(n.to_string()))
            );
        }
    }
    // The list on the third instance saw the session move (summaries may be coalesced).
    loop {
        let event = list.next().await;
        if event.kind == "session.changed" && event.data["seq"] == 5 {
            break;
        }
    }
    for server in servers {
        server.kill9().await;
    }
}
