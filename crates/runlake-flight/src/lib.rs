//! runlake's Arrow Flight SQL server: the lake's tables and views, every runlake
//! function, bulk ingest and persistent DDL, for any Flight SQL client (ADBC, JDBC,
//! Superset's `flightsql-dbapi`, Grafana, `pyarrow.flight`).

mod access;
pub mod auth;
pub mod convert;
mod error;
mod limits;
pub mod log;
mod metadata;
mod planned;
mod service;
mod system;
mod values;

use std::net::SocketAddr;
use std::time::Duration;

use arrow_flight::flight_service_server::FlightServiceServer;
use tonic::transport::{Certificate, Identity, Server, ServerTlsConfig};

pub use crate::access::SETTABLE_BY_ANYONE;
pub use crate::auth::{Keys, Principal, Role, Tokens, User, Users, UsersFile};
pub use crate::error::{Error, Result};
pub use crate::limits::Limits;
pub use crate::service::RunlakeFlightSql;

/// TLS for the server: a certificate chain and key (PEM), and optionally the CA that
/// client certificates must be signed by.
#[derive(Debug, Clone)]
pub struct Tls {
    pub cert_pem: Vec<u8>,
    pub key_pem: Vec<u8>,
    pub client_ca_pem: Option<Vec<u8>>,
}

/// Largest message a client may send (bulk ingest batches).
const MAX_MESSAGE_BYTES: usize = 256 * 1024 * 1024;

/// Serves `service` on `listener` until `shutdown` completes.
pub async fn serve(
    service: RunlakeFlightSql,
    listener: tokio::net::TcpListener,
    tls: Option<Tls>,
    shutdown: impl std::future::Future<Output = ()> + Send,
) -> Result<()> {
    let mut builder = Server::builder().http2_keepalive_interval(Some(Duration::from_secs(30)));
    if let Some(tls) = tls {
        // Several crypto providers are compiled in (object stores use ring): pick one.
        let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
        let mut config =
            ServerTlsConfig::new().identity(Identity::from_pem(tls.cert_pem, tls.key_pem));
        if let Some(ca) = tls.client_ca_pem {
            config = config.client_ca_root(Certificate::from_pem(ca));
        }
        builder = builder
            .tls_config(config)
            .map_err(|e| Error::InvalidArgument(format!("TLS: {e}")))?;
    }
    let flight = FlightServiceServer::new(service)
        .max_decoding_message_size(MAX_MESSAGE_BYTES)
        .max_encoding_message_size(MAX_MESSAGE_BYTES);
    // The standard gRPC health service (grpc.health.v1), for load balancers and probes.
    let (health, health_service) = tonic_health::server::health_reporter();
    health
        .set_serving::<FlightServiceServer<RunlakeFlightSql>>()
        .await;
    tracing::info!(event = "serving");
    builder
        .add_service(health_service)
        .add_service(flight)
        .serve_with_incoming_shutdown(
            // Without TCP_NODELAY a small response waits for the client's delayed ACK
            // (about 40 ms per round trip on Linux).
            tonic::transport::server::TcpIncoming::from(listener).with_nodelay(Some(true)),
            shutdown,
        )
        .await
        .map_err(|e| Error::Internal(format!("the server stopped: {e}")))
}

/// Whether `addr` is a loopback address (what the server may bind without `--users`).
pub fn is_loopback(addr: &SocketAddr) -> bool {
    addr.ip().is_loopback()
}
