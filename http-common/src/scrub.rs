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
    if is_plain(text, known, max_chars) {
        return text.to_owned();
    }
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
        // At the end of a word when one ends in the text's last quarter, so that no
        // word is shown cut in two; the marker says the text goes on.
        if let Some(space) = out.trim_end().rfind(' ')
            && out[..space].chars().count().saturating_mul(4) >= max_chars.saturating_mul(3)
        {
            out.truncate(space);
        }
        out.push('…');
    }
    out
}

/// Whether [`text_within`] would give `text` back unchanged: short enough, no control
/// or bidirectional character, and nothing any redaction looks for (a known secret, an
/// authorization scheme, a JWT's `eyJ`, a secret's name — which needs a `=` or `:` to
/// match). Most server text is (device models, names): it is then copied once instead
/// of passing through every rewrite.
fn is_plain(text: &str, known: &[&str], max_chars: usize) -> bool {
    if text.len() > max_chars.saturating_mul(4) {
        return false;
    }
    let mut count = 0usize;
    for c in text.chars() {
        count += 1;
        if count > max_chars || c.is_control() || is_bidi_control(c) {
            return false;
        }
    }
    if known.iter().any(|k| k.len() >= 4 && text.contains(*k)) || text.contains("eyJ") {
        return false;
    }
    let lower = text.to_ascii_lowercase();
    if lower.contains("basic ") || lower.contains("bearer ") {
        return false;
    }
    !((text.contains('=') || text.contains(':')) && SECRET_NAMES.iter().any(|n| lower.contains(n)))
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

/// The longest line printed for a person (terminal, log, webhook, status page), in
/// characters.
pub const MAX_PRINTED_LINE: usize = 500;

/// The most lines of one multi-line text printed for a person.
pub const MAX_PRINTED_LINES: usize = 20;

/// Text made safe to leave the process — on a terminal, in a log line, a webhook or a
/// page: secrets replaced, control and bidirectional-override characters (terminal
/// escapes, BEL, CR, backspace) replaced by a space, and cut to `max_chars` with `…`
/// marking the cut. The one sanitiser every output uses.
///
/// ```
/// use ise_intune_http::scrub::printable;
/// let hostile = format!("rule\u{1b}]0;owned\u{7}\r\u{8}{}", "x".repeat(10_000));
/// let shown = printable(&hostile, 40);
/// assert!(!shown.chars().any(char::is_control));
/// assert_eq!(shown.chars().count(), 41);
/// assert!(shown.ends_with('…'));
/// ```
pub fn printable(text: &str, max_chars: usize) -> String {
    text_within(text, &[], max_chars)
}

/// A multi-line text made safe line by line ([`printable`], each line at most
/// [`MAX_PRINTED_LINE`] characters), at most [`MAX_PRINTED_LINES`] lines; a last line
/// says how many more there were.
pub fn printable_lines(text: &str) -> Vec<String> {
    let mut lines: Vec<String> = text
        .lines()
        .take(MAX_PRINTED_LINES)
        .map(|l| printable(l, MAX_PRINTED_LINE))
        .collect();
    let more = text.lines().skip(MAX_PRINTED_LINES).take(100_000).count();
    if more > 0 {
        lines.push(format!("… ({more} more line(s) cut)"));
    }
    lines
}

/// A URL as it may be printed or logged: scheme, host and port only — user info, path
/// and query may hold secrets (webhook URLs of Slack, Teams and PagerDuty carry theirs
/// in the path) — and the first 8 hex digits of the whole URL's SHA-256, to tell two
/// URLs of one host apart.
///
/// ```
/// let url = url::Url::parse("https://user:hunter2@hooks.example/services/T0/B0/SeCrEt?token=x")
///     .expect("a URL");
/// let shown = ise_intune_http::scrub::url_for_display(&url);
/// assert!(shown.starts_with("https://hooks.example/#"));
/// assert!(!shown.contains("hunter2") && !shown.contains("SeCrEt") && !shown.contains("token"));
/// ```
pub fn url_for_display(url: &url::Url) -> String {
    let digest = ring::digest::digest(&ring::digest::SHA256, url.as_str().as_bytes());
    let short: String = digest.as_ref()[..4]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let host = match (url.host_str(), url.port()) {
        (Some(h), Some(p)) => format!("{h}:{p}"),
        (Some(h), None) => h.to_owned(),
        (None, _) => String::new(),
    };
    printable(&format!("{}://{host}/#{short}", url.scheme()), 200)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cut_text_ends_at_a_word_with_a_marker() {
        let text = "the certificate chain does not verify at all";
        // 33 characters end inside "verify": not shown in part.
        assert_eq!(
            printable(text, 33),
            "the certificate chain does not\u{2026}"
        );
        // No word ends in the last quarter: cut where the cap falls.
        assert_eq!(printable(text, 12), "the certific\u{2026}");
        // One long word: cut where the cap falls.
        let word = "x".repeat(60);
        assert_eq!(printable(&word, 40), format!("{}\u{2026}", "x".repeat(40)));
    }

    #[test]
    fn plain_text_is_given_back_as_the_full_rewrite_would() {
        let samples = [
            "iPhone 15",
            "10.0.22631.4460",
            "Latitude 7440",
            "model: SM-S921B",
            "token: abc",
            "see eyJhbGciOi.x",
            "Bearer xyz",
            "a\u{7}b",
            "rtl\u{202e}x",
            "password=hunter2",
            "C1sco12345 inside",
            "x".repeat(40).as_str(),
            "é".repeat(39).as_str(),
        ]
        .map(str::to_owned);
        for text in &samples {
            for max in [3usize, 39, 40, 300] {
                let known = ["C1sco12345"];
                // The slow path alone: what every rewrite gives.
                let mut slow = text
                    .chars()
                    .take(max.saturating_mul(4).max(4096))
                    .collect::<String>();
                for k in known {
                    slow = slow.replace(k, REDACTED);
                }
                slow = redact_jwts(&redact_named(&redact_schemes(&slow)));
                let mut expected: String = slow
                    .chars()
                    .take(max)
                    .map(|c| {
                        if c.is_control() || is_bidi_control(c) {
                            ' '
                        } else {
                            c
                        }
                    })
                    .collect();
                if slow.chars().count() > max {
                    expected.push('…');
                }
                assert_eq!(
                    text_within(text, &known, max),
                    expected,
                    "{text:?} at {max}"
                );
            }
        }
    }

    #[test]
    fn hostile_text_is_printable_and_bounded() {
        // A terminal retitle, BEL, CR, backspaces and 10 KB of text on one line.
        let hostile = format!("a\u{1b}]0;pwned\u{7}b\rc\u{8}\u{8}d{}", "x".repeat(10_000));
        let shown = printable(&hostile, MAX_PRINTED_LINE);
        assert!(!shown.chars().any(|c| c.is_control()), "{shown:?}");
        assert_eq!(shown.chars().count(), MAX_PRINTED_LINE + 1);
        assert!(shown.starts_with("a ]0;pwned b c  d") && shown.ends_with('…'));
        // Many lines: at most MAX_PRINTED_LINES, then how many were cut.
        let many = (0..50)
            .map(|i| format!("line {i}\u{1b}[2J"))
            .collect::<Vec<_>>()
            .join("\n");
        let lines = printable_lines(&many);
        assert_eq!(lines.len(), MAX_PRINTED_LINES + 1);
        assert_eq!(lines[0], "line 0 [2J");
        assert_eq!(lines[MAX_PRINTED_LINES], "… (30 more line(s) cut)");
    }

    #[test]
    fn urls_are_shown_without_user_info_path_or_query() {
        let a = url::Url::parse(
            "http://user:hunter2@127.0.0.1:8080/services/T0/B0/SeCrEt?token=hunter3",
        )
        .expect("url");
        let b = url::Url::parse("http://127.0.0.1:8080/other").expect("url");
        let (sa, sb) = (url_for_display(&a), url_for_display(&b));
        assert!(
            sa.starts_with("http://127.0.0.1:8080/#")
                && sa.len() == "http://127.0.0.1:8080/#".len() + 8
        );
        for secret in ["user", "hunter2", "services", "SeCrEt", "token", "hunter3"] {
            assert!(!sa.contains(secret), "{sa}");
        }
        assert_ne!(sa, sb, "two URLs of one host are told apart");
    }

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
