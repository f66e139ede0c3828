//! A TCP proxy in front of one node's port: the link faults `netem` gives,
//! on kernels without it. Every byte a client or a peer sends the node,
//! and every byte back, passes through here, so a link can be slowed
//! (delay plus jitter, order kept: TCP cannot reorder a stream), held one
//! way (a blackhole) or held both ways for some sources (a partition).
//! Held bytes wait in the proxy and flow again when the fault is healed,
//! as TCP would retransmit them; a peer that gives up closes its
//! connection, and the proxy closes the other side.
//!
//! It is not a load balancer and does not parse what it carries.

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch};
use tokio::task::{JoinHandle, JoinSet};
use tokio::time::Instant;

/// What a proxy does to the traffic it carries.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LinkFaults {
    /// Added to every chunk, both ways.
    pub delay: Duration,
    /// Up to this much more, at random, per chunk.
    pub jitter: Duration,
    /// Traffic toward the node is held (from every source); what the node
    /// sends still flows.
    pub hold_in: bool,
    /// Connections from these sources are held both ways.
    pub cut: Vec<IpAddr>,
}

impl LinkFaults {
    fn holds(&self, toward_node: bool, source: IpAddr) -> bool {
        self.cut.contains(&source) || (toward_node && self.hold_in)
    }
}

/// A running proxy. Dropping it closes the listener and every connection.
pub struct Proxy {
    listen: SocketAddr,
    faults: watch::Sender<LinkFaults>,
    task: JoinHandle<()>,
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Proxy {
    /// Listens on `listen` (port 0: a free one) and forwards every
    /// connection to `target`, on `runtime`.
    pub fn start(
        listen: SocketAddr,
        target: SocketAddr,
        runtime: &tokio::runtime::Handle,
    ) -> io::Result<Proxy> {
        Proxy::on(std::net::TcpListener::bind(listen)?, target, runtime)
    }

    /// Forwards every connection `std_listener` accepts to `target`, on
    /// `runtime` (for a target whose port depends on the listener's).
    pub fn on(
        std_listener: std::net::TcpListener,
        target: SocketAddr,
        runtime: &tokio::runtime::Handle,
    ) -> io::Result<Proxy> {
        std_listener.set_nonblocking(true)?;
        let listen = std_listener.local_addr()?;
        let (faults, watch) = watch::channel(LinkFaults::default());
        let task = runtime.spawn(async move {
            let Ok(listener) = TcpListener::from_std(std_listener) else {
                return;
            };
            serve(listener, target, watch).await;
        });
        Ok(Proxy { listen, faults, task })
    }

    /// Where it listens.
    pub fn addr(&self) -> SocketAddr {
        self.listen
    }

    /// Changes what it does to traffic, from now on (bytes already on
    /// their way keep their delay).
    pub fn set(&self, change: impl FnOnce(&mut LinkFaults)) {
        self.faults.send_modify(change);
    }
}

async fn serve(listener: TcpListener, target: SocketAddr, faults: watch::Receiver<LinkFaults>) {
    // Aborted with the proxy: every connection goes with it.
    let mut connections = JoinSet::new();
    loop {
        let Ok((inbound, from)) = listener.accept().await else {
            // Out of file descriptors, say: try again shortly.
            tokio::time::sleep(Duration::from_millis(10)).await;
            continue;
        };
        while connections.try_join_next().is_some() {}
        connections.spawn(carry(inbound, from.ip(), target, faults.clone()));
    }
}

async fn carry(inbound: TcpStream, source: IpAddr, target: SocketAddr, faults: watch::Receiver<LinkFaults>) {
    let Ok(outbound) = TcpStream::connect(target).await else {
        return;
    };
    let _ = inbound.set_nodelay(true);
    let _ = outbound.set_nodelay(true);
    let (from_client, to_client) = inbound.into_split();
    let (from_node, to_node) = outbound.into_split();
    tokio::join!(
        pipe(from_client, to_node, true, source, faults.clone()),
        pipe(from_node, to_client, false, source, faults),
    );
}

/// Chunks in flight one way, before the reader waits: the delay line's
/// length.
const IN_FLIGHT: usize = 256;

/// One direction of one connection: a reader stamps each chunk with when
/// it may go on, a writer sends it then (and not while held).
async fn pipe(
    mut from: OwnedReadHalf,
    mut to: OwnedWriteHalf,
    toward_node: bool,
    source: IpAddr,
    faults: watch::Receiver<LinkFaults>,
) {
    let (tx, mut line) = mpsc::channel::<(Instant, Vec<u8>)>(IN_FLIGHT);
    let reader = {
        let faults = faults.clone();
        async move {
            let mut rng = Jitter::seeded(source, toward_node);
            let mut last = Instant::now();
            let mut buf = vec![0u8; 16 << 10];
            loop {
                let n = match from.read(&mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => n,
                };
                let (delay, jitter) = {
                    let f = faults.borrow();
                    (f.delay, f.jitter)
                };
                // Never before the chunk ahead of it: a stream keeps order.
                let due = (Instant::now() + delay + rng.upto(jitter)).max(last);
                last = due;
                if tx.send((due, buf[..n].to_vec())).await.is_err() {
                    break;
                }
            }
        }
    };
    let writer = async move {
        let mut faults = faults;
        while let Some((due, bytes)) = line.recv().await {
            // The timer rounds up to whole milliseconds: a chunk with no
            // delay must not meet it.
            if due > Instant::now() {
                tokio::time::sleep_until(due).await;
            }
            if faults.wait_for(|f| !f.holds(toward_node, source)).await.is_err() {
                break;
            }
            if to.write_all(&bytes).await.is_err() {
                break;
            }
        }
        let _ = to.shutdown().await;
    };
    tokio::join!(reader, writer);
}

/// A small generator for jitter, one per direction.
struct Jitter(u64);

impl Jitter {
    fn seeded(source: IpAddr, toward_node: bool) -> Jitter {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64);
        let ip = match source {
            IpAddr::V4(v4) => u32::from(v4) as u64,
            IpAddr::V6(v6) => u128::from(v6) as u64,
        };
        Jitter((nanos ^ ip.rotate_left(17) ^ toward_node as u64) | 1)
    }

    fn upto(&mut self, max: Duration) -> Duration {
        if max.is_zero() {
            return Duration::ZERO;
        }
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        Duration::from_nanos(self.0 % (max.as_nanos() as u64 + 1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant as StdInstant;

    /// An echo server on loopback, for the proxy to front.
    async fn echo() -> SocketAddr {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        tokio::spawn(async move {
            while let Ok((mut s, _)) = l.accept().await {
                tokio::spawn(async move {
                    let mut buf = vec![0u8; 4096];
                    while let Ok(n) = s.read(&mut buf).await {
                        if n == 0 || s.write_all(&buf[..n]).await.is_err() {
                            break;
                        }
                    }
                });
            }
        });
        addr
    }

    fn proxy_to(target: SocketAddr) -> Proxy {
        Proxy::start(
            "127.0.0.1:0".parse().unwrap(),
            target,
            &tokio::runtime::Handle::current(),
        )
        .unwrap()
    }

    async fn round_trip(s: &mut TcpStream, msg: &[u8]) -> Duration {
        let started = StdInstant::now();
        s.write_all(msg).await.unwrap();
        let mut got = vec![0u8; msg.len()];
        s.read_exact(&mut got).await.unwrap();
        assert_eq!(got, msg);
        started.elapsed()
    }

    #[tokio::test]
    async fn carries_bytes_delays_them_and_holds_them_until_healed() {
        let p = proxy_to(echo().await);
        let mut s = TcpStream::connect(p.addr()).await.unwrap();
        assert!(round_trip(&mut s, b"hello").await < Duration::from_millis(50));

        // Both ways: one round trip pays the delay twice.
        p.set(|f| f.delay = Duration::from_millis(60));
        let slow = round_trip(&mut s, b"slow").await;
        assert!(slow >= Duration::from_millis(120), "{slow:?}");

        p.set(|f| {
            f.delay = Duration::ZERO;
            f.hold_in = true;
        });
        s.write_all(b"held").await.unwrap();
        let mut got = [0u8; 4];
        let waited = tokio::time::timeout(Duration::from_millis(200), s.read_exact(&mut got)).await;
        assert!(waited.is_err(), "held bytes got through");
        p.set(|f| f.hold_in = false);
        s.read_exact(&mut got).await.unwrap();
        assert_eq!(&got, b"held", "held bytes flow again, in order, once healed");
    }

    #[tokio::test]
    async fn cuts_only_the_sources_named() {
        let p = proxy_to(echo().await);
        let mut s = TcpStream::connect(p.addr()).await.unwrap();
        p.set(|f| f.cut = vec!["127.0.0.2".parse().unwrap()]);
        round_trip(&mut s, b"not me").await;
        p.set(|f| f.cut = vec!["127.0.0.1".parse().unwrap()]);
        s.write_all(b"me").await.unwrap();
        let mut got = [0u8; 2];
        assert!(
            tokio::time::timeout(Duration::from_millis(200), s.read_exact(&mut got))
                .await
                .is_err()
        );
    }
}
