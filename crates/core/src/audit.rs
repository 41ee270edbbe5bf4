//! The audit log: every committed write, in commit order, with the authority it was made on.
//!
//! A promote and a demote that overlap can both answer 200, and "promote, then demote" is a
//! legal reading of those answers; only the commit order shows that the promotion landed
//! after its actor lost the right to make it. So each write appends a [`Commit`] *inside the
//! critical section that makes it*, carrying the actor's role and credential epoch read in
//! that same section. A service exposes the log (raceproof's server as `GET /audit`), and
//! the same rule, [`Commit::authorized`], judges a model's commits and a real burst's.

pub use crate::authority::Unauthorized;
use crate::authority::{Principal, Role, Standing, authorize};
use crate::sync::Mutex;
use std::collections::VecDeque;
use std::fmt;

/// Commits kept by default; older ones are dropped (sequence numbers keep counting).
pub const DEFAULT_AUDIT_CAPACITY: usize = 4096;

/// What a committed write did.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Action {
    /// `target` became an admin.
    Promote { target: String },
    /// `target` became a plain user.
    Demote { target: String },
    /// `user`'s password was replaced, revoking every request authenticated before.
    ChangePassword { user: String },
    /// `user`'s email was set, leaving the record at `version`.
    UpdateEmail {
        user: String,
        email: String,
        version: u64,
    },
}

impl Action {
    /// The role `actor` needs for this write: role changes need an admin; a password or an
    /// email needs one only on someone else's record.
    pub fn needs(&self, actor: &str) -> Role {
        match self {
            Action::Promote { .. } | Action::Demote { .. } => Role::Admin,
            Action::ChangePassword { user } | Action::UpdateEmail { user, .. } => {
                if user == actor {
                    Role::User
                } else {
                    Role::Admin
                }
            }
        }
    }

    /// The short name used in reports and over HTTP: `promote`, `update_email`, ...
    pub fn name(&self) -> &'static str {
        match self {
            Action::Promote { .. } => "promote",
            Action::Demote { .. } => "demote",
            Action::ChangePassword { .. } => "change_password",
            Action::UpdateEmail { .. } => "update_email",
        }
    }

    /// The user whose record was written.
    pub fn subject(&self) -> &str {
        match self {
            Action::Promote { target } | Action::Demote { target } => target,
            Action::ChangePassword { user } | Action::UpdateEmail { user, .. } => user,
        }
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Action::Promote { target } => write!(f, "{target}.role = admin"),
            Action::Demote { target } => write!(f, "{target}.role = user"),
            Action::ChangePassword { user } => write!(f, "{user}.password (credentials revoked)"),
            Action::UpdateEmail {
                user,
                email,
                version,
            } => write!(f, "{user}.email = {email} (version {version})"),
        }
    }
}

/// One committed write.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Commit {
    /// 1-based, gapless, in commit order.
    pub seq: u64,
    /// The user whose authority the write claims.
    pub actor: String,
    pub action: Action,
    /// The actor's role read in the write's own critical section (`None`: the actor's record
    /// was gone).
    pub actor_role_at_commit: Option<Role>,
    /// The actor's credential epoch read in the write's own critical section.
    pub actor_epoch_at_commit: u64,
    /// The credential epoch the request authenticated with.
    pub authenticated_epoch: u64,
}

impl Commit {
    /// Whether the actor held the authority this write needs *at the instant it committed*:
    /// the role it requires, and the credentials it authenticated with still current
    /// ([`crate::authority::authorize`], the rule every write is held to).
    pub fn authorized(&self) -> Result<(), Unauthorized> {
        let at_commit = self.actor_role_at_commit.map(|role| Standing {
            role,
            credential_epoch: self.actor_epoch_at_commit,
        });
        authorize(
            self.action.needs(&self.actor),
            self.authenticated_epoch,
            at_commit,
        )
        .map(|_| ())
    }
}

/// Called with each commit, inside its critical section, in commit order. It must be quick
/// and must not take a lock of the store.
pub type CommitListener = Box<dyn Fn(&Commit) + Send + Sync>;

/// The commit half of a [`Commit`]: what the writer knows; the log adds the sequence number.
#[derive(Debug, Clone)]
pub struct Pending {
    pub actor: String,
    pub action: Action,
    pub actor_role_at_commit: Option<Role>,
    pub actor_epoch_at_commit: u64,
    pub authenticated_epoch: u64,
}

impl Pending {
    /// `actor`'s write, authorized on `standing` (read in the write's critical section).
    pub fn new(actor: &Principal, standing: Standing, action: Action) -> Self {
        Self {
            actor: actor.user_id().to_owned(),
            action,
            actor_role_at_commit: Some(standing.role),
            actor_epoch_at_commit: standing.credential_epoch,
            authenticated_epoch: actor.credential_epoch(),
        }
    }
}

#[derive(Default)]
struct Ring {
    next_seq: u64,
    entries: VecDeque<Commit>,
}

/// A bounded, append-only log of commits.
pub struct AuditLog {
    ring: Mutex<Ring>,
    capacity: usize,
    listener: Option<CommitListener>,
}

impl fmt::Debug for AuditLog {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuditLog")
            .field("capacity", &self.capacity)
            .field("listener", &self.listener.is_some())
            .finish_non_exhaustive()
    }
}

impl Default for AuditLog {
    fn default() -> Self {
        Self::new(DEFAULT_AUDIT_CAPACITY)
    }
}

impl AuditLog {
    /// Keeps the latest `capacity` commits (at least one).
    pub fn new(capacity: usize) -> Self {
        Self {
            ring: Mutex::new(Ring {
                next_seq: 1,
                entries: VecDeque::new(),
            }),
            capacity: capacity.max(1),
            listener: None,
        }
    }

    /// Calls `listener` with each commit as it lands (e.g. to log it, or to place it in a
    /// model's trace).
    pub fn with_listener(mut self, listener: CommitListener) -> Self {
        self.listener = Some(listener);
        self
    }

    /// Appends a commit. Callers hold the lock that makes the write, so the log's order is
    /// the commit order of conflicting writes.
    pub fn append(&self, pending: Pending) {
        let mut ring = self.ring.lock();
        let commit = Commit {
            seq: ring.next_seq,
            actor: pending.actor,
            action: pending.action,
            actor_role_at_commit: pending.actor_role_at_commit,
            actor_epoch_at_commit: pending.actor_epoch_at_commit,
            authenticated_epoch: pending.authenticated_epoch,
        };
        ring.next_seq += 1;
        if let Some(listener) = &self.listener {
            listener(&commit);
        }
        if ring.entries.len() == self.capacity {
            ring.entries.pop_front();
        }
        ring.entries.push_back(commit);
    }

    /// The commits kept, oldest first.
    pub fn entries(&self) -> Vec<Commit> {
        self.ring.lock().entries.iter().cloned().collect()
    }
}
