//! Access tokens resolved from memory on SQLite: every request resolves its token, and on
//! SQLite each statement is a hand-off to the connection's thread and back, which costs more
//! than the lookup itself. SQLite serves one process, so every revocation passes through this
//! process's repositories, which forget the cached tokens after they commit. PostgreSQL
//! serves several processes and keeps reading the table.

use std::collections::HashMap;
use std::sync::Mutex;

use crate::AccessTokenRecord;

/// Tokens kept at once; the cache starts over beyond it.
const CAPACITY: usize = 50_000;

#[derive(Default)]
pub(crate) struct AccessCache {
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    tokens: HashMap<String, AccessTokenRecord>,
    /// Counts revocations: a lookup that started before one must not cache what it read.
    generation: u64,
}

impl AccessCache {
    pub(crate) fn get(&self, hash: &str) -> Option<AccessTokenRecord> {
        self.lock().tokens.get(hash).cloned()
    }

    /// The generation to hand back to [`Self::insert`] once the token has been read.
    pub(crate) fn generation(&self) -> u64 {
        self.lock().generation
    }

    pub(crate) fn insert(&self, hash: &str, record: &AccessTokenRecord, read_at: u64) {
        let mut inner = self.lock();
        if inner.generation != read_at {
            return;
        }
        if inner.tokens.len() >= CAPACITY {
            inner.tokens.clear();
        }
        inner.tokens.insert(hash.to_owned(), record.clone());
    }

    /// Called after a transaction that deleted access tokens committed.
    pub(crate) fn forget_all(&self) {
        let mut inner = self.lock();
        inner.tokens.clear();
        inner.generation += 1;
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }
}
