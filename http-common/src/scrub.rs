//! Server text made safe to print: whatever a request carried that a server may echo
//! back (authorization values, passwords, client secrets, assertions, tokens) is
//! replaced, control characters (terminal escapes) are removed, and the text is cut
//! to a readable length.
//!
//! ```
//! use ise_intune_http::scrub::server_text;
//! let echoed = "bad request: Authorization: Basic YWRtaW46QzFzY28= password=hunter2 \u{1b}[2J";
//! let safe = server_text(echoed, &[]);
//! assert!(!safe.contains("YWRtaW46") && !safe.contains("hunter2") && !safe.contains('\u{1b}'));
//! ```

/// The longest server text kept, in characters.
pub const MAX_SERVER_TEXT: usize = 300;

/// What replaces a secret.
pub const REDACTED: &str = "[REDACTED]";

/// Names whose values are secrets wherever they appear as `name=value`,
/// `name: value` or `"name": "value"` (compared without case).
const SECRET_NAMES: [&str; 10] = [
    "password",
    "passwd",
    "client_secret",
    "client_assertion",
    "assertion",
    "access_token",
    "refresh_token",
    "id_token",
    "token",
    "secret",
];

/// `text` with every secret in `known` and every recognisable credential replaced by
/// [`REDACTED`], control and bidirectional-override characters replaced by a space,
/// and cut to [`MAX_SERVER_TEXT`] characters.
pub fn server_text(text: &str, known: &[&str]) -> String {
    text_within(text, known, MAX_SERVER_TEXT)
}

/// [`server_text`] with another length cap (in characters).
pub fn text_within(text: &str, known: &[&str], max_chars: usize) -> String {
    // Work on a bounded prefix: a hostile answer may be megabytes long.
    let budget = max_chars.saturating_mul(4).max(4096);
    let mut s: String = text.chars().take(budget).collect();
    let truncated_input = text.chars().nth(budget).is_some();
    for secret in known.iter().filter(|k| k.len() >= 4) {
        s = s.replace(secret, REDACTED);
    }
    s = redact_schemes(&s);
    s = redact_named(&s);
    s = redact_jwts(&s);
    let mut out = String::with_capacity(s.len().min(max_chars + 3));
    let mut cut = truncated_input;
    for (count, c) in s.chars().enumerate() {
        if count == max_chars {
            cut = true;
            break;
        }
        let c = if c.is_control() || is_bidi_control(c) {
            ' '
        } else {
            c
        };
        out.push(c);
    }
    if cut {
        out.push('…');
    }
    out
}

fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{200E}' | '\u{200F}')
}

fn is_token_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '~' | '+' | '/' | '=' | '%')
}

/// `s` with every match of `at` replaced by [`REDACTED`]: `at(s, i)` says, for a
/// match starting at byte `i`, where the kept prefix ends and where the match ends.
fn rewrite(s: &str, at: impl Fn(&str, usize) -> Option<(usize, usize)>) -> String {
    let mut out = String::with_capacity(s.len());
    let mut i = 0;
    while i < s.len() {
        if let Some((keep, end)) = at(s, i).filter(|&(keep, end)| i <= keep && keep < end) {
            out.push_str(&s[i..keep]);
            out.push_str(REDACTED);
            i = end;
            continue;
        }
        let Some(c) = s[i..].chars().next() else {
            break;
        };
        out.push(c);
        i += c.len_utf8();
    }
    out
}

/// The byte offset, from `from`, of the first character `stop` says ends a value.
fn value_end(s: &str, from: usize, stop: impl Fn(char) -> bool) -> usize {
    s[from..]
        .char_indices()
        .find(|(_, c)| stop(*c))
        .map_or(s.len(), |(j, _)| from + j)
}

/// `Basic xxx` and `Bearer xxx` (any case): the credential after the scheme.
fn redact_schemes(s: &str) -> String {
    let lower = s.to_ascii_lowercase();
    rewrite(s, |s, i| {
        let rest = lower.get(i..)?;
        let scheme = ["basic ", "bearer "]
            .into_iter()
            .find(|p| rest.starts_with(p))?;
        let start = i + scheme.len();
        Some((start, value_end(s, start, |c| !is_token_char(c))))
    })
}

/// `name=value`, `name: value`, `"name":"value"` for the names of [`SECRET_NAMES`].
fn redact_named(s: &str) -> String {
    let lower = s.to_ascii_lowercase();
    let word = |c: char| c.is_ascii_alphanumeric() || c == '_';
    rewrite(s, |s, i| {
        let rest = lower.get(i..)?;
        if lower[..i].chars().next_back().is_some_and(word) {
            return None;
        }
        let n = SECRET_NAMES
            .iter()
            .find(|n| rest.starts_with(*n) && !rest[n.len()..].chars().next().is_some_and(word))?;
        // After the name: an optional closing quote, spaces, `=` or `:`, spaces, an
        // optional opening quote, then the value.
        let bytes = s.as_bytes();
        let mut j = i + n.len();
        let skip = |j: &mut usize, set: &[u8]| {
            while *j < bytes.len() && set.contains(&bytes[*j]) {
                *j += 1;
            }
        };
        skip(&mut j, b"\"'");
        skip(&mut j, b" \t");
        if j >= bytes.len() || (bytes[j] != b'=' && bytes[j] != b':') {
            return None;
        }
        j += 1;
        skip(&mut j, b" \t");
        let quote = bytes.get(j).copied().filter(|b| *b == b'"' || *b == b'\'');
        if quote.is_some() {
            j += 1;
        }
        let end = match quote {
            Some(q) => value_end(s, j, |c| c == char::from(q)),
            None => value_end(s, j, |c| {
                c.is_whitespace() || matches!(c, '&' | ',' | ';' | '}' | ')')
            }),
        };
        Some((j, end))
    })
}

/// Anything shaped like a JWT (`eyJ…` base64url, dot, base64url).
fn redact_jwts(s: &str) -> String {
    rewrite(s, |s, i| {
        if !s.get(i..)?.starts_with("eyJ") {
            return None;
        }
        let end = value_end(s, i, |c| {
            !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        });
        s[i..end].contains('.').then_some((i, end))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn echoed_credentials_are_replaced() {
        let cases = [
            (
                "Authorization: Basic YWRtaW46QzFzY28xMjM0NQ== was refused",
                "YWRtaW46",
            ),
            (
                "got bearer eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln here",
                "eyJhbGci",
            ),
            (
                "client_secret=sim~abcdef&grant_type=client_credentials",
                "sim~abcdef",
            ),
            (
                "{\"password\": \"Xy12345678\", \"export\": \"x\"}",
                "Xy12345678",
            ),
            (
                "client_assertion=eyJ0eXAiOiJKV1QifQ.eyJhdWQiOiJ4In0.sig",
                "eyJ0eXAi",
            ),
            ("token: abc.def.ghi end", "abc.def.ghi"),
        ];
        for (text, secret) in cases {
            let safe = server_text(text, &[]);
            assert!(!safe.contains(secret), "{text} -> {safe}");
            assert!(safe.contains(REDACTED), "{text} -> {safe}");
        }
        assert_eq!(
            server_text("grant_type=client_credentials", &[]),
            "grant_type=client_credentials"
        );
    }

    #[test]
    fn known_secrets_control_characters_and_length() {
        let safe = server_text("the password C1sco12345 is wrong", &["C1sco12345"]);
        assert_eq!(safe, "the password [REDACTED] is wrong");
        assert_eq!(
            server_text("a\u{1b}[31mb\u{7}\r\nc\u{202e}d", &[]),
            "a [31mb   c d"
        );
        let long = "x".repeat(10_000);
        let cut = server_text(&long, &[]);
        assert_eq!(cut.chars().count(), MAX_SERVER_TEXT + 1);
        assert!(cut.ends_with('…'));
    }
}
