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

/// The one of `all` that [`Display`](fmt::Display)s as `text`, for the
/// `FromStr` of a small enum written as the derive spells it; otherwise a
/// [`ParseError`] naming `what` and listing `all`.
pub(crate) fn one_of<T: fmt::Display + Copy, const N: usize>(
    what: &'static str,
    text: &str,
    all: [T; N],
) -> Result<T, ParseError> {
    all.into_iter()
        .find(|value| value.to_string() == text)
        .ok_or_else(|| ParseError::new(what, text, all))
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
