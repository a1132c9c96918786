//! The OAuth 2 authorization server's stores ([`keyward::oauth2::provider::store`]) and
//! [`OnceStore`] in Redis.
//!
//! Keys (under the store's prefix; every id percent-encoded, so none contains `:`):
//! - `o2c:{client_id}`: a registered client, as JSON;
//! - `o2k:{code_hash}`: a code, a hash (`record` as JSON, `used`, `expires_at`,
//!   `family_id`, `client_id`), expiring with it;
//! - `o2t:{token_hash}`: a token, a hash (`record` as JSON, `kind`, `expires_at`,
//!   `revoked`, `family_id`), expiring with it;
//! - `o2f:{family_id}`: the keys of a family's tokens, a set, expiring with its last token;
//! - `o2s:{subject}:{client_id}`: the keys of the tokens a client holds for a subject, a set,
//!   likewise;
//! - `o2x:{client_id}`: the keys of every token of a client, a set, likewise;
//! - `o2g:{subject}:{client_id}`: a consent grant, as JSON, expiring with it (no expiry
//!   for a grant without one);
//! - `o2u:{subject}`: the clients the subject granted, a set (the grants page);
//! - `once:{namespace}:{key}`: a single-use value, holding its expiry time, with `EX`.
//!
//! Atomicity: creating a code or tokens (with their sets), taking a code, rotating a
//! refresh token (check, revoke, store the new pair), revoking a token, a family, a
//! subject's or a client's tokens are Lua scripts, which Redis runs without interleaving. A grant is
//! merged by compare-and-set: read, merge, then a script writes the merged grant only if
//! the stored one is still what was read (else the merge is done again). A single-use value
//! is recorded with `SET NX EX`, pipelined with a `GET` of the replay epoch's marker, as a
//! nonce is. The revocation scripts reach the tokens through the keys their sets hold: for
//! a single Redis (or a primary and its replicas), like the rest of the store.
//!
//! Redis expires every record by itself (its TTL is `expires_at − now`; for a code and for
//! new tokens, `now` is their `issued_at`), so the `purge_expired_*` methods remove nothing;
//! a record whose `expires_at` has passed by the caller's clock is treated as absent while
//! Redis still holds it.

use std::sync::LazyLock;

use keyward::common::encoding::encode_into;
use keyward::common::store::OnceStore;
use keyward::oauth2::provider::store::{
    AuthorizationCodeStore, CodeRecord, ConsentGrant, ConsentStore, OAuth2ClientStore, OAuth2Store,
    RegisteredClient, RotateRefresh, TakeCode, TokenKind, TokenRecord, TokenStore,
};

use super::{BoxFuture, NonceRecorded, RedisStore, StoreError, from_json, map_err, set_nonce, to_json, ttl};

/// Stores the tokens of `KEYS` and `ARGV` from `k` and `a` on: KEYS (4 per token) the
/// token's key, its family set, its subject set, its client set; ARGV (7 per token) the record, kind,
/// expires_at, ttl, family_id, whether it has a subject (1/0), whether it is revoked (1/0).
const STORE_TOKEN: &str = r"
local function store(k, a)
    local key, ttl = KEYS[k], tonumber(ARGV[a + 3])
    redis.call('HSET', key, 'record', ARGV[a], 'kind', ARGV[a + 1], 'expires_at', ARGV[a + 2],
        'revoked', ARGV[a + 6], 'family_id', ARGV[a + 4])
    redis.call('EXPIRE', key, ttl)
    local sets = {KEYS[k + 1], KEYS[k + 3]}
    if ARGV[a + 5] == '1' then sets[3] = KEYS[k + 2] end
    for _, set in ipairs(sets) do
        redis.call('SADD', set, key)
        if redis.call('TTL', set) < ttl then redis.call('EXPIRE', set, ttl) end
    end
end
local function taken(first)
    for i = first, #KEYS, 4 do
        if redis.call('EXISTS', KEYS[i]) == 1 then return true end
        for j = i + 4, #KEYS, 4 do
            if KEYS[i] == KEYS[j] then return true end
        end
    end
    return false
end
";

/// Stores one or two tokens (see [`STORE_TOKEN`]), unless a key is taken. Returns 1 when
/// stored.
static CREATE_TOKENS: LazyLock<redis::Script> = LazyLock::new(|| {
    redis::Script::new(&format!(
        "{STORE_TOKEN}
if taken(1) then return 0 end
for j = 0, #KEYS / 4 - 1 do store(1 + 4 * j, 1 + 7 * j) end
return 1
"
    ))
});

/// Rotates a refresh token. KEYS[1]: the old token; then the new tokens (see
/// [`STORE_TOKEN`]). ARGV[1]: now; ARGV[2]: whether the old token is revoked (1/0); then
/// the new tokens. Returns `{0, ''}` (unknown), `{1, old record}` (rotated), `{2,
/// family_id}` (reused), `{3, ''}` (a new key is taken: nothing done).
static ROTATE_REFRESH: LazyLock<redis::Script> = LazyLock::new(|| {
    redis::Script::new(&format!(
        "{STORE_TOKEN}
local old = redis.call('HMGET', KEYS[1], 'record', 'kind', 'expires_at', 'revoked', 'family_id')
if not old[1] or old[2] ~= 'refresh' or tonumber(old[3]) <= tonumber(ARGV[1]) then return {{0, ''}} end
if old[4] ~= '0' then return {{2, old[5]}} end
if taken(2) then return {{3, ''}} end
if ARGV[2] == '1' then redis.call('HSET', KEYS[1], 'revoked', '1') end
for j = 0, (#KEYS - 1) / 4 - 1 do store(2 + 4 * j, 3 + 7 * j) end
return {{1, old[1]}}
"
    ))
});

/// Revokes a token. KEYS[1]: its key. Returns 1 when it was found unrevoked.
static REVOKE_TOKEN: LazyLock<redis::Script> = LazyLock::new(|| {
    redis::Script::new(
        r"
if redis.call('HGET', KEYS[1], 'revoked') ~= '0' then return 0 end
redis.call('HSET', KEYS[1], 'revoked', '1')
return 1
",
    )
});

/// Revokes every token of a set (a family's, a subject's at a client, or a client's), and drops the
/// keys of expired tokens from it. KEYS[1]: the set. Returns how many were revoked.
static REVOKE_SET: LazyLock<redis::Script> = LazyLock::new(|| {
    redis::Script::new(
        r"
local n = 0
for _, key in ipairs(redis.call('SMEMBERS', KEYS[1])) do
    local revoked = redis.call('HGET', key, 'revoked')
    if revoked == '0' then
        redis.call('HSET', key, 'revoked', '1')
        n = n + 1
    elseif not revoked then
        redis.call('SREM', KEYS[1], key)
    end
end
return n
",
    )
});

/// Creates a code unless its key exists. KEYS[1]: the key. ARGV: record, expires_at,
/// family_id, client_id, ttl. Returns 1 when created.
static CREATE_CODE: LazyLock<redis::Script> = LazyLock::new(|| {
    redis::Script::new(
        r"
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], 'record', ARGV[1], 'used', '0', 'expires_at', ARGV[2], 'family_id', ARGV[3],
    'client_id', ARGV[4])
redis.call('EXPIRE', KEYS[1], ARGV[5])
return 1
",
    )
});

/// Takes a code. KEYS[1]: the key. ARGV[1]: now. Returns `{0, '', ''}` (unknown or
/// expired), `{1, record, ''}` (fresh, now used), `{2, family_id, client_id}` (used).
static TAKE_CODE: LazyLock<redis::Script> = LazyLock::new(|| {
    redis::Script::new(
        r"
local c = redis.call('HMGET', KEYS[1], 'record', 'used', 'expires_at', 'family_id', 'client_id')
if not c[1] or tonumber(c[3]) <= tonumber(ARGV[1]) then return {0, '', ''} end
if c[2] ~= '0' then return {2, c[4], c[5]} end
redis.call('HSET', KEYS[1], 'used', '1')
return {1, c[1], ''}
",
    )
});

/// Writes a grant if the stored one is still `ARGV[1]` (`''`: none). KEYS[1]: the grant;
/// KEYS[2]: the subject's set. ARGV: expected, new JSON, ttl (0: none), client_id. Returns
/// 1 when written.
static SAVE_GRANT: LazyLock<redis::Script> = LazyLock::new(|| {
    redis::Script::new(
        r"
if (redis.call('GET', KEYS[1]) or '') ~= ARGV[1] then return 0 end
if tonumber(ARGV[3]) > 0 then
    redis.call('SET', KEYS[1], ARGV[2], 'EX', ARGV[3])
else
    redis.call('SET', KEYS[1], ARGV[2])
end
redis.call('SADD', KEYS[2], ARGV[4])
return 1
",
    )
});

/// Deletes a grant and drops it from its subject's set. KEYS[1]: the grant; KEYS[2]: the
/// set. ARGV[1]: the client. Returns 1 when there was one.
static REVOKE_GRANT: LazyLock<redis::Script> = LazyLock::new(|| {
    redis::Script::new(
        r"
redis.call('SREM', KEYS[2], ARGV[1])
return redis.call('DEL', KEYS[1])
",
    )
});

/// How many times a grant's compare-and-set is tried before the save fails as unavailable
/// (each failure means another save of the same grant succeeded meanwhile).
const GRANT_ATTEMPTS: usize = 1000;

impl RedisStore {
    /// `{prefix}{kind}:{a}:{b}`: a key of two ids.
    fn key2(&self, kind: &str, a: &str, b: &str) -> String {
        let mut out = self.key(kind, a);
        out.push(':');
        encode_into(&mut out, b);
        out
    }

    /// Appends a token's keys and arguments for [`STORE_TOKEN`], with its TTL from `now`.
    fn push_token(
        &self,
        script: &mut redis::ScriptInvocation<'_>,
        t: &TokenRecord,
        now: i64,
    ) -> Result<(), StoreError> {
        script
            .key(self.key("o2t", &t.token_hash))
            .key(self.key("o2f", &t.family_id))
            .key(self.key2("o2s", t.subject.as_deref().unwrap_or(""), &t.client_id))
            .key(self.key("o2x", &t.client_id))
            .arg(to_json(t)?)
            .arg(match t.kind {
                TokenKind::Access => "access",
                TokenKind::Refresh => "refresh",
            })
            .arg(t.expires_at)
            .arg(ttl(t.expires_at, now))
            .arg(&t.family_id)
            .arg(if t.subject.is_some() { "1" } else { "0" })
            .arg(if t.revoked { "1" } else { "0" });
        Ok(())
    }

    async fn run_revoke_set(&self, set: String) -> Result<u64, StoreError> {
        let mut conn = self.conn.clone();
        let n: u64 = REVOKE_SET.key(set).invoke_async(&mut conn).await.map_err(map_err)?;
        Ok(n)
    }

    /// Reads, merges and writes a grant, again until no other save came between.
    async fn save(&self, grant: &ConsentGrant, now: i64) -> Result<(), StoreError> {
        let mut conn = self.conn.clone();
        let key = self.key2("o2g", &grant.subject, &grant.client_id);
        let set = self.key("o2u", &grant.subject);
        for _ in 0..GRANT_ATTEMPTS {
            let stored: Option<String> =
                redis::cmd("GET").arg(&key).query_async(&mut conn).await.map_err(map_err)?;
            let merged = match from_json::<ConsentGrant>(stored.clone())? {
                Some(old) if old.is_live(now) => merge(old, grant),
                _ => grant.clone(),
            };
            let written: i64 = SAVE_GRANT
                .key(&key)
                .key(&set)
                .arg(stored.as_deref().unwrap_or(""))
                .arg(to_json(&merged)?)
                .arg(merged.expires_at.map_or(0, |e| ttl(e, now)))
                .arg(&grant.client_id)
                .invoke_async(&mut conn)
                .await
                .map_err(map_err)?;
            if written == 1 {
                return Ok(());
            }
        }
        Err(StoreError::unavailable("a consent grant saved concurrently too often to merge"))
    }
}

/// A record from its JSON; undecodable is [`StoreError::Corrupt`].
fn decode<T: serde::de::DeserializeOwned>(json: &str) -> Result<T, StoreError> {
    serde_json::from_str(json).map_err(|e| StoreError::Corrupt(e.to_string()))
}

/// `stored` merged with `new` as [`ConsentStore::save_grant`] says.
fn merge(mut stored: ConsentGrant, new: &ConsentGrant) -> ConsentGrant {
    for s in &new.scopes {
        if !stored.scopes.contains(s) {
            stored.scopes.push(s.clone());
        }
    }
    for r in &new.resources {
        if !stored.resources.contains(r) {
            stored.resources.push(r.clone());
        }
    }
    stored.granted_at = new.granted_at;
    stored.expires_at = new.expires_at;
    stored
}

impl OAuth2ClientStore for RedisStore {
    fn get_registered_client<'a>(
        &'a self,
        client_id: &'a str,
    ) -> BoxFuture<'a, Result<Option<RegisteredClient>, StoreError>> {
        Box::pin(async move {
            let mut conn = self.conn.clone();
            let json: Option<String> = redis::cmd("GET")
                .arg(self.key("o2c", client_id))
                .query_async(&mut conn)
                .await
                .map_err(map_err)?;
            from_json(json)
        })
    }

    fn create_registered_client<'a>(
        &'a self,
        client: &'a RegisteredClient,
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(async move {
            let mut conn = self.conn.clone();
            let set: Option<()> = redis::cmd("SET")
                .arg(self.key("o2c", &client.client_id))
                .arg(to_json(client)?)
                .arg("NX")
                .query_async(&mut conn)
                .await
                .map_err(map_err)?;
            set.ok_or(StoreError::Duplicate)
        })
    }

    fn update_registered_client<'a>(
        &'a self,
        client: &'a RegisteredClient,
    ) -> BoxFuture<'a, Result<bool, StoreError>> {
        Box::pin(async move {
            let mut conn = self.conn.clone();
            let set: Option<()> = redis::cmd("SET")
                .arg(self.key("o2c", &client.client_id))
                .arg(to_json(client)?)
                .arg("XX")
                .query_async(&mut conn)
                .await
                .map_err(map_err)?;
            Ok(set.is_some())
        })
    }

    fn delete_registered_client<'a>(&'a self, client_id: &'a str) -> BoxFuture<'a, Result<bool, StoreError>> {
        Box::pin(async move {
            let mut conn = self.conn.clone();
            let n: i64 = redis::cmd("DEL")
                .arg(self.key("o2c", client_id))
                .query_async(&mut conn)
                .await
                .map_err(map_err)?;
            Ok(n > 0)
        })
    }
}

impl AuthorizationCodeStore for RedisStore {
    fn create_code<'a>(&'a self, code: &'a CodeRecord) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(async move {
            let mut conn = self.conn.clone();
            let created: i64 = CREATE_CODE
                .key(self.key("o2k", &code.code_hash))
                .arg(to_json(code)?)
                .arg(code.expires_at)
                .arg(&code.family_id)
                .arg(&code.client_id)
                .arg(ttl(code.expires_at, code.issued_at))
                .invoke_async(&mut conn)
                .await
                .map_err(map_err)?;
            if created == 1 { Ok(()) } else { Err(StoreError::Duplicate) }
        })
    }

    fn take_code<'a>(&'a self, code_hash: &'a str, now: i64) -> BoxFuture<'a, Result<TakeCode, StoreError>> {
        Box::pin(async move {
            let mut conn = self.conn.clone();
            let (outcome, first, second): (i64, String, String) = TAKE_CODE
                .key(self.key("o2k", code_hash))
                .arg(now)
                .invoke_async(&mut conn)
                .await
                .map_err(map_err)?;
            Ok(match outcome {
                1 => TakeCode::Fresh(decode(&first)?),
                2 => TakeCode::Used { family_id: first, client_id: second },
                _ => TakeCode::Unknown,
            })
        })
    }

    /// Redis expires codes by itself.
    fn purge_expired_codes(&self, _now: i64) -> BoxFuture<'_, Result<u64, StoreError>> {
        Box::pin(std::future::ready(Ok(0)))
    }
}

impl TokenStore for RedisStore {
    fn create_tokens<'a>(
        &'a self,
        access: &'a TokenRecord,
        refresh: Option<&'a TokenRecord>,
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(async move {
            let mut conn = self.conn.clone();
            let mut script = CREATE_TOKENS.prepare_invoke();
            for t in std::iter::once(access).chain(refresh) {
                self.push_token(&mut script, t, t.issued_at)?;
            }
            let created: i64 = script.invoke_async(&mut conn).await.map_err(map_err)?;
            if created == 1 { Ok(()) } else { Err(StoreError::Duplicate) }
        })
    }

    fn get_token<'a>(
        &'a self,
        token_hash: &'a str,
        now: i64,
    ) -> BoxFuture<'a, Result<Option<TokenRecord>, StoreError>> {
        Box::pin(async move {
            let mut conn = self.conn.clone();
            let (record, revoked): (Option<String>, Option<String>) = redis::cmd("HMGET")
                .arg(self.key("o2t", token_hash))
                .arg("record")
                .arg("revoked")
                .query_async(&mut conn)
                .await
                .map_err(map_err)?;
            let Some(mut token) = from_json::<TokenRecord>(record)? else { return Ok(None) };
            token.revoked = revoked.as_deref() != Some("0");
            Ok(Some(token).filter(|t| t.is_active(now)))
        })
    }

    fn rotate_refresh<'a>(
        &'a self,
        old_hash: &'a str,
        new_access: &'a TokenRecord,
        new_refresh: Option<&'a TokenRecord>,
        now: i64,
    ) -> BoxFuture<'a, Result<RotateRefresh, StoreError>> {
        Box::pin(async move {
            let mut conn = self.conn.clone();
            let mut script = ROTATE_REFRESH.prepare_invoke();
            script.key(self.key("o2t", old_hash)).arg(now).arg(if new_refresh.is_some() { "1" } else { "0" });
            for t in std::iter::once(new_access).chain(new_refresh) {
                self.push_token(&mut script, t, now)?;
            }
            let (outcome, payload): (i64, String) = script.invoke_async(&mut conn).await.map_err(map_err)?;
            match outcome {
                1 => {
                    let mut old: TokenRecord = decode(&payload)?;
                    old.revoked = false;
                    Ok(RotateRefresh::Rotated(old))
                }
                2 => Ok(RotateRefresh::Reused { family_id: payload }),
                3 => Err(StoreError::Duplicate),
                _ => Ok(RotateRefresh::Unknown),
            }
        })
    }

    fn revoke_token<'a>(&'a self, token_hash: &'a str) -> BoxFuture<'a, Result<bool, StoreError>> {
        Box::pin(async move {
            let mut conn = self.conn.clone();
            let n: i64 = REVOKE_TOKEN
                .key(self.key("o2t", token_hash))
                .invoke_async(&mut conn)
                .await
                .map_err(map_err)?;
            Ok(n == 1)
        })
    }

    fn revoke_family<'a>(&'a self, family_id: &'a str) -> BoxFuture<'a, Result<u64, StoreError>> {
        Box::pin(self.run_revoke_set(self.key("o2f", family_id)))
    }

    fn revoke_subject_tokens<'a>(
        &'a self,
        subject: &'a str,
        client_id: &'a str,
    ) -> BoxFuture<'a, Result<u64, StoreError>> {
        Box::pin(self.run_revoke_set(self.key2("o2s", subject, client_id)))
    }

    fn revoke_client_tokens<'a>(&'a self, client_id: &'a str) -> BoxFuture<'a, Result<u64, StoreError>> {
        Box::pin(self.run_revoke_set(self.key("o2x", client_id)))
    }

    /// Redis expires tokens by itself.
    fn purge_expired_tokens(&self, _now: i64) -> BoxFuture<'_, Result<u64, StoreError>> {
        Box::pin(std::future::ready(Ok(0)))
    }
}

impl ConsentStore for RedisStore {
    fn get_grant<'a>(
        &'a self,
        subject: &'a str,
        client_id: &'a str,
        now: i64,
    ) -> BoxFuture<'a, Result<Option<ConsentGrant>, StoreError>> {
        Box::pin(async move {
            let mut conn = self.conn.clone();
            let json: Option<String> = redis::cmd("GET")
                .arg(self.key2("o2g", subject, client_id))
                .query_async(&mut conn)
                .await
                .map_err(map_err)?;
            Ok(from_json::<ConsentGrant>(json)?.filter(|g| g.is_live(now)))
        })
    }

    fn save_grant<'a>(&'a self, grant: &'a ConsentGrant, now: i64) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(self.save(grant, now))
    }

    /// The subject's set, then one `MGET` of its grants; clients whose grant is gone are
    /// dropped from the set.
    fn list_grants<'a>(
        &'a self,
        subject: &'a str,
        now: i64,
    ) -> BoxFuture<'a, Result<Vec<ConsentGrant>, StoreError>> {
        Box::pin(async move {
            let mut conn = self.conn.clone();
            let set = self.key("o2u", subject);
            let clients: Vec<String> =
                redis::cmd("SMEMBERS").arg(&set).query_async(&mut conn).await.map_err(map_err)?;
            if clients.is_empty() {
                return Ok(Vec::new());
            }
            let mut mget = redis::cmd("MGET");
            for client in &clients {
                mget.arg(self.key2("o2g", subject, client));
            }
            let values: Vec<Option<String>> = mget.query_async(&mut conn).await.map_err(map_err)?;
            let (mut live, mut gone) = (Vec::with_capacity(clients.len()), Vec::new());
            for (client, value) in clients.iter().zip(values) {
                match from_json::<ConsentGrant>(value)? {
                    Some(g) if g.is_live(now) => live.push(g),
                    Some(_) => {}
                    None => gone.push(client),
                }
            }
            if !gone.is_empty() {
                let _: i64 =
                    redis::cmd("SREM").arg(&set).arg(gone).query_async(&mut conn).await.map_err(map_err)?;
            }
            Ok(live)
        })
    }

    fn revoke_grant<'a>(
        &'a self,
        subject: &'a str,
        client_id: &'a str,
    ) -> BoxFuture<'a, Result<bool, StoreError>> {
        Box::pin(async move {
            let mut conn = self.conn.clone();
            let n: i64 = REVOKE_GRANT
                .key(self.key2("o2g", subject, client_id))
                .key(self.key("o2u", subject))
                .arg(client_id)
                .invoke_async(&mut conn)
                .await
                .map_err(map_err)?;
            Ok(n > 0)
        })
    }

    /// Redis expires grants by itself.
    fn purge_expired_grants(&self, _now: i64) -> BoxFuture<'_, Result<u64, StoreError>> {
        Box::pin(std::future::ready(Ok(0)))
    }
}

impl OAuth2Store for RedisStore {}

/// `SET NX EX` of the value and `GET` of the replay epoch's marker, in one round trip, as
/// for a nonce: one marker serves every replay cache under the prefix.
impl OnceStore for RedisStore {
    fn record_once<'a>(
        &'a self,
        namespace: &'a str,
        key: &'a str,
        expires_at: i64,
        now: i64,
    ) -> BoxFuture<'a, Result<NonceRecorded, StoreError>> {
        Box::pin(async move {
            let mut conn = self.conn.clone();
            let redis_key = self.key2("once", namespace, key);
            let value = expires_at.to_string();
            let mut pipe = redis::Pipeline::with_capacity(2);
            // The value first: a flush between the two commands then shows as a missing
            // marker, never as a present marker over a forgotten value.
            pipe.add_command(set_nonce(&redis_key, &value, expires_at, now)).cmd("GET").arg(self.epoch_key());
            let (set, marker): (Option<()>, Option<i64>) =
                pipe.query_async(&mut conn).await.map_err(map_err)?;
            let fresh =
                set.is_some() || self.replace_expired_nonce(&redis_key, &value, expires_at, now).await?;
            Ok(NonceRecorded { fresh, epoch: self.epoch(marker, now).await? })
        })
    }
}
