//! Ids minted on the request path (request and decision ids): UUIDv7, whose
//! random part comes from the thread's cryptographic generator (reseeded
//! from the operating system) rather than from a system call per id.

use rand::RngCore;

/// A new time-ordered UUID (v7), as text.
pub fn new_id() -> String {
    new_id_at(std::time::SystemTime::now())
}

/// A new time-ordered UUID (v7) for an event at `at` (a clock reading the
/// caller already made).
pub fn new_id_at(at: std::time::SystemTime) -> String {
    let millis = at
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
    let mut random = [0u8; 10];
    rand::thread_rng().fill_bytes(&mut random);
    let id = uuid::Builder::from_unix_timestamp_millis(millis, &random).into_uuid();
    // Encoded straight into a buffer: `to_string` would go through `fmt`.
    let mut text = uuid::Uuid::encode_buffer();
    id.hyphenated().encode_lower(&mut text).to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_distinct_version_7_uuids_in_time_order() {
        let ids: Vec<String> = (0..1000).map(|_| new_id()).collect();
        let parsed: Vec<uuid::Uuid> = ids
            .iter()
            .map(|i| uuid::Uuid::parse_str(i).unwrap_or_else(|e| panic!("{i}: {e}")))
            .collect();
        assert!(parsed.iter().all(|u| u.get_version_num() == 7));
        let mut unique = ids.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), ids.len());
        // Milliseconds lead: the first id sorts no later than the last.
        assert!(ids[0][..13] <= ids[999][..13]);
    }
}
