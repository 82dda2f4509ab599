//! `--set KEY=VALUE` overrides: a dotted key path with optional indexes
//! (`balancer.algorithm`, `clients[0].rate`, `clients[0].paths."/api"`) set to a TOML value
//! (text that is not one is taken as a string, so `--set duration=20s` works).

use super::ConfigError;
use super::node::{Key, Node, Origin, Value};

/// One step of a key path.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Segment {
    /// A table key.
    Key(String),
    /// An array index.
    Index(usize),
}

/// Parses a key path such as `servers[1].count`.
pub fn parse_path(path: &str) -> Result<Vec<Segment>, String> {
    let mut segments = Vec::new();
    let mut chars = path.chars().peekable();
    let mut expect_key = true;
    while let Some(&c) = chars.peek() {
        if c == '[' {
            chars.next();
            let digits: String = chars.by_ref().take_while(|&c| c != ']').collect();
            let index = digits
                .trim()
                .parse::<usize>()
                .map_err(|_| format!("{} is not an index", super::quote(&format!("[{digits}]"))))?;
            segments.push(Segment::Index(index));
            expect_key = false;
        } else if c == '.' {
            if expect_key {
                return Err("empty key between dots".to_string());
            }
            chars.next();
            expect_key = true;
        } else if expect_key {
            let key: String = if c == '"' {
                chars.next();
                let k: String = chars.by_ref().take_while(|&c| c != '"').collect();
                k
            } else {
                let mut k = String::new();
                while let Some(&c) = chars.peek() {
                    if c == '.' || c == '[' {
                        break;
                    }
                    k.push(c);
                    chars.next();
                }
                k
            };
            if key.is_empty() {
                return Err("empty key".to_string());
            }
            segments.push(Segment::Key(key));
            expect_key = false;
        } else {
            return Err(format!("unexpected '{c}'"));
        }
    }
    if segments.is_empty() || expect_key {
        return Err("the key path is empty or ends with '.'".to_string());
    }
    Ok(segments)
}

/// Reads VALUE as TOML, falling back to a plain string.
fn parse_value(text: &str, origin: &Origin) -> Node {
    let wrapped = format!("v = {text}");
    let value = match super::node::parse_toml(&wrapped) {
        Ok(doc) => doc.get("v").map(|n| n.value.clone()).unwrap_or(Value::Str(text.to_string())),
        Err(_) => Value::Str(text.to_string()),
    };
    relabel(Node { value, origin: origin.clone() }, origin)
}

fn relabel(mut node: Node, origin: &Origin) -> Node {
    node.origin = origin.clone();
    match &mut node.value {
        Value::Array(items) => {
            for item in items.iter_mut() {
                *item = relabel(item.clone(), origin);
            }
        }
        Value::Table(entries) => {
            for (key, value) in entries.iter_mut() {
                key.origin = origin.clone();
                *value = relabel(value.clone(), origin);
            }
        }
        _ => {}
    }
    node
}

/// Applies one `KEY=VALUE` override to a document tree.
pub(crate) fn apply(root: &mut Node, arg: &str) -> Result<(), ConfigError> {
    let origin = Origin::Set(arg.to_string());
    let Some((path, value)) = arg.split_once('=') else {
        return Err(ConfigError::new(origin, "", "expected KEY=VALUE, e.g. --set balancer.algorithm=maglev"));
    };
    let path = path.trim();
    let segments =
        parse_path(path).map_err(|why| ConfigError::new(origin.clone(), path, format!("bad key path: {why}")))?;
    let new_value = parse_value(value.trim(), &origin);
    let mut node = root;
    let mut walked = String::new();
    for (i, segment) in segments.iter().enumerate() {
        let last = i + 1 == segments.len();
        match segment {
            Segment::Key(key) => {
                if !walked.is_empty() {
                    walked.push('.');
                }
                walked.push_str(key);
                let Value::Table(entries) = &mut node.value else {
                    return Err(ConfigError::new(origin, walked, "the key above this one is not a table"));
                };
                let pos = match entries.iter().position(|(k, _)| &k.name == key) {
                    Some(pos) => pos,
                    None => {
                        let fresh = match segments.get(i + 1) {
                            Some(Segment::Index(_)) => Value::Array(Vec::new()),
                            _ => Value::Table(Vec::new()),
                        };
                        entries.push((
                            Key { name: key.clone(), origin: origin.clone() },
                            Node { value: fresh, origin: origin.clone() },
                        ));
                        entries.len() - 1
                    }
                };
                if last {
                    entries[pos].1 = new_value;
                    return Ok(());
                }
                node = &mut entries[pos].1;
            }
            Segment::Index(index) => {
                walked.push_str(&format!("[{index}]"));
                let Value::Array(items) = &mut node.value else {
                    return Err(ConfigError::new(origin, walked, "is indexed, but the key is not an array"));
                };
                if *index > items.len() {
                    return Err(ConfigError::new(
                        origin,
                        walked,
                        format!(
                            "index out of range: the array has {} entries (use index {} to append one)",
                            items.len(),
                            items.len()
                        ),
                    ));
                }
                if *index == items.len() {
                    items.push(Node { value: Value::Table(Vec::new()), origin: origin.clone() });
                }
                if last {
                    items[*index] = new_value;
                    return Ok(());
                }
                node = &mut items[*index];
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::node::parse_toml;

    fn set(doc: &str, arg: &str) -> Result<Node, ConfigError> {
        let mut root = parse_toml(doc).unwrap();
        apply(&mut root, arg)?;
        Ok(root)
    }

    #[test]
    fn paths() {
        assert_eq!(
            parse_path("clients[0].paths.\"/api/x\"").unwrap(),
            vec![
                Segment::Key("clients".into()),
                Segment::Index(0),
                Segment::Key("paths".into()),
                Segment::Key("/api/x".into())
            ]
        );
        assert!(parse_path("a..b").is_err());
        assert!(parse_path("a.").is_err());
        assert!(parse_path("a[x]").is_err());
    }

    #[test]
    fn values_are_toml_or_strings() {
        let root = set("[balancer]\nalgorithm = \"x\"\n", "balancer.algorithm=maglev").unwrap();
        assert_eq!(root.get("balancer").unwrap().get("algorithm").unwrap().value, Value::Str("maglev".into()));
        let root = set("duration = \"1s\"\n", "duration=20s").unwrap();
        assert_eq!(root.get("duration").unwrap().value, Value::Str("20s".into()));
        let root = set("[[clients]]\nrate = 1\n", "clients[0].rate=500").unwrap();
        let clients = root.get("clients").unwrap();
        let Value::Array(items) = &clients.value else { panic!() };
        assert_eq!(items[0].get("rate").unwrap().value, Value::Int(500));
    }

    #[test]
    fn adds_missing_keys_and_refuses_bad_indexes() {
        let root = set("[[servers]]\nname = \"a\"\n", "servers[0].max_connection_age=5s").unwrap();
        let Value::Array(items) = &root.get("servers").unwrap().value else { panic!() };
        assert!(items[0].get("max_connection_age").is_some());
        assert!(set("[[servers]]\nname = \"a\"\n", "servers[3].count=1").is_err());
        assert!(set("name = \"a\"\n", "name.x=1").is_err());
        assert!(set("name = \"a\"\n", "novalue").is_err());
    }
}
