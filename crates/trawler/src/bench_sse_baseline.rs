//! The baseline of `trawler bench sse`: a minimal server that fans one frame
//! out to every subscriber with nothing around it — two threads (as the
//! node has two workers), each a single-threaded tokio runtime accepting on
//! the same socket, and a tokio broadcast channel; no HTTP framework, no
//! routing, no authentication, no event bus. The same subscribers read it
//! as they read the node, so the node's time to its last subscriber can be
//! set against what one machine gives at all.

use std::sync::Arc;

use anyhow::{Context, Result};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::{broadcast, watch};

/// A frame, shared by every connection that writes it.
pub(crate) type Frame = Arc<[u8]>;

/// The running baseline server.
pub(crate) struct Baseline {
    /// Where it listens (`127.0.0.1:port`).
    pub host: String,
    frames: broadcast::Sender<Frame>,
    stop: watch::Sender<bool>,
    threads: Vec<std::thread::JoinHandle<()>>,
}

impl Baseline {
    /// Starts it on a free loopback port.
    pub(crate) fn start() -> Result<Baseline> {
        let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
        listener.set_nonblocking(true)?;
        let host = listener.local_addr()?.to_string();
        let (frames, _) = broadcast::channel::<Frame>(16);
        let (stop, stopped) = watch::channel(false);
        let mut threads = Vec::new();
        for _ in 0..2 {
            let listener = listener.try_clone()?;
            let (frames, stopped) = (frames.clone(), stopped.clone());
            threads.push(std::thread::spawn(move || {
                let Ok(rt) = tokio::runtime::Builder::new_current_thread().enable_all().build() else { return };
                rt.block_on(async move {
                    let Ok(listener) = tokio::net::TcpListener::from_std(listener) else { return };
                    let mut stopping = stopped.clone();
                    loop {
                        tokio::select! {
                            accepted = listener.accept() => {
                                if let Ok((stream, _)) = accepted {
                                    tokio::spawn(serve(stream, frames.subscribe(), stopped.clone()));
                                }
                            }
                            _ = stopping.wait_for(|s| *s) => return,
                        }
                    }
                });
            }));
        }
        Ok(Baseline { host, frames, stop, threads })
    }

    /// Sends `frame` to every subscriber.
    pub(crate) fn send(&self, frame: Frame) -> Result<usize> {
        self.frames.send(frame).context("no subscriber")
    }
}

impl Drop for Baseline {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

/// One subscriber: reads its request, answers with an event stream, then
/// writes every frame broadcast until it closes or the server stops.
async fn serve(
    mut stream: tokio::net::TcpStream,
    mut frames: broadcast::Receiver<Frame>,
    mut stop: watch::Receiver<bool>,
) {
    let mut request = Vec::new();
    let mut buf = [0u8; 1024];
    while !request.windows(4).any(|w| w == b"\r\n\r\n") {
        match stream.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => request.extend_from_slice(&buf[..n]),
        }
    }
    let head = b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ncache-control: no-cache\r\n\r\n: connected\n\n";
    if stream.write_all(head).await.is_err() {
        return;
    }
    loop {
        tokio::select! {
            frame = frames.recv() => match frame {
                Ok(frame) => {
                    if stream.write_all(&frame).await.is_err() {
                        return;
                    }
                }
                Err(broadcast::error::RecvError::Lagged(_)) => continue,
                Err(broadcast::error::RecvError::Closed) => return,
            },
            _ = stop.changed() => return,
        }
    }
}
