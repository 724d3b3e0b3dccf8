//! `return_to` values (`wrnexus_policies::redirect::safe_return_to`): what is
//! kept, resolved by a browser against the page it came from, stays on that
//! origin, also once an app decodes its escapes.

use crate::oracle;
use url::Url;

pub fn check(data: &[u8]) {
    let Ok(value) = std::str::from_utf8(data) else {
        return;
    };
    let kept = wrnexus_policies::redirect::safe_return_to(value);
    if kept == "/" {
        return;
    }
    assert_eq!(kept, value, "a return_to is kept whole or not at all");
    let Ok(page) = Url::parse("https://app.example/.wrnexus/signin") else {
        return;
    };
    let mut reading = kept.to_string();
    for _ in 0..4 {
        let target = page.join(&reading);
        assert!(
            target.as_ref().is_ok_and(|t| t.origin() == page.origin()),
            "{value:?} leads to {target:?}"
        );
        match oracle::percent_decode(&reading).map(String::from_utf8) {
            Some(Ok(next)) if next != reading => reading = next,
            _ => break,
        }
    }
}
