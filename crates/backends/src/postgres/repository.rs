//! The user repository's operations: each write one transaction that locks the actor's
//! row, authorizes on it, writes, and records its commit.

use super::{
    PgUserRepository, TxResult, parse_role, role_name, stored_password, to_columns, to_i64, to_u64,
};
use postgres::Transaction;
use raceproof_core::audit::{
    Action, AuditPage, AuditQuery, Commit, DEFAULT_AUDIT_CAPACITY, Dropped, MAX_PAGE,
};
use raceproof_core::auth::PasswordHash;
use raceproof_core::authority::Standing;
use raceproof_core::backend::{
    BackendError, CredentialSnapshot, UserRepository, password_to_parts,
};
use raceproof_core::store::{MAX_EMAIL_LEN, Principal, Role, StoreError, User, check_text};

/// How the actor's row is locked.
#[derive(Clone, Copy)]
enum Lock {
    /// Others may read-lock it too; a write to it (a demotion) waits for this commit.
    Share,
    /// This transaction writes the actor's row as well.
    Update,
}

/// Locks the actor's row and authorizes the write on it now ([`Principal::authorize`],
/// the rule of every repository).
fn lock_actor(
    tx: &mut Transaction<'_>,
    actor: &Principal,
    lock: Lock,
    need: Role,
) -> TxResult<Standing> {
    let sql = match lock {
        Lock::Share => "SELECT role, credential_epoch FROM users WHERE id = $1 FOR SHARE",
        Lock::Update => "SELECT role, credential_epoch FROM users WHERE id = $1 FOR UPDATE",
    };
    let row = tx.query_opt(sql, &[&actor.user_id()])?;
    Ok(authorize(
        actor,
        row.as_ref().map(|r| (r.get(0), r.get(1))),
        need,
    ))
}

/// The authorization rule on the actor's `(role, credential_epoch)` columns as read.
fn authorize(
    actor: &Principal,
    columns: Option<(&str, i64)>,
    need: Role,
) -> Result<Standing, BackendError> {
    let now = match columns {
        Some((role, epoch)) => Some(Standing {
            role: parse_role(role)?,
            credential_epoch: to_u64(epoch)?,
        }),
        None => None,
    };
    Ok(actor.authorize(need, now).map_err(StoreError::from)?)
}

/// Appends the write's audit entry; takes the sequence counter's row lock, so call it last.
fn append_audit(
    tx: &mut Transaction<'_>,
    actor: &Principal,
    witness: &Standing,
    action: &Action,
) -> TxResult<()> {
    let (email, version) = match action {
        Action::UpdateEmail { email, version, .. } => match to_i64(*version) {
            Ok(v) => (Some(email.as_str()), Some(v)),
            Err(e) => return Ok(Err(e)),
        },
        _ => (None, None),
    };
    let (Ok(actor_epoch), Ok(auth_epoch)) = (
        to_i64(witness.credential_epoch),
        to_i64(actor.credential_epoch()),
    ) else {
        return Ok(Err(BackendError::unavailable(
            "postgres: counter out of range",
        )));
    };
    let seq: i64 = tx
        .query_one(
            "UPDATE audit_seq SET next = next + 1 RETURNING next - 1",
            &[],
        )?
        .get(0);
    tx.execute(
        "INSERT INTO audit (seq, actor, action, subject, email, version, \
         actor_role_at_commit, actor_epoch_at_commit, authenticated_epoch) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        &[
            &seq,
            &actor.user_id(),
            &action.name(),
            &action.subject(),
            &email,
            &version,
            &role_name(witness.role),
            &actor_epoch,
            &auth_epoch,
        ],
    )?;
    Ok(Ok(()))
}

impl UserRepository for PgUserRepository {
    fn insert(
        &self,
        user_id: &str,
        password: PasswordHash,
        role: Role,
        email: &str,
    ) -> Result<(), BackendError> {
        let (costs, salt, digest) = password_to_parts(&password);
        self.insert_hash(user_id, costs, &salt, &digest, role, email)
    }

    fn get(&self, user_id: &str) -> Result<Option<User>, BackendError> {
        let row = self.read(|client| {
            client.query_opt(
                "SELECT m_cost, t_cost, p_cost, salt, digest, role, email, version, \
                 credential_epoch FROM users WHERE id = $1",
                &[&user_id],
            )
        })?;
        let Some(row) = row else { return Ok(None) };
        Ok(Some(User {
            password: stored_password(&row)?,
            role: parse_role(row.get(5))?,
            email: row.get(6),
            version: to_u64(row.get(7))?,
            credential_epoch: to_u64(row.get(8))?,
        }))
    }

    fn credentials(&self, user_id: &str) -> Result<Option<CredentialSnapshot>, BackendError> {
        let row = self.read(|client| {
            client.query_opt(
                "SELECT m_cost, t_cost, p_cost, salt, digest, role, credential_epoch \
                 FROM users WHERE id = $1",
                &[&user_id],
            )
        })?;
        let Some(row) = row else { return Ok(None) };
        Ok(Some(CredentialSnapshot {
            password: stored_password(&row)?,
            role: parse_role(row.get(5))?,
            credential_epoch: to_u64(row.get(6))?,
        }))
    }

    fn promote(&self, actor: &Principal, target: &str) -> Result<(), BackendError> {
        let own = actor.user_id() == target;
        let action = Action::Promote {
            target: target.to_owned(),
        };
        let need = action.needs(actor.user_id());
        self.transact(|tx| {
            // The actor's row stays locked until commit: a demotion of the actor cannot
            // commit between this check and the write.
            let lock = if own { Lock::Update } else { Lock::Share };
            let witness = match lock_actor(tx, actor, lock, need)? {
                Ok(w) => w,
                Err(e) => return Ok(Err(e)),
            };
            let n = tx.execute(
                "UPDATE users SET role = 'admin', version = version + 1 WHERE id = $1",
                &[&target],
            )?;
            if n == 0 {
                return Ok(Err(StoreError::NotFound.into()));
            }
            append_audit(tx, actor, &witness, &action)
        })
    }

    fn demote(&self, actor: &Principal, target: &str) -> Result<(), BackendError> {
        let action = Action::Demote {
            target: target.to_owned(),
        };
        let need = action.needs(actor.user_id());
        self.transact(|tx| {
            // The actor and every admin, locked in id order: the count cannot change
            // before commit.
            let rows = tx.query(
                "SELECT id, role, credential_epoch FROM users \
                 WHERE id = $1 OR role = 'admin' ORDER BY id FOR UPDATE",
                &[&actor.user_id()],
            )?;
            let columns = rows
                .iter()
                .find(|r| r.get::<_, &str>(0) == actor.user_id())
                .map(|r| (r.get(1), r.get(2)));
            let witness = match authorize(actor, columns, need) {
                Ok(w) => w,
                Err(e) => return Ok(Err(e)),
            };
            let admins = rows
                .iter()
                .filter(|r| r.get::<_, &str>(1) == "admin")
                .count();
            let target_role = match rows.iter().find(|r| r.get::<_, &str>(0) == target) {
                Some(r) => Some(r.get::<_, String>(1)),
                None => tx
                    .query_opt(
                        "SELECT role FROM users WHERE id = $1 FOR UPDATE",
                        &[&target],
                    )?
                    .map(|r| r.get::<_, String>(0)),
            };
            let Some(target_role) = target_role else {
                return Ok(Err(StoreError::NotFound.into()));
            };
            if target_role == "admin" && admins <= 1 {
                return Ok(Err(StoreError::LastAdmin.into()));
            }
            tx.execute(
                "UPDATE users SET role = 'user', version = version + 1 WHERE id = $1",
                &[&target],
            )?;
            append_audit(tx, actor, &witness, &action)
        })
    }

    /// One conditional `UPDATE`: the salt and digest identify the verified hash, the epoch
    /// that no password change came in between.
    fn replace_hash_if_unchanged(
        &self,
        user_id: &str,
        credential_epoch: u64,
        verified: &PasswordHash,
        upgraded: PasswordHash,
    ) -> Result<bool, BackendError> {
        let (costs, salt, digest) = password_to_parts(&upgraded);
        let (m, t, p) = to_columns(costs)?;
        let epoch = to_i64(credential_epoch)?;
        let (old_salt, old_digest) = (verified.salt().as_slice(), verified.digest().as_slice());
        self.transact(|tx| {
            let n = tx.execute(
                "UPDATE users SET m_cost = $3, t_cost = $4, p_cost = $5, salt = $6, digest = $7 \
                 WHERE id = $1 AND credential_epoch = $2 AND salt = $8 AND digest = $9",
                &[
                    &user_id,
                    &epoch,
                    &m,
                    &t,
                    &p,
                    &salt,
                    &digest,
                    &old_salt,
                    &old_digest,
                ],
            )?;
            Ok(Ok(n == 1))
        })
    }

    fn change_password(
        &self,
        actor: &Principal,
        user: &str,
        new_password: PasswordHash,
    ) -> Result<(), BackendError> {
        let (costs, salt, digest) = password_to_parts(&new_password);
        let (m, t, p) = to_columns(costs)?;
        let own = actor.user_id() == user;
        let action = Action::ChangePassword {
            user: user.to_owned(),
        };
        let need = action.needs(actor.user_id());
        self.transact(|tx| {
            let lock = if own { Lock::Update } else { Lock::Share };
            let witness = match lock_actor(tx, actor, lock, need)? {
                Ok(w) => w,
                Err(e) => return Ok(Err(e)),
            };
            let n = tx.execute(
                "UPDATE users SET m_cost = $2, t_cost = $3, p_cost = $4, salt = $5, digest = $6, \
                 credential_epoch = credential_epoch + 1, version = version + 1 WHERE id = $1",
                &[&user, &m, &t, &p, &salt, &digest],
            )?;
            if n == 0 {
                return Ok(Err(StoreError::NotFound.into()));
            }
            append_audit(tx, actor, &witness, &action)
        })
    }

    fn update_email(
        &self,
        actor: &Principal,
        expected_version: Option<u64>,
        email: &str,
    ) -> Result<u64, BackendError> {
        check_text("email", email, MAX_EMAIL_LEN)?;
        if expected_version.is_none() && self.require_precondition {
            return Err(StoreError::PreconditionRequired.into());
        }
        let expected = expected_version.map(to_i64).transpose()?;
        let epoch = to_i64(actor.credential_epoch())?;
        let user = actor.user_id();
        self.transact(|tx| {
            // One conditional statement: checked and written on the row's latest version.
            let row = tx.query_opt(
                "UPDATE users SET email = $2, version = version + 1 \
                 WHERE id = $1 AND credential_epoch = $3 \
                 AND ($4::BIGINT IS NULL OR version = $4) \
                 RETURNING version, role, credential_epoch",
                &[&user, &email, &epoch, &expected],
            )?;
            let Some(row) = row else {
                // Nothing written; say why (the answer's detail, not a decision).
                let now = tx.query_opt(
                    "SELECT version, credential_epoch FROM users WHERE id = $1",
                    &[&user],
                )?;
                return Ok(Err(match now {
                    Some(r) if r.get::<_, i64>(1) == epoch => match to_u64(r.get(0)) {
                        Ok(current) => StoreError::PreconditionFailed { current }.into(),
                        Err(e) => e,
                    },
                    _ => StoreError::CredentialsRevoked.into(),
                }));
            };
            let (version, witness) = match (
                to_u64(row.get(0)),
                authorize(actor, Some((row.get(1), row.get(2))), Role::User),
            ) {
                (Ok(v), Ok(w)) => (v, w),
                (Err(e), _) | (_, Err(e)) => return Ok(Err(e)),
            };
            let action = Action::UpdateEmail {
                user: user.to_owned(),
                email: email.to_owned(),
                version,
            };
            Ok(append_audit(tx, actor, &witness, &action)?.map(|()| version))
        })
    }

    fn audit(&self) -> Result<Vec<Commit>, BackendError> {
        Ok(self
            .audit_page(AuditQuery::newest(DEFAULT_AUDIT_CAPACITY))?
            .entries)
    }

    /// PostgreSQL keeps every commit: a page seeks by sequence number, and nothing is ever
    /// reported dropped.
    fn audit_page(&self, query: AuditQuery) -> Result<AuditPage, BackendError> {
        let limit = i64::try_from(query.limit.clamp(1, MAX_PAGE)).unwrap_or(1);
        const COLUMNS: &str = "seq, actor, action, subject, email, version, \
             actor_role_at_commit, actor_epoch_at_commit, authenticated_epoch";
        let after = query.after.map(to_i64).transpose()?;
        let (rows, last) = self.read(|client| {
            let rows = match after {
                // One row more than asked, to tell whether more follow.
                Some(after) => client.query(
                    &format!("SELECT {COLUMNS} FROM audit WHERE seq > $1 ORDER BY seq LIMIT $2"),
                    &[&after, &(limit + 1)],
                )?,
                None => client.query(
                    &format!(
                        "SELECT {COLUMNS} FROM (SELECT * FROM audit ORDER BY seq DESC LIMIT $1) \
                         newest ORDER BY seq"
                    ),
                    &[&limit],
                )?,
            };
            let last: i64 = client
                .query_one("SELECT next - 1 FROM audit_seq", &[])?
                .get(0);
            Ok((rows, last))
        })?;
        let mut entries = rows.iter().map(commit_of).collect::<Result<Vec<_>, _>>()?;
        let more = entries.len() > query.limit.clamp(1, MAX_PAGE);
        entries.truncate(query.limit.clamp(1, MAX_PAGE));
        Ok(AuditPage {
            entries,
            more,
            last_seq: to_u64(last)?,
            dropped: Dropped::default(),
        })
    }
}

/// One row of `audit` as a [`Commit`].
fn commit_of(r: &postgres::Row) -> Result<Commit, BackendError> {
    let subject: String = r.get(3);
    let action = match r.get::<_, &str>(2) {
        "promote" => Action::Promote { target: subject },
        "demote" => Action::Demote { target: subject },
        "change_password" => Action::ChangePassword { user: subject },
        "update_email" => Action::UpdateEmail {
            user: subject,
            email: r.get::<_, Option<String>>(4).unwrap_or_default(),
            version: to_u64(r.get::<_, Option<i64>>(5).unwrap_or(0))?,
        },
        _ => return Err(BackendError::unavailable("postgres: unknown audit action")),
    };
    Ok(Commit {
        seq: to_u64(r.get(0))?,
        actor: r.get(1),
        action,
        actor_role_at_commit: r.get::<_, Option<&str>>(6).map(parse_role).transpose()?,
        actor_epoch_at_commit: to_u64(r.get(7))?,
        authenticated_epoch: to_u64(r.get(8))?,
    })
}
