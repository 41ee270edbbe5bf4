//! The router: every endpoint, behind the middleware.

use crate::handlers::{accounts, operate};
use crate::middleware::{stamp_handler_start, with_middleware};
use crate::state::AppState;
use axum::Router;
use axum::middleware::from_fn;
use axum::routing::{get, post};
use std::sync::Arc;

/// The service: every endpoint, behind request ids, tracing, panic catching, problem
/// bodies for every error, and a deadline.
pub fn router(state: Arc<AppState>) -> Router {
    let settings = state.settings().clone();
    let mut routes = Router::new()
        .route("/promote", post(accounts::promote))
        .route("/demote", post(accounts::demote))
        .route("/password", post(accounts::change_password))
        .route("/update-email", post(accounts::update_email))
        .route("/users/{id}", get(accounts::user))
        .route("/audit", get(accounts::audit))
        .route(
            "/login-limits/{user}",
            get(accounts::login_limits).delete(accounts::clear_login_limits),
        )
        .route("/operate", post(operate::operate));
    if settings.expose_timing {
        routes = routes.route_layer(from_fn(stamp_handler_start));
    }
    with_middleware(routes.with_state(state), &settings)
}
