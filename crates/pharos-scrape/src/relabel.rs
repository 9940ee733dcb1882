//! Relabeling: rewriting a label set by a list of rules, as Prometheus's
//! `relabel_configs` and `metric_relabel_configs` do.
//!
//! Owns [`RelabelConfig`] (one rule, deserialized and validated with
//! Prometheus's messages), [`Action`], [`RelabelRegex`] (a fully anchored
//! regex) and [`process`], which applies rules in order and returns `None`
//! when a rule drops the set. Template expansion (`$1`, `${1}`, `${name}`,
//! `$$`) follows Go's `regexp.Expand`.
//!
//! Knows nothing of targets, scraping or storage: it maps labels to labels.

use std::fmt;

use md5::{Digest, Md5};
use pharos_model::{is_valid_label_name, Labels, LabelsBuilder};
use regex::Regex;
use serde::{Deserialize, Serialize, Serializer};

use crate::config::values::{lenient_opt_string, lenient_string_vec};

/// Why a relabel rule is not acceptable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct RelabelConfigError(pub String);

/// What a rule does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Action {
    #[default]
    Replace,
    Keep,
    Drop,
    KeepEqual,
    DropEqual,
    HashMod,
    LabelMap,
    LabelDrop,
    LabelKeep,
    Lowercase,
    Uppercase,
}

impl Action {
    /// Parses an action name, case-insensitively as Prometheus does.
    pub fn parse(s: &str) -> Option<Action> {
        Some(match s.to_ascii_lowercase().as_str() {
            "replace" => Action::Replace,
            "keep" => Action::Keep,
            "drop" => Action::Drop,
            "keepequal" => Action::KeepEqual,
            "dropequal" => Action::DropEqual,
            "hashmod" => Action::HashMod,
            "labelmap" => Action::LabelMap,
            "labeldrop" => Action::LabelDrop,
            "labelkeep" => Action::LabelKeep,
            "lowercase" => Action::Lowercase,
            "uppercase" => Action::Uppercase,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Action::Replace => "replace",
            Action::Keep => "keep",
            Action::Drop => "drop",
            Action::KeepEqual => "keepequal",
            Action::DropEqual => "dropequal",
            Action::HashMod => "hashmod",
            Action::LabelMap => "labelmap",
            Action::LabelDrop => "labeldrop",
            Action::LabelKeep => "labelkeep",
            Action::Lowercase => "lowercase",
            Action::Uppercase => "uppercase",
        }
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for Action {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

/// A regex matched against the whole value (`^(?:re)$`), remembering its source.
#[derive(Debug, Clone)]
pub struct RelabelRegex {
    source: String,
    re: Regex,
}

/// The default regex of a rule.
pub const DEFAULT_REGEX: &str = "(.*)";

impl RelabelRegex {
    pub fn new(source: &str) -> Result<RelabelRegex, RelabelConfigError> {
        let re = Regex::new(&format!("^(?:{source})$"))
            .map_err(|e| RelabelConfigError(format!("invalid regex {source:?}: {e}")))?;
        Ok(RelabelRegex {
            source: source.to_string(),
            re,
        })
    }

    /// The expression as written in the configuration.
    pub fn as_str(&self) -> &str {
        &self.source
    }

    pub fn is_match(&self, s: &str) -> bool {
        self.re.is_match(s)
    }

    /// The compiled, anchored regex.
    pub fn regex(&self) -> &Regex {
        &self.re
    }
}

impl Default for RelabelRegex {
    fn default() -> Self {
        // The default pattern is a constant that always compiles.
        #[allow(clippy::unwrap_used, clippy::expect_used)]
        RelabelRegex::new(DEFAULT_REGEX).expect("default regex compiles")
    }
}

impl PartialEq for RelabelRegex {
    fn eq(&self, other: &Self) -> bool {
        self.source == other.source
    }
}

impl Serialize for RelabelRegex {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.source)
    }
}

/// One relabeling rule.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "RawRelabelConfig")]
pub struct RelabelConfig {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub source_labels: Vec<String>,
    pub separator: String,
    pub regex: RelabelRegex,
    #[serde(skip_serializing_if = "is_zero")]
    pub modulus: u64,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub target_label: String,
    pub replacement: String,
    pub action: Action,
}

fn is_zero(v: &u64) -> bool {
    *v == 0
}

impl Default for RelabelConfig {
    fn default() -> Self {
        RelabelConfig {
            source_labels: Vec::new(),
            separator: ";".to_string(),
            regex: RelabelRegex::default(),
            modulus: 0,
            target_label: String::new(),
            replacement: "$1".to_string(),
            action: Action::Replace,
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRelabelConfig {
    #[serde(default, deserialize_with = "lenient_string_vec")]
    source_labels: Vec<String>,
    #[serde(default, deserialize_with = "lenient_opt_string")]
    separator: Option<String>,
    #[serde(default, deserialize_with = "lenient_opt_string")]
    regex: Option<String>,
    #[serde(default)]
    modulus: Option<u64>,
    #[serde(default, deserialize_with = "lenient_opt_string")]
    target_label: Option<String>,
    #[serde(default, deserialize_with = "lenient_opt_string")]
    replacement: Option<String>,
    #[serde(default, deserialize_with = "lenient_opt_string")]
    action: Option<String>,
}

impl TryFrom<RawRelabelConfig> for RelabelConfig {
    type Error = RelabelConfigError;
    fn try_from(r: RawRelabelConfig) -> Result<Self, Self::Error> {
        let d = RelabelConfig::default();
        for l in &r.source_labels {
            if !is_valid_label_name(l) {
                return Err(RelabelConfigError(format!(
                    "{l:?} is not a valid label name"
                )));
            }
        }
        let action = match r.action {
            None => d.action,
            Some(a) => Action::parse(&a)
                .ok_or_else(|| RelabelConfigError(format!("unknown relabel action {a:?}")))?,
        };
        let c = RelabelConfig {
            source_labels: r.source_labels,
            separator: r.separator.unwrap_or(d.separator),
            regex: match r.regex {
                Some(s) => RelabelRegex::new(&s)?,
                None => d.regex,
            },
            modulus: r.modulus.unwrap_or(d.modulus),
            target_label: r.target_label.unwrap_or(d.target_label),
            replacement: r.replacement.unwrap_or(d.replacement),
            action,
        };
        c.validate()?;
        Ok(c)
    }
}

/// Names a `target_label` or `labelmap` replacement may take: label name
/// characters and `$1`/`${name}` references.
fn is_relabel_target(s: &str) -> bool {
    static RE: std::sync::OnceLock<Option<Regex>> = std::sync::OnceLock::new();
    RE.get_or_init(|| Regex::new(r"^(?:(?:[a-zA-Z_]|\$(?:\{\w+\}|\w+))+\w*)+$").ok())
        .as_ref()
        .is_some_and(|re| re.is_match(s))
}

impl RelabelConfig {
    /// A rule with the given action and Prometheus's defaults for the rest.
    pub fn new(action: Action) -> RelabelConfig {
        RelabelConfig {
            action,
            ..Default::default()
        }
    }

    /// Checks the rule as Prometheus does when it loads a configuration.
    pub fn validate(&self) -> Result<(), RelabelConfigError> {
        let d = RelabelConfig::default();
        let a = self.action;
        let err = |m: String| Err(RelabelConfigError(m));
        if self.modulus == 0 && a == Action::HashMod {
            return err("relabel configuration for hashmod requires non-zero modulus".into());
        }
        let needs_target = matches!(
            a,
            Action::Replace
                | Action::HashMod
                | Action::Lowercase
                | Action::Uppercase
                | Action::KeepEqual
                | Action::DropEqual
        );
        if needs_target && self.target_label.is_empty() {
            return err(format!(
                "relabel configuration for {a} action requires 'target_label' value"
            ));
        }
        if matches!(a, Action::Replace | Action::Lowercase | Action::Uppercase)
            && !is_relabel_target(&self.target_label)
        {
            return err(format!(
                "{:?} is invalid 'target_label' for {a} action",
                self.target_label
            ));
        }
        if matches!(
            a,
            Action::Lowercase | Action::Uppercase | Action::KeepEqual | Action::DropEqual
        ) && self.replacement != d.replacement
        {
            return err(format!("'replacement' can not be set for {a} action"));
        }
        if a == Action::LabelMap && !is_relabel_target(&self.replacement) {
            return err(format!(
                "{:?} is invalid 'replacement' for {a} action",
                self.replacement
            ));
        }
        if a == Action::HashMod && !is_valid_label_name(&self.target_label) {
            return err(format!(
                "{:?} is invalid 'target_label' for {a} action",
                self.target_label
            ));
        }
        if matches!(a, Action::KeepEqual | Action::DropEqual)
            && (self.regex != d.regex
                || self.modulus != d.modulus
                || self.separator != d.separator
                || self.replacement != d.replacement)
        {
            return err(format!(
                "{a} action requires only 'source_labels' and `target_label`, and no other fields"
            ));
        }
        if matches!(a, Action::LabelDrop | Action::LabelKeep)
            && (!self.source_labels.is_empty()
                || self.target_label != d.target_label
                || self.modulus != d.modulus
                || self.separator != d.separator
                || self.replacement != d.replacement)
        {
            return err(format!(
                "{a} action requires only 'regex', and no other fields"
            ));
        }
        Ok(())
    }
}

/// Applies `cfgs` in order. `None` means a rule dropped the label set.
pub fn process(labels: &Labels, cfgs: &[RelabelConfig]) -> Option<Labels> {
    if cfgs.is_empty() {
        return Some(labels.clone());
    }
    let mut b = labels.builder();
    process_builder(&mut b, cfgs).then(|| b.build())
}

/// Applies `cfgs` to a builder in place; false means the set was dropped.
pub fn process_builder(b: &mut LabelsBuilder, cfgs: &[RelabelConfig]) -> bool {
    cfgs.iter().all(|c| apply(b, c))
}

fn apply(b: &mut LabelsBuilder, cfg: &RelabelConfig) -> bool {
    let val = cfg
        .source_labels
        .iter()
        .map(|n| b.get(n).unwrap_or(""))
        .collect::<Vec<_>>()
        .join(&cfg.separator);
    match cfg.action {
        Action::Drop => return !cfg.regex.is_match(&val),
        Action::Keep => return cfg.regex.is_match(&val),
        Action::DropEqual => return b.get(&cfg.target_label).unwrap_or("") != val,
        Action::KeepEqual => return b.get(&cfg.target_label).unwrap_or("") == val,
        Action::Replace => {
            let Some(caps) = cfg.regex.re.captures(&val) else {
                return true;
            };
            let target = expand(&cfg.regex.re, &caps, &cfg.target_label);
            if !is_valid_label_name(&target) {
                b.del(&cfg.target_label);
                return true;
            }
            let res = expand(&cfg.regex.re, &caps, &cfg.replacement);
            if res.is_empty() {
                b.del(&target);
            } else {
                b.set(&target, &res);
            }
        }
        Action::Lowercase => {
            b.set(&cfg.target_label, &val.to_lowercase());
        }
        Action::Uppercase => {
            b.set(&cfg.target_label, &val.to_uppercase());
        }
        Action::HashMod => {
            let sum = Md5::digest(val.as_bytes());
            let mut tail = [0u8; 8];
            tail.copy_from_slice(&sum[8..16]);
            let m = u64::from_be_bytes(tail) % cfg.modulus.max(1);
            b.set(&cfg.target_label, &m.to_string());
        }
        Action::LabelMap => {
            let current: Vec<(String, String)> = b
                .iter()
                .map(|l| (l.name.clone(), l.value.clone()))
                .collect();
            for (name, value) in current {
                if let Some(caps) = cfg.regex.re.captures(&name) {
                    let res = expand(&cfg.regex.re, &caps, &cfg.replacement);
                    b.set(&res, &value);
                }
            }
        }
        Action::LabelDrop => {
            b.retain(|l| !cfg.regex.is_match(&l.name));
        }
        Action::LabelKeep => {
            b.retain(|l| cfg.regex.is_match(&l.name));
        }
    }
    true
}

/// Expands `$1`, `${1}`, `$name`, `${name}` and `$$` in `template` the way
/// Go's `Regexp.Expand` does: a name is the longest run of letters, digits
/// and `_`; an unknown group expands to nothing; a `$` that starts no valid
/// reference is kept literally.
pub fn expand(re: &Regex, caps: &regex::Captures<'_>, template: &str) -> String {
    let mut out = String::with_capacity(template.len());
    let mut rest = template;
    while let Some(i) = rest.find('$') {
        out.push_str(&rest[..i]);
        rest = &rest[i + 1..];
        if let Some(r) = rest.strip_prefix('$') {
            out.push('$');
            rest = r;
            continue;
        }
        let Some((name, after)) = extract_name(rest) else {
            out.push('$');
            continue;
        };
        rest = after;
        match group_number(name) {
            Some(n) => {
                if let Some(m) = caps.get(n) {
                    out.push_str(m.as_str());
                }
            }
            None => {
                let idx = re.capture_names().position(|n| n == Some(name));
                if let Some(m) = idx.and_then(|i| caps.get(i)) {
                    out.push_str(m.as_str());
                }
            }
        }
    }
    out.push_str(rest);
    out
}

/// The reference name after a `$` and the rest of the template.
fn extract_name(s: &str) -> Option<(&str, &str)> {
    let (brace, body) = match s.strip_prefix('{') {
        Some(b) => (true, b),
        None => (false, s),
    };
    let end = body
        .char_indices()
        .find(|(_, c)| !(c.is_alphanumeric() || *c == '_'))
        .map(|(i, _)| i)
        .unwrap_or(body.len());
    if end == 0 {
        return None;
    }
    let name = &body[..end];
    let after = &body[end..];
    if brace {
        let after = after.strip_prefix('}')?;
        return Some((name, after));
    }
    Some((name, after))
}

/// A group number if `name` is all ASCII digits without a leading zero (Go's rule).
fn group_number(name: &str) -> Option<usize> {
    if !name.bytes().all(|c| c.is_ascii_digit()) || (name.len() > 1 && name.starts_with('0')) {
        return None;
    }
    if name.len() > 9 {
        return None;
    }
    name.parse().ok()
}

#[cfg(test)]
#[path = "relabel_tests.rs"]
mod tests;
