//! A TCP proxy on loopback that a test partitions and heals: while
//! partitioned, connections stay open and new ones are accepted, but no
//! byte crosses in either direction (what a client sees when a network
//! drops packets or the server is paused); healed, what was held flows on.

use crate::TestResult;
use std::net::SocketAddr;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::{JoinHandle, JoinSet};

/// A proxy from its own loopback port to `target`; dropping it closes
/// every connection.
#[derive(Debug)]
pub struct FaultProxy {
    pub port: u16,
    blocked: watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl FaultProxy {
    /// Listen on a free loopback port, forwarding to `target`.
    pub async fn start(target: SocketAddr) -> TestResult<FaultProxy> {
        let listener = TcpListener::bind(("127.0.0.1", crate::process::free_port()?)).await?;
        let port = listener.local_addr()?.port();
        let (blocked, watch) = watch::channel(false);
        let task = tokio::spawn(accept(listener, target, watch));
        Ok(FaultProxy {
            port,
            blocked,
            task,
        })
    }

    /// Stop every byte, both ways, until [`FaultProxy::heal`].
    pub fn partition(&self) {
        self.blocked.send_replace(true);
    }

    /// Let bytes flow again.
    pub fn heal(&self) {
        self.blocked.send_replace(false);
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn accept(listener: TcpListener, target: SocketAddr, blocked: watch::Receiver<bool>) {
    // Owned here: aborting the accept loop drops (and aborts) every pipe.
    let mut pipes = JoinSet::new();
    loop {
        let Ok((client, _)) = listener.accept().await else {
            continue;
        };
        while pipes.try_join_next().is_some() {}
        let blocked = blocked.clone();
        pipes.spawn(async move {
            let mut gate = blocked.clone();
            if gate.wait_for(|b| !*b).await.is_err() {
                return;
            }
            let Ok(server) = TcpStream::connect(target).await else {
                return;
            };
            let (client_read, client_write) = client.into_split();
            let (server_read, server_write) = server.into_split();
            tokio::select! {
                () = pipe(client_read, server_write, blocked.clone()) => {}
                () = pipe(server_read, client_write, blocked) => {}
            }
        });
    }
}

/// Copy `from` to `to`, holding what was read while the gate is closed.
async fn pipe(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    mut gate: watch::Receiver<bool>,
) {
    let mut buf = vec![0_u8; 16 * 1024];
    loop {
        let n = match from.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        if gate.wait_for(|b| !*b).await.is_err() {
            return;
        }
        if to.write_all(&buf[..n]).await.is_err() {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn a_partition_holds_bytes_until_healed() -> TestResult {
        let echo = TcpListener::bind("127.0.0.1:0").await?;
        let target = echo.local_addr()?;
        tokio::spawn(async move {
            while let Ok((mut s, _)) = echo.accept().await {
                tokio::spawn(async move {
                    let mut buf = [0_u8; 64];
                    while let Ok(n) = s.read(&mut buf).await {
                        if n == 0 || s.write_all(&buf[..n]).await.is_err() {
                            return;
                        }
                    }
                });
            }
        });
        let proxy = FaultProxy::start(target).await?;
        let mut conn = TcpStream::connect(("127.0.0.1", proxy.port)).await?;
        let mut buf = [0_u8; 4];
        conn.write_all(b"ping").await?;
        conn.read_exact(&mut buf).await?;
        assert_eq!(&buf, b"ping");

        proxy.partition();
        conn.write_all(b"held").await?;
        let silent = tokio::time::timeout(Duration::from_millis(300), conn.read(&mut buf)).await;
        assert!(silent.is_err(), "an answer crossed the partition");

        proxy.heal();
        tokio::time::timeout(Duration::from_secs(5), conn.read_exact(&mut buf)).await??;
        assert_eq!(&buf, b"held");
        Ok(())
    }
}
