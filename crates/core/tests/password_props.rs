#![cfg(not(loom))]
//! Password storage: Argon2id hashes verify exactly their password, are salted, never show
//! their digest, refuse over-long input; and authentication costs one verification whether
//! or not the user exists.

use proptest::prelude::*;
use raceproof_core::auth::{
    Argon2Hasher, Credentials, MAX_PASSWORD_LEN, PasswordError, PasswordHash, PasswordHasher,
    verify_or_dummy,
};
use raceproof_core::backend::BackendError;
use raceproof_core::service::Accounts;
use raceproof_core::store::{Role, StoreError, UserStore};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{LazyLock, Mutex};

/// Counts verifications and remembers which stored hash each one was against.
struct Counting<H> {
    inner: H,
    verifications: AtomicUsize,
    against: Mutex<Vec<PasswordHash>>,
}

impl<H> Counting<H> {
    fn new(inner: H) -> Self {
        Self {
            inner,
            verifications: AtomicUsize::new(0),
            against: Mutex::new(Vec::new()),
        }
    }

    /// The verifications since the last call, and the hashes they were against.
    fn take(&self) -> (usize, Vec<PasswordHash>) {
        let n = self.verifications.swap(0, Ordering::SeqCst);
        let against = std::mem::take(&mut *self.against.lock().expect("not poisoned"));
        (n, against)
    }
}

impl<H: PasswordHasher> PasswordHasher for Counting<H> {
    fn hash(&self, password: &str) -> Result<PasswordHash, PasswordError> {
        self.inner.hash(password)
    }

    fn verify(&self, password: &str, stored: &PasswordHash) -> bool {
        self.verifications.fetch_add(1, Ordering::SeqCst);
        self.against
            .lock()
            .expect("not poisoned")
            .push(stored.clone());
        self.inner.verify(password, stored)
    }

    fn dummy(&self) -> &PasswordHash {
        self.inner.dummy()
    }
}

/// One hasher for the whole file: building one hashes its dummy.
static HASHER: LazyLock<Argon2Hasher> =
    LazyLock::new(|| Argon2Hasher::insecure_fast().expect("random source"));

fn user_id() -> impl Strategy<Value = String> {
    "[a-zA-Z0-9._@-]{1,12}|\\PC{1,8}".prop_filter("valid user-id", |u| {
        !u.contains(':') && !u.chars().any(char::is_control)
    })
}

fn password() -> impl Strategy<Value = String> {
    "[ -~]{0,24}|\\PC{0,12}".prop_filter("no control", |p| !p.chars().any(char::is_control))
}

/// Two different passwords.
fn two_passwords() -> impl Strategy<Value = (String, String)> {
    (password(), password()).prop_filter("distinct", |(a, b)| a != b)
}

#[derive(Debug, Clone, Copy)]
enum Case {
    RightPassword,
    WrongPassword,
    UnknownUser,
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Exactly one slow verification per authentication, whatever the outcome, and for an
    /// unknown user it is against the dummy hash.
    #[test]
    fn authenticate_verifies_exactly_once(
        user in user_id(),
        other_user in user_id(),
        (right, wrong) in two_passwords(),
        role in prop_oneof![Just(Role::User), Just(Role::Admin)],
        case in prop_oneof![
            Just(Case::RightPassword),
            Just(Case::WrongPassword),
            Just(Case::UnknownUser),
        ],
    ) {
        prop_assume!(user != other_user);
        let hasher = Counting::new(HASHER.clone());
        let stored = hasher.hash(&right).expect("hashable");
        let store = UserStore::new();
        store.insert(&user, stored.clone(), role, "user@example.com").expect("valid");
        prop_assert_eq!(hasher.take().0, 0, "insert verifies nothing");

        let (login, pw) = match case {
            Case::RightPassword => (&user, &right),
            Case::WrongPassword => (&user, &wrong),
            Case::UnknownUser => (&other_user, &right),
        };
        let credentials = Credentials::new(login, pw).expect("valid credentials");
        let got = Accounts::new(&store, &hasher).authenticate(&credentials);
        let (count, against) = hasher.take();
        prop_assert_eq!(count, 1, "{:?}", case);
        match case {
            Case::RightPassword => {
                let principal = got.expect("the right password authenticates");
                prop_assert_eq!(principal.user_id(), user.as_str());
                prop_assert_eq!(principal.role(), role);
                prop_assert_eq!(principal.credential_epoch(), 0);
                prop_assert_eq!(&against[0], &stored);
            }
            Case::WrongPassword => {
                prop_assert_eq!(got, Err(BackendError::Store(StoreError::InvalidCredentials)));
                prop_assert_eq!(&against[0], &stored);
            }
            Case::UnknownUser => {
                prop_assert_eq!(got, Err(BackendError::Store(StoreError::InvalidCredentials)));
                prop_assert_eq!(&against[0], hasher.dummy());
            }
        }
    }

    /// `verify_or_dummy` itself: one verification on both paths, never true without a hash.
    #[test]
    fn verify_or_dummy_verifies_once(pw in password(), stored_given in any::<bool>()) {
        let hasher = Counting::new(HASHER.clone());
        let stored = hasher.hash(&pw).expect("hashable");
        let got = verify_or_dummy(&hasher, &pw, stored_given.then_some(&stored));
        let (count, against) = hasher.take();
        prop_assert_eq!(count, 1);
        prop_assert_eq!(got, stored_given);
        let want = if stored_given { &stored } else { hasher.dummy() };
        prop_assert_eq!(&against[0], want);
    }

    #[test]
    fn verify_accepts_exactly_the_password((right, wrong) in two_passwords()) {
        let hash = HASHER.hash(&right).expect("hashable");
        prop_assert!(HASHER.verify(&right, &hash));
        prop_assert!(!HASHER.verify(&wrong, &hash));
        // Near misses: one more char, one fewer.
        let longer = format!("{right} ");
        prop_assert!(!HASHER.verify(&longer, &hash));
        if let Some((last, _)) = right.char_indices().last() {
            prop_assert!(!HASHER.verify(&right[..last], &hash));
        }
    }

    /// Hashes are salted: the same password twice gives different hashes, both valid.
    #[test]
    fn hashes_are_salted(pw in password()) {
        let a = HASHER.hash(&pw).expect("hashable");
        let b = HASHER.hash(&pw).expect("hashable");
        prop_assert_ne!(&a, &b);
        prop_assert!(HASHER.verify(&pw, &a));
        prop_assert!(HASHER.verify(&pw, &b));
        prop_assert_ne!(&a, HASHER.dummy());
    }

    /// The Debug form depends on the parameters only: not on the salt, not on the digest.
    #[test]
    fn debug_redacts_salt_and_digest((p, q) in two_passwords()) {
        let a = HASHER.hash(&p).expect("hashable");
        let b = HASHER.hash(&q).expect("hashable");
        prop_assert_ne!(&a, &b);
        let (da, db) = (format!("{a:?}"), format!("{b:?}"));
        prop_assert_eq!(&da, &db);
        prop_assert!(da.contains("redacted"));
        prop_assert_eq!(&da, &format!("{:?}", HASHER.dummy()));
    }

    #[test]
    fn over_long_passwords_are_refused(
        extra in 1usize..2048,
        c in prop_oneof![Just('a'), Just('é'), Just('€'), Just('𝄞')],
    ) {
        // At least MAX_PASSWORD_LEN + extra bytes, whatever the char width.
        let n = (MAX_PASSWORD_LEN + extra).div_ceil(c.len_utf8());
        let pw: String = std::iter::repeat_n(c, n).collect();
        prop_assert!(pw.len() > MAX_PASSWORD_LEN);
        prop_assert_eq!(HASHER.hash(&pw), Err(PasswordError::TooLong));
        // Verifying one is a plain "no", for stored hashes and the dummy alike.
        let stored = HASHER.hash("short").expect("hashable");
        prop_assert!(!HASHER.verify(&pw, &stored));
        prop_assert!(!HASHER.verify(&pw, HASHER.dummy()));
    }
}

/// The cap is inclusive.
#[test]
fn password_of_exactly_max_len_is_accepted() {
    let pw = "x".repeat(MAX_PASSWORD_LEN);
    let hash = HASHER.hash(&pw).expect("exactly at the cap");
    assert!(HASHER.verify(&pw, &hash));
    let longer = format!("{pw}x");
    assert_eq!(HASHER.hash(&longer), Err(PasswordError::TooLong));
    assert!(!HASHER.verify(&longer, &hash));
    // A two-byte char that would straddle the cap counts in bytes.
    let straddling = format!("{}é", "x".repeat(MAX_PASSWORD_LEN - 1));
    assert_eq!(HASHER.hash(&straddling), Err(PasswordError::TooLong));
}

#[test]
fn another_hasher_instance_verifies() {
    // A hash carries its own parameters and salt: any hasher verifies it, not only the one
    // that made it (each instance has its own random dummy).
    let fast = Argon2Hasher::insecure_fast().expect("random source");
    assert_ne!(fast.dummy(), HASHER.dummy());
    let hash = fast.hash("hunter2").expect("hashable");
    assert!(HASHER.verify("hunter2", &hash));
    assert!(!HASHER.verify("hunter3", &hash));
}
