//! Reading one TOML table of an `frpc.toml` by key: typed getters whose errors name the full
//! key (`transport.tls.enable`, `proxies[1].localPort`), and a record of which keys were read so
//! that the rest can be reported as unknown (frpc's own strict mode refuses them; harp warns).
//! Dotted keys and `[tables]` arrive here alike: the `toml` crate nests both the same way.

use super::config::ConfigError;
use std::collections::BTreeMap;
use toml::{Table, Value};

/// One table being read, with the dotted path that names it.
pub(super) struct Fields<'a> {
    path: String,
    table: &'a Table,
    read: Vec<String>,
}

fn describe(value: &Value) -> String {
    match value {
        Value::String(s) => format!("the string {s:?}"),
        Value::Integer(i) => format!("the integer {i}"),
        Value::Float(f) => format!("the float {f}"),
        Value::Boolean(b) => format!("{b}"),
        Value::Datetime(d) => format!("the date {d}"),
        Value::Array(_) => "an array".to_string(),
        Value::Table(_) => "a table".to_string(),
    }
}

impl<'a> Fields<'a> {
    pub(super) fn root(table: &'a Table) -> Self {
        Fields {
            path: String::new(),
            table,
            read: Vec::new(),
        }
    }

    /// The full name of `key` in this table.
    pub(super) fn key(&self, key: &str) -> String {
        if self.path.is_empty() {
            key.to_string()
        } else {
            format!("{}.{key}", self.path)
        }
    }

    /// A bad value for `key`, with what was found.
    pub(super) fn bad(&self, key: &str, message: impl std::fmt::Display) -> ConfigError {
        ConfigError::Value {
            key: self.key(key),
            message: message.to_string(),
        }
    }

    fn get(&mut self, key: &str) -> Option<&'a Value> {
        self.read.push(key.to_string());
        self.table.get(key)
    }

    fn typed<T>(
        &mut self,
        key: &str,
        want: &str,
        pick: impl Fn(&'a Value) -> Option<T>,
    ) -> Result<Option<T>, ConfigError> {
        match self.get(key) {
            None => Ok(None),
            Some(v) => pick(v)
                .map(Some)
                .ok_or_else(|| self.bad(key, format!("expected {want}, found {}", describe(v)))),
        }
    }

    pub(super) fn string(&mut self, key: &str) -> Result<Option<String>, ConfigError> {
        self.typed(key, "a string", |v| v.as_str().map(str::to_string))
    }

    pub(super) fn boolean(&mut self, key: &str) -> Result<Option<bool>, ConfigError> {
        self.typed(key, "true or false", Value::as_bool)
    }

    /// An integer within `min..=max`.
    pub(super) fn int(
        &mut self,
        key: &str,
        min: i64,
        max: i64,
    ) -> Result<Option<i64>, ConfigError> {
        let Some(n) = self.typed(key, "an integer", Value::as_integer)? else {
            return Ok(None);
        };
        if n < min || n > max {
            return Err(self.bad(key, format!("{n} is not between {min} and {max}")));
        }
        Ok(Some(n))
    }

    /// A port, 0 allowed only when `zero_ok`.
    pub(super) fn port(&mut self, key: &str, zero_ok: bool) -> Result<Option<u16>, ConfigError> {
        let min = if zero_ok { 0 } else { 1 };
        Ok(self
            .int(key, min, 65535)?
            .map(|n| u16::try_from(n).unwrap_or_default()))
    }

    /// A list of strings.
    pub(super) fn strings(&mut self, key: &str) -> Result<Vec<String>, ConfigError> {
        let Some(items) = self.typed(key, "an array of strings", Value::as_array)? else {
            return Ok(Vec::new());
        };
        items
            .iter()
            .enumerate()
            .map(|(i, v)| {
                v.as_str().map(str::to_string).ok_or_else(|| {
                    self.bad(
                        &format!("{key}[{i}]"),
                        format!("expected a string, found {}", describe(v)),
                    )
                })
            })
            .collect()
    }

    /// A table of string values (`metadatas`).
    pub(super) fn string_map(
        &mut self,
        key: &str,
    ) -> Result<BTreeMap<String, String>, ConfigError> {
        let Some(table) = self.typed(key, "a table", Value::as_table)? else {
            return Ok(BTreeMap::new());
        };
        let path = self.key(key);
        let mut out = BTreeMap::new();
        for (k, v) in table {
            let Some(s) = v.as_str() else {
                return Err(ConfigError::Value {
                    key: format!("{path}.{k}"),
                    message: format!("expected a string, found {}", describe(v)),
                });
            };
            out.insert(k.clone(), s.to_string());
        }
        Ok(out)
    }

    /// A sub-table (`[transport]` or `transport.x = …`); an empty one when absent.
    pub(super) fn section(&mut self, key: &str) -> Result<Fields<'a>, ConfigError> {
        static EMPTY: std::sync::OnceLock<Table> = std::sync::OnceLock::new();
        let table = match self.typed(key, "a table", Value::as_table)? {
            Some(t) => t,
            None => EMPTY.get_or_init(Table::new),
        };
        Ok(Fields {
            path: self.key(key),
            table,
            read: Vec::new(),
        })
    }

    /// An array of tables (`[[proxies]]`).
    pub(super) fn tables(&mut self, key: &str) -> Result<Vec<Fields<'a>>, ConfigError> {
        let Some(items) = self.typed(key, "an array of tables", Value::as_array)? else {
            return Ok(Vec::new());
        };
        let path = self.key(key);
        items
            .iter()
            .enumerate()
            .map(|(i, v)| match v.as_table() {
                Some(table) => Ok(Fields {
                    path: format!("{path}[{i}]"),
                    table,
                    read: Vec::new(),
                }),
                None => Err(ConfigError::Value {
                    key: format!("{path}[{i}]"),
                    message: format!("expected a table, found {}", describe(v)),
                }),
            })
            .collect()
    }

    /// Marks keys as known and deliberately unused (no warning).
    pub(super) fn ignore(&mut self, keys: &[&str]) {
        self.read.extend(keys.iter().map(|k| k.to_string()));
    }

    /// Whether `key` is present (without marking it read).
    pub(super) fn has(&self, key: &str) -> bool {
        self.table.contains_key(key)
    }

    /// Adds a warning for every key of this table that was never read.
    pub(super) fn finish(self, warnings: &mut Vec<String>) {
        for key in self.table.keys() {
            if !self.read.iter().any(|r| r == key) {
                warnings.push(format!(
                    "{}: unknown or unsupported key, ignored",
                    self.key(key)
                ));
            }
        }
    }
}
