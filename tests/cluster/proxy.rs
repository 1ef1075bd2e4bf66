//! A TCP proxy between one instance and a backend (its Redis, its Firestore), switched at run
//! time to a failure of that link: cut, black hole, or latency. Only that instance's link
//! fails; the backend and the other instances' links stay as they are.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;

/// What the link does to the bytes between the instance and the backend.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Pass,
    /// Every open connection is closed; new ones are closed as soon as accepted.
    Cut,
    /// Connections stay open (new ones are accepted) but no byte goes through either way,
    /// until the mode changes again: what was held back then flows, as after a partition.
    Blackhole,
    /// Every chunk, either way, is delivered this much later, in order.
    Delay(Duration),
}

pub struct Proxy {
    pub addr: SocketAddr,
    /// Every connection's pumps watch it; dropping the proxy drops it, which ends them.
    mode: watch::Sender<Mode>,
    accepting: tokio::task::JoinHandle<()>,
}

impl Proxy {
    /// Listens on a free loopback port and forwards to `target` (`host:port`).
    pub async fn start(target: &str) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (mode, _) = watch::channel(Mode::Pass);
        let accepting = tokio::spawn(accept(listener, target.to_owned(), mode.subscribe()));
        Self {
            addr,
            mode,
            accepting,
        }
    }

    /// `127.0.0.1:PORT`, for `FIRESTORE_EMULATOR_HOST`.
    pub fn host(&self) -> String {
        self.addr.to_string()
    }

    /// `redis://127.0.0.1:PORT`.
    pub fn redis_url(&self) -> String {
        format!("redis://{}", self.addr)
    }

    pub fn set(&self, mode: Mode) {
        self.mode.send_replace(mode);
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.accepting.abort();
    }
}

async fn accept(listener: TcpListener, target: String, mode: watch::Receiver<Mode>) {
    loop {
        let Ok((client, _)) = listener.accept().await else {
            continue;
        };
        if *mode.borrow() == Mode::Cut {
            drop(client);
            continue;
        }
        let Ok(backend) = TcpStream::connect(&target).await else {
            continue;
        };
        let _ = client.set_nodelay(true);
        let _ = backend.set_nodelay(true);
        let (client_read, client_write) = client.into_split();
        let (backend_read, backend_write) = backend.into_split();
        tokio::spawn(pump(client_read, backend_write, mode.clone()));
        tokio::spawn(pump(backend_read, client_write, mode.clone()));
    }
}

/// One direction of one connection: reads chunks while the mode lets them through and hands
/// them, stamped with when they are due, to a writer that keeps their order.
async fn pump(mut from: OwnedReadHalf, to: OwnedWriteHalf, mut mode: watch::Receiver<Mode>) {
    let (chunks, due) = mpsc::unbounded_channel();
    let writer = tokio::spawn(deliver(to, due, mode.clone()));
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let current = *mode.borrow_and_update();
        let delay = match current {
            Mode::Cut => break,
            Mode::Blackhole => {
                if mode.changed().await.is_err() {
                    break;
                }
                continue;
            }
            Mode::Pass => Duration::ZERO,
            Mode::Delay(delay) => delay,
        };
        tokio::select! {
            read = from.read(&mut buf) => match read {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    if chunks.send((Instant::now() + delay, buf[..n].to_vec())).is_err() {
                        break;
                    }
                }
            },
            changed = mode.changed() => if changed.is_err() { break },
        }
    }
    drop(chunks);
    if *mode.borrow() == Mode::Cut {
        writer.abort();
    }
}

async fn deliver(
    mut to: OwnedWriteHalf,
    mut due: mpsc::UnboundedReceiver<(Instant, Vec<u8>)>,
    mut mode: watch::Receiver<Mode>,
) {
    while let Some((at, chunk)) = due.recv().await {
        tokio::time::sleep_until(at).await;
        loop {
            let current = *mode.borrow_and_update();
            match current {
                Mode::Cut => return,
                Mode::Blackhole => {
                    if mode.changed().await.is_err() {
                        return;
                    }
                }
                Mode::Pass | Mode::Delay(_) => break,
            }
        }
        if to.write_all(&chunk).await.is_err() {
            return;
        }
    }
    let _ = to.shutdown().await;
}
