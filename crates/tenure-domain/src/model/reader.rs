//! A small error-collecting reader over a parsed TOML document. Unlike serde, it keeps going
//! after the first problem, so `tenure model check` reports every error at once, each at the
//! exact span of the key or value at fault.

use std::ops::Range;

use toml_edit::{Item, TableLike, Value};

use super::diagnostic::{did_you_mean, Diagnostic};

/// A value with the byte range it came from.
#[derive(Debug, Clone)]
pub(super) struct Spanned<T> {
    pub value: T,
    pub span: Range<usize>,
}

/// A TOML table (standard or inline) being read, with where it is and what it is called.
pub(super) struct Obj<'a> {
    pub table: &'a dyn TableLike,
    /// Where to point when a required key is missing.
    pub span: Range<usize>,
    /// The dotted path, for messages: `health.pillars.outcome_progress`.
    pub path: String,
}

#[derive(Default)]
pub(super) struct Reader {
    pub diagnostics: Vec<Diagnostic>,
}

fn type_name(item: &Item) -> &'static str {
    match item {
        Item::Value(Value::InlineTable(_)) | Item::Table(_) => "a table",
        Item::Value(Value::Array(_)) | Item::ArrayOfTables(_) => "an array",
        Item::Value(Value::String(_)) => "a string",
        Item::Value(Value::Integer(_)) => "an integer",
        Item::Value(Value::Float(_)) => "a float",
        Item::Value(Value::Boolean(_)) => "a boolean",
        Item::Value(Value::Datetime(_)) => "a date-time",
        Item::None => "nothing",
    }
}

impl Reader {
    pub fn error(&mut self, span: Range<usize>, message: impl Into<String>) {
        self.diagnostics.push(Diagnostic::new(span, message));
    }

    pub fn error_help(
        &mut self,
        span: Range<usize>,
        message: impl Into<String>,
        help: impl Into<String>,
    ) {
        self.diagnostics
            .push(Diagnostic::new(span, message).with_help(help));
    }

    /// Reports every key of `obj` not in `allowed`, suggesting the closest allowed key.
    pub fn check_keys(&mut self, obj: &Obj<'_>, allowed: &[&str]) {
        for (key, _) in obj.table.iter() {
            if allowed.contains(&key) {
                continue;
            }
            let span = self.key_span(obj, key);
            let valid = allowed.join(", ");
            let help = match did_you_mean(key, allowed.iter().copied()) {
                Some(s) => format!("did you mean `{s}`? valid keys here: {valid}"),
                None => format!("valid keys here: {valid}"),
            };
            self.error_help(
                span,
                if obj.path.is_empty() {
                    format!("unknown top-level key `{key}`")
                } else {
                    format!("unknown key `{key}` in `{}`", obj.path)
                },
                help,
            );
        }
    }

    pub fn key_span(&self, obj: &Obj<'_>, key: &str) -> Range<usize> {
        obj.table
            .get_key_value(key)
            .and_then(|(k, _)| k.span())
            .unwrap_or_else(|| obj.span.clone())
    }

    fn value_span(&self, obj: &Obj<'_>, key: &str) -> Range<usize> {
        obj.table
            .get_key_value(key)
            .and_then(|(k, item)| item.span().or_else(|| k.span()))
            .unwrap_or_else(|| obj.span.clone())
    }

    fn item<'a>(
        &mut self,
        obj: &Obj<'a>,
        key: &str,
        required: bool,
        expected: &str,
    ) -> Option<&'a Item> {
        match obj.table.get(key) {
            Some(item) if !item.is_none() => Some(item),
            _ => {
                // A misspelt key is reported as unknown, with a suggestion; reporting the key
                // it was meant to be as missing too would only repeat that.
                let misspelt = obj
                    .table
                    .iter()
                    .any(|(k, _)| k != key && did_you_mean(k, [key]).is_some());
                if required && !misspelt {
                    self.error_help(
                        obj.span.clone(),
                        if obj.path.is_empty() {
                            format!("missing top-level key `{key}`")
                        } else {
                            format!("missing key `{key}` in `{}`", obj.path)
                        },
                        format!("add `{key} = …` ({expected})"),
                    );
                }
                None
            }
        }
    }

    fn wrong_type(&mut self, obj: &Obj<'_>, key: &str, item: &Item, expected: &str) {
        let span = self.value_span(obj, key);
        self.error(
            span,
            format!(
                "`{}` must be {expected}, found {}",
                child_path(&obj.path, key),
                type_name(item)
            ),
        );
    }

    pub fn string(&mut self, obj: &Obj<'_>, key: &str, required: bool) -> Option<Spanned<String>> {
        let item = self.item(obj, key, required, "a string")?;
        match item.as_str() {
            Some(s) => Some(Spanned {
                value: s.to_owned(),
                span: self.value_span(obj, key),
            }),
            None => {
                self.wrong_type(obj, key, item, "a string");
                None
            }
        }
    }

    /// A string that must be one of `names`; returns its index in `names`.
    pub fn choice(
        &mut self,
        obj: &Obj<'_>,
        key: &str,
        names: &[&str],
        required: bool,
    ) -> Option<Spanned<usize>> {
        let s = self.string(obj, key, required)?;
        match names.iter().position(|n| *n == s.value) {
            Some(i) => Some(Spanned {
                value: i,
                span: s.span,
            }),
            None => {
                self.unknown_name(s.span.clone(), &child_path(&obj.path, key), &s.value, names);
                None
            }
        }
    }

    /// Reports `name` as not one of `names`, with a suggestion when one is close.
    pub fn unknown_name(&mut self, span: Range<usize>, what: &str, name: &str, names: &[&str]) {
        let valid = names.join(", ");
        let help = match did_you_mean(name, names.iter().copied()) {
            Some(s) => format!("did you mean `{s}`? valid values: {valid}"),
            None => format!("valid values: {valid}"),
        };
        self.error_help(span, format!("`{name}` is not a valid `{what}`"), help);
    }

    pub fn number(&mut self, obj: &Obj<'_>, key: &str, required: bool) -> Option<Spanned<f64>> {
        let item = self.item(obj, key, required, "a number")?;
        let value = match item.as_value() {
            Some(Value::Integer(i)) => Some(*i.value() as f64),
            Some(Value::Float(f)) => Some(*f.value()),
            _ => None,
        };
        match value {
            Some(v) if v.is_finite() => Some(Spanned {
                value: v,
                span: self.value_span(obj, key),
            }),
            Some(_) => {
                let span = self.value_span(obj, key);
                self.error(
                    span,
                    format!("`{}` must be a finite number", child_path(&obj.path, key)),
                );
                None
            }
            None => {
                self.wrong_type(obj, key, item, "a number");
                None
            }
        }
    }

    /// A whole number in `range`.
    pub fn count(
        &mut self,
        obj: &Obj<'_>,
        key: &str,
        required: bool,
        range: Range<u32>,
    ) -> Option<Spanned<u32>> {
        let item = self.item(obj, key, required, "a whole number")?;
        let span = self.value_span(obj, key);
        match item.as_integer() {
            Some(i) if i >= i64::from(range.start) && i < i64::from(range.end) => Some(Spanned {
                value: i as u32,
                span,
            }),
            Some(i) => {
                self.error_help(
                    span,
                    format!("`{}` is {i}, out of range", child_path(&obj.path, key)),
                    format!(
                        "use a whole number from {} to {}",
                        range.start,
                        range.end - 1
                    ),
                );
                None
            }
            None => {
                self.wrong_type(obj, key, item, "a whole number");
                None
            }
        }
    }

    pub fn boolean(&mut self, obj: &Obj<'_>, key: &str) -> Option<Spanned<bool>> {
        let item = self.item(obj, key, false, "true or false")?;
        match item.as_bool() {
            Some(b) => Some(Spanned {
                value: b,
                span: self.value_span(obj, key),
            }),
            None => {
                self.wrong_type(obj, key, item, "true or false");
                None
            }
        }
    }

    pub fn strings(&mut self, obj: &Obj<'_>, key: &str) -> Vec<Spanned<String>> {
        let Some(item) = self.item(obj, key, false, "an array of strings") else {
            return Vec::new();
        };
        let Some(array) = item.as_array() else {
            self.wrong_type(obj, key, item, "an array of strings");
            return Vec::new();
        };
        let mut out = Vec::new();
        for value in array.iter() {
            let span = value.span().unwrap_or_else(|| self.value_span(obj, key));
            match value.as_str() {
                Some(s) => out.push(Spanned {
                    value: s.to_owned(),
                    span,
                }),
                None => self.error(
                    span,
                    format!("`{}` must hold only strings", child_path(&obj.path, key)),
                ),
            }
        }
        out
    }

    /// A sub-table, standard (`[a.b]`) or inline (`b = { … }`).
    pub fn table<'a>(&mut self, obj: &Obj<'a>, key: &str, required: bool) -> Option<Obj<'a>> {
        let item = self.item(obj, key, required, "a table")?;
        let span = self.value_span(obj, key);
        match item.as_table_like() {
            Some(table) => Some(Obj {
                table,
                span: table_span(item).unwrap_or(span),
                path: child_path(&obj.path, key),
            }),
            None => {
                self.wrong_type(obj, key, item, "a table");
                None
            }
        }
    }

    /// Every entry of a table whose keys are user-chosen names, such as `[measures.NAME]`.
    pub fn named_tables<'a>(&mut self, obj: &Obj<'a>) -> Vec<(Spanned<String>, Obj<'a>)> {
        let mut out = Vec::new();
        for (key, item) in obj.table.iter() {
            let key_span = self.key_span(obj, key);
            match item.as_table_like() {
                Some(table) => out.push((
                    Spanned {
                        value: key.to_owned(),
                        span: key_span.clone(),
                    },
                    Obj {
                        table,
                        span: table_span(item).unwrap_or(key_span),
                        path: child_path(&obj.path, key),
                    },
                )),
                None => {
                    self.wrong_type(obj, key, item, "a table");
                }
            }
        }
        out
    }

    /// An array of tables: `[[a]]` sections, or an array of inline tables.
    pub fn table_array<'a>(&mut self, obj: &Obj<'a>, key: &str) -> Vec<Obj<'a>> {
        let Some(item) = self.item(obj, key, false, "an array of tables") else {
            return Vec::new();
        };
        let path = child_path(&obj.path, key);
        let mut out = Vec::new();
        match item {
            Item::ArrayOfTables(aot) => {
                for (i, table) in aot.iter().enumerate() {
                    out.push(Obj {
                        table,
                        span: table.span().unwrap_or_else(|| self.key_span(obj, key)),
                        path: format!("{path}[{i}]"),
                    });
                }
            }
            Item::Value(Value::Array(array)) => {
                for (i, value) in array.iter().enumerate() {
                    let span = value.span().unwrap_or_else(|| self.value_span(obj, key));
                    match value.as_inline_table() {
                        Some(table) => out.push(Obj {
                            table,
                            span,
                            path: format!("{path}[{i}]"),
                        }),
                        None => self.error(
                            span,
                            format!("`{path}[{i}]` must be a table such as `{{ key = value }}`"),
                        ),
                    }
                }
            }
            other => self.wrong_type(obj, key, other, "an array of tables"),
        }
        out
    }

    /// A raw value, for literals whose type depends on context.
    pub fn value<'a>(
        &mut self,
        obj: &Obj<'a>,
        key: &str,
        required: bool,
    ) -> Option<(&'a Value, Range<usize>)> {
        let item = self.item(obj, key, required, "a value")?;
        let span = self.value_span(obj, key);
        match item.as_value() {
            Some(v) => Some((v, span)),
            None => {
                self.wrong_type(obj, key, item, "a value");
                None
            }
        }
    }
}

/// The dotted path of `key` inside `parent` (the top level has an empty path).
pub(super) fn child_path(parent: &str, key: &str) -> String {
    if parent.is_empty() {
        key.to_owned()
    } else {
        format!("{parent}.{key}")
    }
}

/// Standard tables point at their `[header]`; inline tables at their braces.
fn table_span(item: &Item) -> Option<Range<usize>> {
    match item {
        Item::Table(t) => t.span(),
        Item::Value(v) => v.span(),
        _ => None,
    }
}
