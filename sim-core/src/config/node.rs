//! A format-neutral document tree with source positions: TOML and JSON scenario files are
//! both parsed into [`Node`]s, so validation and error messages are written once.

use std::fmt;

/// Where a value came from: a line and column in the scenario file, or a `--set` override.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub enum Origin {
    /// No position is known (built in code).
    #[default]
    Unknown,
    /// A position in the scenario text.
    At {
        /// 1-based line.
        line: u32,
        /// 1-based column (in characters).
        column: u32,
    },
    /// From a command-line override (`--set KEY=VALUE`); holds the whole argument.
    Set(String),
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::Unknown => Ok(()),
            Origin::At { line, column } => write!(f, "{line}:{column}"),
            Origin::Set(arg) => write!(f, "--set {}", super::clip(arg, super::MAX_ECHO)),
        }
    }
}

/// A value in a scenario document.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    /// A string.
    Str(String),
    /// An integer.
    Int(i64),
    /// A floating-point number (TOML allows nan and inf; validation rejects them).
    Float(f64),
    /// An integer outside the 64-bit range, as written (validation says it is too large).
    BigInt(String),
    /// A boolean.
    Bool(bool),
    /// An array.
    Array(Vec<Node>),
    /// A table (TOML) or object (JSON), in source order.
    Table(Vec<(Key, Node)>),
}

/// A table key with the position of the key itself.
#[derive(Clone, Debug, PartialEq)]
pub struct Key {
    /// The key text.
    pub name: String,
    /// Where the key is written.
    pub origin: Origin,
}

/// A value with its origin.
#[derive(Clone, Debug, PartialEq)]
pub struct Node {
    /// The value.
    pub value: Value,
    /// Where it was written.
    pub origin: Origin,
}

impl Node {
    /// The kind of value, as a user would name it in a message.
    pub fn kind(&self) -> &'static str {
        match self.value {
            Value::Str(_) => "a string",
            Value::Int(_) | Value::BigInt(_) => "an integer",
            Value::Float(_) => "a number",
            Value::Bool(_) => "a boolean",
            Value::Array(_) => "an array",
            Value::Table(_) => "a table",
        }
    }

    /// Looks up a key of a table node.
    pub fn get(&self, key: &str) -> Option<&Node> {
        match &self.value {
            Value::Table(entries) => entries.iter().find(|(k, _)| k.name == key).map(|(_, v)| v),
            _ => None,
        }
    }
}

/// A syntax error with its position.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SyntaxError {
    /// 1-based line, if known.
    pub line: u32,
    /// 1-based column, if known.
    pub column: u32,
    /// What is wrong.
    pub message: String,
}

/// Maps byte offsets to 1-based line and column (columns count characters, not bytes).
///
/// A column is the characters from the line's start to the offset. Counting them from the line's
/// start on every call would be quadratic on one long line (a 100,000-entry array on a single
/// line has 100,000 nodes), so characters are counted once per block of [`BLOCK`] bytes, and a
/// call counts at most two partial blocks.
pub struct LineIndex<'a> {
    text: &'a str,
    line_starts: Vec<usize>,
    /// `chars_before[k]`: characters in `text[..k * BLOCK]`.
    chars_before: Vec<usize>,
}

/// Bytes per block of the character count.
const BLOCK: usize = 4096;

/// Characters in `bytes`: every byte that does not continue a UTF-8 sequence starts one.
fn count_chars(bytes: &[u8]) -> usize {
    bytes.iter().filter(|&&b| b & 0xC0 != 0x80).count()
}

impl<'a> LineIndex<'a> {
    /// Indexes `text`.
    pub fn new(text: &'a str) -> LineIndex<'a> {
        let mut line_starts = vec![0];
        line_starts.extend(text.match_indices('\n').map(|(i, _)| i + 1));
        let mut chars_before = vec![0];
        let mut total = 0;
        for block in text.as_bytes().chunks(BLOCK) {
            total += count_chars(block);
            chars_before.push(total);
        }
        LineIndex { text, line_starts, chars_before }
    }

    /// Characters in `text[..offset]`.
    fn chars_to(&self, offset: usize) -> usize {
        let block = offset / BLOCK;
        self.chars_before[block] + count_chars(&self.text.as_bytes()[block * BLOCK..offset])
    }

    /// The origin of a byte offset.
    pub fn origin(&self, offset: usize) -> Origin {
        let offset = offset.min(self.text.len());
        let line = self.line_starts.partition_point(|&start| start <= offset) - 1;
        let start = self.line_starts[line];
        let column = self.chars_to(offset) - self.chars_to(start) + 1;
        Origin::At { line: line as u32 + 1, column: column as u32 }
    }
}

/// Parses TOML text into a node tree.
pub fn parse_toml(text: &str) -> Result<Node, SyntaxError> {
    let index = LineIndex::new(text);
    match toml::de::DeTable::parse(text) {
        Ok(table) => {
            let span = table.span();
            Ok(Node { value: toml_table(table.into_inner(), &index), origin: index.origin(span.start) })
        }
        Err(err) => {
            let origin = err.span().map(|s| index.origin(s.start)).unwrap_or_default();
            let (line, column) = match origin {
                Origin::At { line, column } => (line, column),
                _ => (0, 0),
            };
            Err(SyntaxError { line, column, message: first_line(err.message()) })
        }
    }
}

/// The first line of a parser's message, cut if the parser quotes a long piece of the text.
fn first_line(message: &str) -> String {
    super::clip(message.trim().lines().next().unwrap_or("").trim(), 200)
}

/// `true` for `-?digits` (a JSON integer, whatever its size).
fn is_integer_text(text: &str) -> bool {
    let digits = text.strip_prefix('-').unwrap_or(text);
    !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit())
}

fn toml_table(table: toml::de::DeTable<'_>, index: &LineIndex<'_>) -> Value {
    Value::Table(
        table
            .into_iter()
            .map(|(key, value)| {
                let key_origin = index.origin(key.span().start);
                let span = value.span();
                let node = Node { value: toml_value(value.into_inner(), index), origin: index.origin(span.start) };
                (Key { name: key.into_inner().into_owned(), origin: key_origin }, node)
            })
            .collect(),
    )
}

fn toml_value(value: toml::de::DeValue<'_>, index: &LineIndex<'_>) -> Value {
    use toml::de::DeValue;
    match value {
        DeValue::String(s) => Value::Str(s.into_owned()),
        DeValue::Integer(i) => {
            let digits = i.as_str().replace('_', "");
            match i64::from_str_radix(&digits, i.radix()) {
                Ok(n) => Value::Int(n),
                // Out of i64 range: keep the text so validation can say "too large" and quote it.
                Err(_) => Value::BigInt(digits),
            }
        }
        DeValue::Float(f) => Value::Float(parse_toml_float(f.as_str())),
        DeValue::Boolean(b) => Value::Bool(b),
        DeValue::Datetime(d) => Value::Str(d.to_string()),
        DeValue::Array(items) => Value::Array(
            items
                .into_iter()
                .map(|item| {
                    let span = item.span();
                    Node { value: toml_value(item.into_inner(), index), origin: index.origin(span.start) }
                })
                .collect(),
        ),
        DeValue::Table(table) => toml_table(table, index),
    }
}

fn parse_toml_float(text: &str) -> f64 {
    let clean = text.replace('_', "");
    match clean.as_str() {
        "nan" | "+nan" | "-nan" => f64::NAN,
        "inf" | "+inf" => f64::INFINITY,
        "-inf" => f64::NEG_INFINITY,
        other => other.parse().unwrap_or(f64::NAN),
    }
}

/// Parses JSON text (strict: no comments, no trailing commas) into a node tree.
pub fn parse_json(text: &str) -> Result<Node, SyntaxError> {
    use jsonc_parser::{CollectOptions, ParseOptions, parse_to_ast};
    let index = LineIndex::new(text);
    let options = ParseOptions {
        allow_comments: false,
        allow_loose_object_property_names: false,
        allow_trailing_commas: false,
        allow_missing_commas: false,
        allow_single_quoted_strings: false,
        allow_hexadecimal_numbers: false,
        allow_unary_plus_numbers: false,
        allow_bare_decimal_point_numbers: false,
        ..ParseOptions::default()
    };
    let parsed = parse_to_ast(text, &CollectOptions::default(), &options).map_err(|err| {
        let (line, column) = match index.origin(err.range().start) {
            Origin::At { line, column } => (line, column),
            _ => (0, 0),
        };
        SyntaxError { line, column, message: err.kind().to_string() }
    })?;
    let Some(value) = parsed.value else {
        return Err(SyntaxError { line: 1, column: 1, message: "the file holds no JSON value".into() });
    };
    json_node(value, &index)
}

fn json_node(value: jsonc_parser::ast::Value<'_>, index: &LineIndex<'_>) -> Result<Node, SyntaxError> {
    use jsonc_parser::ast::{ObjectPropName, Value as J};
    let start = match &value {
        J::StringLit(v) => v.range.start,
        J::NumberLit(v) => v.range.start,
        J::BooleanLit(v) => v.range.start,
        J::Object(v) => v.range.start,
        J::Array(v) => v.range.start,
        J::NullKeyword(v) => v.range.start,
    };
    let origin = index.origin(start);
    let value = match value {
        J::StringLit(s) => Value::Str(s.value.into_owned()),
        J::NumberLit(n) => match n.value.parse::<i64>() {
            Ok(i) => Value::Int(i),
            // An integer beyond i64: as in TOML, kept as written to be refused as too large.
            Err(_) if is_integer_text(n.value) => Value::BigInt(n.value.to_string()),
            Err(_) => Value::Float(n.value.parse::<f64>().unwrap_or(f64::NAN)),
        },
        J::BooleanLit(b) => Value::Bool(b.value),
        J::NullKeyword(_) => {
            let (line, column) = match origin {
                Origin::At { line, column } => (line, column),
                _ => (0, 0),
            };
            return Err(SyntaxError {
                line,
                column,
                message: "null is not allowed in a scenario: leave the key out to use its default".into(),
            });
        }
        J::Array(items) => {
            Value::Array(items.elements.into_iter().map(|v| json_node(v, index)).collect::<Result<_, _>>()?)
        }
        J::Object(object) => {
            let mut entries: Vec<(Key, Node)> = Vec::with_capacity(object.properties.len());
            for prop in object.properties {
                let (name, key_start) = match prop.name {
                    ObjectPropName::String(s) => (s.value.into_owned(), s.range.start),
                    ObjectPropName::Word(w) => (w.value.to_string(), w.range.start),
                };
                let key_origin = index.origin(key_start);
                if entries.iter().any(|(k, _)| k.name == name) {
                    let (line, column) = match key_origin {
                        Origin::At { line, column } => (line, column),
                        _ => (0, 0),
                    };
                    return Err(SyntaxError {
                        line,
                        column,
                        message: format!("duplicate key {}", super::quote(&name)),
                    });
                }
                entries.push((Key { name, origin: key_origin }, json_node(prop.value, index)?));
            }
            Value::Table(entries)
        }
    };
    Ok(Node { value, origin })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_count_characters_across_blocks() {
        // Lines of mixed widths (1- to 4-byte characters) spanning several blocks, one of them
        // far longer than a block: every offset gets the column counted the plain way.
        let mut text = String::new();
        for i in 0..3 * BLOCK {
            text.push(['a', 'é', '한', '😀'][i % 4]);
            if i % 997 == 0 {
                text.push('\n');
            }
        }
        text.push_str(&"x".repeat(3 * BLOCK));
        let index = LineIndex::new(&text);
        for offset in (0..=text.len()).step_by(7) {
            let line_start = text.as_bytes()[..offset].iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
            let want_line = text.as_bytes()[..offset].iter().filter(|&&b| b == b'\n').count() + 1;
            let want_column = count_chars(&text.as_bytes()[line_start..offset]) + 1;
            assert_eq!(
                index.origin(offset),
                Origin::At { line: want_line as u32, column: want_column as u32 },
                "offset {offset}"
            );
        }
    }

    #[test]
    fn toml_positions() {
        let node = parse_toml("name = \"x\"\n\n[balancer]\nalgorithm = \"maglev\"\n").unwrap();
        let algo = node.get("balancer").unwrap().get("algorithm").unwrap();
        assert_eq!(algo.value, Value::Str("maglev".into()));
        assert_eq!(algo.origin, Origin::At { line: 4, column: 13 });
    }

    #[test]
    fn toml_syntax_error_has_position() {
        let err = parse_toml("name = \"x\"\nrate = = 3\n").unwrap_err();
        assert_eq!(err.line, 2);
        assert!(err.column > 0);
    }

    #[test]
    fn json_positions_and_errors() {
        let node = parse_json("{\n  \"name\": \"x\",\n  \"seed\": 7\n}").unwrap();
        assert_eq!(node.get("seed").unwrap().origin, Origin::At { line: 3, column: 11 });
        // The trailing comma is the error, on line 2.
        let err = parse_json("{\n  \"name\": \"x\",\n}").unwrap_err();
        assert_eq!(err.line, 2);
        assert!(parse_json("{\"a\": null}").is_err());
        assert!(parse_json("{\"a\": 1, \"a\": 2}").is_err());
    }
}
