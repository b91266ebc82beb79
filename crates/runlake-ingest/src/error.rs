//! The ingest errors: each names the file and, where there is one, the line and column.

/// Everything that can go wrong reading a run log.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The input could not be read at all.
    #[error("{source_name}: {message}")]
    Read {
        source_name: String,
        message: String,
    },

    /// The content is not of the format asked for (or of any known format).
    #[error("{source_name}: {message}")]
    Format {
        source_name: String,
        message: String,
    },

    /// A value whose type does not match the column of the table it goes to.
    #[error(
        "{source_name}, line {line}, column '{column}': {message} (table '{table}'); nothing was committed"
    )]
    TypeConflict {
        source_name: String,
        table: String,
        column: String,
        line: u64,
        message: String,
    },

    /// More bad rows than `--max-bad-rows` allows: the first one is named.
    #[error(
        "{source_name}: {count} bad row(s), more than --max-bad-rows {allowed} allows; the first: line {line}{column}: {reason}; nothing was committed"
    )]
    TooManyBadRows {
        source_name: String,
        count: usize,
        allowed: usize,
        line: u64,
        column: String,
        reason: String,
    },

    /// Arrow could not build or convert a batch.
    #[error("{source_name}: {source}")]
    Arrow {
        source_name: String,
        #[source]
        source: datafusion::arrow::error::ArrowError,
    },
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
