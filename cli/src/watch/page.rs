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
                "<li class=\"{sev}\"><b>{sev}</b> {summary}<br><small>{evidence}</small>\
                 <br><small>what to do: {remedy}</small></li>",
                evidence = printable_lines(&f.evidence)
                    .iter()
                    .map(|l| esc(l))
                    .collect::<Vec<_>>()
                    .join("<br>"),
                sev = if f.severity == Severity::Error {
                    "error"
                } else {
                    "warning"
                },
                summary = esc(&printable(&f.summary, MAX_PRINTED_LINE)),
                remedy = esc(&printable(&f.remediation, MAX_PRINTED_LINE)),
            ));
        }
        let next = match &p.result {
            Some(Ok(d)) => d.expiries.iter().min_by_key(|e| e.not_after),
            _ => None,
        };
        if let Some(Ok(d)) = &p.result {
            for e in &d.expiries {
                expiries.push((name.clone(), e.subject.clone(), e.not_after));
            }
        }
        let next = next.map_or_else(
            || "–".to_owned(),
            |e| {
                format!(
                    "{} ({}) {}",
                    esc(&e.subject),
                    e.kind.as_str(),
                    e.not_after.date()
                )
            },
        );
        rows.push_str(&format!(
            "<tr><td>{}</td><td class=\"{health}\">{health}</td><td><ul>{}</ul></td><td>{next}</td></tr>",
            esc(name),
            if findings.is_empty() { "<li>none</li>".to_owned() } else { findings },
        ));
    }
    format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>ise-intune watch</title>\
         <style>body{{font-family:sans-serif;margin:2em}}table{{border-collapse:collapse}}\
         td,th{{border:1px solid #999;padding:.4em;vertical-align:top}}.error{{color:#a00}}\
         .warning{{color:#a60}}.healthy{{color:#060}}.down{{color:#a00}}ul{{margin:0;padding-left:1em}}</style>\
         </head><body><h1>ise-intune watch</h1><p>{} pair(s); page made {}</p>\
         <table><thead><tr><th>pair</th><th>health</th><th>findings and what to do</th><th>next expiry</th></tr></thead>\
         <tbody>{rows}</tbody></table><h2>Upcoming expiries</h2>{}</body></html>",
        pairs.len(),
        now.date(),
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
