//! Where in a scenario file a problem is: errors as `origin:line:column`.

use crate::error::RaceError;

/// A byte range of the file.
pub(super) type Span = std::ops::Range<usize>;

/// A scenario's text and the name its errors carry.
pub(super) struct Source<'a> {
    pub(super) origin: &'a str,
    pub(super) text: &'a str,
}

impl Source<'_> {
    pub(super) fn error_at(&self, span: &Span, message: impl Into<String>) -> RaceError {
        self.error_offset(span.start, message)
    }

    /// An error on the line, inside `span`, where `needle` first occurs (else where `span` starts).
    pub(super) fn error_near(
        &self,
        span: &Span,
        needle: &str,
        message: impl Into<String>,
    ) -> RaceError {
        // A table's span may cover only its `[[header]]`: search on to the next header.
        let rest = self.text.get(span.end..).unwrap_or("");
        let end = rest
            .find("\n[")
            .map_or(self.text.len(), |found| span.end + found);
        let within = self.text.get(span.start..end).unwrap_or("");
        let offset = within
            .find(needle)
            .filter(|_| !needle.is_empty())
            .map_or(span.start, |found| span.start + found);
        self.error_offset(offset, message)
    }

    pub(super) fn error_offset(&self, offset: usize, message: impl Into<String>) -> RaceError {
        let before = self.text.get(..offset).unwrap_or(self.text);
        let line = before.matches('\n').count() + 1;
        let column = before
            .rfind('\n')
            .map_or(before.len(), |nl| before.len() - nl - 1)
            + 1;
        RaceError::Scenario {
            origin: self.origin.to_owned(),
            line,
            column,
            message: message.into(),
        }
    }

    pub(super) fn line_of(&self, span: &Span) -> usize {
        self.text
            .get(..span.start)
            .unwrap_or(self.text)
            .matches('\n')
            .count()
            + 1
    }
}
