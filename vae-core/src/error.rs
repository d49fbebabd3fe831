//! One error type for the crate: every message says what went wrong, where, and what to do.
use std::path::PathBuf;

/// Everything that can go wrong in `vae-core`; the `Display` of each variant is the message.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A tensor operation failed (shapes, dtypes, devices): candle's own message.
    #[error(transparent)]
    Candle(#[from] candle_core::Error),

    /// Reading or writing a file failed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// What the operating system said.
        source: std::io::Error,
    },

    /// A malformed IDX file: which file, the byte offset of the problem, what was expected.
    #[error("{}: invalid IDX file at byte {offset}: {msg}", path.display())]
    Idx {
        /// The file.
        path: PathBuf,
        /// Where in the (decompressed) file the problem starts.
        offset: u64,
        /// What was found and what was expected.
        msg: String,
    },

    /// A data file is not where the loader looked; the message says how to fetch it.
    #[error("missing data file {}\n  fetch the data sets with `{fix}` (or set VAE_DATA_DIR to a folder that holds them)", path.display())]
    MissingData {
        /// The file looked for.
        path: PathBuf,
        /// The command that fetches it ([`FETCH_COMMAND`](crate::data::mnist::FETCH_COMMAND)).
        fix: String,
    },

    /// A checkpoint that cannot be saved or loaded (format, config, a missing or misshapen tensor).
    #[error("{}: {msg}", path.display())]
    Checkpoint {
        /// The checkpoint file.
        path: PathBuf,
        /// What is wrong with it.
        msg: String,
    },

    /// Training hit a non-finite loss or another fault; the message names epoch and batch.
    #[error("training stopped: {0}")]
    Training(String),

    /// A configuration or argument that cannot work (latent size 0, empty data set, ...).
    #[error("invalid configuration: {0}")]
    Config(String),
}

/// `std::result::Result` with [`Error`] as the default error.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io { path: path.into(), source }
    }
    pub(crate) fn config(msg: impl Into<String>) -> Self {
        Error::Config(msg.into())
    }
}
