//! What a scenario may ask for: caps on its size, its bursts and its bodies.

/// Upper bound on a scenario file's size.
pub const MAX_SCENARIO_BYTES: usize = 256 * 1024;
/// Upper bound on requests in one burst (sum of the actors' `count`).
pub const MAX_REQUESTS_PER_BURST: usize = 64;
/// Upper bound on setup requests before each burst.
pub const MAX_SETUP_REQUESTS: usize = 16;
/// Upper bound on a request body template's expanded size.
pub const MAX_BODY_BYTES: usize = 64 * 1024;
