//! The address a server listens on, observed from outside.

use std::fmt;
use std::net::SocketAddr;

use tokio::sync::watch;

/// The address an [`HttpServer`](super::HttpServer) listens on, as it
/// changes: `Some` while it listens, `None` before it binds and once it
/// stops accepting. Made by [`HttpServer::local_addr`](super::HttpServer::local_addr);
/// cheap to clone.
///
/// ```
/// use axum::Router;
/// use orchestra::HttpServer;
///
/// let server: HttpServer = HttpServer::bind(([127, 0, 0, 1], 0), Router::new());
/// let addr = server.local_addr();
/// assert_eq!(addr.get(), None, "not listening before it runs");
/// # drop(server);
/// ```
#[derive(Clone)]
pub struct LocalAddr {
    receiver: watch::Receiver<Option<SocketAddr>>,
}

impl LocalAddr {
    pub(super) fn new(receiver: watch::Receiver<Option<SocketAddr>>) -> Self {
        LocalAddr { receiver }
    }

    /// The address the server listens on now, if it does.
    pub fn get(&self) -> Option<SocketAddr> {
        *self.receiver.borrow()
    }

    /// Waits until the server listens and returns its address; `None` if the
    /// server is dropped first. Returns at once if it listens already.
    pub async fn listening(&self) -> Option<SocketAddr> {
        let mut receiver = self.receiver.clone();
        let addr = receiver.wait_for(Option::is_some).await.ok()?;
        *addr
    }

    /// The underlying channel, to follow every change (such as a restarted
    /// server listening on a new ephemeral port, or a server that stopped
    /// accepting).
    ///
    /// ```
    /// # use axum::Router;
    /// # use orchestra::HttpServer;
    /// # async fn wait(server: &HttpServer) {
    /// let mut changes = server.local_addr().receiver();
    /// // Wait until the server no longer accepts connections.
    /// let _ = changes.wait_for(Option::is_none).await;
    /// # }
    /// ```
    pub fn receiver(&self) -> watch::Receiver<Option<SocketAddr>> {
        self.receiver.clone()
    }
}

impl fmt::Debug for LocalAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("LocalAddr").field(&self.get()).finish()
    }
}
