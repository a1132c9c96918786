//! The device authorization grant's store (RFC 8628) in Redis: [`DeviceCodeStore`] for
//! [`RedisStore`].
//!
//! Keys (under the store's prefix; every id percent-encoded, so none contains `:`):
//! - `o2d:{device_code_hash}`: a device authorization, a hash: `rec` (the record as
//!   created, JSON), `client`, `exp`, `state` (`pending`, `approved`, `denied`, `taken`),
//!   `decision` (the approval as JSON, or empty), `interval`, `last_poll` (or empty);
//! - `o2du:{user_code_hash}`: the user code's index, a hash: `d` (the device-code hash) and
//!   `exp`;
//! - `o2da:{key}`: a verification-attempt counter, a hash: `n` and `exp` (the window's end).
//!
//! Atomicity: creating (with the user code's index, unless a live record holds it),
//! deciding (only a pending record), polling (recording the time and judging `slow_down`,
//! or taking an approved record) and counting are Lua scripts, which Redis runs without
//! interleaving. Decisions reach the record through the index's `d`: for a single Redis
//! (or a primary and its replicas), like the rest of the store.
//!
//! Every judgement of time uses the caller's `now` (a record whose `exp` has passed is
//! expired while Redis still holds it). Redis removes the keys by itself: an authorization
//! and its index [`EXPIRED_GRACE`] seconds after the record's expiry (so that a late poll
//! still hears `expired_token`), a counter at its window's end; so
//! `purge_expired_device_codes` removes nothing.

use std::sync::LazyLock;

use keyward::common::encoding::encode_into;
use keyward::oauth2::provider::device_store::{
    DeviceCodeRecord, DeviceCodeStore, DeviceDecide, DevicePoll, DeviceStatus,
};
use keyward::oauth2::provider::store::{BoxFuture, StoreError};

use crate::RedisStore;
use crate::redis_store::map_err;

/// How long Redis keeps an authorization after it expired, in seconds, so that a poll
/// then is answered `expired_token` rather than `invalid_grant`.
pub(crate) const EXPIRED_GRACE: i64 = 600;

/// Creates a record unless its key exists or a live record holds its user code (0); 1 when
/// created. KEYS: the record, the user code's index. ARGV: rec, client, exp, state,
/// decision, interval, last_poll, ttl, device-code hash, now.
static CREATE: LazyLock<redis::Script> = LazyLock::new(|| {
    redis::Script::new(
        r"
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
local held = redis.call('HGET', KEYS[2], 'exp')
if held and tonumber(held) > tonumber(ARGV[10]) then return 0 end
redis.call('HSET', KEYS[1], 'rec', ARGV[1], 'client', ARGV[2], 'exp', ARGV[3], 'state', ARGV[4],
    'decision', ARGV[5], 'interval', ARGV[6], 'last_poll', ARGV[7])
redis.call('EXPIRE', KEYS[1], ARGV[8])
redis.call('DEL', KEYS[2])
redis.call('HSET', KEYS[2], 'd', ARGV[9], 'exp', ARGV[3])
redis.call('EXPIRE', KEYS[2], ARGV[8])
return 1
",
    )
});

/// The record's fields through the user code's index, or an empty list. KEYS: the index.
/// ARGV: the prefix of record keys.
static BY_USER_CODE: LazyLock<redis::Script> = LazyLock::new(|| {
    redis::Script::new(
        r"
local d = redis.call('HGET', KEYS[1], 'd')
if not d then return {} end
local f = redis.call('HMGET', ARGV[1] .. d, 'rec', 'state', 'decision', 'interval', 'last_poll')
if not f[1] then return {} end
return f
",
    )
});

/// Decides a live pending record: `{'unknown'}`, `{'decided_before'}`, or `{'decided', rec,
/// state, decision, interval, last_poll}`. KEYS: the index. ARGV: the prefix of record
/// keys, now, state, decision.
static DECIDE: LazyLock<redis::Script> = LazyLock::new(|| {
    redis::Script::new(
        r"
local d = redis.call('HGET', KEYS[1], 'd')
if not d then return {'unknown'} end
local key = ARGV[1] .. d
local exp = redis.call('HGET', key, 'exp')
if not exp or tonumber(exp) <= tonumber(ARGV[2]) then return {'unknown'} end
if redis.call('HGET', key, 'state') ~= 'pending' then return {'decided_before'} end
redis.call('HSET', key, 'state', ARGV[3], 'decision', ARGV[4])
local f = redis.call('HMGET', key, 'rec', 'state', 'decision', 'interval', 'last_poll')
return {'decided', f[1], f[2], f[3], f[4], f[5]}
",
    )
});

/// One poll: `{'unknown'}`, `{'expired'}`, `{'pending'}`, `{'slow_down', interval}`,
/// `{'denied'}`, `{'taken'}`, or `{'approved', rec, decision, interval}` (the record is now
/// taken). KEYS: the record. ARGV: client, now.
static POLL: LazyLock<redis::Script> = LazyLock::new(|| {
    redis::Script::new(
        r"
local f = redis.call('HMGET', KEYS[1], 'client', 'exp', 'state', 'interval', 'last_poll')
if not f[1] or f[1] ~= ARGV[1] then return {'unknown'} end
local now = tonumber(ARGV[2])
if tonumber(f[2]) <= now then return {'expired'} end
local state = f[3]
if state == 'pending' then
    local interval = tonumber(f[4])
    local slow = f[5] ~= '' and now - tonumber(f[5]) < interval
    if slow then interval = interval + 5 end
    redis.call('HSET', KEYS[1], 'interval', interval, 'last_poll', ARGV[2])
    if slow then return {'slow_down', tostring(interval)} end
    return {'pending'}
elseif state == 'approved' then
    redis.call('HSET', KEYS[1], 'state', 'taken', 'last_poll', ARGV[2])
    local r = redis.call('HMGET', KEYS[1], 'rec', 'decision', 'interval')
    return {'approved', r[1], r[2], r[3]}
end
return {state}
",
    )
});

/// Counts one attempt: a new window (1) when none is live at `now`, else the incremented
/// count. KEYS: the counter. ARGV: the window's end, now, ttl.
static COUNT: LazyLock<redis::Script> = LazyLock::new(|| {
    redis::Script::new(
        r"
local f = redis.call('HMGET', KEYS[1], 'n', 'exp')
if not f[1] or tonumber(f[2]) <= tonumber(ARGV[2]) then
    redis.call('HSET', KEYS[1], 'n', 1, 'exp', ARGV[1])
    redis.call('EXPIRE', KEYS[1], ARGV[3])
    return 1
end
return redis.call('HINCRBY', KEYS[1], 'n', 1)
",
    )
});

fn corrupt(what: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(format!("device authorization: {what}"))
}

/// The `state` and `decision` fields of a status.
fn status_fields(status: &DeviceStatus) -> Result<(&'static str, String), StoreError> {
    Ok(match status {
        DeviceStatus::Pending => ("pending", String::new()),
        DeviceStatus::Approved { .. } => {
            ("approved", serde_json::to_string(status).map_err(StoreError::backend)?)
        }
        DeviceStatus::Denied => ("denied", String::new()),
        DeviceStatus::Taken => ("taken", String::new()),
    })
}

/// A record from its fields: `rec` (JSON), `state`, `decision`, `interval`, `last_poll`.
/// With `as_approved`, a taken record is read as the approval it was.
fn record_from_fields(
    rec: &str,
    state: &str,
    decision: &str,
    interval: &str,
    last_poll: &str,
    as_approved: bool,
) -> Result<DeviceCodeRecord, StoreError> {
    let mut record: DeviceCodeRecord = serde_json::from_str(rec).map_err(corrupt)?;
    record.status = match state {
        "pending" => DeviceStatus::Pending,
        "denied" => DeviceStatus::Denied,
        "taken" if !as_approved => DeviceStatus::Taken,
        "approved" | "taken" => {
            let status: DeviceStatus = serde_json::from_str(decision).map_err(corrupt)?;
            if !matches!(status, DeviceStatus::Approved { .. }) {
                return Err(corrupt("an approval that approves nothing"));
            }
            status
        }
        other => return Err(corrupt(format!("unknown state {other:?}"))),
    };
    record.interval = interval.parse().map_err(corrupt)?;
    record.last_poll = if last_poll.is_empty() { None } else { Some(last_poll.parse().map_err(corrupt)?) };
    Ok(record)
}

impl RedisStore {
    /// `{prefix}{kind}:{encoded id}`.
    fn device_key(&self, kind: &str, id: &str) -> String {
        let mut out = String::with_capacity(self.prefix().len() + kind.len() + 1 + id.len());
        out.push_str(self.prefix());
        out.push_str(kind);
        out.push(':');
        encode_into(&mut out, id);
        out
    }

    /// The prefix of record keys, to which a script appends an (encoded) device-code hash.
    fn device_record_prefix(&self) -> String {
        self.device_key("o2d", "")
    }
}

impl DeviceCodeStore for RedisStore {
    fn create_device_code<'a>(
        &'a self,
        record: &'a DeviceCodeRecord,
        now: i64,
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(async move {
            let rec = serde_json::to_string(record).map_err(StoreError::backend)?;
            let (state, decision) = status_fields(&record.status)?;
            let ttl = (record.expires_at - now).max(1) + EXPIRED_GRACE;
            let mut encoded = String::new();
            encode_into(&mut encoded, &record.device_code_hash);
            let mut conn = self.conn.clone();
            let created: i64 = CREATE
                .key(self.device_key("o2d", &record.device_code_hash))
                .key(self.device_key("o2du", &record.user_code_hash))
                .arg(rec)
                .arg(&record.client_id)
                .arg(record.expires_at)
                .arg(state)
                .arg(decision)
                .arg(record.interval)
                .arg(record.last_poll.map(|t| t.to_string()).unwrap_or_default())
                .arg(ttl)
                .arg(encoded)
                .arg(now)
                .invoke_async(&mut conn)
                .await
                .map_err(map_err)?;
            if created == 1 { Ok(()) } else { Err(StoreError::Duplicate) }
        })
    }

    fn get_device_code_by_user_code<'a>(
        &'a self,
        user_code_hash: &'a str,
        now: i64,
    ) -> BoxFuture<'a, Result<Option<DeviceCodeRecord>, StoreError>> {
        Box::pin(async move {
            let mut conn = self.conn.clone();
            let fields: Vec<Option<String>> = BY_USER_CODE
                .key(self.device_key("o2du", user_code_hash))
                .arg(self.device_record_prefix())
                .invoke_async(&mut conn)
                .await
                .map_err(map_err)?;
            let [Some(rec), Some(state), Some(decision), Some(interval), Some(last_poll)] = fields.as_slice()
            else {
                return if fields.is_empty() { Ok(None) } else { Err(corrupt("missing fields")) };
            };
            let record = record_from_fields(rec, state, decision, interval, last_poll, false)?;
            Ok((record.expires_at > now).then_some(record))
        })
    }

    fn decide_device_code<'a>(
        &'a self,
        user_code_hash: &'a str,
        decision: &'a DeviceStatus,
        now: i64,
    ) -> BoxFuture<'a, Result<DeviceDecide, StoreError>> {
        Box::pin(async move {
            let (state, decision_json) = status_fields(decision)?;
            let mut conn = self.conn.clone();
            let reply: Vec<Option<String>> = DECIDE
                .key(self.device_key("o2du", user_code_hash))
                .arg(self.device_record_prefix())
                .arg(now)
                .arg(state)
                .arg(decision_json)
                .invoke_async(&mut conn)
                .await
                .map_err(map_err)?;
            match reply.as_slice() {
                [Some(v)] if v == "unknown" => Ok(DeviceDecide::Unknown),
                [Some(v)] if v == "decided_before" => Ok(DeviceDecide::AlreadyDecided),
                [Some(v), Some(rec), Some(state), Some(decision), Some(interval), Some(last_poll)]
                    if v == "decided" =>
                {
                    Ok(DeviceDecide::Decided(record_from_fields(
                        rec, state, decision, interval, last_poll, false,
                    )?))
                }
                other => Err(corrupt(format!("unexpected reply of {} fields", other.len()))),
            }
        })
    }

    fn poll_device_code<'a>(
        &'a self,
        device_code_hash: &'a str,
        client_id: &'a str,
        now: i64,
    ) -> BoxFuture<'a, Result<DevicePoll, StoreError>> {
        Box::pin(async move {
            let mut conn = self.conn.clone();
            let reply: Vec<Option<String>> = POLL
                .key(self.device_key("o2d", device_code_hash))
                .arg(client_id)
                .arg(now)
                .invoke_async(&mut conn)
                .await
                .map_err(map_err)?;
            let verdict = reply.first().cloned().flatten().unwrap_or_default();
            Ok(match (verdict.as_str(), &reply[1.min(reply.len())..]) {
                ("unknown", _) => DevicePoll::Unknown,
                ("expired", _) => DevicePoll::Expired,
                ("pending", _) => DevicePoll::Pending,
                ("slow_down", [Some(interval)]) => {
                    DevicePoll::SlowDown { interval: interval.parse().map_err(corrupt)? }
                }
                ("denied", _) => DevicePoll::Denied,
                ("taken", _) => DevicePoll::Taken,
                ("approved", [Some(rec), Some(decision), Some(interval)]) => DevicePoll::Approved(
                    record_from_fields(rec, "taken", decision, interval, &now.to_string(), true)?,
                ),
                (other, _) => return Err(corrupt(format!("unexpected poll verdict {other:?}"))),
            })
        })
    }

    fn count_attempt<'a>(
        &'a self,
        key: &'a str,
        window_ends_at: i64,
        now: i64,
    ) -> BoxFuture<'a, Result<u64, StoreError>> {
        Box::pin(async move {
            let mut conn = self.conn.clone();
            let count: i64 = COUNT
                .key(self.device_key("o2da", key))
                .arg(window_ends_at)
                .arg(now)
                .arg((window_ends_at - now).max(1))
                .invoke_async(&mut conn)
                .await
                .map_err(map_err)?;
            u64::try_from(count).map_err(corrupt)
        })
    }

    /// Redis expires the records itself: nothing to remove.
    fn purge_expired_device_codes(&self, _now: i64) -> BoxFuture<'_, Result<u64, StoreError>> {
        Box::pin(std::future::ready(Ok(0)))
    }
}
