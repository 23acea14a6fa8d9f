//! Jump hosts and local port forwards, both over direct-tcpip channels.

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::net::TcpListener;
use tokio::task::{JoinHandle, JoinSet};
use tokio::time::Instant;

use super::connect::{Dial, establish};
use super::{Session, SessionError, Target};

/// A local port forward; it stops when dropped.
#[derive(Debug)]
pub struct Forward {
    local: SocketAddr,
    task: JoinHandle<()>,
}

impl Forward {
    /// The local address (127.0.0.1 and a free port) that reaches the remote end.
    pub fn local_addr(&self) -> SocketAddr {
        self.local
    }
}

impl Drop for Forward {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Session {
    /// Opens an SSH session to `target` through this one (a jump host); its host key is pinned too.
    ///
    /// Retries like [`connect`](super::connect) while the target boots, with this session's login.
    pub async fn jump(&self, target: &Target, deadline: Instant) -> Result<Session, SessionError> {
        let handle = establish(target, &self.auth, deadline, Dial::Via(&self.handle)).await?;
        Ok(Session {
            handle: Arc::new(handle),
            label: format!("{} via {}", target.label(), self.label),
            auth: self.auth.clone(),
            _via: Some(Arc::clone(&self.handle)),
        })
    }

    /// Listens on 127.0.0.1 (free port) and tunnels each connection to `remote_host:remote_port`
    /// as seen from the server (e.g. the Kubernetes API at 127.0.0.1:6443).
    pub async fn forward(
        &self,
        remote_host: &str,
        remote_port: u16,
    ) -> Result<Forward, SessionError> {
        self.forward_from(0, remote_host, remote_port).await
    }

    /// [`forward`](Self::forward) from a chosen local port on 127.0.0.1 (0: any free one).
    pub async fn forward_from(
        &self,
        local_port: u16,
        remote_host: &str,
        remote_port: u16,
    ) -> Result<Forward, SessionError> {
        let remote = format!("{remote_host}:{remote_port}");
        let listener = TcpListener::bind(("127.0.0.1", local_port))
            .await
            .map_err(|source| SessionError::Listen {
                remote: remote.clone(),
                source,
            })?;
        let local = listener
            .local_addr()
            .map_err(|source| SessionError::Listen {
                remote: remote.clone(),
                source,
            })?;
        let handle = Arc::clone(&self.handle);
        let host = self.label.clone();
        let remote_host = remote_host.to_owned();
        let task = tokio::spawn(async move {
            // Dropping the set (when the forward is dropped) aborts every open connection.
            let mut connections = JoinSet::new();
            loop {
                let (mut tcp, peer) = match listener.accept().await {
                    Ok(accepted) => accepted,
                    Err(err) => {
                        tracing::debug!(host = %host, error = %err, "forward: accept failed");
                        continue;
                    }
                };
                let handle = Arc::clone(&handle);
                let host = host.clone();
                let remote_host = remote_host.clone();
                connections.spawn(async move {
                    let opened = handle
                        .channel_open_direct_tcpip(
                            remote_host.as_str(),
                            u32::from(remote_port),
                            peer.ip().to_string(),
                            u32::from(peer.port()),
                        )
                        .await;
                    let channel = match opened {
                        Ok(channel) => channel,
                        Err(err) => {
                            tracing::debug!(host = %host, error = %err, "forward: tunnel refused");
                            return;
                        }
                    };
                    let mut stream = channel.into_stream();
                    if let Err(err) = tokio::io::copy_bidirectional(&mut tcp, &mut stream).await {
                        tracing::debug!(host = %host, error = %err, "forward: connection ended");
                    }
                });
                // Reap finished connections so the set does not grow without bound.
                while connections.try_join_next().is_some() {}
            }
        });
        Ok(Forward { local, task })
    }
}
