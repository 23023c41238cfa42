//! Text for people: aligned tables, durations and times (UTC, so every operator reads the same).

use std::collections::HashMap;
use std::time::{SystemTime, UNIX_EPOCH};

/// Columns padded to their widest cell, two spaces apart.
pub struct Table {
    rows: Vec<Vec<String>>,
}

impl Table {
    /// A table with this header row.
    pub fn new(header: &[&str]) -> Self {
        Table { rows: vec![header.iter().map(|h| (*h).to_owned()).collect()] }
    }

    /// Adds a row.
    pub fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells);
    }

    /// The table, each line starting with `indent` and ending with a newline.
    pub fn render(&self, indent: &str) -> String {
        let mut widths: Vec<usize> = Vec::new();
        for row in &self.rows {
            for (i, cell) in row.iter().enumerate() {
                let w = cell.chars().count();
                match widths.get_mut(i) {
                    Some(width) => *width = (*width).max(w),
                    None => widths.push(w),
                }
            }
        }
        let mut out = String::new();
        for row in &self.rows {
            let mut line = String::from(indent);
            for (i, cell) in row.iter().enumerate() {
                line.push_str(cell);
                if i + 1 < row.len() {
                    let pad = widths[i] - cell.chars().count() + 2;
                    line.extend(std::iter::repeat_n(' ', pad));
                }
            }
            out.push_str(line.trim_end());
            out.push('\n');
        }
        out
    }
}

/// `-` for nothing, so an empty cell still reads as a value.
pub fn or_dash(value: Option<&str>) -> String {
    value.unwrap_or("-").to_owned()
}

/// A list as `a, b`, or `-` when empty.
pub fn list(values: &[String]) -> String {
    if values.is_empty() { "-".to_owned() } else { values.join(", ") }
}

/// A map's entries with the known keys first in their meaningful order (statuses in lifecycle
/// order, priorities most urgent first), then any others a newer daemon sends, sorted.
pub fn ordered<'a, V>(map: &'a HashMap<String, V>, known: &[&str]) -> Vec<(&'a str, &'a V)> {
    let mut out: Vec<(&str, &V)> =
        known.iter().filter_map(|k| map.get_key_value(*k).map(|(k, v)| (k.as_str(), v))).collect();
    let mut others: Vec<(&str, &V)> =
        map.iter().filter(|(k, _)| !known.contains(&k.as_str())).map(|(k, v)| (k.as_str(), v)).collect();
    others.sort_by_key(|(k, _)| *k);
    out.extend(others);
    out
}

/// A wait or an age, as short as it can be read: `850ms`, `42s`, `1m05s`, `2h03m`, `3d04h`.
pub fn duration(ms: u64) -> String {
    let s = ms / 1000;
    match s {
        0 => format!("{ms}ms"),
        1..60 => format!("{s}s"),
        60..3600 => format!("{}m{:02}s", s / 60, s % 60),
        3600..86400 => format!("{}h{:02}m", s / 3600, s % 3600 / 60),
        _ => format!("{}d{:02}h", s / 86400, s % 86400 / 3600),
    }
}

/// `at` against `now`: `3m05s ago`, `in 4d00h`, or `now`.
pub fn relative(at: u64, now: u64) -> String {
    if at < now {
        format!("{} ago", duration(now - at))
    } else if at > now {
        format!("in {}", duration(at - now))
    } else {
        "now".to_owned()
    }
}

/// A time as ISO-8601 UTC with milliseconds, plus how long ago (or ahead) it is.
pub fn time(at: u64, now: u64) -> String {
    format!("{} ({})", iso(at), relative(at, now))
}

/// Milliseconds since the epoch as `2026-01-05T12:03:04.123Z`.
pub fn iso(at: u64) -> String {
    let (y, m, d) = civil(at / 86_400_000);
    format!("{y:04}-{m:02}-{d:02}T{}Z", clock(at))
}

/// The time of day, UTC: `12:03:04.123`.
pub fn clock(at: u64) -> String {
    let ms = at % 86_400_000;
    let s = ms / 1000;
    format!("{:02}:{:02}:{:02}.{:03}", s / 3600, s % 3600 / 60, s % 60, ms % 1000)
}

/// The date of a day count since 1970-01-01 (Howard Hinnant's `civil_from_days`), valid for any
/// `u64` millisecond time.
fn civil(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z % 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + u64::from(m <= 2);
    (y, m, d)
}

/// This machine's clock, in milliseconds since the epoch.
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_at_a_glance() {
        let cases = [
            (0, "0ms"),
            (850, "850ms"),
            (42_000, "42s"),
            (65_000, "1m05s"),
            (3_599_999, "59m59s"),
            (7_380_000, "2h03m"),
            (273_600_000, "3d04h"),
        ];
        for (ms, text) in cases {
            assert_eq!(duration(ms), text);
        }
        assert_eq!(relative(1_000, 186_000), "3m05s ago");
        assert_eq!(relative(5_000, 5_000), "now");
        assert_eq!(relative(86_400_000, 0), "in 1d00h");
    }

    #[test]
    fn times_are_iso_utc() {
        assert_eq!(iso(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(iso(1_767_571_384_123), "2026-01-05T00:03:04.123Z");
        assert_eq!(iso(951_782_400_000), "2000-02-29T00:00:00.000Z");
        assert_eq!(iso(4_107_542_399_999), "2100-02-28T23:59:59.999Z");
        // The largest time a client can be sent must not overflow.
        assert!(iso(u64::MAX).ends_with('Z'));
    }

    #[test]
    fn tables_align_and_trim() {
        let mut t = Table::new(&["ID", "STATUS"]);
        t.row(vec!["ana".into(), "online 1/3".into()]);
        t.row(vec!["bartholomew".into(), "-".into()]);
        assert_eq!(t.render(""), "ID           STATUS\nana          online 1/3\nbartholomew  -\n");
    }
}
