//! Pushed authorization requests (RFC 9126) in Redis: [`PushedRequestStore`] for
//! [`RedisStore`].
//!
//! A request is the JSON of its record under `o2p:{request_uri_hash}` (in the store's
//! prefix, the hash percent-encoded), set with `SET … NX EX` (a taken hash is
//! [`StoreError::Duplicate`]) and taken with `GETDEL`, which Redis runs atomically: of
//! concurrent takes exactly one gets the value. Judgement of expiry uses the caller's
//! `now`; Redis removes the key by itself one second after the record's expiry, so
//! `purge_expired_pushed_requests` removes nothing.

use keyward::common::encoding::encode_into;
use keyward::oauth2::provider::par::{PushedRequest, PushedRequestStore};
use keyward::oauth2::provider::store::{BoxFuture, StoreError};

use crate::RedisStore;
use crate::redis_store::map_err;

impl RedisStore {
    /// `{prefix}o2p:{encoded hash}`.
    fn pushed_key(&self, hash: &str) -> String {
        let mut out = String::with_capacity(self.prefix().len() + 4 + hash.len());
        out.push_str(self.prefix());
        out.push_str("o2p:");
        encode_into(&mut out, hash);
        out
    }
}

impl PushedRequestStore for RedisStore {
    fn create_pushed_request<'a>(
        &'a self,
        request: &'a PushedRequest,
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(async move {
            let json = serde_json::to_string(request).map_err(StoreError::backend)?;
            let ttl = (request.expires_at - request.issued_at).max(1) + 1;
            let mut conn = self.conn.clone();
            let set: Option<String> = redis::cmd("SET")
                .arg(self.pushed_key(&request.request_uri_hash))
                .arg(json)
                .arg("NX")
                .arg("EX")
                .arg(ttl)
                .query_async(&mut conn)
                .await
                .map_err(map_err)?;
            if set.is_some() { Ok(()) } else { Err(StoreError::Duplicate) }
        })
    }

    fn take_pushed_request<'a>(
        &'a self,
        request_uri_hash: &'a str,
        now: i64,
    ) -> BoxFuture<'a, Result<Option<PushedRequest>, StoreError>> {
        Box::pin(async move {
            let mut conn = self.conn.clone();
            let json: Option<String> = redis::cmd("GETDEL")
                .arg(self.pushed_key(request_uri_hash))
                .query_async(&mut conn)
                .await
                .map_err(map_err)?;
            let Some(json) = json else { return Ok(None) };
            let request: PushedRequest = serde_json::from_str(&json)
                .map_err(|e| StoreError::Corrupt(format!("pushed request: {e}")))?;
            Ok((request.expires_at > now).then_some(request))
        })
    }

    fn purge_expired_pushed_requests(&self, _now: i64) -> BoxFuture<'_, Result<u64, StoreError>> {
        Box::pin(std::future::ready(Ok(0)))
    }
}
