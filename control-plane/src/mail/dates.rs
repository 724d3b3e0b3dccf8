//! Dates as people read them in mail: `5 December 2026, 14:00 UTC`.

use minijinja::value::Value;

const MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];

/// `secs` (Unix seconds) as `5 December 2026, 14:00 UTC`; `None` when out
/// of range.
pub fn readable(secs: i64) -> Option<String> {
    let t = time::OffsetDateTime::from_unix_timestamp(secs).ok()?;
    let month = MONTHS.get(usize::from(u8::from(t.month())).checked_sub(1)?)?;
    Some(format!(
        "{} {month} {}, {:02}:{:02} UTC",
        t.day(),
        t.year(),
        t.hour(),
        t.minute()
    ))
}

/// The `datetime` filter: Unix seconds (a number) as [`readable`]; any
/// other value is printed as it is.
pub fn datetime(value: Value) -> Result<String, minijinja::Error> {
    match i64::try_from(value.clone()).ok().and_then(readable) {
        Some(text) => Ok(text),
        None if value.is_number() => Err(minijinja::Error::new(
            minijinja::ErrorKind::InvalidOperation,
            format!("{value} is not a date (Unix seconds)"),
        )),
        None => Ok(value.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_read_in_words_in_utc() {
        assert_eq!(
            readable(1_796_479_200).as_deref(),
            Some("5 December 2026, 14:00 UTC")
        );
        assert_eq!(readable(0).as_deref(), Some("1 January 1970, 00:00 UTC"));
        assert_eq!(readable(i64::MAX), None);
        assert_eq!(
            datetime(Value::from(0)).unwrap(),
            "1 January 1970, 00:00 UTC"
        );
        assert_eq!(datetime(Value::from("soon")).unwrap(), "soon");
        assert!(datetime(Value::from(i64::MAX)).is_err());
    }
}
