//! Who is asking: the session cookie and its JWT, the cache of verified
//! tokens, the control plane's signing keys, and `Bearer wrn_…` API keys.

pub mod api_key;
pub mod keys;
pub mod session;
pub mod token_cache;
