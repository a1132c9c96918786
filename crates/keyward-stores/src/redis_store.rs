//! The Redis store, for several provider instances sharing one Redis.
//!
//! Keys (all under the store's prefix):
//! - `c:{client_id}`: a client, as JSON;
//! - `t:{token}`: a temporary credential, as a hash, expiring with it (`EXPIRE`);
//! - `p:{client_id}`: the client's pending (unauthorized) temporary credentials, a sorted
//!   set of tokens scored by expiry, which the temporary credential's hash names in its
//!   `pending` field;
//! - `a:{token}`: a token credential, as JSON;
//! - `u:{user_id}`: the tokens of the user's token credentials, a set (the grants page);
//! - `n:{client}:{token}:{timestamp}:{nonce}`: a nonce (components percent-encoded, so none
//!   can contain `:`), holding its expiry time, with `EX`;
//! - `replay-epoch`: the replay epoch ([`keyward::common::replay`]), the provider's `now`
//!   (seconds) when a call first found it missing, without expiry. It is read with every
//!   nonce, in the same round trip; a Redis that lost its data (a restart without
//!   persistence, `FLUSHALL`, a fail-over to a replica that lacks the key) lost it too, and
//!   the next call starts a new epoch, so that requests timestamped at or before it, whose
//!   nonces may have been forgotten, are refused. One marker serves every replay cache
//!   under the prefix.
//!
//! Atomicity: a nonce is recorded with `SET NX EX` (only one `SET NX` of a key succeeds);
//! creating (with the client's pending count), authorizing and taking a temporary
//! credential (`HGETALL` then `DEL`: only one take sees the fields), and creating and
//! revoking a token credential with its user's index are Lua scripts, which Redis runs
//! without interleaving. The scripts that remove a pending token read its sorted set's key
//! from the credential's hash: the store is for a single Redis (or a primary and its
//! replicas), not a Redis Cluster.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, LazyLock};
use std::time::Duration;

use keyward::common::encoding::encode_into;
use keyward::common::random::{OsRandom, RandomSource};
use keyward::common::secret::SecretString;
use keyward::oauth1::rfc5849::store::{
    Authorization, AuthorizeOutcome, BoxFuture, Client, ClientStore, NonceKey, NonceStore, NonceToRecord,
    OAuth1Store, Recorded as NonceRecorded, ReplayEpoch, SignedLookup, StoreError, TemporaryCredential,
    TemporaryCredentialStore, TokenCredentialRecord, TokenCredentialStore,
};
use redis::aio::{ConnectionLike, ConnectionManager};
use redis::{Cmd, Pipeline, RedisFuture, Value};

use crate::StoreAdmin;
use crate::redis_conn::Connection;

mod oauth2;

/// The store's connection: its own ([`RedisStore::connect`]) or the caller's manager
/// ([`RedisStore::new`]).
#[derive(Clone)]
pub(crate) enum Conn {
    Own(Connection),
    Manager(ConnectionManager),
}

impl ConnectionLike for Conn {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            Conn::Own(c) => c.req_packed_command(cmd),
            Conn::Manager(c) => c.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            Conn::Own(c) => c.req_packed_commands(pipeline, offset, count),
            Conn::Manager(c) => c.req_packed_commands(pipeline, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Conn::Own(c) => c.get_db(),
            Conn::Manager(c) => c.get_db(),
        }
    }
}

/// The OAuth 1.0a stores and the OAuth 2 server's stores in Redis (for the latter's keys
/// and scripts, see `redis_store/oauth2.rs`).
///
/// Redis expires temporary credentials and nonces by itself (their TTL is `expires_at −
/// now`, with `now` from the provider's clock); an entry whose `expires_at` has passed by
/// the provider's clock is treated as absent even while Redis still holds it.
#[derive(Clone)]
pub struct RedisStore {
    pub(crate) conn: Conn,
    prefix: String,
    /// Tags the nonces this store records in look-ups: random per store, then a counter, so
    /// that every recording has its own value across instances, without a random draw per
    /// request.
    tag: Arc<(String, AtomicU64)>,
}

impl std::fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisStore").field("prefix", &self.prefix).finish_non_exhaustive()
    }
}

pub(crate) fn map_err(e: redis::RedisError) -> StoreError {
    // A demoted primary (`READONLY`) is a fail-over under way: unavailable for now.
    if e.is_io_error()
        || e.is_timeout()
        || e.is_connection_dropped()
        || e.is_connection_refusal()
        || crate::redis_conn::read_only(&e)
    {
        StoreError::unavailable(e)
    } else {
        StoreError::backend(e)
    }
}

/// Creates a temporary credential unless its key exists (0) or, when it is pending
/// (unauthorized) and `max` is not negative, its client already has `max` pending ones (2).
/// KEYS[1]: the key; KEYS[2]: the client's pending set. ARGV: token, secret, client_id,
/// callback_uri, expires_at, ttl, authorized (0/1), user_id, verifier, max, now.
static CREATE_TEMPORARY: LazyLock<redis::Script> = LazyLock::new(|| {
    redis::Script::new(
        r"
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
local pending = ARGV[7] ~= '1'
if pending then
    redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', ARGV[11])
    local max = tonumber(ARGV[10])
    if max >= 0 and redis.call('ZCARD', KEYS[2]) >= max then return 2 end
end
redis.call('HSET', KEYS[1], 'token', ARGV[1], 'secret', ARGV[2], 'client_id', ARGV[3],
    'callback_uri', ARGV[4], 'expires_at', ARGV[5])
if pending then
    redis.call('HSET', KEYS[1], 'pending', KEYS[2])
    redis.call('ZADD', KEYS[2], ARGV[5], ARGV[1])
    if redis.call('TTL', KEYS[2]) < tonumber(ARGV[6]) then redis.call('EXPIRE', KEYS[2], ARGV[6]) end
else
    redis.call('HSET', KEYS[1], 'user_id', ARGV[8], 'verifier', ARGV[9])
end
redis.call('EXPIRE', KEYS[1], ARGV[6])
return 1
",
    )
});

/// Sets user and verifier once, and takes the token out of its client's pending set.
/// KEYS[1]: the key. ARGV: user_id, verifier, now, token. Returns 0 (absent or expired),
/// 1 (authorized), 2 (already authorized).
static AUTHORIZE: LazyLock<redis::Script> = LazyLock::new(|| {
    redis::Script::new(
        r"
local expires_at = redis.call('HGET', KEYS[1], 'expires_at')
if not expires_at or tonumber(expires_at) <= tonumber(ARGV[3]) then return 0 end
if redis.call('HEXISTS', KEYS[1], 'user_id') == 1 then return 2 end
redis.call('HSET', KEYS[1], 'user_id', ARGV[1], 'verifier', ARGV[2])
local pending = redis.call('HGET', KEYS[1], 'pending')
if pending then redis.call('ZREM', pending, ARGV[4]) end
return 1
",
    )
});

/// Returns a temporary credential's fields and deletes it, and its token from its
/// client's pending set. KEYS[1]: the key. ARGV: the token. The `DEL` runs even for an
/// absent key, so that a demoted primary answers `READONLY` (unavailable) rather than
/// "no such credential".
static TAKE_TEMPORARY: LazyLock<redis::Script> = LazyLock::new(|| {
    redis::Script::new(
        r"
local fields = redis.call('HGETALL', KEYS[1])
redis.call('DEL', KEYS[1])
if #fields == 0 then return fields end
for i = 1, #fields, 2 do
    if fields[i] == 'pending' then redis.call('ZREM', fields[i + 1], ARGV[1]) end
end
return fields
",
    )
});

/// Stores a token credential unless its key exists, and adds it to its user's set.
/// KEYS[1]: the key; KEYS[2]: the user's set. ARGV: the JSON, the token. Returns 1 when
/// stored.
static CREATE_TOKEN: LazyLock<redis::Script> = LazyLock::new(|| {
    redis::Script::new(
        r"
if not redis.call('SET', KEYS[1], ARGV[1], 'NX') then return 0 end
redis.call('SADD', KEYS[2], ARGV[2])
return 1
",
    )
});

/// Deletes a token credential if it belongs to the user, and drops it from the user's
/// set. KEYS[1]: the key; KEYS[2]: the user's set. ARGV: the token, the user. Returns 1
/// when deleted.
static REVOKE_TOKEN: LazyLock<redis::Script> = LazyLock::new(|| {
    redis::Script::new(
        r"
local json = redis.call('GET', KEYS[1])
if not json then
    redis.call('SREM', KEYS[2], ARGV[1])
    return 0
end
if cjson.decode(json)['user_id'] ~= ARGV[2] then return 0 end
redis.call('DEL', KEYS[1])
redis.call('SREM', KEYS[2], ARGV[1])
return 1
",
    )
});

/// Replaces a nonce whose recorded expiry has passed by the provider's clock (the `SET NX`
/// having found it). KEYS[1]: the key. ARGV: the new value, now, ttl. Returns 1 when
/// replaced. A nonce's value starts with its expiry (then `:` and a tag unique to the
/// recording when [`OAuth1Store::lookup_signed`] recorded it).
static REPLACE_EXPIRED_NONCE: LazyLock<redis::Script> = LazyLock::new(|| {
    redis::Script::new(
        r"
local v = redis.call('GET', KEYS[1])
if v and tonumber(string.match(v, '^%d+') or '0') > tonumber(ARGV[2]) then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[3])
return 1
",
    )
});

/// The `MGET` reply of a look-up that records its nonce: client, token credential, epoch
/// marker.
type LookupReply = (Option<String>, Option<String>, Option<i64>);

/// The epoch marker's key, after the prefix: no `:`, so no record's key can be it.
const EPOCH_KEY: &str = "replay-epoch";

/// Starts a replay epoch unless one has started. KEYS[1]: the marker. ARGV[1]: now.
/// Returns the epoch.
static START_EPOCH: LazyLock<redis::Script> = LazyLock::new(|| {
    redis::Script::new(
        r"
redis.call('SET', KEYS[1], ARGV[1], 'NX')
return redis.call('GET', KEYS[1])
",
    )
});

/// Deletes a nonce only if it still holds the value this request recorded. KEYS[1]: the
/// key. ARGV: the value.
static DELETE_OWN_NONCE: LazyLock<redis::Script> = LazyLock::new(|| {
    redis::Script::new(
        r"
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
",
    )
});

/// Seconds until `expires_at`, at least 1 (Redis refuses a TTL of 0).
fn ttl(expires_at: i64, now: i64) -> i64 {
    expires_at.saturating_sub(now).max(1)
}

fn field(map: &mut HashMap<String, String>, name: &str) -> Result<String, StoreError> {
    map.remove(name).ok_or_else(|| StoreError::Corrupt(format!("temporary credential without {name}")))
}

fn temporary_from_hash(mut map: HashMap<String, String>) -> Result<Option<TemporaryCredential>, StoreError> {
    if map.is_empty() {
        return Ok(None);
    }
    let expires_at = field(&mut map, "expires_at")?
        .parse()
        .map_err(|_| StoreError::Corrupt("temporary credential with a bad expires_at".into()))?;
    let authorization = match (map.remove("user_id"), map.remove("verifier")) {
        (Some(user_id), Some(verifier)) => {
            Some(Authorization { user_id, verifier: SecretString::new(verifier) })
        }
        (None, None) => None,
        _ => return Err(StoreError::Corrupt("temporary credential with half an authorization".into())),
    };
    Ok(Some(TemporaryCredential {
        token: field(&mut map, "token")?,
        secret: SecretString::new(field(&mut map, "secret")?),
        client_id: field(&mut map, "client_id")?,
        callback_uri: field(&mut map, "callback_uri")?,
        expires_at,
        authorization,
    }))
}

fn from_json<T: serde::de::DeserializeOwned>(json: Option<String>) -> Result<Option<T>, StoreError> {
    json.map(|j| serde_json::from_str(&j).map_err(|e| StoreError::Corrupt(e.to_string()))).transpose()
}

fn to_json<T: serde::Serialize>(value: &T) -> Result<String, StoreError> {
    serde_json::to_string(value).map_err(StoreError::backend)
}

impl RedisStore {
    /// A store over an existing connection manager; every key starts with `prefix` (e.g.
    /// `keyward:`), so several stores can share one Redis database.
    pub fn new(conn: ConnectionManager, prefix: impl Into<String>) -> Self {
        Self::over(Conn::Manager(conn), prefix.into())
    }

    fn over(conn: Conn, prefix: String) -> Self {
        let tag = Arc::new((OsRandom.alphanumeric(16), AtomicU64::new(0)));
        Self { conn, prefix, tag }
    }

    /// Connects to `url` (`redis://host:port/db`, or `redis+unix:///path` for a socket);
    /// the connection reconnects by itself.
    ///
    /// The store keeps one multiplexed connection, whose commands from concurrent requests
    /// go to Redis in batches: one write per scheduling round of the worker thread, not one
    /// per request (see `BENCHMARKS.md`). When the connection fails, the calls under way
    /// fail with [`StoreError::Unavailable`] and the next call connects again. While Redis
    /// is unreachable a call fails within two connection attempts (1 s timeout each; at once
    /// when the connection is refused); replies have a 500 ms timeout. Use
    /// [`RedisStore::new`] for other settings.
    pub async fn connect(url: &str, prefix: impl Into<String>) -> Result<Self, StoreError> {
        let client = redis::Client::open(url).map_err(map_err)?;
        let conn = Connection::open(client, Duration::from_secs(1), Duration::from_millis(500))
            .await
            .map_err(map_err)?;
        Ok(Self::over(Conn::Own(conn), prefix.into()))
    }

    /// The prefix of every key this store writes.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// Appends `{prefix}{kind}:{encoded id}` to `out`: the key of a client (`c`), temporary
    /// credential (`t`) or token credential (`a`).
    fn push_key(&self, out: &mut String, kind: &str, id: &str) {
        out.push_str(&self.prefix);
        out.push_str(kind);
        out.push(':');
        encode_into(out, id);
    }

    fn key(&self, kind: &str, id: &str) -> String {
        let mut out = String::with_capacity(self.prefix.len() + kind.len() + 1 + id.len());
        self.push_key(&mut out, kind, id);
        out
    }

    fn client_key(&self, client_id: &str) -> String {
        self.key("c", client_id)
    }

    fn temporary_key(&self, token: &str) -> String {
        self.key("t", token)
    }

    fn token_key(&self, token: &str) -> String {
        self.key("a", token)
    }

    /// Appends `{prefix}n:{client}:{token}:{timestamp}:{nonce}` to `out`.
    fn push_nonce_key(&self, out: &mut String, key: &NonceKey) {
        self.push_key(out, "n", &key.client_id);
        // `-` for "no token" cannot collide with a token, whose encoding is prefixed by `=`.
        match &key.token {
            None => out.push_str(":-"),
            Some(t) => {
                out.push_str(":=");
                encode_into(out, t);
            }
        }
        let _ = write!(out, ":{}:", key.timestamp);
        encode_into(out, &key.nonce);
    }

    fn nonce_key(&self, key: &NonceKey) -> String {
        let mut out = String::with_capacity(self.prefix.len() + 32 + key.client_id.len() + key.nonce.len());
        self.push_nonce_key(&mut out, key);
        out
    }

    /// Appends the value a look-up writes for its nonce to `out`: the expiry, then this
    /// store's tag and the look-up's number (see [`RedisStore::tag`]).
    fn push_nonce_value(&self, out: &mut String, expires_at: i64, count: u64) {
        let _ = write!(out, "{expires_at}:{}{count}", self.tag.0);
    }
}

impl ClientStore for RedisStore {
    fn get_client<'a>(&'a self, client_id: &'a str) -> BoxFuture<'a, Result<Option<Client>, StoreError>> {
        Box::pin(async move {
            let mut conn = self.conn.clone();
            let json: Option<String> = redis::cmd("GET")
                .arg(self.client_key(client_id))
                .query_async(&mut conn)
                .await
                .map_err(map_err)?;
            from_json(json)
        })
    }
}

impl RedisStore {
    /// Creates a temporary credential, its client holding at most `max_pending` pending
    /// ones when given (see `CREATE_TEMPORARY`).
    async fn create_temporary(
        &self,
        credential: &TemporaryCredential,
        now: i64,
        max_pending: Option<usize>,
    ) -> Result<(), StoreError> {
        let mut conn = self.conn.clone();
        // Redis needs a duration; the record's expiry is absolute.
        let (authorized, user_id, verifier) = match &credential.authorization {
            Some(a) => ("1", a.user_id.as_str(), a.verifier.secret()),
            None => ("0", "", ""),
        };
        let created: i64 = CREATE_TEMPORARY
            .key(self.temporary_key(&credential.token))
            .key(self.key("p", &credential.client_id))
            .arg(&credential.token)
            .arg(credential.secret.secret())
            .arg(&credential.client_id)
            .arg(&credential.callback_uri)
            .arg(credential.expires_at)
            .arg(ttl(credential.expires_at, now))
            .arg(authorized)
            .arg(user_id)
            .arg(verifier)
            .arg(max_pending.map_or(-1, |m| i64::try_from(m).unwrap_or(i64::MAX)))
            .arg(now)
            .invoke_async(&mut conn)
            .await
            .map_err(map_err)?;
        match created {
            1 => Ok(()),
            2 => Err(StoreError::LimitReached),
            _ => Err(StoreError::Duplicate),
        }
    }
}

impl TemporaryCredentialStore for RedisStore {
    fn create_temporary_credential<'a>(
        &'a self,
        credential: &'a TemporaryCredential,
        now: i64,
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(self.create_temporary(credential, now, None))
    }

    fn create_temporary_credential_capped<'a>(
        &'a self,
        credential: &'a TemporaryCredential,
        now: i64,
        max_pending: usize,
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(self.create_temporary(credential, now, Some(max_pending)))
    }

    fn get_temporary_credential<'a>(
        &'a self,
        token: &'a str,
        now: i64,
    ) -> BoxFuture<'a, Result<Option<TemporaryCredential>, StoreError>> {
        Box::pin(async move {
            let mut conn = self.conn.clone();
            let map: HashMap<String, String> = redis::cmd("HGETALL")
                .arg(self.temporary_key(token))
                .query_async(&mut conn)
                .await
                .map_err(map_err)?;
            Ok(temporary_from_hash(map)?.filter(|c| !c.is_expired(now)))
        })
    }

    fn authorize_temporary_credential<'a>(
        &'a self,
        token: &'a str,
        authorization: &'a Authorization,
        now: i64,
    ) -> BoxFuture<'a, Result<AuthorizeOutcome, StoreError>> {
        Box::pin(async move {
            let mut conn = self.conn.clone();
            let outcome: i64 = AUTHORIZE
                .key(self.temporary_key(token))
                .arg(&authorization.user_id)
                .arg(authorization.verifier.secret())
                .arg(now)
                .arg(token)
                .invoke_async(&mut conn)
                .await
                .map_err(map_err)?;
            Ok(match outcome {
                1 => AuthorizeOutcome::Authorized,
                2 => AuthorizeOutcome::AlreadyAuthorized,
                _ => AuthorizeOutcome::NotFound,
            })
        })
    }

    fn take_temporary_credential<'a>(
        &'a self,
        token: &'a str,
        now: i64,
    ) -> BoxFuture<'a, Result<Option<TemporaryCredential>, StoreError>> {
        Box::pin(async move {
            let mut conn = self.conn.clone();
            let map: HashMap<String, String> = TAKE_TEMPORARY
                .key(self.temporary_key(token))
                .arg(token)
                .invoke_async(&mut conn)
                .await
                .map_err(map_err)?;
            Ok(temporary_from_hash(map)?.filter(|c| !c.is_expired(now)))
        })
    }
}

impl TokenCredentialStore for RedisStore {
    fn create_token_credential<'a>(
        &'a self,
        credential: &'a TokenCredentialRecord,
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(async move {
            let mut conn = self.conn.clone();
            let created: i64 = CREATE_TOKEN
                .key(self.token_key(&credential.token))
                .key(self.key("u", &credential.user_id))
                .arg(to_json(credential)?)
                .arg(&credential.token)
                .invoke_async(&mut conn)
                .await
                .map_err(map_err)?;
            if created == 1 { Ok(()) } else { Err(StoreError::Duplicate) }
        })
    }

    fn get_token_credential<'a>(
        &'a self,
        token: &'a str,
    ) -> BoxFuture<'a, Result<Option<TokenCredentialRecord>, StoreError>> {
        Box::pin(async move {
            let mut conn = self.conn.clone();
            let json: Option<String> =
                redis::cmd("GET").arg(self.token_key(token)).query_async(&mut conn).await.map_err(map_err)?;
            from_json(json)
        })
    }

    /// The user's set, then one `MGET` of its tokens; tokens whose credential is gone are
    /// dropped from the set.
    fn token_credentials_of_user<'a>(
        &'a self,
        user_id: &'a str,
    ) -> BoxFuture<'a, Result<Vec<TokenCredentialRecord>, StoreError>> {
        Box::pin(async move {
            let mut conn = self.conn.clone();
            let user_key = self.key("u", user_id);
            let tokens: Vec<String> =
                redis::cmd("SMEMBERS").arg(&user_key).query_async(&mut conn).await.map_err(map_err)?;
            if tokens.is_empty() {
                return Ok(Vec::new());
            }
            let mut mget = redis::cmd("MGET");
            for token in &tokens {
                mget.arg(self.token_key(token));
            }
            let values: Vec<Option<String>> = mget.query_async(&mut conn).await.map_err(map_err)?;
            let mut found = Vec::with_capacity(tokens.len());
            let mut gone = Vec::new();
            for (token, value) in tokens.iter().zip(values) {
                match from_json::<TokenCredentialRecord>(value)? {
                    Some(record) if record.user_id == user_id => found.push(record),
                    Some(_) => {}
                    None => gone.push(token),
                }
            }
            if !gone.is_empty() {
                let _: i64 = redis::cmd("SREM")
                    .arg(&user_key)
                    .arg(gone)
                    .query_async(&mut conn)
                    .await
                    .map_err(map_err)?;
            }
            found.sort_by(|a, b| (a.created_at, &a.token).cmp(&(b.created_at, &b.token)));
            Ok(found)
        })
    }

    fn revoke_token_credential<'a>(
        &'a self,
        user_id: &'a str,
        token: &'a str,
    ) -> BoxFuture<'a, Result<bool, StoreError>> {
        Box::pin(async move {
            let mut conn = self.conn.clone();
            let revoked: i64 = REVOKE_TOKEN
                .key(self.token_key(token))
                .key(self.key("u", user_id))
                .arg(token)
                .arg(user_id)
                .invoke_async(&mut conn)
                .await
                .map_err(map_err)?;
            Ok(revoked == 1)
        })
    }
}

impl NonceStore for RedisStore {
    /// `SET NX EX` of the nonce and `GET` of the epoch marker, in one round trip.
    fn insert_nonce<'a>(
        &'a self,
        nonce: &'a NonceToRecord,
        now: i64,
    ) -> BoxFuture<'a, Result<NonceRecorded, StoreError>> {
        Box::pin(async move {
            let mut conn = self.conn.clone();
            let redis_key = self.nonce_key(&nonce.key);
            let value = nonce.expires_at.to_string();
            let mut pipe = redis::Pipeline::with_capacity(2);
            // The nonce first: a flush between the two commands then shows as a missing
            // marker, never as a present marker over a forgotten nonce.
            pipe.add_command(set_nonce(&redis_key, &value, nonce.expires_at, now))
                .cmd("GET")
                .arg(self.epoch_key());
            let (set, marker): (Option<()>, Option<i64>) =
                pipe.query_async(&mut conn).await.map_err(map_err)?;
            let fresh = set.is_some()
                || self.replace_expired_nonce(&redis_key, &value, nonce.expires_at, now).await?;
            Ok(NonceRecorded { fresh, epoch: self.epoch(marker, now).await? })
        })
    }

    /// Deletes the nonce, on a task of its own, so that a request cancelled while releasing
    /// still releases.
    fn release_nonce<'a>(&'a self, nonce: &'a NonceToRecord) -> BoxFuture<'a, Result<(), StoreError>> {
        let (mut conn, redis_key) = (self.conn.clone(), self.nonce_key(&nonce.key));
        let delete = async move {
            let _: i64 = redis::cmd("DEL").arg(redis_key).query_async(&mut conn).await.map_err(map_err)?;
            Ok(())
        };
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => {
                let task = runtime.spawn(delete);
                Box::pin(async move { task.await.map_err(StoreError::backend)? })
            }
            Err(_) => Box::pin(delete),
        }
    }
}

/// `SET key value NX EX ttl`: records a nonce unless present.
fn set_nonce(redis_key: &str, value: &str, expires_at: i64, now: i64) -> redis::Cmd {
    let mut cmd = redis::Cmd::with_capacity(6, redis_key.len() + value.len() + 32);
    cmd.arg("SET").arg(redis_key).arg(value).arg("NX").arg("EX").arg(ttl(expires_at, now));
    cmd
}

impl RedisStore {
    /// The epoch marker's key.
    fn epoch_key(&self) -> String {
        let mut key = String::with_capacity(self.prefix.len() + EPOCH_KEY.len());
        key.push_str(&self.prefix);
        key.push_str(EPOCH_KEY);
        key
    }

    /// The replay epoch, from the marker read with the nonce; when it was missing, a new
    /// epoch starts at `now` (or at whatever another instance started it at meanwhile).
    async fn epoch(&self, marker: Option<i64>, now: i64) -> Result<ReplayEpoch, StoreError> {
        if let Some(epoch) = marker {
            return Ok(ReplayEpoch::Since(epoch));
        }
        let mut conn = self.conn.clone();
        let epoch: i64 =
            START_EPOCH.key(self.epoch_key()).arg(now).invoke_async(&mut conn).await.map_err(map_err)?;
        Ok(ReplayEpoch::Since(epoch))
    }

    /// After a `SET NX` that found the key present: a replay, unless its expiry has passed
    /// by the provider's clock while Redis still holds it (clocks differ, or a test moved
    /// time), in which case it is replaced atomically and the nonce is fresh.
    async fn replace_expired_nonce(
        &self,
        redis_key: &str,
        value: &str,
        expires_at: i64,
        now: i64,
    ) -> Result<bool, StoreError> {
        let mut conn = self.conn.clone();
        let replaced: i64 = REPLACE_EXPIRED_NONCE
            .key(redis_key)
            .arg(value)
            .arg(now)
            .arg(ttl(expires_at, now))
            .invoke_async(&mut conn)
            .await
            .map_err(map_err)?;
        Ok(replaced == 1)
    }
}

/// A nonce recorded by [`OAuth1Store::lookup_signed`] before its request was judged: if the
/// look-up does not finish with an answer (its future is dropped because the request was
/// cancelled, or Redis failed after the command was sent), the guard deletes the nonce on a
/// task of its own — only if the key still holds this look-up's value, which carries a
/// tag of its own (see `RedisStore::tag`), so that it never deletes a nonce another
/// request recorded. Key and value are built again only then, so that the guard costs no
/// allocation on the common path.
struct Recorded<'a> {
    store: &'a RedisStore,
    nonce: &'a NonceToRecord,
    count: u64,
    armed: bool,
}

impl Drop for Recorded<'_> {
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        // Outside a runtime there is nothing to run it on; the nonce then expires by itself.
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            let (mut conn, key) = (self.store.conn.clone(), self.store.nonce_key(&self.nonce.key));
            let mut value = String::new();
            self.store.push_nonce_value(&mut value, self.nonce.expires_at, self.count);
            runtime.spawn(async move {
                let _: Result<i64, _> = DELETE_OWN_NONCE.key(key).arg(value).invoke_async(&mut conn).await;
            });
        }
    }
}

/// A request to a protected resource costs one round trip: the nonce's `SET NX EX`,
/// pipelined with an `MGET` of the client, the token credential and the epoch marker. A
/// nonce recorded this way for a request that then fails is deleted again
/// ([`NonceStore::release_nonce`], on a task of its own so that a cancelled request still
/// does it), and so is one whose look-up did not finish with an answer (see `Recorded`).
impl OAuth1Store for RedisStore {
    fn lookup_signed<'a>(
        &'a self,
        client_id: &'a str,
        token: Option<&'a str>,
        nonce: Option<&'a NonceToRecord>,
        now: i64,
    ) -> BoxFuture<'a, Result<SignedLookup, StoreError>> {
        Box::pin(async move {
            let mut conn = self.conn.clone();
            // Every key and value is written into `buf` and copied into its command from
            // there: no allocation per key on this path, which every protected request takes.
            let mut buf = String::with_capacity(2 * self.prefix.len() + 128);
            let mut mget = redis::Cmd::with_capacity(3, buf.capacity());
            mget.arg("MGET");
            self.push_key(&mut buf, "c", client_id);
            mget.arg(buf.as_str());
            buf.clear();
            // Without a token, a key no token can have (token keys are `a:` + an encoded
            // token) keeps the reply's shape; its slot is ignored.
            match token {
                Some(token) => self.push_key(&mut buf, "a", token),
                None => {
                    buf.push_str(&self.prefix);
                    buf.push('-');
                }
            }
            mget.arg(buf.as_str());
            let decode = |client: Option<String>, credential: Option<String>| {
                Ok::<_, StoreError>((from_json(client)?, from_json(credential.filter(|_| token.is_some()))?))
            };
            let Some(n) = nonce else {
                let (client, credential): (Option<String>, Option<String>) =
                    mget.query_async(&mut conn).await.map_err(map_err)?;
                let (client, credential) = decode(client, credential)?;
                return Ok(SignedLookup::new(client, credential));
            };
            let count = self.tag.1.fetch_add(1, Ordering::Relaxed);
            // The epoch marker rides in the `MGET`; the `MGET` runs after the nonce's
            // `SET NX`, so that a flush between them shows as a missing marker, never as a
            // present marker over a forgotten nonce.
            buf.clear();
            buf.push_str(&self.prefix);
            buf.push_str(EPOCH_KEY);
            mget.arg(buf.as_str());
            buf.clear();
            self.push_nonce_key(&mut buf, &n.key);
            let key_len = buf.len();
            self.push_nonce_value(&mut buf, n.expires_at, count);
            let (redis_key, value) = buf.split_at(key_len);
            let mut pipe = redis::Pipeline::with_capacity(2);
            pipe.add_command(set_nonce(redis_key, value, n.expires_at, now)).add_command(mget);
            let mut recorded = Recorded { store: self, nonce: n, count, armed: true };
            // `SET NX` answers `OK` or nil; `()` takes the `OK` without allocating.
            let (set, (client, credential, marker)): (Option<()>, LookupReply) =
                pipe.query_async(&mut conn).await.map_err(map_err)?;
            let fresh =
                set.is_some() || self.replace_expired_nonce(redis_key, value, n.expires_at, now).await?;
            let epoch = self.epoch(marker, now).await?;
            let (client, credential) = decode(client, credential)?;
            // Answered: from here on the provider releases a fresh nonce if the request fails.
            recorded.armed = false;
            Ok(SignedLookup::new(client, credential).with_nonce(NonceRecorded { fresh, epoch }))
        })
    }
}

impl StoreAdmin for RedisStore {
    fn put_client<'a>(&'a self, client: &'a Client) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(async move {
            let mut conn = self.conn.clone();
            let () = redis::cmd("SET")
                .arg(self.client_key(&client.client_id))
                .arg(to_json(client)?)
                .query_async(&mut conn)
                .await
                .map_err(map_err)?;
            Ok(())
        })
    }

    fn delete_client<'a>(&'a self, client_id: &'a str) -> BoxFuture<'a, Result<bool, StoreError>> {
        Box::pin(async move {
            let mut conn = self.conn.clone();
            let n: i64 = redis::cmd("DEL")
                .arg(self.client_key(client_id))
                .query_async(&mut conn)
                .await
                .map_err(map_err)?;
            Ok(n > 0)
        })
    }

    /// Redis expires records by itself: nothing to purge. Starts the replay epoch at `now`
    /// if none has started (an empty Redis), as the first nonce would.
    fn purge_expired(&self, now: i64) -> BoxFuture<'_, Result<u64, StoreError>> {
        Box::pin(async move {
            self.epoch(None, now).await?;
            Ok(0)
        })
    }
}

/// How long [`RedisStore`]'s ping waits for `PONG`, connecting included.
const PING_TIMEOUT: Duration = Duration::from_secs(1);

/// `PING`, within 1 s (a new connection included, when the last one failed): `Unavailable`
/// when Redis is unreachable, does not answer in time, or answers something else.
impl crate::Ping for RedisStore {
    fn ping(&self) -> BoxFuture<'_, Result<(), StoreError>> {
        Box::pin(async move {
            let mut conn = self.conn.clone();
            let cmd = redis::cmd("PING");
            match tokio::time::timeout(PING_TIMEOUT, cmd.query_async::<String>(&mut conn)).await {
                Ok(Ok(pong)) if pong == "PONG" => Ok(()),
                Ok(Ok(other)) => Err(StoreError::unavailable(format!("Redis answered {other:?} to PING"))),
                Ok(Err(e)) => Err(map_err(e)),
                Err(_) => Err(crate::timed_out("Redis", PING_TIMEOUT)),
            }
        })
    }
}

/// A Redis error as the client's state-cache error, classified as the store's errors are
/// ([`map_err`]): an outage (refused, dropped, timed out, read-only) is `Unavailable`.
#[cfg(feature = "client")]
fn state_cache_err(e: redis::RedisError) -> keyward_client::registry::StateCacheError {
    use keyward_client::registry::StateCacheError;
    match map_err(e) {
        StoreError::Unavailable(e) => StateCacheError::Unavailable(e),
        StoreError::Backend(e) => StateCacheError::Backend(e),
        other => StateCacheError::backend(other),
    }
}

/// Client flow state (CSRF state, PKCE verifier, OIDC nonce, request token) in Redis, for
/// several client instances: `SET … EX` to save, `GETDEL` to read once, under `s:` in the
/// store's prefix.
#[cfg(feature = "client")]
impl keyward_client::registry::state::StateCache for RedisStore {
    fn set<'a>(
        &'a self,
        key: &'a str,
        value: String,
        ttl: i64,
    ) -> BoxFuture<'a, Result<(), keyward_client::registry::StateCacheError>> {
        Box::pin(async move {
            let mut conn = self.conn.clone();
            let () = redis::cmd("SET")
                .arg(self.key("s", key))
                .arg(value)
                .arg("EX")
                .arg(ttl.max(1))
                .query_async(&mut conn)
                .await
                .map_err(state_cache_err)?;
            Ok(())
        })
    }

    fn take<'a>(
        &'a self,
        key: &'a str,
    ) -> BoxFuture<'a, Result<Option<String>, keyward_client::registry::StateCacheError>> {
        Box::pin(async move {
            let mut conn = self.conn.clone();
            redis::cmd("GETDEL").arg(self.key("s", key)).query_async(&mut conn).await.map_err(state_cache_err)
        })
    }
}
