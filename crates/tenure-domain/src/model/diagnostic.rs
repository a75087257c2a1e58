//! Diagnostics for `tenure.toml`: what is wrong, where (file:line:col, with the offending
//! source line underlined) and what would be valid. Rendering only; finding errors is the
//! parser's job.

use std::fmt;
use std::ops::Range;

/// One problem found in a model file, located by a byte range into its source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    /// Byte range of the offending key or value in the source text.
    pub span: Range<usize>,
    /// What is wrong, lowercase, naming the key path.
    pub message: String,
    /// What would be valid, when there is something useful to say.
    pub help: Option<String>,
}

impl Diagnostic {
    pub fn new(span: Range<usize>, message: impl Into<String>) -> Self {
        Diagnostic {
            span,
            message: message.into(),
            help: None,
        }
    }

    pub fn with_help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }
}

/// A 1-based line and column (columns count characters, not bytes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LineCol {
    pub line: usize,
    pub column: usize,
}

/// Translates a byte offset into a line and column of `source`.
pub fn line_col(source: &str, offset: usize) -> LineCol {
    let offset = floor_char_boundary(source, offset.min(source.len()));
    let before = &source[..offset];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let column = source[line_start..offset].chars().count() + 1;
    LineCol { line, column }
}

fn floor_char_boundary(s: &str, mut i: usize) -> usize {
    while i > 0 && !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

/// Every problem found in one model file, with the text needed to render them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelErrors {
    /// The file name as the user gave it.
    pub file: String,
    pub source: String,
    /// Sorted by position.
    pub diagnostics: Vec<Diagnostic>,
}

impl ModelErrors {
    /// The position of each diagnostic, in order.
    pub fn locations(&self) -> Vec<LineCol> {
        self.diagnostics
            .iter()
            .map(|d| line_col(&self.source, d.span.start))
            .collect()
    }
}

impl std::error::Error for ModelErrors {}

impl fmt::Display for ModelErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, d) in self.diagnostics.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            render(f, &self.file, &self.source, d)?;
        }
        let n = self.diagnostics.len();
        write!(
            f,
            "\n{}: {n} error{} in the success model",
            self.file,
            if n == 1 { "" } else { "s" }
        )
    }
}

fn render(f: &mut fmt::Formatter<'_>, file: &str, source: &str, d: &Diagnostic) -> fmt::Result {
    let start = line_col(source, d.span.start);
    writeln!(f, "error: {}", d.message)?;
    let gutter = start.line.to_string().len();
    writeln!(
        f,
        "{:gutter$}--> {file}:{}:{}",
        "",
        start.line,
        start.column,
        gutter = gutter
    )?;
    let line_text = source.lines().nth(start.line - 1).unwrap_or("");
    // Underline the span, but only as far as the end of its first line.
    let span_chars = source
        .get(d.span.clone())
        .map(|s| s.lines().next().unwrap_or("").chars().count())
        .unwrap_or(1)
        .max(1);
    let available = line_text
        .chars()
        .count()
        .saturating_sub(start.column - 1)
        .max(1);
    writeln!(f, "{:gutter$} |", "", gutter = gutter)?;
    writeln!(f, "{} | {}", start.line, line_text)?;
    writeln!(
        f,
        "{:gutter$} | {}{}",
        "",
        " ".repeat(start.column - 1),
        "^".repeat(span_chars.min(available)),
        gutter = gutter
    )?;
    if let Some(help) = &d.help {
        writeln!(f, "{:gutter$} = help: {help}", "", gutter = gutter)?;
    }
    Ok(())
}

/// The closest candidate to `word`, when one is close enough to be a likely typo.
pub fn did_you_mean<'a>(
    word: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    candidates
        .into_iter()
        .map(|c| (strsim::jaro_winkler(word, c), c))
        .filter(|(score, _)| *score >= 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, c)| c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_col_counts_characters_from_one() {
        let src = "a = 1\nbé = 2\n";
        assert_eq!(line_col(src, 0), LineCol { line: 1, column: 1 });
        // "bé = 2": the '=' is the 4th character but the 5th byte of the line.
        let eq = src.rfind('=').unwrap();
        assert_eq!(line_col(src, eq), LineCol { line: 2, column: 4 });
    }

    #[test]
    fn suggestions_are_close_matches_only() {
        assert_eq!(
            did_you_mean("wieght", ["weight", "measures"]),
            Some("weight")
        );
        assert_eq!(did_you_mean("colour", ["weight", "measures"]), None);
    }
}
