//! PostgreSQL under READ COMMITTED, statement by statement, and the account operations as
//! `PgUserRepository` (or a broken port) runs them.

use crate::Narrator;
use raceproof_core::audit::{Action, AuditLog, Commit, Pending};
use raceproof_core::authority::{self, Standing};
use raceproof_core::store::{Role, StoreError};
use raceproof_core::sync::{Mutex, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::collections::BTreeMap;

/// A committed user row (the columns the protocols read).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row {
    pub role: Role,
    pub email: String,
    pub version: u64,
    pub credential_epoch: u64,
}

/// A PostgreSQL database of users under READ COMMITTED, statement by statement.
pub struct SqlDb {
    rows: Mutex<BTreeMap<String, Row>>,
    locks: BTreeMap<String, RwLock<()>>,
    audit: AuditLog,
    log: Narrator,
}

/// A row lock held until the transaction ends.
enum RowLock<'a> {
    Share(#[allow(dead_code)] RwLockReadGuard<'a, ()>),
    Update(#[allow(dead_code)] RwLockWriteGuard<'a, ()>),
}

/// A staged write, applied at commit.
#[derive(Debug, Clone)]
enum Write {
    Role(Role),
    Email { email: String, version: u64 },
}

/// One transaction: its row locks, its pending writes.
pub struct Tx<'a> {
    db: &'a SqlDb,
    locks: Vec<(String, RowLock<'a>)>,
    writes: Vec<(String, Write)>,
}

impl SqlDb {
    /// Users `(id, role)`, each with email `<id>@example.com`, version 1, epoch 0.
    pub fn new(users: &[(&str, Role)], log: Narrator) -> Self {
        let audit = log.audit_log();
        let rows = users
            .iter()
            .map(|&(id, role)| {
                let row = Row {
                    role,
                    email: format!("{id}@example.com"),
                    version: 1,
                    credential_epoch: 0,
                };
                (id.to_owned(), row)
            })
            .collect();
        let locks = users
            .iter()
            .map(|&(id, _)| (id.to_owned(), RwLock::named(&format!("row {id}"), ())))
            .collect();
        Self {
            rows: Mutex::named("postgres", rows),
            locks,
            audit,
            log,
        }
    }

    pub fn begin(&self) -> Tx<'_> {
        Tx {
            db: self,
            locks: Vec::new(),
            writes: Vec::new(),
        }
    }

    /// The committed row of `id` (one statement, outside any transaction).
    pub fn get(&self, id: &str) -> Option<Row> {
        self.rows.lock().get(id).cloned()
    }

    pub fn audit(&self) -> Vec<Commit> {
        self.audit.entries()
    }
}

impl<'a> Tx<'a> {
    fn held(&self, id: &str) -> Option<bool> {
        self.locks
            .iter()
            .find(|(held, _)| held == id)
            .map(|(_, lock)| matches!(lock, RowLock::Update(_)))
    }

    /// Waits for `id`'s row lock (exclusive if `update`), unless already held.
    fn lock(&mut self, id: &str, update: bool) {
        let Some(lock) = self.db.locks.get(id) else {
            return;
        };
        match self.held(id) {
            Some(true) => return,
            Some(false) if !update => return,
            // The models never upgrade a share lock (PostgreSQL could, at deadlock risk).
            _ => {}
        }
        let guard = if update {
            RowLock::Update(lock.write())
        } else {
            RowLock::Share(lock.read())
        };
        self.locks.push((id.to_owned(), guard));
    }

    /// `SELECT ... FROM users WHERE id = $1` (no lock).
    pub fn select(&mut self, id: &str) -> Option<Row> {
        let rows = self.db.rows.lock();
        let row = rows.get(id).cloned();
        self.db
            .log
            .note(|| format!("sql> SELECT {id} -> {}", show(row.as_ref())));
        row
    }

    /// `SELECT ... FROM users WHERE id = $1 FOR SHARE` (or `FOR UPDATE`): waits for the row
    /// lock, then reads the row's latest committed version.
    pub fn select_locked(&mut self, id: &str, update: bool) -> Option<Row> {
        self.lock(id, update);
        let rows = self.db.rows.lock();
        let row = rows.get(id).cloned();
        let mode = if update { "FOR UPDATE" } else { "FOR SHARE" };
        self.db
            .log
            .note(|| format!("sql> SELECT {id} {mode} -> {}", show(row.as_ref())));
        row
    }

    /// `UPDATE users SET role = $2 WHERE id = $1 [AND EXISTS (SELECT 1 FROM users WHERE id
    /// = $actor AND role = 'admin')]`: the subquery reads `actor`'s committed row once,
    /// without locking it. Returns the rows affected.
    pub fn update_role(&mut self, id: &str, role: Role, actor_is_admin: Option<&str>) -> u64 {
        self.lock(id, true);
        let rows = self.db.rows.lock();
        let exists = rows.contains_key(id);
        let condition =
            actor_is_admin.is_none_or(|a| rows.get(a).is_some_and(|r| r.role == Role::Admin));
        let n = u64::from(exists && condition);
        if n == 1 {
            self.writes.push((id.to_owned(), Write::Role(role)));
        }
        self.db.log.note(|| match actor_is_admin {
            Some(a) => {
                format!("sql> UPDATE {id} SET role = {role} WHERE EXISTS ({a} is admin) -> {n} row")
            }
            None => format!("sql> UPDATE {id} SET role = {role} -> {n} row"),
        });
        n
    }

    /// `UPDATE users SET email = $2, version = version + 1 WHERE id = $1 [AND version =
    /// $3] RETURNING version`: the condition is checked on the row's latest version, after
    /// its lock is taken.
    pub fn update_email(&mut self, id: &str, email: &str, expected: Option<u64>) -> Option<u64> {
        self.lock(id, true);
        let rows = self.db.rows.lock();
        let current = rows.get(id).map(|r| r.version);
        let version = current
            .filter(|v| expected.is_none_or(|e| e == *v))
            .map(|v| v + 1);
        if let Some(version) = version {
            let email = email.to_owned();
            self.writes
                .push((id.to_owned(), Write::Email { email, version }));
        }
        self.db.log.note(|| {
            let condition = expected.map_or_else(String::new, |e| format!(" AND version = {e}"));
            match version {
                Some(v) => {
                    format!("sql> UPDATE {id} SET email = {email}{condition} -> version {v}")
                }
                None => format!("sql> UPDATE {id} SET email = {email}{condition} -> 0 rows"),
            }
        });
        version
    }

    /// `COMMIT`: applies the writes and records `action` by `actor` (authenticated at
    /// `authenticated_epoch`) with the actor's role and epoch as committed at this instant.
    /// Then the row locks are released.
    pub fn commit(self, actor: &str, authenticated_epoch: u64, action: Action) {
        {
            let mut rows = self.db.rows.lock();
            let witness = rows.get(actor).map(|r| (r.role, r.credential_epoch));
            for (id, write) in &self.writes {
                if let Some(row) = rows.get_mut(id) {
                    match write {
                        Write::Role(role) => {
                            row.role = *role;
                            row.version += 1;
                        }
                        Write::Email { email, version } => {
                            row.email.clone_from(email);
                            row.version = *version;
                        }
                    }
                }
            }
            self.db.audit.append(Pending {
                actor: actor.to_owned(),
                action,
                actor_role_at_commit: witness.map(|(role, _)| role),
                actor_epoch_at_commit: witness.map_or(0, |(_, epoch)| epoch),
                authenticated_epoch,
            });
        }
        drop(self.locks);
    }

    /// `ROLLBACK`: nothing written, locks released.
    pub fn rollback(self) {
        self.db.log.note(|| "sql> ROLLBACK".to_owned());
    }
}

fn show(row: Option<&Row>) -> String {
    row.map_or_else(
        || "(none)".to_owned(),
        |r| format!("role {}, version {}", r.role, r.version),
    )
}

/// How a promotion is written in SQL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PromoteSql {
    /// `SELECT ... WHERE id = $actor FOR SHARE`, check, `UPDATE` target, `COMMIT`: what
    /// `PgUserRepository` does.
    ForShare,
    /// One `UPDATE target ... WHERE EXISTS (SELECT ... actor is admin)`, then `COMMIT`:
    /// under READ COMMITTED the subquery is not re-checked when the actor's row changes.
    UnlockedSubquery,
}

impl PromoteSql {
    pub fn name(self) -> &'static str {
        match self {
            PromoteSql::ForShare => "for_share",
            PromoteSql::UnlockedSubquery => "unlocked_subquery",
        }
    }
}

/// How an email compare-and-set is written in SQL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EmailSql {
    /// One `UPDATE ... WHERE id = $1 AND version = $2` (0 rows = conflict): what
    /// `PgUserRepository` does.
    ConditionalUpdate,
    /// `SELECT version`, compare in the application, then an unconditional `UPDATE`.
    CheckThenUpdate,
}

impl EmailSql {
    pub fn name(self) -> &'static str {
        match self {
            EmailSql::ConditionalUpdate => "conditional_update",
            EmailSql::CheckThenUpdate => "check_then_update",
        }
    }
}

/// The account operations as `PgUserRepository` (or a broken port) runs them. Actors are
/// `(user id, credential epoch at authentication)`: authentication is not what is modelled.
pub struct SqlAccounts {
    pub db: SqlDb,
}

impl SqlAccounts {
    pub fn new(users: &[(&str, Role)], log: Narrator) -> Self {
        Self {
            db: SqlDb::new(users, log),
        }
    }

    /// `actor` makes `target` an admin.
    pub fn promote(
        &self,
        protocol: PromoteSql,
        actor: &str,
        epoch: u64,
        target: &str,
    ) -> Result<(), StoreError> {
        let mut tx = self.db.begin();
        match protocol {
            PromoteSql::ForShare => {
                let row = tx.select_locked(actor, false);
                if let Err(e) = check_actor(row.as_ref(), epoch, Role::Admin) {
                    tx.rollback();
                    return Err(e);
                }
                if tx.update_role(target, Role::Admin, None) == 0 {
                    tx.rollback();
                    return Err(StoreError::NotFound);
                }
            }
            PromoteSql::UnlockedSubquery => {
                if tx.update_role(target, Role::Admin, Some(actor)) == 0 {
                    tx.rollback();
                    return Err(StoreError::Forbidden);
                }
            }
        }
        let target = target.to_owned();
        tx.commit(actor, epoch, Action::Promote { target });
        Ok(())
    }

    /// `actor` makes `target` a plain user: the actor and every admin locked `FOR UPDATE`
    /// in id order, the admin count checked, then the write.
    pub fn demote(&self, actor: &str, epoch: u64, target: &str) -> Result<(), StoreError> {
        let mut tx = self.db.begin();
        let candidates: Vec<String> = {
            let rows = self.db.rows.lock();
            rows.iter()
                .filter(|(id, r)| *id == actor || r.role == Role::Admin)
                .map(|(id, _)| id.clone())
                .collect()
        };
        // BTreeMap order: the locks are taken in id order, as `ORDER BY id FOR UPDATE`.
        let locked: Vec<(String, Option<Row>)> = candidates
            .into_iter()
            .map(|id| {
                let row = tx.select_locked(&id, true);
                (id, row)
            })
            .collect();
        let actor_row = locked
            .iter()
            .find(|(id, _)| id == actor)
            .and_then(|(_, r)| r.as_ref());
        if let Err(e) = check_actor(actor_row, epoch, Role::Admin) {
            tx.rollback();
            return Err(e);
        }
        let admins = locked
            .iter()
            .filter(|(_, r)| r.as_ref().is_some_and(|r| r.role == Role::Admin))
            .count();
        let target_is_admin = locked
            .iter()
            .any(|(id, r)| id == target && r.as_ref().is_some_and(|r| r.role == Role::Admin));
        if target_is_admin && admins <= 1 {
            tx.rollback();
            return Err(StoreError::LastAdmin);
        }
        if tx.update_role(target, Role::User, None) == 0 {
            tx.rollback();
            return Err(StoreError::NotFound);
        }
        let target = target.to_owned();
        tx.commit(actor, epoch, Action::Demote { target });
        Ok(())
    }

    /// `user` sets its own email if the record is at `expected`.
    pub fn update_email(
        &self,
        protocol: EmailSql,
        user: &str,
        epoch: u64,
        expected: u64,
        email: &str,
    ) -> Result<u64, StoreError> {
        let mut tx = self.db.begin();
        let version = match protocol {
            EmailSql::ConditionalUpdate => tx.update_email(user, email, Some(expected)),
            EmailSql::CheckThenUpdate => {
                let current = tx.select(user).map(|r| r.version);
                if current != Some(expected) {
                    tx.rollback();
                    return Err(StoreError::PreconditionFailed {
                        current: current.unwrap_or(0),
                    });
                }
                // RACE WINDOW: another update can commit between the check and the write.
                tx.update_email(user, email, None)
            }
        };
        let Some(version) = version else {
            let current = self.db.get(user).map_or(0, |r| r.version);
            tx.rollback();
            return Err(StoreError::PreconditionFailed { current });
        };
        let action = Action::UpdateEmail {
            user: user.to_owned(),
            email: email.to_owned(),
            version,
        };
        tx.commit(user, epoch, action);
        Ok(version)
    }
}

/// The actor's authority as read in the transaction, by the core's authorization rule.
fn check_actor(row: Option<&Row>, epoch: u64, need: Role) -> Result<(), StoreError> {
    let now = row.map(|r| Standing {
        role: r.role,
        credential_epoch: r.credential_epoch,
    });
    authority::authorize(need, epoch, now).map_err(StoreError::from)?;
    Ok(())
}
