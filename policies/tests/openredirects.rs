//! No value of oauth2-proxy's open-redirect corpus leaves the origin.

use url::Url;
use wrnexus_policies::redirect::safe_return_to;

#[test]
fn corpus_never_redirects_off_origin() -> Result<(), Box<dyn std::error::Error>> {
    let corpus = include_str!("data/openredirects.txt");
    let base = Url::parse("https://gateway.test/app/page")?;
    let mut checked = 0;
    for line in corpus.lines() {
        let target = safe_return_to(line);
        let resolved = base.join(target)?;
        assert_eq!(
            resolved.host_str(),
            Some("gateway.test"),
            "{line:?} -> {target:?}"
        );
        assert_eq!(resolved.scheme(), "https", "{line:?} -> {target:?}");
        checked += 1;
    }
    assert!(checked > 500, "corpus too small: {checked}");
    Ok(())
}
