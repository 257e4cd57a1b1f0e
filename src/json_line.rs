//! A small JSON object writer for the hot output path. `serde_json` checks every
//! byte of every string for escaping; our records are mostly long ASCII
//! fingerprint strings, so this writer copies strings that need no escaping in
//! one go and escapes the rest exactly as `serde_json` does (tests compare the
//! two byte for byte).

pub struct JsonObject<'a> {
    out: &'a mut Vec<u8>,
    first: bool,
}

impl<'a> JsonObject<'a> {
    pub fn begin(out: &'a mut Vec<u8>) -> JsonObject<'a> {
        out.push(b'{');
        JsonObject { out, first: true }
    }

    pub fn end(self) {
        self.out.push(b'}');
    }

    /// Writes fields (`"name":value,...`) into `out` without the braces: a
    /// fragment to splice into objects later with [`JsonObject::fields`].
    pub fn fragment(out: &'a mut Vec<u8>) -> JsonObject<'a> {
        JsonObject { out, first: true }
    }

    /// Splices in fields written before with [`JsonObject::fragment`].
    pub fn fields(&mut self, fragment: &[u8]) {
        if fragment.is_empty() {
            return;
        }
        self.separate();
        self.out.extend_from_slice(fragment);
    }

    /// The comma before every field but the first.
    fn separate(&mut self) {
        if !self.first {
            self.out.push(b',');
        }
        self.first = false;
    }

    fn key(&mut self, name: &str) {
        self.separate();
        // Keys are this program's own literals: nothing to escape.
        debug_assert!(!name.bytes().any(|b| b < 0x20 || b == b'"' || b == b'\\'));
        self.out.push(b'"');
        self.out.extend_from_slice(name.as_bytes());
        self.out.extend_from_slice(b"\":");
    }

    pub fn str(&mut self, name: &str, v: &str) {
        self.key(name);
        push_str(self.out, v);
    }

    /// A string of ASCII bytes the caller built (an address, a timestamp...).
    /// Anything else is written lossily rather than as invalid JSON.
    pub fn ascii(&mut self, name: &str, v: &[u8]) {
        self.key(name);
        // Printable ASCII without quote or backslash (an address, a
        // timestamp): nothing to check further or escape.
        let plain = v.iter().fold(true, |acc, &b| {
            acc & (0x20..0x7f).contains(&b) & (b != b'"') & (b != b'\\')
        });
        if plain {
            self.out.push(b'"');
            self.out.extend_from_slice(v);
            self.out.push(b'"');
            return;
        }
        match std::str::from_utf8(v) {
            Ok(s) => push_str(self.out, s),
            Err(_) => push_str(self.out, &String::from_utf8_lossy(v)),
        }
    }

    pub fn opt_str(&mut self, name: &str, v: Option<&str>) {
        self.key(name);
        match v {
            Some(v) => push_str(self.out, v),
            None => self.out.extend_from_slice(b"null"),
        }
    }

    pub fn uint(&mut self, name: &str, v: u64) {
        self.key(name);
        let mut buf = [0u8; 20];
        let mut i = buf.len();
        let mut n = v;
        loop {
            i -= 1;
            buf[i] = b'0' + (n % 10) as u8;
            n /= 10;
            if n == 0 {
                break;
            }
        }
        self.out.extend_from_slice(&buf[i..]);
    }

    pub fn opt_uint(&mut self, name: &str, v: Option<u64>) {
        match v {
            Some(v) => self.uint(name, v),
            None => {
                self.key(name);
                self.out.extend_from_slice(b"null");
            }
        }
    }

    pub fn bool(&mut self, name: &str, v: bool) {
        self.key(name);
        self.out
            .extend_from_slice(if v { b"true" } else { b"false" });
    }

    pub fn opt_bool(&mut self, name: &str, v: Option<bool>) {
        match v {
            Some(v) => self.bool(name, v),
            None => {
                self.key(name);
                self.out.extend_from_slice(b"null");
            }
        }
    }

    pub fn str_list<S: AsRef<str>>(&mut self, name: &str, items: impl IntoIterator<Item = S>) {
        self.key(name);
        self.out.push(b'[');
        for (i, s) in items.into_iter().enumerate() {
            if i > 0 {
                self.out.push(b',');
            }
            push_str(self.out, s.as_ref());
        }
        self.out.push(b']');
    }

    /// A list of objects, each written by `write`.
    pub fn list<T>(
        &mut self,
        name: &str,
        items: &[T],
        mut write: impl FnMut(&mut JsonObject<'_>, &T),
    ) {
        self.key(name);
        self.out.push(b'[');
        for (i, item) in items.iter().enumerate() {
            if i > 0 {
                self.out.push(b',');
            }
            let mut o = JsonObject::begin(self.out);
            write(&mut o, item);
            o.end();
        }
        self.out.push(b']');
    }
}

/// Writes `s` as a JSON string, escaping like serde_json.
fn push_str(out: &mut Vec<u8>, s: &str) {
    out.push(b'"');
    let bytes = s.as_bytes();
    // Fingerprints never need escaping: one branch-free (vectorised) scan of
    // the whole string, one copy. (An early exit per chunk was 5x slower.)
    let needs_escape = bytes.iter().fold(false, |acc, &b| {
        acc | (b < 0x20) | (b == b'"') | (b == b'\\')
    });
    if !needs_escape {
        out.extend_from_slice(bytes);
        out.push(b'"');
        return;
    }
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let esc: &[u8] = match b {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            b'\n' => b"\\n",
            b'\r' => b"\\r",
            b'\t' => b"\\t",
            0x08 => b"\\b",
            0x0c => b"\\f",
            0x00..=0x1f => {
                out.extend_from_slice(&bytes[start..i]);
                const HEX: &[u8; 16] = b"0123456789abcdef";
                out.extend_from_slice(&[
                    b'\\',
                    b'u',
                    b'0',
                    b'0',
                    HEX[(b >> 4) as usize],
                    HEX[(b & 0xf) as usize],
                ]);
                start = i + 1;
                continue;
            }
            _ => continue,
        };
        out.extend_from_slice(&bytes[start..i]);
        out.extend_from_slice(esc);
        start = i + 1;
    }
    out.extend_from_slice(&bytes[start..]);
    out.push(b'"');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ascii_fields_are_written_like_serde_json() {
        let inputs: [&[u8]; 6] = [
            b"10.0.0.1",
            b"2026-01-01T00:00:00.000000Z",
            b"q\"uote \\",
            b"\x01 \x7f",
            b"\xff\xfe bytes",
            b"",
        ];
        for v in inputs {
            let mut out = Vec::new();
            let mut o = JsonObject::begin(&mut out);
            o.ascii("k", v);
            o.end();
            let expected = serde_json::json!({ "k": String::from_utf8_lossy(v) }).to_string();
            assert_eq!(String::from_utf8(out).unwrap(), expected, "{v:?}");
        }
    }

    #[test]
    fn strings_escape_like_serde_json() {
        for s in [
            "",
            "plain",
            "q\"uote",
            "back\\slash",
            "nl\n cr\r tab\t",
            "\u{0}\u{1}\u{8}\u{c}\u{1f}",
            "é ünï \u{fffd} /",
        ] {
            let mut out = Vec::new();
            push_str(&mut out, s);
            assert_eq!(
                String::from_utf8(out).unwrap(),
                serde_json::to_string(s).unwrap(),
                "{s:?}"
            );
        }
    }
}
