//! How a command fails, and the exit code each kind of failure gets:
//! 0 success; 1 the input was rejected (an invalid model, a bad row, an existing data
//! directory); 2 a usage error (clap's); 3 a runtime failure (IO, database, network).

use std::fmt;

pub const EXIT_REJECTED: i32 = 1;
pub const EXIT_RUNTIME: i32 = 3;

#[derive(Debug)]
pub enum Failure {
    /// The user's input is wrong; the message says where and what would be valid.
    Rejected(String),
    /// Something outside the input failed.
    Runtime(anyhow::Error),
}

impl Failure {
    pub fn exit_code(&self) -> i32 {
        match self {
            Failure::Rejected(_) => EXIT_REJECTED,
            Failure::Runtime(_) => EXIT_RUNTIME,
        }
    }

    pub fn rejected(message: impl Into<String>) -> Failure {
        Failure::Rejected(message.into())
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Failure::Rejected(message) => write!(f, "{message}"),
            // `{:#}` prints the whole chain of causes on one line.
            Failure::Runtime(e) => write!(f, "error: {e:#}"),
        }
    }
}

impl<E: Into<anyhow::Error>> From<E> for Failure {
    fn from(e: E) -> Failure {
        Failure::Runtime(e.into())
    }
}

pub type Outcome<T = ()> = Result<T, Failure>;
