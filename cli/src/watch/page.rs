//! The status page: one row per pair, its findings and what to do, and the expiries.

use intune_integration::doctor::Severity;
use intune_integration::watch::runtime::PairStatus;
use ise_intune_http::scrub::MAX_PRINTED_LINE;
use ise_intune_http::scrub::printable;
use ise_intune_http::scrub::printable_lines;
use std::collections::BTreeMap;
use time::OffsetDateTime;

/// HTML-escapes text (server texts are scrubbed too before they reach a finding).
pub(super) fn esc(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out
}

/// Where each finding id has its section (the troubleshooting guide of the project's
/// repository).
pub(super) const TROUBLESHOOTING: &str = concat!(
    env!("CARGO_PKG_REPOSITORY"),
    "/blob/main/docs/troubleshooting.md"
);

/// How often the page reloads itself (a `<meta>` refresh: no script, which the page's
/// content security policy forbids).
const REFRESH_SECONDS: u32 = 60;

/// Escaped text with its `name` spans set as code, not shown with their backticks.
fn text(raw: &str) -> String {
    let escaped = esc(raw);
    if escaped.matches('`').count() < 2 {
        return escaped;
    }
    let mut out = String::with_capacity(escaped.len() + 16);
    let parts: Vec<&str> = escaped.split('`').collect();
    let last = parts.len() - 1;
    for (i, part) in parts.iter().enumerate() {
        if i % 2 == 1 && i < last {
            out.push_str("<code>");
            out.push_str(part);
            out.push_str("</code>");
        } else {
            // An unpaired backtick's text stays as it was.
            if i % 2 == 1 {
                out.push('`');
            }
            out.push_str(part);
        }
    }
    out
}

/// A finding id linked to its section of the troubleshooting guide (GitHub's anchor:
/// the id without its dots).
fn finding_link(id: &str) -> String {
    let id = printable(id, 80);
    let anchor: String = id
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == '-')
        .collect();
    format!(
        "<a href=\"{TROUBLESHOOTING}#{anchor}\"><code>{}</code></a>",
        esc(&id)
    )
}

/// A time as a person reads it, in UTC, said so.
fn at(t: OffsetDateTime) -> String {
    let t = t.to_offset(time::UtcOffset::UTC);
    format!(
        "{} {:02}:{:02}:{:02} UTC",
        t.date(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

/// How long ago `t` was: "12 s ago", "4 min ago", "3 h ago", "2 days ago".
fn age(t: OffsetDateTime, now: OffsetDateTime) -> String {
    let s = (now - t).whole_seconds().max(0);
    match s {
        0..90 => format!("{s} s ago"),
        90..5400 => format!("{} min ago", s / 60),
        5400..172_800 => format!("{} h ago", s / 3600),
        _ => format!("{} days ago", s / 86_400),
    }
}

/// The status page: one row per pair (health, findings with what to do, next expiry)
/// and the upcoming expiries on a 180-day timeline, as inline SVG. No script, no
/// external asset.
pub(super) fn page(pairs: &BTreeMap<String, PairStatus>, now: OffsetDateTime) -> String {
    let mut rows = String::new();
    let mut expiries: Vec<(String, String, OffsetDateTime)> = Vec::new();
    for (name, p) in pairs {
        let health = match (&p.result, p.up()) {
            (None, _) => "not checked yet",
            (Some(Err(_)), _) | (Some(Ok(_)), false) => "down",
            (Some(Ok(d)), true) if d.has_errors() => "error",
            (Some(Ok(d)), true) if !d.healthy() => "warning",
            _ => "healthy",
        };
        let mut findings = String::new();
        for f in p.findings().iter().filter(|f| f.severity != Severity::Info) {
            findings.push_str(&format!(
                "<li class=\"{sev}\"><b>{sev}</b> {link} {summary}<br><small>{evidence}</small>\
                 <br><small>what to do: {remedy}</small></li>",
                link = finding_link(&f.id),
                evidence = printable_lines(&f.evidence)
                    .iter()
                    .map(|l| text(l))
                    .collect::<Vec<_>>()
                    .join("<br>"),
                sev = if f.severity == Severity::Error {
                    "error"
                } else {
                    "warning"
                },
                summary = text(&printable(&f.summary, MAX_PRINTED_LINE)),
                remedy = text(&printable(&f.remediation, MAX_PRINTED_LINE)),
            ));
        }
        let next = match &p.result {
            Some(Ok(d)) => d.expiries.iter().min_by_key(|e| e.not_after),
            _ => None,
        };
        if let Some(Ok(d)) = &p.result {
            for e in &d.expiries {
                expiries.push((name.clone(), e.node_name().to_owned(), e.not_after));
            }
        }
        let next = next.map_or_else(
            || "–".to_owned(),
            |e| {
                format!(
                    "{} ({}) {}",
                    esc(e.node_name()),
                    e.kind.as_str(),
                    e.not_after.date()
                )
            },
        );
        let checked = p.checked_at.map_or_else(
            || "not yet".to_owned(),
            |t| format!("{}<br><small>{}</small>", at(t), age(t, now)),
        );
        rows.push_str(&format!(
            "<tr><td>{}</td><td class=\"{health}\">{health}</td><td>{checked}</td><td><ul>{}</ul></td><td>{next}</td></tr>",
            esc(name),
            if findings.is_empty() { "<li>none</li>".to_owned() } else { findings },
        ));
    }
    format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><meta http-equiv=\"refresh\" content=\"{REFRESH_SECONDS}\"><title>ise-intune watch</title>\
         <style>body{{font-family:sans-serif;margin:2em}}table{{border-collapse:collapse}}\
         td,th{{border:1px solid #999;padding:.4em;vertical-align:top}}.error{{color:#a00}}\
         .warning{{color:#a60}}.healthy{{color:#060}}.down{{color:#a00}}ul{{margin:0;padding-left:1em}}</style>\
         </head><body><h1>ise-intune watch</h1><p>{} pair(s); page made {}, reloaded every {REFRESH_SECONDS} s</p>\
         <table><thead><tr><th>pair</th><th>health</th><th>last check</th><th>findings and what to do</th><th>next expiry</th></tr></thead>\
         <tbody>{rows}</tbody></table><h2>Upcoming expiries</h2>{}</body></html>",
        pairs.len(),
        at(now),
        timeline(&expiries, now),
    )
}

/// Expiries within 180 days on a line, one labelled tick each.
pub(super) fn timeline(
    expiries: &[(String, String, OffsetDateTime)],
    now: OffsetDateTime,
) -> String {
    const DAYS: i64 = 180;
    const WIDTH: i64 = 900;
    let mut shown: Vec<&(String, String, OffsetDateTime)> = expiries
        .iter()
        .filter(|(_, _, t)| (*t - now).whole_days() <= DAYS)
        .collect();
    shown.sort_by_key(|(_, _, t)| *t);
    shown.truncate(40);
    if shown.is_empty() {
        return format!("<p>Nothing due in {DAYS} days.</p>");
    }
    let height = 40 + 18 * i64::try_from(shown.len()).unwrap_or(40);
    let mut marks = String::new();
    for (i, (pair, subject, t)) in shown.iter().enumerate() {
        let days = (*t - now).whole_days().clamp(0, DAYS);
        let x = 20 + days * (WIDTH - 40) / DAYS;
        let y = 40 + 18 * i64::try_from(i).unwrap_or(0);
        let class = if *t < now {
            "error"
        } else if days < 60 {
            "warning"
        } else {
            "healthy"
        };
        marks.push_str(&format!(
            "<line x1=\"{x}\" y1=\"20\" x2=\"{x}\" y2=\"{y}\" stroke=\"#999\"/>\
             <circle cx=\"{x}\" cy=\"20\" r=\"4\" class=\"{class}\" fill=\"currentColor\"/>\
             <text x=\"{x}\" y=\"{y}\" font-size=\"12\">{} {} {}</text>",
            esc(pair),
            esc(subject),
            t.date()
        ));
    }
    format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{WIDTH}\" height=\"{height}\" role=\"img\" \
         aria-label=\"expiries within {DAYS} days\"><title>Expiries within {DAYS} days</title>\
         <line x1=\"20\" y1=\"20\" x2=\"{}\" y2=\"20\" stroke=\"#333\"/>\
         <text x=\"20\" y=\"14\" font-size=\"12\">today</text>\
         <text x=\"{}\" y=\"14\" font-size=\"12\" text-anchor=\"end\">+{DAYS} days</text>{marks}</svg>",
        WIDTH - 20,
        WIDTH - 20
    )
}

#[cfg(test)]
mod tests {
    use super::{age, text, timeline};
    use time::macros::datetime;

    #[test]
    fn names_between_backticks_are_code_and_an_unpaired_backtick_stays() {
        assert_eq!(
            text("run `ise-intune rotate` for <pair>"),
            "run <code>ise-intune rotate</code> for &lt;pair&gt;"
        );
        assert_eq!(text("a `b` c `d"), "a <code>b</code> c `d");
        assert_eq!(text("no code"), "no code");
    }

    #[test]
    fn an_empty_timeline_says_nothing_is_due() {
        let now = datetime!(2026-12-06 12:00 UTC);
        assert_eq!(timeline(&[], now), "<p>Nothing due in 180 days.</p>");
        let far = vec![(
            "p".to_owned(),
            "n".to_owned(),
            datetime!(2028-01-01 0:00 UTC),
        )];
        assert_eq!(timeline(&far, now), "<p>Nothing due in 180 days.</p>");
    }

    #[test]
    fn ages_read_as_a_person_says_them() {
        let now = datetime!(2026-12-06 12:00 UTC);
        assert_eq!(age(datetime!(2026-12-06 11:59:30 UTC), now), "30 s ago");
        assert_eq!(age(datetime!(2026-12-06 11:50 UTC), now), "10 min ago");
        assert_eq!(age(datetime!(2026-12-06 9:00 UTC), now), "3 h ago");
        assert_eq!(age(datetime!(2026-12-01 12:00 UTC), now), "5 days ago");
    }
}
