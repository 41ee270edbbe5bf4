//! The endpoints. Each one parses its input with the extractors, then makes one call to
//! the service layer ([`crate::state::AppState::accounts`], or `/operate`'s admission).

pub mod accounts;
pub mod operate;
