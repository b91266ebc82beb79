//! The command line's one error type: what went wrong, kept typed until it is printed,
//! so the exit code is chosen from what it is (a closed standard output ends quietly
//! with 141, found by its `io::ErrorKind`, not by its text).

use datafusion::arrow::error::ArrowError;
use datafusion::error::DataFusionError;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A message of the command line's own (a bad argument, a missing file, ...).
    #[error("{0}")]
    Message(String),
    #[error(transparent)]
    Lake(#[from] runlake_lake::Error),
    #[error(transparent)]
    Query(#[from] DataFusionError),
    #[error(transparent)]
    Arrow(#[from] ArrowError),
    #[error(transparent)]
    Report(#[from] runlake_report::Error),
    #[error(transparent)]
    Server(#[from] runlake_flight::Error),
    #[error(transparent)]
    Ingest(#[from] runlake_ingest::Error),
    #[error(transparent)]
    Io(#[from] std::io::Error),
    #[error(transparent)]
    Cluster(Box<runlake_cluster::Error>),
}

impl From<String> for Error {
    fn from(message: String) -> Self {
        Error::Message(message)
    }
}

impl From<&str> for Error {
    fn from(message: &str) -> Self {
        Error::Message(message.to_string())
    }
}

impl Error {
    /// Whether this is (or was caused by) a write to a closed pipe.
    pub fn is_broken_pipe(&self) -> bool {
        // `Io` is transparent: its `source()` is the io::Error's own source, so the
        // io::Error itself is looked at here, then the chain below it.
        let mut cause: Option<&(dyn std::error::Error + 'static)> = match self {
            Error::Io(io) => Some(io),
            other => Some(other),
        };
        while let Some(e) = cause {
            if let Some(io) = e.downcast_ref::<std::io::Error>()
                && io.kind() == std::io::ErrorKind::BrokenPipe
            {
                return true;
            }
            cause = e.source();
        }
        false
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
