//! Enforcement outputs. Each gets the changes of a batch and applies them in
//! one go: one `nft -f` transaction, one `ipset restore`, one hook run.
//! With a dry-run directory, the batches are written there instead of run.

use super::active_set::{Change, Entry};
use anyhow::Context as _;
use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};

/// Where a batch goes.
pub trait Output {
    fn name(&self) -> &'static str;
    fn apply(&mut self, changes: &[Change], now: f64) -> anyhow::Result<()>;
}

fn is_v6(value: &str) -> bool {
    value.contains(':')
}

fn timeout_s(e: &Entry, now: f64) -> u64 {
    (e.expires_at - now).ceil().max(1.0) as u64
}

/// Runs `program args` with `input` on stdin, or writes `input` to the dry-run directory.
fn run_batch(
    program: &str,
    args: &[&str],
    input: &str,
    dry_run: &Option<PathBuf>,
    batch: u64,
    ext: &str,
) -> anyhow::Result<()> {
    if let Some(dir) = dry_run {
        std::fs::create_dir_all(dir).with_context(|| format!("{}", dir.display()))?;
        let p = dir.join(format!("{program}-{batch:06}.{ext}"));
        std::fs::write(&p, input).with_context(|| format!("{}", p.display()))?;
        return Ok(());
    }
    let mut child = Command::new(program)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("cannot run {program}"))?;
    child
        .stdin
        .take()
        .expect("piped")
        .write_all(input.as_bytes())?;
    let out = child.wait_with_output()?;
    if !out.status.success() {
        anyhow::bail!(
            "{program} {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(())
}

/// nftables named sets, `family/table/set4,set6` (the sets need `flags timeout`,
/// and `flags interval` for ranges: docs/enforcement.md).
pub struct Nft {
    family: String,
    table: String,
    set4: String,
    set6: String,
    dry_run: Option<PathBuf>,
    batches: u64,
}

impl Nft {
    pub fn parse(spec: &str, dry_run: Option<PathBuf>) -> anyhow::Result<Nft> {
        let parts: Vec<&str> = spec.split('/').collect();
        let [family, table, sets] = parts.as_slice() else {
            anyhow::bail!("--nft-set {spec:?}: want FAMILY/TABLE/SET4,SET6 (e.g. inet/filter/blocked4,blocked6)");
        };
        let (set4, set6) = sets.split_once(',').unwrap_or((sets, ""));
        Ok(Nft {
            family: family.to_string(),
            table: table.to_string(),
            set4: set4.to_string(),
            set6: set6.to_string(),
            dry_run,
            batches: 0,
        })
    }

    /// The `nft -f` script of a batch.
    pub fn script(&self, changes: &[Change], now: f64) -> String {
        let mut s = String::new();
        for c in changes {
            let (scope, value) = match c {
                Change::Add(e) => (e.scope.as_str(), e.value.as_str()),
                Change::Remove { scope, value } => (scope.as_str(), value.as_str()),
            };
            if scope != "ip" && scope != "ip_range" {
                continue;
            }
            let set = if is_v6(value) { &self.set6 } else { &self.set4 };
            if set.is_empty() {
                continue;
            }
            let target = format!("{} {} {}", self.family, self.table, set);
            match c {
                Change::Add(e) => {
                    s += &format!(
                        "add element {target} {{ {value} timeout {}s }}\n",
                        timeout_s(e, now)
                    );
                }
                Change::Remove { .. } => {
                    // Deleting a missing element fails the transaction: make sure it exists first.
                    s += &format!("add element {target} {{ {value} timeout 1s }}\ndelete element {target} {{ {value} }}\n");
                }
            }
        }
        s
    }
}

impl Output for Nft {
    fn name(&self) -> &'static str {
        "nft"
    }
    fn apply(&mut self, changes: &[Change], now: f64) -> anyhow::Result<()> {
        let script = self.script(changes, now);
        if script.is_empty() {
            return Ok(());
        }
        self.batches += 1;
        run_batch(
            "nft",
            &["-f", "-"],
            &script,
            &self.dry_run,
            self.batches,
            "nft",
        )
    }
}

/// ipset sets: NAME for IPv4, NAME6 for IPv6 (`hash:net ... timeout 0`).
pub struct Ipset {
    name: String,
    dry_run: Option<PathBuf>,
    batches: u64,
}

impl Ipset {
    pub fn new(name: &str, dry_run: Option<PathBuf>) -> Ipset {
        Ipset {
            name: name.to_string(),
            dry_run,
            batches: 0,
        }
    }

    /// The `ipset restore` input of a batch.
    pub fn script(&self, changes: &[Change], now: f64) -> String {
        let mut s = String::new();
        for c in changes {
            match c {
                Change::Add(e) if e.scope == "ip" || e.scope == "ip_range" => {
                    let set = if is_v6(&e.value) {
                        format!("{}6", self.name)
                    } else {
                        self.name.clone()
                    };
                    s += &format!(
                        "add {set} {} timeout {} -exist\n",
                        e.value,
                        timeout_s(e, now)
                    );
                }
                Change::Remove { scope, value } if scope == "ip" || scope == "ip_range" => {
                    let set = if is_v6(value) {
                        format!("{}6", self.name)
                    } else {
                        self.name.clone()
                    };
                    s += &format!("del {set} {value} -exist\n");
                }
                _ => {}
            }
        }
        s
    }
}

impl Output for Ipset {
    fn name(&self) -> &'static str {
        "ipset"
    }
    fn apply(&mut self, changes: &[Change], now: f64) -> anyhow::Result<()> {
        let script = self.script(changes, now);
        if script.is_empty() {
            return Ok(());
        }
        self.batches += 1;
        run_batch(
            "ipset",
            &["restore"],
            &script,
            &self.dry_run,
            self.batches,
            "ipset",
        )
    }
}

/// A hook command run per batch (`sh -c CMD`) with the changes as JSON lines on stdin.
pub struct Exec {
    cmd: String,
}

impl Exec {
    pub fn new(cmd: &str) -> Exec {
        Exec {
            cmd: cmd.to_string(),
        }
    }
}

impl Output for Exec {
    fn name(&self) -> &'static str {
        "exec"
    }
    fn apply(&mut self, changes: &[Change], _now: f64) -> anyhow::Result<()> {
        if changes.is_empty() {
            return Ok(());
        }
        let mut input = String::new();
        for c in changes {
            input += &serde_json::to_string(c)?;
            input.push('\n');
        }
        run_batch("sh", &["-c", &self.cmd], &input, &None, 0, "")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn add(value: &str, expires: f64) -> Change {
        Change::Add(Entry {
            scope: "ip".into(),
            value: value.into(),
            score: 0.9,
            expires_at: expires,
            id: "x".into(),
        })
    }

    #[test]
    fn nft_batch() {
        let n = Nft::parse("inet/filter/blocked4,blocked6", None).unwrap();
        let s = n.script(
            &[
                add("10.0.0.1", 1000.0),
                add("2001:db8::1", 160.0),
                Change::Remove {
                    scope: "ip".into(),
                    value: "10.0.0.2".into(),
                },
            ],
            100.0,
        );
        assert_eq!(
            s,
            "add element inet filter blocked4 { 10.0.0.1 timeout 900s }\n\
             add element inet filter blocked6 { 2001:db8::1 timeout 60s }\n\
             add element inet filter blocked4 { 10.0.0.2 timeout 1s }\n\
             delete element inet filter blocked4 { 10.0.0.2 }\n"
        );
        assert!(Nft::parse("filter", None).is_err());
    }

    #[test]
    fn ipset_batch() {
        let i = Ipset::new("shakedown", None);
        let s = i.script(
            &[
                add("10.0.0.1", 200.0),
                Change::Remove {
                    scope: "ip".into(),
                    value: "2001:db8::1".into(),
                },
            ],
            100.0,
        );
        assert_eq!(
            s,
            "add shakedown 10.0.0.1 timeout 100 -exist\ndel shakedown6 2001:db8::1 -exist\n"
        );
    }
}
