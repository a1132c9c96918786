//! Where browser sessions live: this instance's memory, or Redis when the demo has one, so
//! that several instances behind one address share their users' sessions (a sign-in on one
//! is known to all, a login started on one can finish on another).

use async_trait::async_trait;
use redis::aio::ConnectionManager;
use tower_sessions::MemoryStore;
use tower_sessions::session::{Id, Record};
use tower_sessions::session_store::{self, SessionStore};

/// The demo's session store.
#[derive(Debug, Clone)]
pub(crate) enum Sessions {
    Memory(MemoryStore),
    Redis(RedisSessions),
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
