/*!
A TCP proxy between agents and the server that can cut every connection in the middle of a
message: the next chunk an agent sends is forwarded only in part, then both sides are
closed. Agents reach the server through it, so a cut is what a flaky network does to them.
*/

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

pub struct Proxy {
    pub url: String,
    cut: watch::Sender<u64>,
    /// Connections cut part-way through a chunk.
    halfway: Arc<AtomicU64>,
    task: tokio::task::JoinHandle<()>,
}

impl Proxy {
    /// Listens on a free loopback port and forwards to `upstream` (host:port).
    pub async fn start(upstream: String) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("proxy port");
        let url = format!("http://{}", listener.local_addr().expect("address"));
        let (cut, _) = watch::channel(0u64);
        let halfway = Arc::new(AtomicU64::new(0));
        let (tx, counter) = (cut.clone(), halfway.clone());
        let task = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let (upstream, cuts, counter) = (upstream.clone(), tx.subscribe(), counter.clone());
                tokio::spawn(async move {
                    if let Ok(server) = TcpStream::connect(&upstream).await {
                        pipe(client, server, cuts, counter).await;
                    }
                });
            }
        });
        Proxy { url, cut, halfway, task }
    }

    /// Cuts every open connection: each is closed after forwarding part of its next chunk.
    pub fn cut_all(&self) {
        self.cut.send_modify(|n| *n += 1);
    }

    /// How many connections were cut with a message half-sent.
    pub fn cut_mid_message(&self) -> u64 {
        self.halfway.load(Ordering::Relaxed)
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn pipe(mut client: TcpStream, mut server: TcpStream, mut cuts: watch::Receiver<u64>, halfway: Arc<AtomicU64>) {
    let _ = client.set_nodelay(true);
    let _ = server.set_nodelay(true);
    let (mut cr, mut cw) = client.split();
    let (mut sr, mut sw) = server.split();
    let mut up = vec![0u8; 16 * 1024];
    let mut down = vec![0u8; 16 * 1024];
    let mut cutting = false;
    loop {
        tokio::select! {
            _ = cuts.changed(), if !cutting => cutting = true,
            n = cr.read(&mut up) => match n {
                Ok(0) | Err(_) => return,
                Ok(n) if cutting => {
                    // Half the chunk, then nothing: the server sees a frame that never ends.
                    let _ = sw.write_all(&up[..n.div_ceil(2)]).await;
                    halfway.fetch_add(1, Ordering::Relaxed);
                    return;
                }
                Ok(n) => if sw.write_all(&up[..n]).await.is_err() { return },
            },
            n = sr.read(&mut down) => match n {
                Ok(0) | Err(_) => return,
                Ok(n) => if cw.write_all(&down[..n]).await.is_err() { return },
            },
        }
    }
}
