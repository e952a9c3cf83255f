//! The HTTPS listener: TLS handshakes, HTTP/1.1 and HTTP/2, and routing by host — `{vault}.{vault_domain}`
//! goes to the vault pipeline; on every other host, `/subscriptions/…` and `/v1.0/…` go to the management API
//! and the rest to the token service.

use std::collections::HashMap;
use std::convert::Infallible;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::http::{Request, header};
use axum::response::Response;
use hyper::body::{Frame, Incoming, SizeHint};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use ipnet::IpNet;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, watch};
use tokio::time::{Instant, Sleep};
use tokio_rustls::TlsAcceptor;
use tower::ServiceExt;

use crate::config::ConnectionLimits;
use crate::management;
use crate::portal;
use crate::state::AppState;
use crate::vault::{self, ConnectionInfo};

/// HTTP/2 streams a client may reset before the server has answered them, at once, and streams the server may
/// reset for a client's protocol errors, in all, before the connection is closed (rapid-reset attacks).
const HTTP2_MAX_PENDING_RESETS: usize = 20;
const HTTP2_MAX_ERROR_RESETS: usize = 256;
/// File descriptors kept for the database, the audit log and outbound fetches when the connection cap is
/// fitted under the process's limit.
const RESERVED_DESCRIPTORS: u64 = 256;

/// Who may hold a connection, and for how long: the limits of every listener, a cap on connections open at
/// once over all of them, and one per client address. A connection over a cap is closed as soon as it is
/// accepted.
pub struct ConnectionGate {
    limits: ConnectionLimits,
    /// What the limits ended, for metrics.
    hits: Arc<LimitHits>,
    open: Arc<Semaphore>,
    per_address: Mutex<HashMap<IpAddr, usize>>,
    exempt: Vec<IpNet>,
}

impl ConnectionGate {
    /// A gate holding connections to `limits`; connections from `trusted_proxies` carry many clients and
    /// count only against the global cap. The global cap is lowered, with a warning, when the process may not
    /// open that many files (its soft limit is raised to the hard limit first).
    pub fn new(mut limits: ConnectionLimits, trusted_proxies: &[IpNet]) -> Arc<Self> {
        match rlimit::increase_nofile_limit(u64::MAX) {
            Ok(descriptors) => {
                let fitting =
                    usize::try_from(descriptors.saturating_sub(RESERVED_DESCRIPTORS).max(16)).unwrap_or(usize::MAX);
                if fitting < limits.max_connections {
                    tracing::warn!(
                        descriptors,
                        "the process may open {descriptors} files: at most {fitting} connections are held at once \
                         (raise `ulimit -n` for the configured {})",
                        limits.max_connections
                    );
                    limits.max_connections = fitting;
                }
            }
            Err(e) => tracing::warn!("cannot raise the open-file limit: {e}"),
        }
        Arc::new(Self {
            open: Arc::new(Semaphore::new(limits.max_connections)),
            limits,
            per_address: Mutex::default(),
            exempt: trusted_proxies.to_vec(),
            hits: Arc::default(),
        })
    }

    /// What the limits ended since start.
    pub fn hits(&self) -> &LimitHits {
        &self.hits
    }

    /// Connections open now, and the cap.
    pub fn usage(&self) -> (usize, usize) {
        let max = self.limits.max_connections;
        (max.saturating_sub(self.open.available_permits()), max)
    }

    /// A place for a connection from `peer`, or `None` when a cap is reached.
    fn admit(self: &Arc<Self>, peer: IpAddr) -> Option<Admission> {
        let admission = self.try_admit(peer);
        if admission.is_none() {
            self.hits.refused.fetch_add(1, Ordering::Relaxed);
        }
        admission
    }

    fn try_admit(self: &Arc<Self>, peer: IpAddr) -> Option<Admission> {
        let permit = Arc::clone(&self.open).try_acquire_owned().ok()?;
        let counted = !self.exempt.iter().any(|net| net.contains(&peer));
        let source = source_of(peer);
        if counted {
            let mut per_address = self.per_address.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            let open = per_address.entry(source).or_insert(0);
            if *open >= self.limits.max_connections_per_address {
                return None;
            }
            *open += 1;
        }
        Some(Admission { gate: Arc::clone(self), peer: counted.then_some(source), _permit: permit })
    }
}

/// What the per-address cap counts a peer as: an IPv4 address, or the /64 an IPv6 address is in — one host is
/// usually given a whole /64, and would otherwise open as many connections as it has addresses.
fn source_of(peer: IpAddr) -> IpAddr {
    match strongroom_core::network::canonical(peer) {
        IpAddr::V6(v6) => {
            let [a, b, c, d, ..] = v6.segments();
            IpAddr::V6(std::net::Ipv6Addr::new(a, b, c, d, 0, 0, 0, 0))
        }
        v4 => v4,
    }
}

/// A connection's place under the caps, given back when the connection ends.
struct Admission {
    gate: Arc<ConnectionGate>,
    peer: Option<IpAddr>,
    _permit: OwnedSemaphorePermit,
}

impl Drop for Admission {
    fn drop(&mut self) {
        let Some(peer) = self.peer else { return };
        let mut per_address = self.gate.per_address.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(open) = per_address.get_mut(&peer) {
            *open -= 1;
            if *open == 0 {
                per_address.remove(&peer);
            }
        }
    }
}

/// Accepts connections until `shutdown` turns true. A private endpoint's listener names its vault.
pub async fn accept_loop(
    listener: TcpListener,
    private_endpoint: Option<Arc<str>>,
    acceptor: TlsAcceptor,
    gate: Arc<ConnectionGate>,
    state: Arc<AppState>,
    identity: Router,
    mut shutdown: watch::Receiver<bool>,
) {
    loop {
        tokio::select! {
            _ = shutdown.changed() => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    let Some(admission) = gate.admit(peer.ip()) else {
                        tracing::debug!(%peer, "connection refused: too many connections");
                        continue;
                    };
                    let local = stream.local_addr().unwrap_or(peer);
                    let connection = ConnectionInfo::new(peer, local, private_endpoint.clone());
                    let (acceptor, state, identity) = (acceptor.clone(), Arc::clone(&state), identity.clone());
                    tokio::spawn(async move {
                        serve_tls(stream, connection, acceptor, &admission.gate, state, identity).await;
                        drop(admission);
                    });
                }
                Err(e) => {
                    // Out of file descriptors and the like: back off instead of spinning.
                    tracing::warn!("accepting a connection failed: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
        }
    }
}

async fn serve_tls(
    stream: TcpStream,
    mut connection: ConnectionInfo,
    acceptor: TlsAcceptor,
    gate: &ConnectionGate,
    state: Arc<AppState>,
    identity: Router,
) {
    let tls = match tokio::time::timeout(gate.limits.header_read_timeout, acceptor.accept(stream)).await {
        Ok(Ok(tls)) => tls,
        Ok(Err(e)) => {
            tracing::debug!(peer = %connection.peer, "TLS handshake failed: {e}");
            return;
        }
        Err(_) => {
            gate.hits.handshake.fetch_add(1, Ordering::Relaxed);
            return;
        }
    };
    // The protocol is the one agreed by ALPN, so that no time is spent waiting for a preface to tell.
    let http2 = tls.get_ref().1.alpn_protocol() == Some(b"h2");
    connection.tls_version = match tls.get_ref().1.protocol_version() {
        Some(rustls::ProtocolVersion::TLSv1_3) => Some("TLS1_3"),
        Some(rustls::ProtocolVersion::TLSv1_2) => Some("TLS1_2"),
        _ => None,
    };
    let peer = connection.peer;
    let (body_timeout, hits) = (gate.limits.body_read_timeout, Arc::clone(&gate.hits));
    let service = move |request: Request<Incoming>| {
        let state = Arc::clone(&state);
        let identity = identity.clone();
        let connection = connection.clone();
        let request = request.map(|body| Body::new(TimeoutBody::new(body, body_timeout, Arc::clone(&hits))));
        async move { Ok::<_, Infallible>(dispatch(state, connection, identity, request).await) }
    };
    serve(tls, http2, gate, service, peer).await;
}

/// Serves one connection under `limits`: the header-read timeout (hyper's, which also bounds the wait for the
/// next request on HTTP/1.1), the HTTP/2 limits, and the idle timeout — a connection with no request in
/// progress for that long is shut down, whatever its protocol.
async fn serve<I, S, F>(io: I, http2: bool, gate: &ConnectionGate, service: S, peer: SocketAddr)
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    S: Fn(Request<Incoming>) -> F + Send + Sync + 'static,
    F: Future<Output = Result<Response, Infallible>> + Send + 'static,
{
    let limits = &gate.limits;
    let activity = Arc::new(Activity::new());
    let counted = Arc::clone(&activity);
    let service = hyper::service::service_fn(move |request: Request<Incoming>| {
        let in_progress = counted.start();
        let response = service(request);
        async move {
            let response = response.await;
            drop(in_progress);
            response
        }
    });
    let mut builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
    builder.http1().timer(TokioTimer::new()).header_read_timeout(limits.header_read_timeout);
    builder
        .http2()
        .timer(TokioTimer::new())
        .max_concurrent_streams(limits.http2_max_concurrent_streams)
        .keep_alive_interval(limits.http2_keep_alive_interval)
        .keep_alive_timeout(limits.http2_keep_alive_interval)
        .max_pending_accept_reset_streams(HTTP2_MAX_PENDING_RESETS)
        .max_local_error_reset_streams(HTTP2_MAX_ERROR_RESETS);
    let builder = if http2 { builder.http2_only() } else { builder.http1_only() };
    let connection = builder.serve_connection(TokioIo::new(io), service);
    tokio::pin!(connection);
    let ended = tokio::select! {
        ended = connection.as_mut() => ended,
        () = activity.idle_for(limits.idle_timeout) => {
            gate.hits.idle.fetch_add(1, Ordering::Relaxed);
            connection.as_mut().graceful_shutdown();
            // Nothing is in progress: the shutdown is quick, unless the client stops reading.
            tokio::time::timeout(limits.header_read_timeout, connection.as_mut()).await.unwrap_or(Ok(()))
        }
    };
    if let Err(e) = ended {
        if e.downcast_ref::<hyper::Error>().is_some_and(hyper::Error::is_timeout) {
            gate.hits.header.fetch_add(1, Ordering::Relaxed);
        }
        tracing::debug!(%peer, "connection ended: {e}");
    }
}

/// Requests in progress on a connection, and since when the count last changed.
struct Activity(Mutex<(usize, Instant)>);

/// A request in progress, counted until dropped.
struct InProgress(Arc<Activity>);

impl Activity {
    fn new() -> Self {
        Self(Mutex::new((0, Instant::now())))
    }

    fn start(self: &Arc<Self>) -> InProgress {
        self.change(|count| *count += 1);
        InProgress(Arc::clone(self))
    }

    fn change(&self, change: impl FnOnce(&mut usize)) {
        let mut guard = self.0.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        change(&mut guard.0);
        guard.1 = Instant::now();
    }

    /// Returns once no request has been in progress for `idle`.
    async fn idle_for(&self, idle: Duration) {
        loop {
            let (in_progress, since) = *self.0.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            let deadline = since + idle;
            if in_progress == 0 && Instant::now() >= deadline {
                return;
            }
            let wake = if in_progress == 0 { deadline } else { Instant::now() + idle };
            tokio::time::sleep_until(wake).await;
        }
    }
}

impl Drop for InProgress {
    fn drop(&mut self) {
        self.0.change(|count| *count = count.saturating_sub(1));
    }
}

/// A request body that must arrive within a time counted from its first read.
struct TimeoutBody {
    inner: Incoming,
    timeout: Duration,
    deadline: Option<Pin<Box<Sleep>>>,
    hits: Arc<LimitHits>,
}

impl TimeoutBody {
    fn new(inner: Incoming, timeout: Duration, hits: Arc<LimitHits>) -> Self {
        Self { inner, timeout, deadline: None, hits }
    }
}

/// Connections and requests the limits ended since start, for metrics.
#[derive(Debug, Default)]
pub struct LimitHits {
    refused: AtomicU64,
    handshake: AtomicU64,
    header: AtomicU64,
    idle: AtomicU64,
    body: AtomicU64,
}

impl LimitHits {
    /// Connections refused at a cap.
    pub fn refused(&self) -> u64 {
        self.refused.load(Ordering::Relaxed)
    }

    /// Timeouts by what timed out: `handshake`, `header`, `idle`, `body`.
    pub fn timeouts(&self) -> [(&'static str, u64); 4] {
        let count = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        [
            ("handshake", count(&self.handshake)),
            ("header", count(&self.header)),
            ("idle", count(&self.idle)),
            ("body", count(&self.body)),
        ]
    }
}

/// The error of a request body that did not arrive in time.
#[derive(Debug, thiserror::Error)]
#[error("the request body did not arrive in time")]
pub struct BodyTimedOut;

/// Whether reading a body failed because it did not arrive in time.
pub fn timed_out(error: &(dyn std::error::Error + 'static)) -> bool {
    let mut cause = Some(error);
    while let Some(error) = cause {
        if error.is::<BodyTimedOut>() {
            return true;
        }
        cause = error.source();
    }
    false
}

impl hyper::body::Body for TimeoutBody {
    type Data = Bytes;
    type Error = Box<dyn std::error::Error + Send + Sync>;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        if self.inner.is_end_stream() {
            return Poll::Ready(None);
        }
        let timeout = self.timeout;
        let deadline = self.deadline.get_or_insert_with(|| Box::pin(tokio::time::sleep(timeout)));
        if deadline.as_mut().poll(cx).is_ready() {
            self.hits.body.fetch_add(1, Ordering::Relaxed);
            return Poll::Ready(Some(Err(Box::new(BodyTimedOut))));
        }
        Pin::new(&mut self.inner).poll_frame(cx).map_err(Into::into)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

async fn dispatch(
    state: Arc<AppState>,
    mut connection: ConnectionInfo,
    identity: Router,
    mut request: Request<Body>,
) -> Response {
    // One client-address rule for every part of the server: the firewall, the management API, the token
    // service's throttling and the sign-in log all see the same client.
    connection.client = vault::firewall::client_address(&state, &connection, request.headers());
    let host = request
        .uri()
        .authority()
        .map(|a| a.as_str().to_owned())
        .or_else(|| request.headers().get(header::HOST).and_then(|h| h.to_str().ok()).map(str::to_owned))
        .unwrap_or_default();
    let host_name = host_name(&host).to_ascii_lowercase();
    match state.endpoints.addressed(&host_name).map(|(name, kind)| (name.to_owned(), kind)) {
        Some((vault_name, kind)) => vault::handle(state, connection, &host, &vault_name, kind, request).await,
        None if portal::serves(request.uri().path()) => {
            // Boxed, as the management API's: a portal page's future is large.
            Box::pin(portal::handle(state, connection, identity, request)).await
        }
        None if management::serves(request.uri().path()) => {
            let client = connection.client;
            // Boxed: the management API's future is several kilobytes, and unboxed it would make every
            // request's future as large, to be copied into the connection's task on each request.
            Box::pin(management::handle(state, client, request)).await
        }
        None => {
            request.extensions_mut().insert(connection);
            serve_router(identity, request).await
        }
    }
}

async fn serve_router(router: Router, request: Request<Body>) -> Response {
    match router.oneshot(request).await {
        Ok(response) => response,
        Err(never) => match never {},
    }
}

/// Serves `router` over plain HTTP/1.1 (the managed-identity listener) until `shutdown` turns true, under the
/// same limits as the HTTPS listeners. Handlers find the [`ConnectionInfo`] in the request's extensions.
pub async fn plain_accept_loop(
    listener: TcpListener,
    gate: Arc<ConnectionGate>,
    router: Router,
    mut shutdown: watch::Receiver<bool>,
) {
    loop {
        tokio::select! {
            _ = shutdown.changed() => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    let Some(admission) = gate.admit(peer.ip()) else {
                        tracing::debug!(%peer, "connection refused: too many connections");
                        continue;
                    };
                    let local = stream.local_addr().unwrap_or(peer);
                    let connection = ConnectionInfo::new(peer, local, None);
                    let router = router.clone();
                    let (body_timeout, hits) = (admission.gate.limits.body_read_timeout, Arc::clone(&admission.gate.hits));
                    tokio::spawn(async move {
                        let service = move |request: Request<Incoming>| {
                            let mut request =
                                request.map(|body| Body::new(TimeoutBody::new(body, body_timeout, Arc::clone(&hits))));
                            request.extensions_mut().insert(connection.clone());
                            let router = router.clone();
                            async move { Ok::<_, Infallible>(serve_router(router, request).await) }
                        };
                        serve(stream, false, &admission.gate, service, peer).await;
                        drop(admission);
                    });
                }
                Err(e) => {
                    tracing::warn!("accepting a connection failed: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
        }
    }
}

/// The host part of `host[:port]`, IPv6 brackets included.
fn host_name(authority: &str) -> &str {
    if authority.starts_with('[') {
        return authority.split_inclusive(']').next().unwrap_or(authority);
    }
    authority.rsplit_once(':').map_or(authority, |(host, _)| host)
}

/// Binds the listener for `address`.
pub async fn bind(address: SocketAddr) -> std::io::Result<TcpListener> {
    TcpListener::bind(address).await
}

#[cfg(test)]
mod tests {
    use super::{host_name, source_of};

    #[test]
    fn one_ipv6_host_counts_once_however_many_addresses_of_its_64_it_uses() {
        let a: std::net::IpAddr = "2001:db8:1:2::1".parse().unwrap_or(std::net::Ipv4Addr::LOCALHOST.into());
        let b: std::net::IpAddr = "2001:db8:1:2:ffff::9".parse().unwrap_or(std::net::Ipv4Addr::LOCALHOST.into());
        let other: std::net::IpAddr = "2001:db8:1:3::1".parse().unwrap_or(std::net::Ipv4Addr::LOCALHOST.into());
        assert_eq!(source_of(a), source_of(b));
        assert_ne!(source_of(a), source_of(other));
        let mapped: std::net::IpAddr = "::ffff:127.0.0.2".parse().unwrap_or(std::net::Ipv4Addr::LOCALHOST.into());
        assert_eq!(source_of(mapped), std::net::IpAddr::from([127, 0, 0, 2]));
    }

    #[test]
    fn host_names_drop_the_port() {
        assert_eq!(host_name("dev.vault.localhost:8443"), "dev.vault.localhost");
        assert_eq!(host_name("dev.vault.localhost"), "dev.vault.localhost");
        assert_eq!(host_name("[::1]:8443"), "[::1]");
        assert_eq!(host_name("127.0.0.1:1"), "127.0.0.1");
    }
}
