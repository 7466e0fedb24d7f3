//! Field-level validation errors.
//!
//! Parsers report every wrong field at once, each with a JSON-pointer-like
//! path (`/lines/0/quantity`), so a client can fix all of them in one go.

use std::fmt;

/// One wrong field: where it is and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    /// JSON pointer to the field, e.g. `/lines/0/quantity`.
    pub path: String,
    /// A human sentence saying what is wrong.
    pub message: String,
}

/// A collection of field errors gathered while parsing one request.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FieldErrors(Vec<FieldError>);

impl FieldErrors {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn push(&mut self, path: impl Into<String>, message: impl Into<String>) {
        self.0.push(FieldError {
            path: path.into(),
            message: message.into(),
        });
    }

    /// Keeps the value when it parsed, records the error under `path` otherwise.
    pub fn check<T, E: fmt::Display>(&mut self, path: &str, result: Result<T, E>) -> Option<T> {
        match result {
            Ok(value) => Some(value),
            Err(error) => {
                self.push(path, error.to_string());
                None
            }
        }
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn into_vec(self) -> Vec<FieldError> {
        self.0
    }

    pub fn iter(&self) -> impl Iterator<Item = &FieldError> {
        self.0.iter()
    }

    /// `Ok(value)` when no error was recorded; the value must then be present.
    pub fn finish<T>(self, value: Option<T>) -> Result<T, FieldErrors> {
        match value {
            Some(value) if self.is_empty() => Ok(value),
            _ => Err(self),
        }
    }
}

impl fmt::Display for FieldErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parts: Vec<String> = self
            .0
            .iter()
            .map(|e| format!("{}: {}", e.path, e.message))
            .collect();
        f.write_str(&parts.join("; "))
    }
}

impl std::error::Error for FieldErrors {}

/// Why a free-text field is not acceptable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TextError {
    Empty,
    TooLong { max: usize, len: usize },
    ControlCharacter,
}

impl fmt::Display for TextError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Empty => f.write_str("must not be empty"),
            Self::TooLong { max, len } => {
                write!(f, "must be at most {max} characters, got {len}")
            }
            Self::ControlCharacter => f.write_str("must not contain control characters"),
        }
    }
}

impl std::error::Error for TextError {}

/// Trims a free-text field and checks it is non-empty, short enough, and free
/// of control characters (which would corrupt logs, CSV exports and timelines).
pub fn parse_text(raw: &str, max: usize) -> Result<String, TextError> {
    let trimmed = raw.trim();
    let len = trimmed.chars().count();
    if len == 0 {
        return Err(TextError::Empty);
    }
    if len > max {
        return Err(TextError::TooLong { max, len });
    }
    if trimmed.chars().any(char::is_control) {
        return Err(TextError::ControlCharacter);
    }
    Ok(trimmed.to_owned())
}
