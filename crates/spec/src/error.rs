//! Spec errors: every problem with a spec is located at file:line:column with its key path.

use std::path::PathBuf;

use crate::locate::KeyPath;

/// A spec that cannot be read, parsed or planned.
#[derive(Debug, thiserror::Error)]
pub enum SpecError {
    /// A spec that does not parse or validate, located in its file.
    #[error("{file}:{line}:{column}: {message}")]
    Located {
        /// The spec file.
        file: PathBuf,
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
        /// What is wrong (with the key path and, for typos, the nearest valid name).
        message: String,
    },
    /// The file could not be read.
    #[error("{path}: {source}")]
    Io {
        /// The path.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
}

/// A problem found by validation, before it is located in the file.
#[derive(Debug, Clone, PartialEq)]
pub struct Invalid {
    /// The offending key (in the resolved spec).
    pub path: KeyPath,
    /// What is wrong.
    pub message: String,
}

impl Invalid {
    /// A problem at `path`.
    pub fn new(path: KeyPath, message: impl Into<String>) -> Self {
        Invalid {
            path,
            message: message.into(),
        }
    }
}

/// Result alias.
pub type Result<T, E = SpecError> = std::result::Result<T, E>;
