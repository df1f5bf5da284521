//! The error of parsing a configuration value from text.

use std::fmt;

/// A value could not be parsed from text, such as a [`Restart`](crate::Restart)
/// policy or a [`Signal`](crate::Signal) read from a configuration file or an
/// environment variable. It says what was given and what is accepted.
///
/// ```
/// use orchestra::Restart;
///
/// let err = "sometimes".parse::<Restart>().unwrap_err();
/// assert_eq!(err.input(), "sometimes");
/// assert_eq!(
///     err.to_string(),
///     "unknown restart policy `sometimes`; expected one of `never`, `on-failure`, `always`"
/// );
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    what: &'static str,
    input: String,
    expected: String,
}

impl ParseError {
    /// `input` is not a `what`; `expected` lists the accepted values.
    pub(crate) fn new<T: fmt::Display>(
        what: &'static str,
        input: &str,
        expected: impl IntoIterator<Item = T>,
    ) -> Self {
        let expected = expected
            .into_iter()
            .map(|accepted| format!("`{accepted}`"))
            .collect::<Vec<_>>()
            .join(", ");
        ParseError {
            what,
            input: input.to_owned(),
            expected,
        }
    }

    /// The text that could not be parsed.
    pub fn input(&self) -> &str {
        &self.input
    }
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "unknown {} `{}`; expected one of {}",
            self.what, self.input, self.expected
        )
    }
}

impl std::error::Error for ParseError {}
