//! The one error type. Every message is one line and names the file; problems inside the data
//! also name the line (1-based, the header is line 1) and the column by its header name.

use std::fmt;

/// Why an import failed. `Display` gives one line for a person: file, line, column, what is wrong.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("{file}: cannot read the file: {source}")]
    Open {
        file: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{file}, line {line}: cannot read: {source}")]
    Read {
        file: String,
        line: u64,
        #[source]
        source: std::io::Error,
    },
    #[error("{file}: not a usable zip archive: {reason}")]
    BadZip { file: String, reason: String },
    #[error("{file}, line 1: the file is empty (no header row)")]
    Empty { file: String },
    #[error("{file}, line 1, column {column}: the header is not valid UTF-8")]
    HeaderNotUtf8 { file: String, column: usize },
    #[error("{file}, line 1: no column for {what}")]
    MissingColumn { file: String, what: String },
    #[error("{file}, line 1: several columns could be {what}: {}", list(.columns))]
    AmbiguousColumn {
        file: String,
        what: String,
        columns: Vec<String>,
    },
    #[error("{file}, line 1, column \"{column}\": the column appears twice")]
    DuplicateColumn { file: String, column: String },
    #[error("{file}, line 1, column \"{column}\": unknown column (expected {expected})")]
    UnknownColumn {
        file: String,
        column: String,
        expected: &'static str,
    },
    #[error("{file}, line {line}: {found} fields, but the header has {expected}")]
    Ragged {
        file: String,
        line: u64,
        expected: usize,
        found: usize,
    },
    #[error("{file}, line {line}, column \"{column}\": {problem}")]
    Value {
        file: String,
        line: u64,
        column: String,
        problem: ValueProblem,
    },
    #[error("{file}: the header is there but no station rows follow")]
    NoStations { file: String },
    #[error("{file}: no option matches the leader \"{leader}\"; the options are: {}", list(.options))]
    LeaderNotFound {
        file: String,
        leader: String,
        options: Vec<String>,
    },
    #[error("{file}: the leader \"{leader}\" matches several options: {}; give more of the name", list(.matches))]
    LeaderAmbiguous {
        file: String,
        leader: String,
        matches: Vec<String>,
    },
    #[error("{file}: name the leader (--leader NAME); the options are: {}", list(.options))]
    LeaderRequired { file: String, options: Vec<String> },
}

/// What is wrong with one cell.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ValueProblem {
    /// The cell is empty.
    Empty,
    /// The cell is not a whole number; holds the cell, shortened and escaped.
    NotANumber(String),
    /// The cell is a negative number.
    Negative(String),
    /// The number does not fit in 32 bits.
    TooLarge(String),
    /// A sum of several columns (ballots issued, or valid + invalid) does not fit in 32 bits.
    SumTooLarge,
    /// A text cell is not valid UTF-8.
    NotUtf8,
    /// A code that does not have the expected shape; holds the cell and an example shape.
    BadCode {
        value: String,
        expected: &'static str,
    },
    /// The same station (or other key) appears on an earlier line.
    Duplicate { first_line: u64 },
    /// Not a percentage from 0 to 100; holds the cell.
    NotAPercentage(String),
    /// Not a count, an approximate count (`~200`) or a lower bound (`>1000`); holds the cell.
    NotACount(String),
    /// The cell is wrong in a way the sentence says (out of range, contradicts another cell…).
    Invalid(String),
}

impl fmt::Display for ValueProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ValueProblem::Empty => f.write_str("the cell is empty"),
            ValueProblem::NotANumber(v) => write!(f, "not a whole number: {v}"),
            ValueProblem::Negative(v) => write!(f, "negative number: {v}"),
            ValueProblem::TooLarge(v) => write!(f, "number too large: {v}"),
            ValueProblem::SumTooLarge => f.write_str("the sum is too large"),
            ValueProblem::NotUtf8 => f.write_str("not valid UTF-8"),
            ValueProblem::BadCode { value, expected } => {
                write!(f, "not a code like {expected}: {value}")
            }
            ValueProblem::Duplicate { first_line } => {
                write!(f, "appears twice (first on line {first_line})")
            }
            ValueProblem::NotAPercentage(v) => {
                write!(f, "not a percentage from 0 to 100: {v}")
            }
            ValueProblem::NotACount(v) => write!(
                f,
                "not a count, an approximate count (~200) or a lower bound (>1000): {v}"
            ),
            ValueProblem::Invalid(why) => f.write_str(why),
        }
    }
}

fn list(items: &[String]) -> String {
    let mut out = String::new();
    for (i, s) in items.iter().enumerate() {
        if i > 0 {
            out.push_str("; ");
        }
        out.push_str(&shown(s, 120));
    }
    out
}

/// `s` made safe for a one-line message: control characters escaped, at most `max` characters.
pub(crate) fn shown(s: &str, max: usize) -> String {
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i >= max {
            out.push('…');
            break;
        }
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}

/// A cell's bytes for a message: quoted, escaped, shortened.
pub(crate) fn cell(bytes: &[u8]) -> String {
    let s = String::from_utf8_lossy(bytes);
    format!("\"{}\"", shown(&s, 40))
}
