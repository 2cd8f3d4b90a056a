//! A minimal DER reader for what the fake ISE shows of a certificate (names and
//! validity). The simulator's own, so that it shares no parsing code with the library.

/// One TLV: (tag, contents, rest).
fn tlv(input: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = input.split_first()?;
    let (&first, mut rest) = rest.split_first()?;
    let len = if first & 0x80 == 0 {
        usize::from(first)
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 4 || rest.len() < n {
            return None;
        }
        let mut len = 0usize;
        for &b in &rest[..n] {
            len = (len << 8) | usize::from(b);
        }
        rest = &rest[n..];
        len
    };
    if rest.len() < len {
        return None;
    }
    Some((tag, &rest[..len], &rest[len..]))
}

/// The parts of a certificate the fake ISE lists.
pub(crate) struct CertSummary {
    pub(crate) subject: String,
    pub(crate) issuer: String,
    pub(crate) common_name: String,
    pub(crate) not_before: Option<time::OffsetDateTime>,
    pub(crate) not_after: Option<time::OffsetDateTime>,
    pub(crate) serial: Vec<u8>,
}

fn oid_name(oid: &[u8]) -> String {
    match oid {
        [0x55, 0x04, 0x03] => "CN".into(),
        [0x55, 0x04, 0x06] => "C".into(),
        [0x55, 0x04, 0x07] => "L".into(),
        [0x55, 0x04, 0x08] => "ST".into(),
        [0x55, 0x04, 0x0a] => "O".into(),
        [0x55, 0x04, 0x0b] => "OU".into(),
        other => other.iter().map(|b| format!("{b:02x}")).collect(),
    }
}

/// Renders a Name as `CN=...,OU=...,O=...,C=...` (most specific first) and its CN.
fn name(der: &[u8]) -> Option<(String, String)> {
    let mut rdns = Vec::new();
    let mut cn = String::new();
    let mut rest = der;
    while !rest.is_empty() {
        let (_, set, after) = tlv(rest)?;
        rest = after;
        let mut inner = set;
        while !inner.is_empty() {
            let (_, atv, after) = tlv(inner)?;
            inner = after;
            let (_, oid, value_rest) = tlv(atv)?;
            let (_, value, _) = tlv(value_rest)?;
            let text = String::from_utf8_lossy(value).into_owned();
            if oid == [0x55, 0x04, 0x03] {
                cn = text.clone();
            }
            rdns.push(format!("{}={}", oid_name(oid), text));
        }
    }
    rdns.reverse();
    Some((rdns.join(","), cn))
}

fn time_of(tag: u8, v: &[u8]) -> Option<time::OffsetDateTime> {
    let s = std::str::from_utf8(v).ok()?.strip_suffix('Z')?;
    let (year, rest) = match tag {
        0x17 => {
            let y: i32 = s.get(0..2)?.parse().ok()?;
            (if y >= 50 { 1900 + y } else { 2000 + y }, s.get(2..)?)
        }
        0x18 => (s.get(0..4)?.parse().ok()?, s.get(4..)?),
        _ => return None,
    };
    let n = |r: std::ops::Range<usize>| rest.get(r).and_then(|x| x.parse::<u8>().ok());
    let date =
        time::Date::from_calendar_date(year, time::Month::try_from(n(0..2)?).ok()?, n(2..4)?)
            .ok()?;
    let t = time::Time::from_hms(n(4..6)?, n(6..8)?, n(8..10)?).ok()?;
    Some(time::PrimitiveDateTime::new(date, t).assume_utc())
}

/// Reads subject, issuer, validity and serial of a DER certificate.
pub(crate) fn summary(cert: &[u8]) -> Option<CertSummary> {
    let (_, certificate, _) = tlv(cert)?;
    let (_, tbs, _) = tlv(certificate)?;
    let mut fields = tbs;
    let (tag, _, after) = tlv(fields)?;
    if tag == 0xa0 {
        fields = after;
    }
    let (_, serial, after) = tlv(fields)?;
    let (_, _sigalg, after) = tlv(after)?;
    let (_, issuer, after) = tlv(after)?;
    let (_, validity, after) = tlv(after)?;
    let (_, subject, _) = tlv(after)?;
    let (t1, nb, vrest) = tlv(validity)?;
    let (t2, na, _) = tlv(vrest)?;
    let (subject, common_name) = name(subject)?;
    let (issuer, _) = name(issuer)?;
    Some(CertSummary {
        subject,
        issuer,
        common_name,
        not_before: time_of(t1, nb),
        not_after: time_of(t2, na),
        serial: serial.to_vec(),
    })
}
