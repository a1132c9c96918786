//! Pushed authorization requests (RFC 9126) in SQL: [`PushedRequestStore`] for the SQLite
//! and PostgreSQL stores, over the table of migration 7 (`keyward_oauth2_pushed_requests`).
//! One SQL text serves both backends.
//!
//! A take is one `DELETE … RETURNING`: of concurrent takes of one hash only one statement
//! deletes the row and sees it (PostgreSQL re-checks the row after its lock, SQLite runs one
//! write at a time). An expired row is deleted and not returned.

use keyward::oauth2::provider::par::{PushedRequest, PushedRequestStore};
use keyward::oauth2::provider::store::{BoxFuture, StoreError};

use crate::sql::map_err;

fn to_json(request: &PushedRequest) -> Result<String, StoreError> {
    serde_json::to_string(request).map_err(StoreError::backend)
}

fn from_json(json: &str) -> Result<PushedRequest, StoreError> {
    serde_json::from_str(json).map_err(|e| StoreError::Corrupt(format!("pushed request: {e}")))
}

/// The trait implementation, identical for both backends.
macro_rules! sql_par_impls {
    ($store:ty) => {
        impl PushedRequestStore for $store {
            fn create_pushed_request<'a>(
                &'a self,
                request: &'a PushedRequest,
            ) -> BoxFuture<'a, Result<(), StoreError>> {
                Box::pin(async move {
                    sqlx::query(
                        "INSERT INTO keyward_oauth2_pushed_requests \
                         (request_uri_hash, client_id, record, expires_at) VALUES ($1, $2, $3, $4)",
                    )
                    .bind(&request.request_uri_hash)
                    .bind(&request.client_id)
                    .bind(to_json(request)?)
                    .bind(request.expires_at)
                    .execute(self.pool())
                    .await
                    .map_err(map_err)?;
                    Ok(())
                })
            }

            fn take_pushed_request<'a>(
                &'a self,
                request_uri_hash: &'a str,
                now: i64,
            ) -> BoxFuture<'a, Result<Option<PushedRequest>, StoreError>> {
                Box::pin(async move {
                    let taken: Option<(String, i64)> = sqlx::query_as(
                        "DELETE FROM keyward_oauth2_pushed_requests WHERE request_uri_hash = $1 \
                         RETURNING record, expires_at",
                    )
                    .bind(request_uri_hash)
                    .fetch_optional(self.pool())
                    .await
                    .map_err(map_err)?;
                    match taken {
                        Some((json, expires_at)) if expires_at > now => Ok(Some(from_json(&json)?)),
                        _ => Ok(None),
                    }
                })
            }

            fn purge_expired_pushed_requests(&self, now: i64) -> BoxFuture<'_, Result<u64, StoreError>> {
                Box::pin(async move {
                    Ok(sqlx::query("DELETE FROM keyward_oauth2_pushed_requests WHERE expires_at <= $1")
                        .bind(now)
                        .execute(self.pool())
                        .await
                        .map_err(map_err)?
                        .rows_affected())
                })
            }
        }
    };
}

#[cfg(feature = "sqlite")]
sql_par_impls!(crate::SqliteStore);
#[cfg(feature = "postgres")]
sql_par_impls!(crate::PostgresStore);
