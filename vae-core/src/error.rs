//! One error type for the crate: every message says what went wrong, where, and what to do.
use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Candle(#[from] candle_core::Error),

    #[error("{}: {source}", path.display())]
    Io { path: PathBuf, source: std::io::Error },

    /// A malformed IDX file: which file, the byte offset of the problem, what was expected.
    #[error("{}: invalid IDX file at byte {offset}: {msg}", path.display())]
    Idx { path: PathBuf, offset: u64, msg: String },

    #[error("missing data file {}\n  fetch the data sets with `{fix}` (or set VAE_DATA_DIR to a folder that holds them)", path.display())]
    MissingData { path: PathBuf, fix: String },

    #[error("{}: {msg}", path.display())]
    Checkpoint { path: PathBuf, msg: String },

    /// Training hit a non-finite loss or another fault; the message names epoch and batch.
    #[error("training stopped: {0}")]
    Training(String),

    /// A configuration or argument that cannot work (latent size 0, empty data set, ...).
    #[error("invalid configuration: {0}")]
    Config(String),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io { path: path.into(), source }
    }
    pub(crate) fn config(msg: impl Into<String>) -> Self {
        Error::Config(msg.into())
    }
}
