//! The lake's errors.

/// Everything that can go wrong in the lake.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("invalid lake location '{location}': {reason}")]
    InvalidLocation { location: String, reason: String },

    #[error(
        "invalid table name '{0}': use lowercase letters, digits and '_', not starting with a digit"
    )]
    InvalidTableName(String),

    #[error("table '{0}' does not exist in the lake")]
    TableNotFound(String),

    #[error("{0}")]
    TypeConflict(Box<TypeConflict>),

    #[error("table '{table}': {message}")]
    Write { table: String, message: String },

    /// A table that is not a plain list of Parquet files (written by another tool).
    #[error("table '{table}' cannot be read: {message}")]
    NotPlainParquet { table: String, message: String },

    /// A sort order a table cannot take.
    #[error("table '{table}': cannot sort by {columns}: {reason}")]
    InvalidSortOrder {
        table: String,
        columns: String,
        reason: String,
    },

    #[error("{what}: {source}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },

    #[error(transparent)]
    Ingest(Box<runlake_ingest::Error>),

    #[error(transparent)]
    Delta(#[from] Box<deltalake::DeltaTableError>),

    #[error(transparent)]
    ObjectStore(#[from] object_store::Error),

    #[error(transparent)]
    DataFusion(#[from] Box<datafusion::error::DataFusionError>),
}

impl From<deltalake::DeltaTableError> for Error {
    fn from(e: deltalake::DeltaTableError) -> Self {
        Error::Delta(Box::new(e))
    }
}

impl From<datafusion::arrow::error::ArrowError> for Error {
    fn from(e: datafusion::arrow::error::ArrowError) -> Self {
        Error::DataFusion(Box::new(e.into()))
    }
}

impl From<datafusion::error::DataFusionError> for Error {
    fn from(e: datafusion::error::DataFusionError) -> Self {
        Error::DataFusion(Box::new(e))
    }
}

impl Error {
    /// A failed write, worded for the user (schema conflicts name the table).
    pub(crate) fn from_write(table: &str, e: deltalake::DeltaTableError) -> Self {
        Error::Write {
            table: table.to_string(),
            message: e.to_string(),
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// A column whose type differs from the table's.
#[derive(Debug, Clone, thiserror::Error)]
#[error(
    "{source_name}, line {line}, column '{column}': {found} values where table '{table}' holds {expected}; nothing was committed"
)]
pub struct TypeConflict {
    pub table: String,
    pub column: String,
    pub source_name: String,
    pub line: i64,
    pub found: String,
    pub expected: String,
}
