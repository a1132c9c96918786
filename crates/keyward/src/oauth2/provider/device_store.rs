//! The store of the device authorization grant (RFC 8628): pending device authorizations,
//! keyed by the SHA-256 of their device code and of their user code, and the counters that
//! rate-limit verification attempts (§5.1, §5.2).
//!
//! It is a trait apart from [`OAuth2Store`](super::store::OAuth2Store): a server without it
//! has no device grant;
//! [`AuthorizationServerBuilder::device_codes`](super::AuthorizationServerBuilder::device_codes)
//! turns the grant on. Like the other stores it never reads a clock (every call takes `now`)
//! and keeps only hashes of the codes: the device code exists only in the device
//! authorization response, the user code only there and on the user's screen.
//!
//! Three operations must be atomic across every instance sharing a backend:
//! - [`DeviceCodeStore::decide_device_code`]: a pending authorization is approved or denied
//!   once; of two concurrent decisions exactly one is [`DeviceDecide::Decided`];
//! - [`DeviceCodeStore::poll_device_code`]: records the poll time and, when the authorization
//!   was approved, takes it; of two concurrent polls of an approved code exactly one is
//!   [`DevicePoll::Approved`] (the tokens are issued once);
//! - [`DeviceCodeStore::count_attempt`]: an increment within a window.

use serde::{Deserialize, Serialize};

use super::store::{BoxFuture, StoreError};

/// Where a device authorization stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum DeviceStatus {
    /// Waiting for the user (RFC 8628 §3.3).
    Pending,
    /// The user approved; the next poll takes it.
    Approved {
        /// The resource owner who approved.
        subject: String,
        /// The scopes granted: some or all of those asked for.
        scopes: Vec<String>,
        /// When the resource owner authenticated.
        auth_time: Option<i64>,
    },
    /// The user denied (§3.5 `access_denied`).
    Denied,
    /// The approved authorization was taken: tokens were issued (the device code is spent).
    Taken,
}

/// A device authorization (RFC 8628 §3.1–§3.2), kept until it expires.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceCodeRecord {
    /// The lowercase hex SHA-256 of the device code: the key of polls.
    pub device_code_hash: String,
    /// The lowercase hex SHA-256 of the normalised user code (eight letters, no dash): the
    /// key of the verification page. Unique among live records.
    pub user_code_hash: String,
    /// The client that asked.
    pub client_id: String,
    /// The scopes asked for.
    pub scopes: Vec<String>,
    /// The polling interval in seconds (§3.2 `interval`); grows by 5 s with each `slow_down`.
    pub interval: i64,
    /// When the client last polled, if it has.
    pub last_poll: Option<i64>,
    /// When the authorization was made.
    pub issued_at: i64,
    /// When the device code and user code expire (§3.2 `expires_in`).
    pub expires_at: i64,
    /// Pending, approved, denied or taken.
    pub status: DeviceStatus,
}

/// What [`DeviceCodeStore::decide_device_code`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeviceDecide {
    /// The authorization was pending; it now carries the decision. Holds the record as it is
    /// now.
    Decided(DeviceCodeRecord),
    /// It was approved, denied or taken before; nothing changed.
    AlreadyDecided,
    /// No live authorization has this user code.
    Unknown,
}

/// What [`DeviceCodeStore::poll_device_code`] found (RFC 8628 §3.5).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DevicePoll {
    /// No such device code for this client (or it was swept): `invalid_grant`.
    Unknown,
    /// The device code expired: `expired_token`. Nothing was recorded.
    Expired,
    /// Still pending; the poll was recorded: `authorization_pending`.
    Pending,
    /// Still pending, and the client polled sooner than `interval` after its last poll: the
    /// interval grew by 5 s (the new value is given) and the poll was recorded: `slow_down`.
    SlowDown {
        /// The interval from now on, in seconds.
        interval: i64,
    },
    /// The user denied: `access_denied`.
    Denied,
    /// The user approved, and this poll took the authorization (it is now
    /// [`DeviceStatus::Taken`]); holds the record as it was approved.
    Approved(DeviceCodeRecord),
    /// The authorization was taken before: the device code is spent (`invalid_grant`).
    Taken,
}

/// Device authorizations and verification-attempt counters (RFC 8628).
pub trait DeviceCodeStore: Send + Sync {
    /// Stores a new device authorization. [`StoreError::Duplicate`] if its device-code hash,
    /// or its user-code hash among live records (those expiring after `now`), is taken; the
    /// server then draws another user code.
    fn create_device_code<'a>(
        &'a self,
        record: &'a DeviceCodeRecord,
        now: i64,
    ) -> BoxFuture<'a, Result<(), StoreError>>;

    /// The authorization with this user-code hash, if it expires after `now` (whatever its
    /// status).
    fn get_device_code_by_user_code<'a>(
        &'a self,
        user_code_hash: &'a str,
        now: i64,
    ) -> BoxFuture<'a, Result<Option<DeviceCodeRecord>, StoreError>>;

    /// Atomically: if the live authorization with this user-code hash is
    /// [`DeviceStatus::Pending`], sets its status to `decision` (approved or denied). Of many
    /// concurrent calls with one hash, at most one is [`DeviceDecide::Decided`].
    fn decide_device_code<'a>(
        &'a self,
        user_code_hash: &'a str,
        decision: &'a DeviceStatus,
        now: i64,
    ) -> BoxFuture<'a, Result<DeviceDecide, StoreError>>;

    /// One poll of the token endpoint by `client_id` (RFC 8628 §3.4–§3.5), atomically:
    /// - an unknown hash, or a record of another client: [`DevicePoll::Unknown`], nothing
    ///   recorded;
    /// - `expires_at <= now`: [`DevicePoll::Expired`];
    /// - pending: records `last_poll = now`; if the previous poll was less than `interval`
    ///   seconds before `now`, adds 5 to `interval` and answers [`DevicePoll::SlowDown`],
    ///   else [`DevicePoll::Pending`];
    /// - denied: [`DevicePoll::Denied`];
    /// - approved: marks it [`DeviceStatus::Taken`] and answers [`DevicePoll::Approved`] (of
    ///   many concurrent polls, at most one);
    /// - taken: [`DevicePoll::Taken`].
    fn poll_device_code<'a>(
        &'a self,
        device_code_hash: &'a str,
        client_id: &'a str,
        now: i64,
    ) -> BoxFuture<'a, Result<DevicePoll, StoreError>>;

    /// Counts one verification attempt under `key` and returns the count in the current
    /// window, atomically: if the key has no counter live at `now`, a new one starts at 1 and
    /// lives until `window_ends_at`; else it is incremented (its end unchanged).
    fn count_attempt<'a>(
        &'a self,
        key: &'a str,
        window_ends_at: i64,
        now: i64,
    ) -> BoxFuture<'a, Result<u64, StoreError>>;

    /// Removes authorizations and attempt counters that expired at or before `now`; how many.
    fn purge_expired_device_codes(&self, now: i64) -> BoxFuture<'_, Result<u64, StoreError>>;
}

impl<T: DeviceCodeStore + ?Sized> DeviceCodeStore for std::sync::Arc<T> {
    fn create_device_code<'a>(
        &'a self,
        record: &'a DeviceCodeRecord,
        now: i64,
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        (**self).create_device_code(record, now)
    }
    fn get_device_code_by_user_code<'a>(
        &'a self,
        user_code_hash: &'a str,
        now: i64,
    ) -> BoxFuture<'a, Result<Option<DeviceCodeRecord>, StoreError>> {
        (**self).get_device_code_by_user_code(user_code_hash, now)
    }
    fn decide_device_code<'a>(
        &'a self,
        user_code_hash: &'a str,
        decision: &'a DeviceStatus,
        now: i64,
    ) -> BoxFuture<'a, Result<DeviceDecide, StoreError>> {
        (**self).decide_device_code(user_code_hash, decision, now)
    }
    fn poll_device_code<'a>(
        &'a self,
        device_code_hash: &'a str,
        client_id: &'a str,
        now: i64,
    ) -> BoxFuture<'a, Result<DevicePoll, StoreError>> {
        (**self).poll_device_code(device_code_hash, client_id, now)
    }
    fn count_attempt<'a>(
        &'a self,
        key: &'a str,
        window_ends_at: i64,
        now: i64,
    ) -> BoxFuture<'a, Result<u64, StoreError>> {
        (**self).count_attempt(key, window_ends_at, now)
    }
    fn purge_expired_device_codes(&self, now: i64) -> BoxFuture<'_, Result<u64, StoreError>> {
        (**self).purge_expired_device_codes(now)
    }
}
