//! A stand-in for raceproof's server, following the contract the tester codes against (users
//! root and admin (admins, `r00t`, `adm1n`), alice and bob (users, `s3cr3t`, `b0b`); Basic auth;
//! `POST /promote`, `/demote`, `/password`, `/update-email`; `GET /users/{id}` with an ETag;
//! `GET /audit` for admins). Racy: a promotion checks what it authenticated, waits, then
//! writes, as the seeds do; demotions and password changes wait half as long, so that they
//! land inside the promotions' window. Safe: authority, credential epoch and version are
//! re-checked in the same critical section as the write. Either way the audit records the
//! truth at commit.

use std::collections::BTreeMap;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use hyper::StatusCode;
use serde_json::{Value, json};

use super::window;

pub struct User {
    password: String,
    role: &'static str,
    email: String,
    version: u64,
    epoch: u64,
}

pub struct Users {
    users: BTreeMap<String, User>,
    audit: Vec<Value>,
}

impl Default for Users {
    fn default() -> Self {
        let user = |password: &str, role, name: &str| User {
            password: password.to_owned(),
            role,
            email: format!("{name}@example.com"),
            version: 1,
            epoch: 0,
        };
        let users = BTreeMap::from([
            ("root".to_owned(), user("r00t", "admin", "root")),
            ("admin".to_owned(), user("adm1n", "admin", "admin")),
            ("alice".to_owned(), user("s3cr3t", "user", "alice")),
            ("bob".to_owned(), user("b0b", "user", "bob")),
        ]);
        Users {
            users,
            audit: Vec::new(),
        }
    }
}

pub struct Call<'a> {
    pub path: &'a str,
    pub method: &'a str,
    pub authorization: Option<&'a str>,
    pub if_match: Option<&'a str>,
    pub body: &'a [u8],
}

type Reply = (StatusCode, String, Option<u64>);

fn reply(status: StatusCode, body: Value) -> Reply {
    (status, body.to_string(), None)
}

/// Who made the call, their role and credential epoch when they authenticated.
struct Session {
    name: String,
    role: &'static str,
    epoch: u64,
}

fn authenticate(users: &Mutex<Users>, authorization: Option<&str>) -> Option<Session> {
    let encoded = authorization?.strip_prefix("Basic ")?;
    let decoded = String::from_utf8(STANDARD.decode(encoded).ok()?).ok()?;
    let (name, password) = decoded.split_once(':')?;
    let users = users.lock().unwrap_or_else(PoisonError::into_inner);
    let user = users
        .users
        .get(name)
        .filter(|user| user.password == password)?;
    Some(Session {
        name: name.to_owned(),
        role: user.role,
        epoch: user.epoch,
    })
}

fn field(body: &[u8], name: &str) -> Option<String> {
    serde_json::from_slice::<Value>(body)
        .ok()?
        .get(name)?
        .as_str()
        .map(str::to_owned)
}

impl Users {
    fn commit(&mut self, session: &Session, action: &str, target: &str) {
        // A gone actor has no role (`null`), as raceproof's server lists it.
        let (role, epoch) = self
            .users
            .get(&session.name)
            .map_or((None, u64::MAX), |user| (Some(user.role), user.epoch));
        let seq = self.audit.len() + 1;
        self.audit.push(json!({
            "seq": seq, "actor": session.name, "action": action, "target": target,
            "actor_role_at_commit": role, "actor_epoch_at_commit": epoch, "authenticated_epoch": session.epoch,
        }));
    }

    /// The fixes' re-check, in the critical section of the write.
    fn still_authorized(&self, session: &Session, needs_admin: bool) -> bool {
        self.users.get(&session.name).is_some_and(|user| {
            user.epoch == session.epoch && (!needs_admin || user.role == "admin")
        })
    }
}

/// The authority check before a write, and the lock for it. Seed-like: check the role the
/// caller authenticated with, wait (the whole window for a `slow` handler, a promotion; half of
/// it for a revocation, so that a revocation sent with the promotions lands inside their
/// check-then-act), lock.
/// Fixed: lock, then re-check role and credential epoch.
async fn authorize<'a>(
    users: &'a Mutex<Users>,
    racy: bool,
    slow: bool,
    wait: Duration,
    session: &Session,
    needs_admin: bool,
    target: &str,
) -> Result<MutexGuard<'a, Users>, Reply> {
    if needs_admin && session.role != "admin" {
        return Err(reply(
            StatusCode::FORBIDDEN,
            json!({"error": "admins only"}),
        ));
    }
    if racy {
        window(if slow { wait } else { wait / 2 }).await;
    }
    let users = users.lock().unwrap_or_else(PoisonError::into_inner);
    if !racy && !users.still_authorized(session, needs_admin) {
        return Err(reply(
            StatusCode::FORBIDDEN,
            json!({"error": "no longer authorized"}),
        ));
    }
    if !users.users.contains_key(target) {
        return Err(reply(
            StatusCode::NOT_FOUND,
            json!({"error": "no such user"}),
        ));
    }
    Ok(users)
}

pub async fn handle(users: &Mutex<Users>, racy: bool, wait: Duration, call: Call<'_>) -> Reply {
    let lock = || users.lock().unwrap_or_else(PoisonError::into_inner);
    if let ("GET", Some(id)) = (call.method, call.path.strip_prefix("/users/")) {
        let users = lock();
        return match users.users.get(id) {
            Some(user) => (
                StatusCode::OK,
                json!({"id": id, "role": user.role, "email": user.email, "version": user.version})
                    .to_string(),
                Some(user.version),
            ),
            None => reply(StatusCode::NOT_FOUND, json!({"error": "no such user"})),
        };
    }
    let Some(session) = authenticate(users, call.authorization) else {
        return reply(
            StatusCode::UNAUTHORIZED,
            json!({"error": "bad credentials"}),
        );
    };
    match (call.method, call.path) {
        ("GET", "/audit") => {
            if session.role != "admin" {
                return reply(StatusCode::FORBIDDEN, json!({"error": "admins only"}));
            }
            reply(StatusCode::OK, json!({"entries": lock().audit}))
        }
        ("POST", "/promote" | "/demote") => {
            let promote = call.path == "/promote";
            let Some(target) = field(call.body, "target") else {
                return reply(
                    StatusCode::BAD_REQUEST,
                    json!({"error": "expected {\"target\"}"}),
                );
            };
            let mut users =
                match authorize(users, racy, promote, wait, &session, true, &target).await {
                    Ok(users) => users,
                    Err(refused) => return refused,
                };
            let Some(user) = users.users.get_mut(&target) else {
                return reply(StatusCode::NOT_FOUND, json!({"error": "no such user"}));
            };
            user.role = if promote { "admin" } else { "user" };
            users.commit(
                &session,
                if promote { "promote" } else { "demote" },
                &target,
            );
            reply(StatusCode::OK, json!({"target": target}))
        }
        ("POST", "/password") => {
            let (Some(new_password), target) =
                (field(call.body, "new_password"), field(call.body, "target"))
            else {
                return reply(
                    StatusCode::BAD_REQUEST,
                    json!({"error": "expected {\"new_password\"}"}),
                );
            };
            let target = target.unwrap_or_else(|| session.name.clone());
            let needs_admin = target != session.name;
            let mut users =
                match authorize(users, racy, false, wait, &session, needs_admin, &target).await {
                    Ok(users) => users,
                    Err(refused) => return refused,
                };
            // Recorded before the epoch moves: the commit is judged by the epoch it ran under.
            users.commit(&session, "change_password", &target);
            if let Some(user) = users.users.get_mut(&target) {
                user.password = new_password;
                user.epoch += 1;
            }
            reply(StatusCode::OK, json!({"target": target}))
        }
        ("POST", "/update-email") => {
            let Some(email) = field(call.body, "email") else {
                return reply(
                    StatusCode::BAD_REQUEST,
                    json!({"error": "expected {\"email\"}"}),
                );
            };
            let Some(expected) = call
                .if_match
                .and_then(|value| value.trim_matches('"').parse::<u64>().ok())
            else {
                return reply(
                    StatusCode::PRECONDITION_REQUIRED,
                    json!({"error": "If-Match required"}),
                );
            };
            let current = lock()
                .users
                .get(&session.name)
                .map_or(0, |user| user.version);
            if racy {
                if current != expected {
                    return reply(StatusCode::PRECONDITION_FAILED, json!({"version": current}));
                }
                window(wait).await;
            }
            let mut users = lock();
            let Some(user) = users.users.get_mut(&session.name) else {
                return reply(StatusCode::NOT_FOUND, json!({"error": "no such user"}));
            };
            if !racy && user.version != expected {
                return reply(
                    StatusCode::PRECONDITION_FAILED,
                    json!({"version": user.version}),
                );
            }
            // The racy variant computes the new version from what it read before waiting.
            let version = if racy { current + 1 } else { user.version + 1 };
            user.version = version;
            user.email = email.clone();
            users.commit(&session, "update_email", &session.name);
            (
                StatusCode::OK,
                json!({"email": email, "version": version}).to_string(),
                Some(version),
            )
        }
        _ => reply(StatusCode::NOT_FOUND, json!({"error": "not found"})),
    }
}
