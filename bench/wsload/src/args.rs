//! A tiny `--name value` / `--flag` command-line parser: enough for this tool,
//! strict about typos (every option given must be consumed).

use std::collections::BTreeMap;
use std::str::FromStr;

/// Options of one subcommand, consumed by the scenario that reads them.
pub struct Args {
    values: BTreeMap<String, Option<String>>,
}

impl Args {
    /// Splits `--name value` pairs and bare `--flag`s (a flag is an option
    /// followed by another option or by nothing).
    pub fn parse(raw: &[String]) -> Result<Args, String> {
        let mut values = BTreeMap::new();
        let mut i = 0;
        while i < raw.len() {
            let name = raw[i]
                .strip_prefix("--")
                .ok_or_else(|| format!("unexpected argument {:?}", raw[i]))?;
            let value = raw.get(i + 1).filter(|v| !v.starts_with("--")).cloned();
            i += 1 + usize::from(value.is_some());
            if values.insert(name.to_string(), value).is_some() {
                return Err(format!("--{name} given twice"));
            }
        }
        Ok(Args { values })
    }

    /// Takes a required option.
    pub fn required<T: FromStr>(&mut self, name: &str) -> Result<T, String> {
        self.optional(name)?
            .ok_or_else(|| format!("--{name} is required"))
    }

    /// Takes an option, with a default when absent.
    pub fn or<T: FromStr>(&mut self, name: &str, default: T) -> Result<T, String> {
        Ok(self.optional(name)?.unwrap_or(default))
    }

    /// Takes an option that may be absent.
    pub fn optional<T: FromStr>(&mut self, name: &str) -> Result<Option<T>, String> {
        match self.values.remove(name) {
            None => Ok(None),
            Some(None) => Err(format!("--{name} needs a value")),
            Some(Some(v)) => v
                .parse()
                .map(Some)
                .map_err(|_| format!("invalid value {v:?} for --{name}")),
        }
    }

    /// Takes a boolean flag.
    pub fn flag(&mut self, name: &str) -> Result<bool, String> {
        match self.values.remove(name) {
            None => Ok(false),
            Some(None) => Ok(true),
            Some(Some(v)) => Err(format!("--{name} takes no value (got {v:?})")),
        }
    }

    /// Fails on any option that no scenario consumed.
    pub fn finish(self) -> Result<(), String> {
        match self.values.keys().next() {
            None => Ok(()),
            Some(name) => Err(format!("unknown option --{name}")),
        }
    }
}
