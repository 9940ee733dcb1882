//! The HTTP server loop: accepts connections on a listener and serves each
//! with hyper.
//!
//! It speaks what `axum::serve` speaks (HTTP/1.1, HTTP/2 with prior knowledge,
//! upgrades such as the WebSocket of `/loki/api/v1/tail`) and adds two
//! things:
//!
//! - `TCP_NODELAY` on every connection, as Go's servers set it: a streamed
//!   answer's chunks leave when written.
//! - The query API's evaluation endpoints (`/api/v1/query` and
//!   `/api/v1/query_range`, GET and form POST) are answered by
//!   [`crate::query::direct`] without the router and its middleware. They are
//!   what dashboards call most, and a one-series instant query is a few
//!   hundred microseconds of work, of which the router, its boxed middleware
//!   and the request's copy of [`AppState`] were about a tenth, cold
//!   (docs/benchmarks.md). Every other request goes to the router.
//!
//! Shutdown: once `shutdown` completes, the listener is closed, every open
//! connection finishes the request it is serving and closes, and [`serve`]
//! returns when the last one has.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::response::Response;
use axum::Router;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto::Builder;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

use crate::query::Direct;
use crate::AppState;

type Answer = Pin<Box<dyn Future<Output = Result<Response, Infallible>> + Send>>;

/// Where a request goes: the query endpoints straight to their handler
/// (when `state` is given), everything else to `router`.
#[derive(Clone)]
struct Service {
    router: Router,
    state: Option<Arc<AppState>>,
}

impl hyper::service::Service<hyper::Request<Incoming>> for Service {
    type Response = Response;
    type Error = Infallible;
    type Future = Answer;

    fn call(&self, req: hyper::Request<Incoming>) -> Answer {
        if let Some(s) = &self.state {
            if let Some(e) = Direct::for_request(&req) {
                let s = s.clone();
                return Box::pin(async move { Ok(crate::query::direct(&s, e, req).await) });
            }
        }
        let mut router = self.router.clone();
        Box::pin(async move { tower_service::Service::call(&mut router, req.map(Body::new)).await })
    }
}

/// Serves `router` on `listener` until `shutdown` completes (see the module
/// doc). With `direct`, the query endpoints are answered from that state
/// without the router; it must be the state the router was built with.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    direct: Option<AppState>,
    shutdown: impl Future<Output = ()>,
) {
    let service = Service {
        router,
        state: direct.map(Arc::new),
    };
    let (closing_tx, closing_rx) = watch::channel(false);
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let stream = tokio::select! {
            r = listener.accept() => match r {
                Ok((stream, _)) => stream,
                Err(e) => {
                    if !is_connection_error(&e) {
                        // Out of descriptors or memory: wait rather than spin.
                        tracing::error!(error = %e, "accepting a connection failed");
                        tokio::time::sleep(Duration::from_secs(1)).await;
                    }
                    continue;
                }
            },
            _ = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        tokio::spawn(connection(stream, service.clone(), closing_rx.clone()));
    }
    drop(listener);
    drop(closing_rx);
    let _ = closing_tx.send(true);
    // Every connection task holds a receiver until it ends.
    closing_tx.closed().await;
}

/// Serves one connection with hyper until it closes, or until `closing` is
/// set and the request in flight has been answered.
async fn connection(stream: TcpStream, service: Service, mut closing: watch::Receiver<bool>) {
    let mut builder = Builder::new(TokioExecutor::new());
    builder.http2().enable_connect_protocol();
    let conn = builder.serve_connection_with_upgrades(TokioIo::new(stream), service);
    let mut conn = std::pin::pin!(conn);
    tokio::select! {
        r = conn.as_mut() => {
            if let Err(e) = r {
                tracing::trace!(error = %e, "connection ended with an error");
            }
            return;
        }
        _ = closing.wait_for(|c| *c) => {}
    }
    conn.as_mut().graceful_shutdown();
    let _ = conn.await;
}

/// Errors of one connection that came and went before it was accepted.
fn is_connection_error(e: &std::io::Error) -> bool {
    use std::io::ErrorKind::*;
    matches!(
        e.kind(),
        ConnectionRefused | ConnectionAborted | ConnectionReset
    )
}
