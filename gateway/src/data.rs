//! Decision data: resolved from the in-process cache, Redis or the control
//! plane, kept fresh by invalidations, remembered per connection, and the
//! open WebSockets cut when what they rest on changes.

pub mod cache;
pub mod invalidation;
pub mod remembered;
pub mod resolve;
pub mod sockets;
pub mod switch;
