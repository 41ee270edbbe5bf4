//! The audit log: every committed write, in commit order, with the authority it was made on.
//!
//! A promote and a demote that overlap can both answer 200, and "promote, then demote" is a
//! legal reading of those answers; only the commit order shows that the promotion landed
//! after its actor lost the right to make it. So each write appends a [`Commit`] *inside the
//! critical section that makes it*, carrying the actor's role and credential epoch read in
//! that same section. A service exposes the log (raceproof's server as `GET /audit`), and
//! the same rule, [`Commit::authorized`], judges a model's commits and a real burst's.
//!
//! The in-memory log is bounded, and what it drops is chosen so that the audited cannot
//! erase the record of what matters (issue 21), see [`AuditLog`]: entries are *protected*
//! (role changes, password changes, anything by an admin) or *ordinary* (a user's own
//! email), each class has its own budget, and a full class drops the writer's own oldest
//! entry first. What was dropped is counted and reported with every page.

pub use crate::authority::Unauthorized;
use crate::authority::{Principal, Role, Standing, authorize};
use crate::sync::Mutex;
use std::collections::{BTreeMap, VecDeque};
use std::fmt;

/// Ordinary commits kept by default (a user's own email updates).
pub const DEFAULT_AUDIT_CAPACITY: usize = 4096;
/// Protected commits kept by default (role and password changes, anything by an admin).
pub const DEFAULT_PROTECTED_CAPACITY: usize = 65_536;
/// Most entries one page of [`AuditLog::page`] returns.
pub const MAX_PAGE: usize = 4096;

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

/// How long a commit is kept: see [`AuditLog`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Retention {
    /// A user's own non-authority write (their email): kept in the ordinary budget.
    Ordinary,
    /// A role change, a password change, or anything by an admin.
    Protected,
}

impl Retention {
    pub fn name(self) -> &'static str {
        match self {
            Retention::Ordinary => "ordinary",
            Retention::Protected => "protected",
        }
    }
}

impl Commit {
    /// The commit's retention class: protected when it changes authority (a role, a
    /// password), acts on someone else's record, or was made by an admin.
    pub fn retention(&self) -> Retention {
        let authority = matches!(
            self.action,
            Action::Promote { .. } | Action::Demote { .. } | Action::ChangePassword { .. }
        );
        let by_admin = self.actor_role_at_commit == Some(Role::Admin)
            || self.action.needs(&self.actor) == Role::Admin;
        if authority || by_admin {
            Retention::Protected
        } else {
            Retention::Ordinary
        }
    }

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

/// One retention class's budget and who holds it.
#[derive(Debug, Default)]
struct Class {
    capacity: usize,
    len: usize,
    /// Each actor's kept sequence numbers, oldest first (a `BTreeMap`, so that which actor
    /// gives way is the same on every run, as loom needs).
    by_actor: BTreeMap<String, VecDeque<u64>>,
    dropped: u64,
}

impl Class {
    fn new(capacity: usize) -> Self {
        Self {
            capacity: capacity.max(1),
            ..Self::default()
        }
    }

    /// Makes room for one entry of `writer`, returning the sequence number dropped: the
    /// writer's own oldest entry, or, when it holds none, the oldest of the actor holding
    /// the most.
    fn make_room(&mut self, writer: &str) -> Option<u64> {
        if self.len < self.capacity {
            return None;
        }
        let victim = if self.by_actor.get(writer).is_some_and(|q| !q.is_empty()) {
            writer.to_owned()
        } else {
            self.by_actor
                .iter()
                .max_by_key(|(_, q)| q.len())
                .map(|(actor, _)| actor.clone())?
        };
        let queue = self.by_actor.get_mut(&victim)?;
        let seq = queue.pop_front()?;
        if queue.is_empty() {
            self.by_actor.remove(&victim);
        }
        self.len -= 1;
        self.dropped += 1;
        Some(seq)
    }

    fn push(&mut self, actor: &str, seq: u64) {
        self.by_actor
            .entry(actor.to_owned())
            .or_default()
            .push_back(seq);
        self.len += 1;
    }
}

struct Retained {
    next_seq: u64,
    /// Every kept commit, by sequence number.
    kept: BTreeMap<u64, Commit>,
    ordinary: Class,
    protected: Class,
}

impl Retained {
    fn class(&mut self, retention: Retention) -> &mut Class {
        match retention {
            Retention::Ordinary => &mut self.ordinary,
            Retention::Protected => &mut self.protected,
        }
    }
}

/// The budgets of an [`AuditLog`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AuditLimits {
    /// Ordinary commits kept (at least one).
    pub ordinary: usize,
    /// Protected commits kept (at least one).
    pub protected: usize,
}

impl Default for AuditLimits {
    fn default() -> Self {
        Self {
            ordinary: DEFAULT_AUDIT_CAPACITY,
            protected: DEFAULT_PROTECTED_CAPACITY,
        }
    }
}

/// Which entries a page holds: those after a sequence number, or the newest.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AuditQuery {
    /// Entries with `seq > after`, oldest first; `None`: the newest `limit` entries.
    pub after: Option<u64>,
    /// Most entries returned (1 to [`MAX_PAGE`]).
    pub limit: usize,
}

impl AuditQuery {
    /// The newest `limit` entries.
    pub fn newest(limit: usize) -> Self {
        Self { after: None, limit }
    }

    /// The entries after `seq`, oldest first.
    pub fn after(seq: u64, limit: usize) -> Self {
        Self {
            after: Some(seq),
            limit,
        }
    }

    fn clamped_limit(&self) -> usize {
        self.limit.clamp(1, MAX_PAGE)
    }
}

/// What a log has dropped, by class, and why.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Dropped {
    /// Ordinary entries dropped to make room for newer ones.
    pub ordinary: u64,
    /// Protected entries dropped (each one a writer's own oldest, or one entry of the
    /// largest holder, when the protected budget was full).
    pub protected: u64,
}

/// One page of the log.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AuditPage {
    /// Commits in commit order.
    pub entries: Vec<Commit>,
    /// More entries follow the last one here: ask again with `after` = its `seq`.
    pub more: bool,
    /// The highest sequence number committed so far (0: none).
    pub last_seq: u64,
    /// What the log dropped since it started (a log that keeps everything: zeros).
    pub dropped: Dropped,
}

impl AuditPage {
    /// The page `query` asks for, from every commit kept, in commit order.
    pub fn from_entries(mut entries: Vec<Commit>, query: AuditQuery) -> Self {
        let limit = query.clamped_limit();
        let last_seq = entries.last().map_or(0, |c| c.seq);
        let more;
        match query.after {
            Some(after) => {
                entries.retain(|c| c.seq > after);
                more = entries.len() > limit;
                entries.truncate(limit);
            }
            None => {
                let skip = entries.len().saturating_sub(limit);
                entries.drain(..skip);
                more = false;
            }
        }
        Self {
            entries,
            more,
            last_seq,
            dropped: Dropped::default(),
        }
    }
}

/// A bounded, append-only log of commits that the audited cannot erase.
///
/// Retention policy: ordinary commits (a user's own email) and protected commits (role
/// changes, password changes, anything by an admin, anything on another user's record) have
/// separate budgets ([`AuditLimits`]), so no amount of ordinary traffic drops a protected
/// entry. When a class is full, the writer's *own* oldest entry of that class makes room;
/// only a writer with no entry there takes the slot of the oldest entry of the actor
/// holding the most. So a user's flood pushes out only that user's entries, and erasing
/// one entry of an admin takes one account per entry. Drops are counted by class and
/// every page says how many ([`AuditPage::dropped`]); sequence numbers never restart, so a
/// reader sees where the gaps are.
pub struct AuditLog {
    retained: Mutex<Retained>,
    listener: Option<CommitListener>,
}

impl fmt::Debug for AuditLog {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuditLog")
            .field("listener", &self.listener.is_some())
            .finish_non_exhaustive()
    }
}

impl Default for AuditLog {
    fn default() -> Self {
        Self::with_limits(AuditLimits::default())
    }
}

impl AuditLog {
    /// Keeps `capacity` ordinary commits and the default number of protected ones.
    pub fn new(capacity: usize) -> Self {
        Self::with_limits(AuditLimits {
            ordinary: capacity,
            ..AuditLimits::default()
        })
    }

    pub fn with_limits(limits: AuditLimits) -> Self {
        Self {
            retained: Mutex::new(Retained {
                next_seq: 1,
                kept: BTreeMap::new(),
                ordinary: Class::new(limits.ordinary),
                protected: Class::new(limits.protected),
            }),
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
        let mut retained = self.retained.lock();
        let commit = Commit {
            seq: retained.next_seq,
            actor: pending.actor,
            action: pending.action,
            actor_role_at_commit: pending.actor_role_at_commit,
            actor_epoch_at_commit: pending.actor_epoch_at_commit,
            authenticated_epoch: pending.authenticated_epoch,
        };
        retained.next_seq += 1;
        if let Some(listener) = &self.listener {
            listener(&commit);
        }
        let class = retained.class(commit.retention());
        let dropped = class.make_room(&commit.actor);
        class.push(&commit.actor, commit.seq);
        if let Some(seq) = dropped {
            retained.kept.remove(&seq);
        }
        retained.kept.insert(commit.seq, commit);
    }

    /// Every commit kept, oldest first.
    pub fn entries(&self) -> Vec<Commit> {
        self.retained.lock().kept.values().cloned().collect()
    }

    /// One page: the entries after a sequence number, or the newest ones.
    pub fn page(&self, query: AuditQuery) -> AuditPage {
        let limit = query.clamped_limit();
        let retained = self.retained.lock();
        let (entries, more) = match query.after {
            Some(after) => {
                let mut range = retained.kept.range(after.saturating_add(1)..);
                let entries: Vec<Commit> =
                    range.by_ref().take(limit).map(|(_, c)| c.clone()).collect();
                (entries, range.next().is_some())
            }
            None => {
                let mut newest: Vec<Commit> =
                    retained.kept.values().rev().take(limit).cloned().collect();
                newest.reverse();
                (newest, false)
            }
        };
        AuditPage {
            entries,
            more,
            last_seq: retained.next_seq - 1,
            dropped: Dropped {
                ordinary: retained.ordinary.dropped,
                protected: retained.protected.dropped,
            },
        }
    }
}
