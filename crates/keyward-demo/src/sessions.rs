//! Where browser sessions live: this instance's memory, or Redis when the demo has one, so
//! that several instances behind one address share their users' sessions (a sign-in on one
//! is known to all, a login started on one can finish on another).

use async_trait::async_trait;
use redis::aio::ConnectionManager;
use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex};
use tower_sessions::cookie::time::OffsetDateTime;
use tower_sessions::session::{Id, Record};
use tower_sessions::session_store::{self, SessionStore};

/// The demo's session store.
#[derive(Debug, Clone)]
pub(crate) enum Sessions {
    Memory(MemorySessions),
    Redis(RedisSessions),
}

/// Sessions in this instance's memory, at most `cap` of them. Expired sessions are deleted
/// as new ones come (tower-sessions' own `MemoryStore` never deletes them); when the store
/// is full of live ones, those closest to expiry go first, which are the short-lived ones
/// of visitors who only started a login, not those of signed-in users.
#[derive(Clone)]
pub(crate) struct MemorySessions {
    inner: Arc<Mutex<MemoryInner>>,
    cap: usize,
}

#[derive(Default)]
struct MemoryInner {
    records: HashMap<Id, Record>,
    /// (expiry as Unix nanoseconds, id) of every record, soonest first.
    by_expiry: BTreeSet<(i128, i128)>,
}

impl std::fmt::Debug for MemorySessions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemorySessions").field("cap", &self.cap).finish_non_exhaustive()
    }
}

fn expiry_key(record: &Record) -> (i128, i128) {
    (record.expiry_date.unix_timestamp_nanos(), record.id.0)
}

impl MemoryInner {
    fn remove(&mut self, id: &Id) -> Option<Record> {
        let record = self.records.remove(id)?;
        self.by_expiry.remove(&expiry_key(&record));
        Some(record)
    }

    fn put(&mut self, record: Record) {
        self.remove(&record.id);
        self.by_expiry.insert(expiry_key(&record));
        self.records.insert(record.id, record);
    }

    /// Deletes expired records, then the soonest to expire beyond `cap - 1`, making room
    /// for one more.
    fn make_room(&mut self, cap: usize) {
        let now = OffsetDateTime::now_utc().unix_timestamp_nanos();
        while let Some(&(at, id)) = self.by_expiry.first() {
            if at > now && self.records.len() < cap {
                break;
            }
            self.remove(&Id(id));
        }
    }
}

impl MemorySessions {
    pub(crate) fn new(cap: usize) -> Self {
        Self { inner: Arc::default(), cap: cap.max(1) }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, MemoryInner> {
        self.inner.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// How many sessions are kept.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.lock().records.len()
    }
}

#[async_trait]
impl SessionStore for MemorySessions {
    async fn create(&self, record: &mut Record) -> session_store::Result<()> {
        let mut inner = self.lock();
        inner.make_room(self.cap);
        while inner.records.contains_key(&record.id) {
            record.id = Id::default();
        }
        inner.put(record.clone());
        Ok(())
    }

    async fn save(&self, record: &Record) -> session_store::Result<()> {
        let mut inner = self.lock();
        if !inner.records.contains_key(&record.id) {
            inner.make_room(self.cap);
        }
        inner.put(record.clone());
        Ok(())
    }

    async fn load(&self, id: &Id) -> session_store::Result<Option<Record>> {
        let mut inner = self.lock();
        match inner.records.get(id) {
            Some(r) if r.expiry_date > OffsetDateTime::now_utc() => Ok(Some(r.clone())),
            Some(_) => {
                inner.remove(id);
                Ok(None)
            }
            None => Ok(None),
        }
    }

    async fn delete(&self, id: &Id) -> session_store::Result<()> {
        self.lock().remove(id);
        Ok(())
    }
}

/// Sessions in Redis: one JSON value per session under `{prefix}{id}`, expiring with the
/// session (`EXAT`).
#[derive(Clone)]
pub(crate) struct RedisSessions {
    conn: ConnectionManager,
    prefix: String,
}

impl std::fmt::Debug for RedisSessions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisSessions").field("prefix", &self.prefix).finish_non_exhaustive()
    }
}

fn backend(e: redis::RedisError) -> session_store::Error {
    session_store::Error::Backend(e.to_string())
}

impl RedisSessions {
    /// Connects to `url`.
    pub(crate) async fn connect(url: &str, prefix: &str) -> Result<Self, redis::RedisError> {
        let conn = ConnectionManager::new(redis::Client::open(url)?).await?;
        Ok(Self { conn, prefix: prefix.to_owned() })
    }

    fn key(&self, id: &Id) -> String {
        format!("{}{id}", self.prefix)
    }

    /// Writes `record`; with `only_new`, only when its id is free. Returns whether it was
    /// written.
    async fn write(&self, record: &Record, only_new: bool) -> session_store::Result<bool> {
        let json = serde_json::to_string(record).map_err(|e| session_store::Error::Encode(e.to_string()))?;
        let mut cmd = redis::cmd("SET");
        cmd.arg(self.key(&record.id)).arg(json);
        if only_new {
            cmd.arg("NX");
        }
        cmd.arg("EXAT").arg(record.expiry_date.unix_timestamp().max(1));
        let reply: Option<String> = cmd.query_async(&mut self.conn.clone()).await.map_err(backend)?;
        Ok(reply.is_some())
    }
}

#[async_trait]
impl SessionStore for RedisSessions {
    async fn create(&self, record: &mut Record) -> session_store::Result<()> {
        // A colliding id (vanishingly unlikely) is drawn again, never overwritten.
        while !self.write(record, true).await? {
            record.id = Id::default();
        }
        Ok(())
    }

    async fn save(&self, record: &Record) -> session_store::Result<()> {
        self.write(record, false).await.map(drop)
    }

    async fn load(&self, id: &Id) -> session_store::Result<Option<Record>> {
        let json: Option<String> =
            redis::cmd("GET").arg(self.key(id)).query_async(&mut self.conn.clone()).await.map_err(backend)?;
        json.map(|j| serde_json::from_str(&j).map_err(|e| session_store::Error::Decode(e.to_string())))
            .transpose()
    }

    async fn delete(&self, id: &Id) -> session_store::Result<()> {
        redis::cmd("DEL")
            .arg(self.key(id))
            .query_async::<i64>(&mut self.conn.clone())
            .await
            .map_err(backend)?;
        Ok(())
    }
}

#[async_trait]
impl SessionStore for Sessions {
    async fn create(&self, record: &mut Record) -> session_store::Result<()> {
        match self {
            Self::Memory(s) => s.create(record).await,
            Self::Redis(s) => s.create(record).await,
        }
    }

    async fn save(&self, record: &Record) -> session_store::Result<()> {
        match self {
            Self::Memory(s) => s.save(record).await,
            Self::Redis(s) => s.save(record).await,
        }
    }

    async fn load(&self, id: &Id) -> session_store::Result<Option<Record>> {
        match self {
            Self::Memory(s) => s.load(id).await,
            Self::Redis(s) => s.load(id).await,
        }
    }

    async fn delete(&self, id: &Id) -> session_store::Result<()> {
        match self {
            Self::Memory(s) => s.delete(id).await,
            Self::Redis(s) => s.delete(id).await,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tower_sessions::cookie::time::Duration;

    fn record(expires_in: Duration) -> Record {
        Record {
            id: Id::default(),
            data: HashMap::new(),
            expiry_date: OffsetDateTime::now_utc() + expires_in,
        }
    }

    #[tokio::test]
    async fn expired_sessions_are_deleted_and_the_cap_holds() {
        let store = MemorySessions::new(3);
        let mut long = record(Duration::hours(8));
        store.create(&mut long).await.unwrap();
        let mut gone = record(Duration::seconds(-1));
        store.create(&mut gone).await.unwrap();
        assert!(store.load(&gone.id).await.unwrap().is_none(), "an expired session is not loaded");
        for _ in 0..10 {
            store.create(&mut record(Duration::minutes(10))).await.unwrap();
            assert!(store.len() <= 3, "{}", store.len());
        }
        assert!(store.load(&long.id).await.unwrap().is_some(), "the longest-lived session stays");
        store.delete(&long.id).await.unwrap();
        assert!(store.load(&long.id).await.unwrap().is_none());
    }
}
