//! The few constructors a data pickle needs, interpreted (never imported or
//! called): `datetime.datetime`, `datetime.date`, `datetime.timedelta`,
//! `datetime.timezone`, `decimal.Decimal`, and `_codecs.encode` (how
//! protocols 0–2 write the bytes a datetime's state is made of). Anything
//! else stays refused, named.
//!
//! What they become: a naive datetime is Korea Standard Time (as every naive
//! time in the data) and an aware one keeps its instant, both as RFC 3339
//! text; a date is its midnight, KST; a Decimal is an integer when it has no
//! fraction, else a float.

use super::Node;
use chrono::{DateTime, FixedOffset, NaiveDate, NaiveDateTime, TimeZone};

/// The constructors interpreted, as `module.name`.
const ALLOWED: [&str; 6] = [
    "datetime.datetime",
    "datetime.date",
    "datetime.timedelta",
    "datetime.timezone",
    "decimal.Decimal",
    "_codecs.encode",
];

/// Whether `module.name` is one of the interpreted constructors.
pub(super) fn is_allowed(qualified: &str) -> bool {
    ALLOWED.contains(&qualified)
}

/// The value `qualified(*args)` builds, or why these arguments are not ones
/// it is interpreted for.
pub(super) fn call(qualified: &str, args: &[&Node]) -> Result<Node, String> {
    let wrong = || format!("{qualified} with arguments this reader does not interpret");
    match (qualified, args) {
        ("_codecs.encode", [Node::Str(text), Node::Str(codec)])
            if matches!(codec.as_str(), "latin1" | "latin-1" | "iso-8859-1") =>
        {
            text.chars()
                .map(|c| u8::try_from(u32::from(c)).ok())
                .collect::<Option<Vec<u8>>>()
                .map(Node::Blob)
                .ok_or_else(wrong)
        }
        ("datetime.datetime", [Node::Blob(state)]) => datetime(state, None).ok_or_else(wrong),
        ("datetime.datetime", [Node::Blob(state), Node::Tz(offset)]) => {
            datetime(state, Some(*offset)).ok_or_else(wrong)
        }
        ("datetime.date", [Node::Blob(state)]) => date(state).ok_or_else(wrong),
        ("datetime.timedelta", [Node::Int(days), Node::Int(seconds), Node::Int(micros)]) => days
            .checked_mul(86_400_000_000)
            .and_then(|d| d.checked_add(seconds.checked_mul(1_000_000)?))
            .and_then(|d| d.checked_add(*micros))
            .map(Node::Delta)
            .ok_or_else(wrong),
        ("datetime.timezone", [Node::Delta(micros), ..]) => i32::try_from(micros / 1_000_000)
            .ok()
            .filter(|_| micros % 1_000_000 == 0)
            .map(Node::Tz)
            .ok_or_else(wrong),
        ("decimal.Decimal", [Node::Str(text)]) => decimal(text).ok_or_else(wrong),
        _ => Err(wrong()),
    }
}

fn kst() -> FixedOffset {
    crate::model::kst()
}

/// A datetime's pickled state: year (2 bytes), month (its top bit is
/// `fold`), day, hour, minute, second, microsecond (3 bytes).
fn datetime(state: &[u8], offset_seconds: Option<i32>) -> Option<Node> {
    let [y1, y2, month, day, hour, minute, second, u1, u2, u3] = *state else {
        return None;
    };
    let micros = u32::from(u1) << 16 | u32::from(u2) << 8 | u32::from(u3);
    let naive = NaiveDate::from_ymd_opt(
        i32::from(u16::from_be_bytes([y1, y2])),
        u32::from(month & 0x7f),
        u32::from(day),
    )?
    .and_hms_micro_opt(
        u32::from(hour),
        u32::from(minute),
        u32::from(second),
        micros,
    )?;
    match offset_seconds {
        Some(seconds) => {
            let at = FixedOffset::east_opt(seconds)?
                .from_local_datetime(&naive)
                .single()?;
            Some(Node::Str(rfc3339_kst(at.with_timezone(&kst()))))
        }
        None => kst_text(naive).map(Node::Str),
    }
}

/// A naive time (KST, as every naive time in the data) as RFC 3339 text.
pub(super) fn kst_text(naive: NaiveDateTime) -> Option<String> {
    kst().from_local_datetime(&naive).single().map(rfc3339_kst)
}

fn rfc3339_kst(at: DateTime<FixedOffset>) -> String {
    at.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, false)
}

/// A date's pickled state: year (2 bytes), month, day.
fn date(state: &[u8]) -> Option<Node> {
    let [y1, y2, month, day] = *state else {
        return None;
    };
    let midnight = NaiveDate::from_ymd_opt(
        i32::from(u16::from_be_bytes([y1, y2])),
        u32::from(month),
        u32::from(day),
    )?
    .and_hms_opt(0, 0, 0)?;
    let at = kst().from_local_datetime(&midnight).single()?;
    Some(Node::Str(at.to_rfc3339()))
}

fn decimal(text: &str) -> Option<Node> {
    let text = text.trim();
    let (whole, fraction) = text.split_once('.').unwrap_or((text, ""));
    if fraction.bytes().all(|b| b == b'0') {
        if let Ok(i) = whole.parse::<i64>() {
            return Some(Node::Int(i));
        }
    }
    text.parse::<f64>()
        .ok()
        .filter(|f| f.is_finite())
        .map(Node::Float)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(node: Node) -> String {
        match node {
            Node::Str(s) => s,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn states_decode_to_instants_and_decimals_to_numbers() {
        // 2024-03-01 12:30:15.250000, the fold bit set on the month.
        let state = [7, 232, 3 | 0x80, 1, 12, 30, 15, 0x03, 0xd0, 0x90];
        let naive = call("datetime.datetime", &[&Node::Blob(state.to_vec())]).unwrap();
        assert_eq!(text(naive), "2024-03-01T12:30:15.250+09:00");
        let utc = call(
            "datetime.datetime",
            &[&Node::Blob(state.to_vec()), &Node::Tz(0)],
        )
        .unwrap();
        assert_eq!(text(utc), "2024-03-01T21:30:15.250+09:00");
        let day = call("datetime.date", &[&Node::Blob(vec![7, 232, 3, 2])]).unwrap();
        assert_eq!(text(day), "2024-03-02T00:00:00+09:00");
        assert!(matches!(decimal("3000.00"), Some(Node::Int(3000))));
        assert!(matches!(decimal("2.35"), Some(Node::Float(f)) if f == 2.35));
        assert!(decimal("NaN").is_none());
        assert!(call("datetime.datetime", &[&Node::Int(3)]).is_err());
        assert!(!is_allowed("os.system"));
    }
}
