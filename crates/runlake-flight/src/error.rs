//! The server's errors, and the one place they become gRPC status codes.

use datafusion::error::DataFusionError;
use tonic::Status;

/// Everything a Flight SQL call can fail with.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0}")]
    Unauthenticated(String),

    #[error("{0}")]
    PermissionDenied(String),

    #[error("{0}")]
    InvalidArgument(String),

    #[error("{0}")]
    NotFound(String),

    #[error("{0}")]
    Unimplemented(String),

    #[error("{0}")]
    ResourceExhausted(String),

    #[error("{0}")]
    DeadlineExceeded(String),

    #[error(transparent)]
    DataFusion(#[from] Box<DataFusionError>),

    #[error(transparent)]
    Lake(#[from] Box<runlake_lake::Error>),

    #[error("{0}")]
    Users(String),

    #[error("{what}: {source}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },

    #[error("{0}")]
    Internal(String),
}

impl From<DataFusionError> for Error {
    fn from(e: DataFusionError) -> Self {
        Error::DataFusion(Box::new(e))
    }
}

impl From<runlake_lake::Error> for Error {
    fn from(e: runlake_lake::Error) -> Self {
        Error::Lake(Box::new(e))
    }
}

impl From<datafusion::arrow::error::ArrowError> for Error {
    fn from(e: datafusion::arrow::error::ArrowError) -> Self {
        Error::DataFusion(Box::new(e.into()))
    }
}

impl From<arrow_flight::error::FlightError> for Error {
    fn from(e: arrow_flight::error::FlightError) -> Self {
        match e {
            arrow_flight::error::FlightError::Arrow(a) => a.into(),
            other => Error::Internal(other.to_string()),
        }
    }
}

impl From<prost::DecodeError> for Error {
    fn from(e: prost::DecodeError) -> Self {
        Error::InvalidArgument(format!("a malformed request or ticket: {e}"))
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// The gRPC code of each error: SQL and plan errors are `INVALID_ARGUMENT`, missing
/// tables `NOT_FOUND`, memory `RESOURCE_EXHAUSTED`, and so on. Messages are one line, safe
/// to show in a BI tool.
impl From<Error> for Status {
    fn from(e: Error) -> Self {
        let message = one_line(&e.to_string());
        match &e {
            Error::Unauthenticated(_) => Status::unauthenticated(message),
            Error::PermissionDenied(_) => Status::permission_denied(message),
            Error::InvalidArgument(_) => Status::invalid_argument(message),
            Error::NotFound(_) => Status::not_found(message),
            Error::Unimplemented(_) => Status::unimplemented(message),
            Error::ResourceExhausted(_) => Status::resource_exhausted(message),
            Error::DeadlineExceeded(_) => Status::deadline_exceeded(message),
            Error::DataFusion(df) => datafusion_status(df, message),
            Error::Lake(lake) => lake_status(lake, message),
            Error::Users(_) | Error::Io { .. } | Error::Internal(_) => Status::internal(message),
        }
    }
}

fn datafusion_status(e: &DataFusionError, message: String) -> Status {
    match e.find_root() {
        DataFusionError::SQL(..)
        | DataFusionError::Plan(_)
        | DataFusionError::SchemaError(..)
        | DataFusionError::NotImplemented(_) => Status::invalid_argument(message),
        DataFusionError::ResourcesExhausted(_) => {
            // DataFusion's operators word their own refusals; say which limits bound them.
            Status::resource_exhausted(format!(
                "{message} (the server's limits: --query-memory-limit per query, --memory-limit in all)"
            ))
        }
        DataFusionError::External(inner) => match inner.downcast_ref::<runlake_lake::Error>() {
            Some(lake) => lake_status(lake, message),
            None => Status::internal(message),
        },
        DataFusionError::Execution(_) | DataFusionError::ArrowError(..) => {
            Status::invalid_argument(message)
        }
        _ => Status::internal(message),
    }
}

/// A lake error's code, whether it reached the server directly or from inside a query.
fn lake_status(e: &runlake_lake::Error, message: String) -> Status {
    match e {
        runlake_lake::Error::TableNotFound(_) => Status::not_found(message),
        runlake_lake::Error::InvalidTableName(_)
        | runlake_lake::Error::TypeConflict(_)
        | runlake_lake::Error::Ingest(_) => Status::invalid_argument(message),
        // A table written by another tool in a layout runlake does not read.
        runlake_lake::Error::NotPlainParquet { .. } => Status::failed_precondition(message),
        runlake_lake::Error::DataFusion(e) => datafusion_status(e, message),
        _ => Status::internal(message),
    }
}

fn one_line(message: &str) -> String {
    message.split_whitespace().collect::<Vec<_>>().join(" ")
}
