//! Fingerprint reputation: which kind of client stack a JA4 belongs to.
//!
//! The database (`reputation/ja4.csv`, compiled in) is built from shakedown's own
//! captures of real clients and from documented public sources; each entry names
//! its source. Users can add their own entries (`Reputation::with_extra`).

use hashbrown::HashMap;
use std::fmt;

/// What kind of client a fingerprint belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ClientClass {
    /// A web browser (Chromium, Firefox, Safari...).
    Browser,
    /// An HTTP library used by programs (Python requests, Go net/http, Java...).
    Library,
    /// A command-line tool or utility (curl, openssl, VPN clients...).
    Tool,
    /// Malware or attack tooling.
    Malicious,
}

impl ClientClass {
    pub fn as_str(self) -> &'static str {
        match self {
            ClientClass::Browser => "browser",
            ClientClass::Library => "library",
            ClientClass::Tool => "tool",
            ClientClass::Malicious => "malicious",
        }
    }

    pub fn parse(s: &str) -> Option<ClientClass> {
        Some(match s {
            "browser" => ClientClass::Browser,
            "library" => ClientClass::Library,
            "tool" => ClientClass::Tool,
            "malicious" => ClientClass::Malicious,
            _ => return None,
        })
    }

    /// Automation stacks: libraries and tools.
    pub fn is_automation(self) -> bool {
        matches!(self, ClientClass::Library | ClientClass::Tool)
    }
}

impl fmt::Display for ClientClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One database entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub class: ClientClass,
    pub name: String,
    pub source: String,
    /// Matched on the family (`a_b`) rather than the exact fingerprint.
    pub family_match: bool,
}

/// Why a reputation file could not be read.
#[derive(Debug, thiserror::Error)]
#[error("line {line}: {reason}")]
pub struct ReputationError {
    pub line: usize,
    pub reason: String,
}

#[derive(Debug, Clone, Default)]
pub struct Reputation {
    exact: HashMap<String, Entry>,
    family: HashMap<String, Entry>,
}

const BUILTIN: &str = include_str!("../reputation/ja4.csv");

impl Reputation {
    /// The database shipped with shakedown.
    pub fn builtin() -> Reputation {
        let mut r = Reputation::default();
        r.add_csv(BUILTIN)
            .expect("built-in reputation database parses");
        r
    }

    /// Adds entries in the same CSV format (`match,class,name,source`); later
    /// entries replace earlier ones.
    pub fn add_csv(&mut self, text: &str) -> Result<(), ReputationError> {
        for (i, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let err = |reason: &str| ReputationError {
                line: i + 1,
                reason: reason.to_string(),
            };
            let mut cols = line.splitn(4, ',');
            let (Some(m), Some(class), Some(name), Some(source)) =
                (cols.next(), cols.next(), cols.next(), cols.next())
            else {
                return Err(err("expected 4 columns: match,class,name,source"));
            };
            let class = ClientClass::parse(class.trim())
                .ok_or_else(|| err("class must be browser, library, tool or malicious"))?;
            let m = m.trim();
            let (key, family) = match m.strip_prefix("ab:") {
                Some(ab) => (ab, true),
                None => (m, false),
            };
            let valid = if family {
                key.split('_').count() == 2
            } else {
                key.split('_').count() == 3
            };
            if !valid || key.len() < 10 {
                return Err(err(
                    "match must be a JA4 (a_b_c) or ab: followed by its a_b part",
                ));
            }
            let entry = Entry {
                class,
                name: name.trim().to_string(),
                source: source.trim().to_string(),
                family_match: family,
            };
            if family {
                self.family.insert(key.to_string(), entry);
            } else {
                self.exact.insert(key.to_string(), entry);
            }
        }
        Ok(())
    }

    /// The entry for a JA4: exact match first, then its `a_b` family.
    pub fn lookup(&self, ja4: &str) -> Option<&Entry> {
        if let Some(e) = self.exact.get(ja4) {
            return Some(e);
        }
        let ab_len = ja4.rfind('_')?;
        self.family.get(&ja4[..ab_len])
    }

    pub fn len(&self) -> usize {
        self.exact.len() + self.family.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_parses_and_matches() {
        let r = Reputation::builtin();
        assert!(r.len() > 25);
        let chrome = r.lookup("t13d1517h2_8daaf6152771_cb7bf5808d99").unwrap();
        assert_eq!(chrome.class, ClientClass::Browser);
        assert!(!chrome.family_match);
        // Another Chromium build: same a_b, other extension hash.
        let fam = r.lookup("t13d1517h2_8daaf6152771_000000000000").unwrap();
        assert_eq!(fam.class, ClientClass::Browser);
        assert!(fam.family_match);
        assert_eq!(
            r.lookup("t13d1812h1_85036bcba153_b26ce05bbdd6")
                .unwrap()
                .class,
            ClientClass::Library
        );
        assert_eq!(
            r.lookup("t12d190700_d83cc789557e_16bbda4055b2")
                .unwrap()
                .class,
            ClientClass::Malicious
        );
        assert!(r.lookup("t13d0000h2_000000000000_000000000000").is_none());
        assert!(r.lookup("garbage").is_none());
    }

    #[test]
    fn bad_lines_are_reported_with_their_number() {
        let mut r = Reputation::default();
        let e = r
            .add_csv("# c\nt13d1517h2_8daaf6152771_cb7bf5808d99,robot,x,y\n")
            .unwrap_err();
        assert_eq!(e.line, 2);
        assert!(e.reason.contains("class"));
        assert!(r.add_csv("nonsense,browser,x,y").is_err());
    }
}
