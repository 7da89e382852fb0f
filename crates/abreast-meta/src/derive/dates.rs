//! Dates as the preview gives them: an ISO 8601 date-time with an offset
//! becomes RFC 3339; anything else is kept as written, trimmed.

/// A date as RFC 3339 (`YYYY-MM-DDTHH:MM:SS[.frac](Z|±HH:MM)`) when it is
/// an ISO 8601 date-time with an offset (`T` or a space between, seconds
/// optional, `±HHMM` or `±HH` offsets accepted); else as written, trimmed.
pub(crate) fn normalize_date(text: &str) -> String {
    let text = text.trim();
    rfc3339(text).unwrap_or_else(|| text.to_owned())
}

/// `text` as RFC 3339, or `None` when it is not an ISO 8601 date-time with
/// an offset that names a real day and time.
fn rfc3339(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let digits = |range: std::ops::Range<usize>| -> Option<u32> {
        let part = bytes.get(range)?;
        if part.iter().all(u8::is_ascii_digit) {
            std::str::from_utf8(part).ok()?.parse().ok()
        } else {
            None
        }
    };
    let (year, month, day) = (digits(0..4)?, digits(5..7)?, digits(8..10)?);
    if bytes.get(4) != Some(&b'-') || bytes.get(7) != Some(&b'-') {
        return None;
    }
    if !matches!(bytes.get(10), Some(b'T' | b't' | b' ')) {
        return None;
    }
    let (hour, minute) = (digits(11..13)?, digits(14..16)?);
    if bytes.get(13) != Some(&b':') {
        return None;
    }
    let mut at = 16;
    let mut second = 0;
    if bytes.get(at) == Some(&b':') {
        second = digits(17..19)?;
        at = 19;
    }
    let mut fraction = "";
    if bytes.get(at) == Some(&b'.') {
        let length = bytes[at + 1..]
            .iter()
            .take_while(|byte| byte.is_ascii_digit())
            .count();
        if length == 0 {
            return None;
        }
        fraction = &text[at..at + 1 + length];
        at += 1 + length;
    }
    let offset = match bytes.get(at..)? {
        b"Z" | b"z" => "Z".to_owned(),
        [sign @ (b'+' | b'-'), rest @ ..] => {
            let (hours, minutes) = match rest {
                [h1, h2] => ([*h1, *h2], [b'0', b'0']),
                [h1, h2, m1, m2] => ([*h1, *h2], [*m1, *m2]),
                [h1, h2, b':', m1, m2] => ([*h1, *h2], [*m1, *m2]),
                _ => return None,
            };
            if !hours.iter().chain(&minutes).all(u8::is_ascii_digit) {
                return None;
            }
            let hours = std::str::from_utf8(&hours).ok()?;
            let minutes = std::str::from_utf8(&minutes).ok()?;
            if hours > "23" || minutes > "59" {
                return None;
            }
            format!("{}{hours}:{minutes}", char::from(*sign))
        }
        _ => return None,
    };
    let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0);
    let days = match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return None,
    };
    if day == 0 || day > days || hour > 23 || minute > 59 || second > 60 {
        return None;
    }
    Some(format!(
        "{year:04}-{month:02}-{day:02}T{hour:02}:{minute:02}:{second:02}{fraction}{offset}"
    ))
}
