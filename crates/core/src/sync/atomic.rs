//! Atomics and fences, `std::sync::atomic`'s paths.
//!
//! Every build has `AtomicBool`, `AtomicI64`, `AtomicU32`, `AtomicU64` and `AtomicUsize`
//! with `new` and `named` (a name for traces, kept by loom builds only), so code that names
//! its atomics needs no `cfg`. In a normal build each is `std`'s, behind a transparent
//! wrapper that derefs to it (every `std` method, at the same cost).
//!
//! Under loom they are loom's, watched: a load that returns an older value than the latest
//! store to the same atomic is noted in the model's trace (`sync::model::stale_reads`, loom
//! builds only), with both orderings, so a weak-memory counterexample says which read was
//! stale; and a stale read that `SeqCst` forbids (loom models `SeqCst` accesses as
//! `AcqRel`) is flagged, so that the harness never reports it as the code's bug.

#[cfg(loom)]
pub use loom::sync::atomic::{AtomicPtr, Ordering};
#[cfg(all(shuttle, not(loom)))]
pub use shuttle::sync::atomic::{AtomicPtr, Ordering, fence};
#[cfg(not(any(loom, shuttle)))]
pub use std::sync::atomic::{AtomicPtr, Ordering, fence};

/// `fence`, noted in the model's record (a `SeqCst` fence changes which loads are stale).
#[cfg(loom)]
pub fn fence(order: Ordering) {
    loom::sync::atomic::fence(order);
    super::model::fenced(order);
}

#[cfg(not(loom))]
macro_rules! plain {
    ($backend:ident; $($name:ident: $t:ty),*) => {$(
        /// `std`'s (or shuttle's) atomic of the same name (it derefs to it), with
        /// [`Self::named`].
        #[derive(Debug, Default)]
        #[repr(transparent)]
        pub struct $name($backend::sync::atomic::$name);

        impl $name {
            pub const fn new(value: $t) -> Self {
                Self($backend::sync::atomic::$name::new(value))
            }

            /// An atomic that loom's traces call `name` (the name is kept in loom builds
            /// only).
            pub const fn named(name: &str, value: $t) -> Self {
                let _ = name;
                Self::new(value)
            }

            pub fn into_inner(self) -> $t {
                self.0.into_inner()
            }
        }

        impl std::ops::Deref for $name {
            type Target = $backend::sync::atomic::$name;
            fn deref(&self) -> &Self::Target {
                &self.0
            }
        }

        impl std::ops::DerefMut for $name {
            fn deref_mut(&mut self) -> &mut Self::Target {
                &mut self.0
            }
        }

        impl From<$t> for $name {
            fn from(value: $t) -> Self {
                Self::new(value)
            }
        }
    )*};
}

#[cfg(not(any(loom, shuttle)))]
plain!(std; AtomicBool: bool, AtomicI64: i64, AtomicU32: u32, AtomicU64: u64, AtomicUsize: usize);
#[cfg(all(shuttle, not(loom)))]
plain!(shuttle; AtomicBool: bool, AtomicI64: i64, AtomicU32: u32, AtomicU64: u64, AtomicUsize: usize);

#[cfg(loom)]
macro_rules! watched {
    ($name:ident, $t:ty, { $($op:ident => |$old:ident, $val:ident| $new:expr),* $(,)? }) => {
        /// loom's atomic of the same name, watched for stale loads.
        #[derive(Debug)]
        pub struct $name {
            inner: loom::sync::atomic::$name,
            id: u64,
        }

        impl $name {
            #[track_caller]
            pub fn new(value: $t) -> Self {
                let at = std::panic::Location::caller();
                Self::labelled(
                    format!("atomic at {}:{}:{}", at.file(), at.line(), at.column()),
                    value,
                )
            }

            /// An atomic that traces call `name`.
            pub fn named(name: &str, value: $t) -> Self {
                Self::labelled(format!("`{name}`"), value)
            }

            fn labelled(label: String, value: $t) -> Self {
                Self {
                    inner: loom::sync::atomic::$name::new(value),
                    id: super::model::watch(label, value.to_string()),
                }
            }

            /// This atomic's identity within the execution (its address).
            fn object(&self) -> usize {
                self as *const Self as usize
            }

            pub fn load(&self, order: Ordering) -> $t {
                let value = self.inner.load(order);
                super::model::loaded(self.id, self.object(), value.to_string(), order);
                value
            }

            pub fn store(&self, value: $t, order: Ordering) {
                self.inner.store(value, order);
                super::model::stored(self.id, self.object(), value.to_string(), order);
            }

            pub fn swap(&self, value: $t, order: Ordering) -> $t {
                let old = self.inner.swap(value, order);
                super::model::stored(self.id, self.object(), value.to_string(), order);
                old
            }

            pub fn compare_exchange(
                &self,
                current: $t,
                new: $t,
                success: Ordering,
                failure: Ordering,
            ) -> Result<$t, $t> {
                let result = self.inner.compare_exchange(current, new, success, failure);
                self.exchanged(result, new, success, failure);
                result
            }

            pub fn compare_exchange_weak(
                &self,
                current: $t,
                new: $t,
                success: Ordering,
                failure: Ordering,
            ) -> Result<$t, $t> {
                let result = self.inner.compare_exchange_weak(current, new, success, failure);
                self.exchanged(result, new, success, failure);
                result
            }

            fn exchanged(&self, result: Result<$t, $t>, new: $t, success: Ordering, failure: Ordering) {
                match result {
                    Ok(_) => super::model::stored(self.id, self.object(), new.to_string(), success),
                    Err(seen) => {
                        super::model::loaded(self.id, self.object(), seen.to_string(), failure)
                    }
                }
            }

            $(
                pub fn $op(&self, $val: $t, order: Ordering) -> $t {
                    let $old = self.inner.$op($val, order);
                    super::model::stored(self.id, self.object(), ($new).to_string(), order);
                    $old
                }
            )*

            pub fn into_inner(self) -> $t {
                self.inner.into_inner()
            }
        }

        impl Default for $name {
            #[track_caller]
            fn default() -> Self {
                Self::new(<$t>::default())
            }
        }

        impl From<$t> for $name {
            #[track_caller]
            fn from(value: $t) -> Self {
                Self::new(value)
            }
        }
    };
}

#[cfg(loom)]
macro_rules! watched_int {
    ($($name:ident: $t:ty),*) => {$(
        watched!($name, $t, {
            fetch_add => |old, val| old.wrapping_add(val),
            fetch_sub => |old, val| old.wrapping_sub(val),
            fetch_and => |old, val| old & val,
            fetch_or => |old, val| old | val,
            fetch_xor => |old, val| old ^ val,
            fetch_max => |old, val| old.max(val),
            fetch_min => |old, val| old.min(val),
        });
    )*};
}

#[cfg(loom)]
watched_int!(AtomicI64: i64, AtomicU32: u32, AtomicU64: u64, AtomicUsize: usize);

#[cfg(loom)]
watched!(AtomicBool, bool, {
    fetch_and => |old, val| old & val,
    fetch_or => |old, val| old | val,
    fetch_xor => |old, val| old ^ val,
});
