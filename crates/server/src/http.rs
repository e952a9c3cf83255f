//! The HTTPS listener: TLS handshakes, HTTP/1.1 and HTTP/2, and routing by host — `{vault}.{vault_domain}`
//! goes to the vault pipeline; on every other host, `/subscriptions/…` and `/v1.0/…` go to the management API
//! and the rest to the token service.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::http::{Request, header};
use axum::response::Response;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio_rustls::TlsAcceptor;
use tower::ServiceExt;

use crate::management;
use crate::state::AppState;
use crate::vault::{self, ConnectionInfo};

const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Accepts connections until `shutdown` turns true. A private endpoint's listener names its vault.
pub async fn accept_loop(
    listener: TcpListener,
    private_endpoint: Option<Arc<str>>,
    acceptor: TlsAcceptor,
    state: Arc<AppState>,
    identity: Router,
    mut shutdown: watch::Receiver<bool>,
) {
    loop {
        tokio::select! {
            _ = shutdown.changed() => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    let local = stream.local_addr().unwrap_or(peer);
                    let connection = ConnectionInfo::new(peer, local, private_endpoint.clone());
                    tokio::spawn(serve_connection(stream, connection, acceptor.clone(), Arc::clone(&state), identity.clone()));
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

async fn serve_connection(
    stream: TcpStream,
    connection: ConnectionInfo,
    acceptor: TlsAcceptor,
    state: Arc<AppState>,
    identity: Router,
) {
    let tls = match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
        Ok(Ok(tls)) => tls,
        Ok(Err(e)) => {
            tracing::debug!(peer = %connection.peer, "TLS handshake failed: {e}");
            return;
        }
        Err(_) => return,
    };
    let peer = connection.peer;
    let service = hyper::service::service_fn(move |request: Request<Incoming>| {
        let state = Arc::clone(&state);
        let identity = identity.clone();
        let connection = connection.clone();
        async move { Ok::<_, Infallible>(dispatch(state, connection, identity, request.map(Body::new)).await) }
    });
    let builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
    if let Err(e) = builder.serve_connection(TokioIo::new(tls), service).await {
        tracing::debug!(%peer, "connection ended: {e}");
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
    match state.endpoints.vault_name(&host_name).map(str::to_owned) {
        Some(vault_name) => vault::handle(state, connection, &host, &vault_name, request).await,
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

/// Serves `router` over plain HTTP (the managed-identity listener) until `shutdown` turns true. Handlers
/// find the [`ConnectionInfo`] in the request's extensions.
pub async fn plain_accept_loop(listener: TcpListener, router: Router, mut shutdown: watch::Receiver<bool>) {
    loop {
        tokio::select! {
            _ = shutdown.changed() => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    let local = stream.local_addr().unwrap_or(peer);
                    let connection = ConnectionInfo::new(peer, local, None);
                    let router = router.clone();
                    tokio::spawn(async move {
                        let service = hyper::service::service_fn(move |request: Request<Incoming>| {
                            let mut request = request.map(Body::new);
                            request.extensions_mut().insert(connection.clone());
                            let router = router.clone();
                            async move { Ok::<_, Infallible>(serve_router(router, request).await) }
                        });
                        let builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
                        if let Err(e) = builder.serve_connection(TokioIo::new(stream), service).await {
                            tracing::debug!(%peer, "connection ended: {e}");
                        }
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
    use super::host_name;

    #[test]
    fn host_names_drop_the_port() {
        assert_eq!(host_name("dev.vault.localhost:8443"), "dev.vault.localhost");
        assert_eq!(host_name("dev.vault.localhost"), "dev.vault.localhost");
        assert_eq!(host_name("[::1]:8443"), "[::1]");
        assert_eq!(host_name("127.0.0.1:1"), "127.0.0.1");
    }
}
