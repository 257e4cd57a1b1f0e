//! The set of live blocks, from a stream of decisions (pure).

use crate::rank_order::RankOrder;
use serde::Serialize;
use serde_json::Value;
use std::collections::BTreeMap;
use std::ops::Bound;
use std::rc::Rc;

/// What an enforcement point needs of a block.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Entry {
    pub scope: String,
    pub value: String,
    pub score: f64,
    /// Unix seconds.
    pub expires_at: f64,
    pub id: String,
}

/// A change to apply.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Change {
    Add(Entry),
    Remove { scope: String, value: String },
}

/// Parses an RFC 3339 UTC time (as shakedown writes them) to Unix seconds.
pub fn unix_seconds(s: &str) -> Option<f64> {
    let b = s.as_bytes();
    if b.len() < 20 || b[4] != b'-' || b[10] != b'T' {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<i64> { s.get(r)?.parse().ok() };
    let (y, m, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (hh, mm, ss) = (num(11..13)?, num(14..16)?, num(17..19)?);
    let frac = if b.get(19) == Some(&b'.') {
        let end = s[20..]
            .find(|c: char| !c.is_ascii_digit())
            .map_or(s.len(), |i| i + 20);
        format!("0.{}", &s[20..end]).parse::<f64>().ok()?
    } else {
        0.0
    };
    let y2 = if m <= 2 { y - 1 } else { y };
    let era = y2.div_euclid(400);
    let yoe = y2 - era * 400;
    let doy = (153 * ((m + 9) % 12) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some((days * 86_400 + hh * 3600 + mm * 60 + ss) as f64 + frac)
}

/// Live entries kept by default: ten sensors at their own cap
/// (`decisions.max_active`, 100,000 each).
pub const DEFAULT_MAX_ACTIVE: usize = 1_000_000;

/// A block's target, (scope, value): one allocation shared by the entries and
/// both orders.
type Target = Rc<(String, String)>;

/// What the set keeps of a live block besides its target.
#[derive(Debug)]
struct Live {
    score: f64,
    expires_at: f64,
    id: String,
}

/// An entry of `/active.json`.
#[derive(Serialize)]
struct EntryView<'a> {
    scope: &'a str,
    value: &'a str,
    score: f64,
    expires_at: f64,
    id: &'a str,
}

#[derive(Debug)]
pub struct ActiveSet {
    /// In order of target (scope, then value): lists come out in order of
    /// value without a sort.
    entries: BTreeMap<Target, Live>,
    /// The entries, weakest first (score, then target): at the cap the
    /// weakest makes room for a stronger block, and `--max-entries` lists
    /// take the strongest, without a scan or a sort of the whole set.
    by_strength: RankOrder<Target>,
    /// The entries, soonest to expire first: expiry takes what is due only.
    by_expiry: RankOrder<Target>,
    max_active: usize,
    /// Entries lifted for the cap, until `take_lifted`.
    lifted: Vec<Change>,
    /// Decisions applied / ignored (unknown schema, monitor-only, malformed).
    pub applied: u64,
    pub ignored: u64,
    /// Blocks lifted or not taken because the set was full.
    pub over_cap: u64,
}

impl Default for ActiveSet {
    fn default() -> ActiveSet {
        ActiveSet::new(DEFAULT_MAX_ACTIVE)
    }
}

fn removal(t: &Target) -> Change {
    Change::Remove {
        scope: t.0.clone(),
        value: t.1.clone(),
    }
}

impl ActiveSet {
    /// A set of at most `max_active` live entries (at least 1).
    pub fn new(max_active: usize) -> ActiveSet {
        ActiveSet {
            entries: BTreeMap::new(),
            by_strength: RankOrder::default(),
            by_expiry: RankOrder::default(),
            max_active: max_active.max(1),
            lifted: Vec::new(),
            applied: 0,
            ignored: 0,
            over_cap: 0,
        }
    }

    fn remove(&mut self, key: &(String, String)) -> Option<Target> {
        let (t, live) = self.entries.remove_entry(key)?;
        self.by_strength.remove(&t, live.score);
        self.by_expiry.remove(&t, live.expires_at);
        Some(t)
    }

    /// Adds or replaces an entry; false if the set is full of stronger ones.
    fn insert(&mut self, key: (String, String), live: Live) -> bool {
        let known = self.entries.get_key_value(&key).map(|(t, _)| t.clone());
        if known.is_none() && self.entries.len() >= self.max_active {
            let Some(weakest) = self.by_strength.lowest_below(live.score).cloned() else {
                self.over_cap += 1;
                return false;
            };
            self.remove(&weakest);
            self.over_cap += 1;
            self.lifted.push(removal(&weakest));
        }
        let target = known.unwrap_or_else(|| Rc::new(key));
        let (score, expires_at) = (live.score, live.expires_at);
        // The old ranks go first: a renewal at the same score would otherwise
        // take out the entry it just put in.
        if let Some(old) = self.entries.insert(target.clone(), live) {
            self.by_strength.remove(&target, old.score);
            self.by_expiry.remove(&target, old.expires_at);
        }
        self.by_strength.insert(target.clone(), score);
        self.by_expiry.insert(target, expires_at);
        true
    }

    /// Applies one decision (JSON); returns the resulting change, if any.
    /// Monitor-only decisions are never enforced.
    pub fn apply(&mut self, d: &Value) -> Option<Change> {
        if d["schema_version"].as_u64() != Some(1) || d["mode"] == "monitor" {
            self.ignored += 1;
            return None;
        }
        let (Some(scope), Some(value)) = (d["scope"].as_str(), d["value"].as_str()) else {
            self.ignored += 1;
            return None;
        };
        let key = (scope.to_string(), value.to_string());
        self.applied += 1;
        match d["action"].as_str() {
            Some("block") => {
                let expires_at = d["expires_at"].as_str().and_then(unix_seconds)?;
                let entry = Entry {
                    scope: key.0.clone(),
                    value: key.1.clone(),
                    score: d["score"].as_f64().unwrap_or(0.0),
                    expires_at,
                    id: d["id"].as_str().unwrap_or_default().to_string(),
                };
                let live = Live {
                    score: entry.score,
                    expires_at,
                    id: entry.id.clone(),
                };
                self.insert(key, live).then_some(Change::Add(entry))
            }
            Some("unblock") => {
                // Only the block it ends (a later renewal stays).
                let ends = d["ends"].as_str();
                match self.entries.get(&key) {
                    Some(live) if ends.is_none_or(|id| id == live.id) => {
                        self.remove(&key);
                        Some(Change::Remove {
                            scope: key.0,
                            value: key.1,
                        })
                    }
                    _ => None,
                }
            }
            _ => {
                self.ignored += 1;
                None
            }
        }
    }

    /// The entries lifted for the cap by the decisions applied since the last
    /// call: to be applied right after them (a lifted target may come back).
    pub fn take_lifted(&mut self) -> Vec<Change> {
        std::mem::take(&mut self.lifted)
    }

    /// Removes what expired by `now` (Unix seconds), soonest first: the
    /// entries due, never a pass over the others.
    pub fn expire(&mut self, now: f64) -> Vec<Change> {
        let mut gone = Vec::new();
        while let Some(t) = self.by_expiry.lowest_at_most(now).cloned() {
            self.remove(&t);
            gone.push(removal(&t));
        }
        gone
    }

    /// The values of one scope, in order.
    fn values_of<'a>(&'a self, scope: &str) -> impl Iterator<Item = &'a str> + 'a {
        let scope = scope.to_string();
        let from = (scope.clone(), String::new());
        (self
            .entries
            .range::<(String, String), _>((Bound::Included(from), Bound::Unbounded)))
        .take_while(move |(t, _)| t.0 == scope)
        .map(|(t, _)| t.1.as_str())
    }

    /// The values of the entries of `scopes` that `keep` accepts, the `max`
    /// highest scores of them, in order of value. Without a cut this is one
    /// pass over those scopes; with one, a walk down the strength order until
    /// `max` are found.
    pub fn list(&self, scopes: &[&str], keep: impl Fn(&str) -> bool, max: usize) -> Vec<&str> {
        let mut values: Vec<&str> = if max >= self.entries.len() {
            (scopes.iter())
                .flat_map(|s| self.values_of(s))
                .filter(|v| keep(v))
                .collect()
        } else {
            (self.by_strength.highest_first())
                .filter(|t| scopes.contains(&t.0.as_str()) && keep(&t.1))
                .take(max)
                .map(|t| t.1.as_str())
                .collect()
        };
        // One scope's values are in order already (a stable sort of sorted
        // runs is a merge).
        values.sort();
        values
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The whole set as JSON, for `/active.json`: entries by scope, in order
    /// of value.
    pub fn snapshot_json(&self) -> String {
        // The entries are in order of scope: each scope's entries follow one
        // another, and go out as they are read (no copy of the set first).
        let mut out = Vec::with_capacity(self.entries.len() * 128 + 2);
        out.push(b'{');
        let mut scope: Option<&str> = None;
        for (t, live) in &self.entries {
            if scope != Some(t.0.as_str()) {
                if scope.is_some() {
                    out.extend_from_slice(b"],");
                }
                serde_json::to_writer(&mut out, &t.0).expect("a string serialises");
                out.extend_from_slice(b":[");
                scope = Some(&t.0);
            } else {
                out.push(b',');
            }
            let view = EntryView {
                scope: &t.0,
                value: &t.1,
                score: live.score,
                expires_at: live.expires_at,
                id: &live.id,
            };
            serde_json::to_writer(&mut out, &view).expect("an entry serialises");
        }
        if scope.is_some() {
            out.push(b']');
        }
        out.push(b'}');
        String::from_utf8(out).expect("serde_json writes UTF-8")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn block(id: &str, value: &str, expires: &str) -> Value {
        json!({"schema_version":1,"id":id,"action":"block","scope":"ip","value":value,"mode":"enforce","score":0.9,
               "expires_at":expires})
    }

    #[test]
    fn blocks_renewals_unblocks_expiry() {
        let mut s = ActiveSet::default();
        assert!(matches!(
            s.apply(&block("a", "10.0.0.1", "2026-01-01T01:00:00.000000Z")),
            Some(Change::Add(_))
        ));
        // Renewal replaces the entry; the first block's unblock no longer lifts it.
        s.apply(&block("b", "10.0.0.1", "2026-01-01T02:00:00.000000Z"));
        let unblock_a = json!({"schema_version":1,"id":"u","action":"unblock","scope":"ip","value":"10.0.0.1","ends":"a","mode":"enforce"});
        assert_eq!(s.apply(&unblock_a), None);
        assert_eq!(s.len(), 1);
        let t = unix_seconds("2026-01-01T01:30:00Z").unwrap();
        assert!(s.expire(t).is_empty());
        let t = unix_seconds("2026-01-01T02:00:00Z").unwrap();
        assert_eq!(s.expire(t).len(), 1);
        assert!(s.is_empty());
        // Monitor-only and unknown schemas are never enforced.
        let mut m = block("c", "10.0.0.2", "2026-01-01T01:00:00Z");
        m["mode"] = json!("monitor");
        assert_eq!(s.apply(&m), None);
        let mut v2 = block("d", "10.0.0.3", "2026-01-01T01:00:00Z");
        v2["schema_version"] = json!(2);
        assert_eq!(s.apply(&v2), None);
        assert_eq!(s.ignored, 2);
    }

    #[test]
    fn top_keeps_the_highest_scores() {
        let mut s = ActiveSet::default();
        for (i, score) in [0.8, 0.95, 0.9].iter().enumerate() {
            let mut b = block(
                &i.to_string(),
                &format!("10.0.0.{i}"),
                "2030-01-01T00:00:00Z",
            );
            b["score"] = json!(score);
            s.apply(&b);
        }
        assert_eq!(s.list(&["ip"], |_| true, 2), ["10.0.0.1", "10.0.0.2"]);
    }

    #[test]
    fn times() {
        assert_eq!(unix_seconds("1970-01-01T00:00:01.5Z"), Some(1.5));
        assert_eq!(
            unix_seconds("2026-11-21T09:28:31.500000Z"),
            Some(1_795_253_311.5)
        );
        assert_eq!(unix_seconds("garbage"), None);
    }

    /// However many blocks the stream carries, the set keeps at most its cap:
    /// a stronger block makes the weakest leave (a removal to apply), a
    /// weaker one is not taken.
    #[test]
    fn the_set_is_capped_and_keeps_the_strongest() {
        let mut s = ActiveSet::new(3);
        for i in 0..10 {
            let mut b = block(
                &i.to_string(),
                &format!("10.0.0.{i}"),
                "2030-01-01T00:00:00Z",
            );
            b["score"] = json!(0.5 + f64::from(i) / 100.0);
            assert!(s.apply(&b).is_some());
        }
        assert_eq!((s.len(), s.over_cap), (3, 7));
        let lifted = s.take_lifted();
        assert_eq!(lifted.len(), 7);
        assert_eq!(
            lifted[0],
            Change::Remove {
                scope: "ip".into(),
                value: "10.0.0.0".into()
            }
        );
        let mut weak = block("w", "10.0.1.1", "2030-01-01T00:00:00Z");
        weak["score"] = json!(0.1);
        assert_eq!(s.apply(&weak), None);
        assert_eq!(
            s.list(&["ip"], |_| true, 10),
            ["10.0.0.7", "10.0.0.8", "10.0.0.9"]
        );
        // A renewal of a kept entry is no new entry.
        assert!(s
            .apply(&block("r", "10.0.0.9", "2031-01-01T00:00:00Z"))
            .is_some());
        assert_eq!((s.len(), s.over_cap), (3, 8));
    }

    /// A renewal with the same score keeps the block in the strength order:
    /// the weakest still makes room for a stronger one afterwards.
    #[test]
    fn a_renewal_at_the_same_score_stays_in_the_strength_order() {
        let mut s = ActiveSet::new(2);
        let scored = |id: &str, value: &str, score: f64| {
            let mut b = block(id, value, "2030-01-01T00:00:00Z");
            b["score"] = json!(score);
            b
        };
        s.apply(&scored("a1", "10.0.0.1", 0.5));
        s.apply(&scored("a2", "10.0.0.1", 0.5));
        s.apply(&scored("b", "10.0.0.2", 0.9));
        assert!(s.apply(&scored("c", "10.0.0.3", 0.7)).is_some());
        assert_eq!(
            s.take_lifted(),
            vec![Change::Remove {
                scope: "ip".into(),
                value: "10.0.0.1".into()
            }]
        );
        assert_eq!(s.by_strength.len(), s.entries.len());
    }

    /// `--max-entries`: a list cut to N keeps the N highest scores among the
    /// entries it lists (its scopes, its address family), in order of value.
    /// Before, the cut took the first N in order of value.
    #[test]
    fn a_cut_list_keeps_the_highest_scores_of_its_own_entries() {
        let mut s = ActiveSet::default();
        let entries = [
            ("ip", "10.0.0.1", 0.70),
            ("ip", "10.0.0.2", 0.99),
            ("ip_range", "10.0.1.0/24", 0.95),
            ("ip", "2001:db8::1", 1.00),
            ("ip", "2001:db8::2", 0.60),
            ("ja4", "t13d1516h2_8daaf6152771_e5627efa2ab1", 0.98),
            ("ip", "9.9.9.9", 0.80),
        ];
        for (i, (scope, value, score)) in entries.iter().enumerate() {
            let mut b = block(&i.to_string(), value, "2030-01-01T00:00:00Z");
            b["scope"] = json!(scope);
            b["score"] = json!(score);
            s.apply(&b);
        }
        let v4 = |v: &str| !v.contains(':');
        assert_eq!(
            s.list(&["ip", "ip_range"], v4, 2),
            ["10.0.0.2", "10.0.1.0/24"]
        );
        assert_eq!(
            s.list(&["ip", "ip_range"], v4, usize::MAX),
            ["10.0.0.1", "10.0.0.2", "10.0.1.0/24", "9.9.9.9"]
        );
        assert_eq!(s.list(&["ip", "ip_range"], |v| !v4(v), 1), ["2001:db8::1"]);
        assert_eq!(s.list(&["ja4"], |_| true, 0), Vec::<&str>::new());
        assert_eq!(ActiveSet::default().snapshot_json(), "{}");
        let json: Value = serde_json::from_str(&s.snapshot_json()).unwrap();
        assert_eq!(json.as_object().unwrap().len(), 3, "ip, ip_range, ja4");
        assert_eq!(json["ip"].as_array().unwrap().len(), 5);
        assert_eq!(json["ip"][0]["value"], "10.0.0.1");
        assert_eq!(json["ja4"][0]["score"], 0.98);
    }

    /// Expiry takes exactly the entries due, soonest first, and renewals
    /// move an entry's expiry.
    #[test]
    fn expiry_takes_what_is_due_soonest_first() {
        let mut s = ActiveSet::default();
        s.apply(&block("a", "10.0.0.1", "2026-01-01T03:00:00Z"));
        s.apply(&block("b", "10.0.0.2", "2026-01-01T01:00:00Z"));
        s.apply(&block("c", "10.0.0.3", "2026-01-01T02:00:00Z"));
        // 10.0.0.2 renewed past the others.
        s.apply(&block("d", "10.0.0.2", "2026-01-01T04:00:00Z"));
        let t = unix_seconds("2026-01-01T03:00:00Z").unwrap();
        let gone = s.expire(t);
        let values: Vec<&str> = gone
            .iter()
            .map(|c| match c {
                Change::Remove { value, .. } => value.as_str(),
                Change::Add(e) => e.value.as_str(),
            })
            .collect();
        assert_eq!(values, ["10.0.0.3", "10.0.0.1"]);
        assert_eq!(s.list(&["ip"], |_| true, usize::MAX), ["10.0.0.2"]);
        assert_eq!(s.by_expiry.len(), 1);
    }

    proptest::proptest! {
        /// Any stream of blocks, renewals and unblocks keeps the strength
        /// order in step with the entries, within the cap.
        #[test]
        fn any_stream_keeps_the_set_exact_and_bounded(
            steps in proptest::collection::vec((0u8..12, 0u8..4, proptest::bool::ANY), 1..200)
        ) {
            let mut s = ActiveSet::new(4);
            for (i, (target, score, unblock)) in steps.into_iter().enumerate() {
                let value = format!("10.0.0.{target}");
                let d = if unblock {
                    json!({"schema_version":1,"id":format!("u{i}"),"action":"unblock","scope":"ip","value":value,"mode":"enforce"})
                } else {
                    let mut b = block(&i.to_string(), &value, "2030-01-01T00:00:00Z");
                    b["score"] = json!(f64::from(score) / 4.0);
                    b
                };
                s.apply(&d);
                s.take_lifted();
                proptest::prop_assert!(s.entries.len() <= 4);
                proptest::prop_assert_eq!(s.by_strength.len(), s.entries.len());
                proptest::prop_assert_eq!(s.by_expiry.len(), s.entries.len());
                for (k, e) in &s.entries {
                    proptest::prop_assert!(s.by_strength.contains(k, e.score));
                    proptest::prop_assert!(s.by_expiry.contains(k, e.expires_at));
                }
            }
        }
    }
}
