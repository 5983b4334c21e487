//! A loopback TCP proxy a test controls, to cut a daemon off from a server (its PostgreSQL) the
//! way a broken network does: [`CutProxy::cut`] silences every connection through it — nothing is
//! forwarded any more, nothing is closed, so the daemon's sockets see neither data nor an end,
//! exactly as when packets are dropped — and new connections are accepted and left silent too.
//! [`CutProxy::heal`] closes the silenced ones (the daemon then sees them end) and forwards new
//! connections again. Real sockets throughout (tokio).

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

/// A running proxy on `127.0.0.1:port` to one upstream address; stopped when dropped.
pub struct CutProxy {
    pub port: u16,
    cut: Arc<watch::Sender<bool>>,
    /// The sockets of silenced connections, kept open (and so silent) until healed.
    held: Arc<Mutex<Vec<TcpStream>>>,
    accepting: tokio::task::JoinHandle<()>,
}

impl CutProxy {
    /// Starts forwarding `127.0.0.1:<port>` to `upstream`.
    pub async fn start(upstream: SocketAddr) -> CutProxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind proxy");
        let port = listener.local_addr().expect("proxy address").port();
        let cut = Arc::new(watch::Sender::new(false));
        let held: Arc<Mutex<Vec<TcpStream>>> = Arc::default();
        let accepting = tokio::spawn({
            let (cut, held) = (cut.clone(), held.clone());
            async move {
                while let Ok((client, _)) = listener.accept().await {
                    if *cut.borrow() {
                        held.lock().expect("held").push(client);
                        continue;
                    }
                    tokio::spawn(forward(client, upstream, cut.subscribe(), held.clone()));
                }
            }
        });
        CutProxy {
            port,
            cut,
            held,
            accepting,
        }
    }

    /// Silences every connection, open and new (see the module documentation).
    pub fn cut(&self) {
        self.cut.send_replace(true);
    }

    /// Ends the silenced connections and forwards new ones again.
    pub fn heal(&self) {
        self.cut.send_replace(false);
        self.held.lock().expect("held").clear();
    }
}

impl Drop for CutProxy {
    fn drop(&mut self) {
        self.accepting.abort();
    }
}

/// Copies between `client` and `upstream` until either ends, or the proxy is cut: then both
/// sockets are kept open, silent.
async fn forward(
    mut client: TcpStream,
    upstream: SocketAddr,
    mut cut: watch::Receiver<bool>,
    held: Arc<Mutex<Vec<TcpStream>>>,
) {
    let Ok(mut server) = TcpStream::connect(upstream).await else {
        return;
    };
    let silenced = tokio::select! {
        _ = tokio::io::copy_bidirectional(&mut client, &mut server) => false,
        _ = cut.wait_for(|cut| *cut) => true,
    };
    if silenced {
        held.lock().expect("held").extend([client, server]);
    }
}

/// `url` (`postgres://user@127.0.0.1:PORT/NAME`) with its port replaced by `port`.
pub fn through_port(url: &str, port: u16) -> String {
    let (head, tail) = url.rsplit_once('/').expect("a database name");
    let (host, _) = head.rsplit_once(':').expect("a port");
    format!("{host}:{port}/{tail}")
}

/// The address in `url` (`postgres://user@127.0.0.1:PORT/NAME`).
pub fn address_of(url: &str) -> SocketAddr {
    let (head, _) = url.rsplit_once('/').expect("a database name");
    let (_, address) = head.rsplit_once('@').expect("a user");
    address.parse().expect("host:port")
}
