//! The device authorization grant's store (RFC 8628) in SQL: [`DeviceCodeStore`] for the
//! SQLite and PostgreSQL stores, over the tables of migration 5
//! (`keyward_oauth2_device_codes`, `keyward_oauth2_device_attempts`). One SQL text serves
//! both backends.
//!
//! Atomicity, each in one statement:
//! - a decision is `UPDATE … WHERE status = 'pending'`: of concurrent decisions only one
//!   finds the row pending (PostgreSQL re-checks the condition after the row lock, SQLite
//!   runs one write at a time);
//! - a poll of a pending row records its time and judges `slow_down` in one `UPDATE`, whose
//!   `SET` reads the row as it was (the verdict is kept in `slowed` for `RETURNING`); a
//!   poll of an approved row takes it with `UPDATE … SET status = 'taken' WHERE status =
//!   'approved'`, which only one statement can win;
//! - an attempt is counted with `INSERT … ON CONFLICT DO UPDATE … RETURNING`.

use keyward::oauth2::provider::device_store::{
    DeviceCodeRecord, DeviceCodeStore, DeviceDecide, DevicePoll, DeviceStatus,
};
use keyward::oauth2::provider::store::{BoxFuture, StoreError};
use sqlx::Row;

use crate::sql::map_err;

/// The columns of a record, in every `SELECT` and `RETURNING`.
const COLUMNS: &str = "device_code_hash, user_code_hash, client_id, scopes, interval_secs, last_poll, \
     issued_at, expires_at, status, subject, granted_scopes, auth_time";

fn scopes_to_column(scopes: &[String]) -> Result<String, StoreError> {
    serde_json::to_string(scopes).map_err(StoreError::backend)
}

fn scopes_from_column(column: &str) -> Result<Vec<String>, StoreError> {
    serde_json::from_str(column).map_err(|e| StoreError::Corrupt(format!("device-code scopes: {e}")))
}

/// The `status` column and the approval columns: subject, granted scopes, auth time.
type StatusColumns<'a> = (&'static str, Option<&'a str>, Option<String>, Option<i64>);

/// A status and its approval columns.
fn status_to_columns(status: &DeviceStatus) -> Result<StatusColumns<'_>, StoreError> {
    Ok(match status {
        DeviceStatus::Pending => ("pending", None, None, None),
        DeviceStatus::Approved { subject, scopes, auth_time } => {
            ("approved", Some(subject.as_str()), Some(scopes_to_column(scopes)?), *auth_time)
        }
        DeviceStatus::Denied => ("denied", None, None, None),
        DeviceStatus::Taken => ("taken", None, None, None),
    })
}

/// Reads the status columns back. A taken row keeps its approval columns, so that
/// `approved` can describe what was taken.
fn status_from_columns(
    status: &str,
    subject: Option<String>,
    granted: Option<String>,
    auth_time: Option<i64>,
) -> Result<DeviceStatus, StoreError> {
    Ok(match status {
        "pending" => DeviceStatus::Pending,
        "approved" => DeviceStatus::Approved {
            subject: subject.ok_or_else(|| StoreError::Corrupt("an approval without subject".into()))?,
            scopes: scopes_from_column(granted.as_deref().unwrap_or("[]"))?,
            auth_time,
        },
        "denied" => DeviceStatus::Denied,
        "taken" => DeviceStatus::Taken,
        other => return Err(StoreError::Corrupt(format!("unknown device-code status {other:?}"))),
    })
}

/// The trait implementation, identical for both backends (`$row`: the backend's row type).
macro_rules! sql_device_impls {
    ($store:ty, $row:ty) => {
        impl $store {
            /// A device record from a row of [`COLUMNS`]; with `as_approved`, a taken row is
            /// read as the approval it was.
            fn device_record_from_row(row: &$row, as_approved: bool) -> Result<DeviceCodeRecord, StoreError> {
                let status: String = row.try_get("status").map_err(map_err)?;
                let status = if as_approved && status == "taken" { "approved".to_owned() } else { status };
                Ok(DeviceCodeRecord {
                    device_code_hash: row.try_get("device_code_hash").map_err(map_err)?,
                    user_code_hash: row.try_get("user_code_hash").map_err(map_err)?,
                    client_id: row.try_get("client_id").map_err(map_err)?,
                    scopes: scopes_from_column(&row.try_get::<String, _>("scopes").map_err(map_err)?)?,
                    interval: row.try_get("interval_secs").map_err(map_err)?,
                    last_poll: row.try_get("last_poll").map_err(map_err)?,
                    issued_at: row.try_get("issued_at").map_err(map_err)?,
                    expires_at: row.try_get("expires_at").map_err(map_err)?,
                    status: status_from_columns(
                        &status,
                        row.try_get("subject").map_err(map_err)?,
                        row.try_get("granted_scopes").map_err(map_err)?,
                        row.try_get("auth_time").map_err(map_err)?,
                    )?,
                })
            }
        }

        impl DeviceCodeStore for $store {
            fn create_device_code<'a>(
                &'a self,
                record: &'a DeviceCodeRecord,
                now: i64,
            ) -> BoxFuture<'a, Result<(), StoreError>> {
                Box::pin(async move {
                    // An expired row gives up its user code.
                    sqlx::query(
                        "DELETE FROM keyward_oauth2_device_codes \
                         WHERE user_code_hash = $1 AND expires_at <= $2",
                    )
                    .bind(&record.user_code_hash)
                    .bind(now)
                    .execute(self.pool())
                    .await
                    .map_err(map_err)?;
                    let (status, subject, granted, auth_time) = status_to_columns(&record.status)?;
                    sqlx::query(
                        "INSERT INTO keyward_oauth2_device_codes (device_code_hash, user_code_hash, \
                         client_id, scopes, interval_secs, last_poll, issued_at, expires_at, status, \
                         subject, granted_scopes, auth_time) \
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
                    )
                    .bind(&record.device_code_hash)
                    .bind(&record.user_code_hash)
                    .bind(&record.client_id)
                    .bind(scopes_to_column(&record.scopes)?)
                    .bind(record.interval)
                    .bind(record.last_poll)
                    .bind(record.issued_at)
                    .bind(record.expires_at)
                    .bind(status)
                    .bind(subject)
                    .bind(granted)
                    .bind(auth_time)
                    .execute(self.pool())
                    .await
                    .map_err(map_err)?;
                    Ok(())
                })
            }

            fn get_device_code_by_user_code<'a>(
                &'a self,
                user_code_hash: &'a str,
                now: i64,
            ) -> BoxFuture<'a, Result<Option<DeviceCodeRecord>, StoreError>> {
                Box::pin(async move {
                    let row = sqlx::query(&format!(
                        "SELECT {COLUMNS} FROM keyward_oauth2_device_codes \
                         WHERE user_code_hash = $1 AND expires_at > $2"
                    ))
                    .bind(user_code_hash)
                    .bind(now)
                    .fetch_optional(self.pool())
                    .await
                    .map_err(map_err)?;
                    row.map(|row| Self::device_record_from_row(&row, false)).transpose()
                })
            }

            fn decide_device_code<'a>(
                &'a self,
                user_code_hash: &'a str,
                decision: &'a DeviceStatus,
                now: i64,
            ) -> BoxFuture<'a, Result<DeviceDecide, StoreError>> {
                Box::pin(async move {
                    let (status, subject, granted, auth_time) = status_to_columns(decision)?;
                    let row = sqlx::query(&format!(
                        "UPDATE keyward_oauth2_device_codes SET status = $2, subject = $3, \
                         granted_scopes = $4, auth_time = $5 \
                         WHERE user_code_hash = $1 AND status = 'pending' AND expires_at > $6 \
                         RETURNING {COLUMNS}"
                    ))
                    .bind(user_code_hash)
                    .bind(status)
                    .bind(subject)
                    .bind(granted)
                    .bind(auth_time)
                    .bind(now)
                    .fetch_optional(self.pool())
                    .await
                    .map_err(map_err)?;
                    if let Some(row) = row {
                        return Ok(DeviceDecide::Decided(Self::device_record_from_row(&row, false)?));
                    }
                    let live = sqlx::query(
                        "SELECT 1 FROM keyward_oauth2_device_codes \
                         WHERE user_code_hash = $1 AND expires_at > $2",
                    )
                    .bind(user_code_hash)
                    .bind(now)
                    .fetch_optional(self.pool())
                    .await
                    .map_err(map_err)?;
                    Ok(if live.is_some() { DeviceDecide::AlreadyDecided } else { DeviceDecide::Unknown })
                })
            }

            fn poll_device_code<'a>(
                &'a self,
                device_code_hash: &'a str,
                client_id: &'a str,
                now: i64,
            ) -> BoxFuture<'a, Result<DevicePoll, StoreError>> {
                Box::pin(async move {
                    // Pending: record the poll, judge its pace.
                    let pending = sqlx::query(
                        "UPDATE keyward_oauth2_device_codes SET \
                         slowed = CASE WHEN last_poll IS NOT NULL AND $3 - last_poll < interval_secs \
                             THEN 1 ELSE 0 END, \
                         interval_secs = CASE WHEN last_poll IS NOT NULL AND $3 - last_poll < interval_secs \
                             THEN interval_secs + 5 ELSE interval_secs END, \
                         last_poll = $3 \
                         WHERE device_code_hash = $1 AND client_id = $2 AND status = 'pending' \
                         AND expires_at > $3 RETURNING slowed, interval_secs",
                    )
                    .bind(device_code_hash)
                    .bind(client_id)
                    .bind(now)
                    .fetch_optional(self.pool())
                    .await
                    .map_err(map_err)?;
                    if let Some(row) = pending {
                        let slowed: i64 = row.try_get("slowed").map_err(map_err)?;
                        let interval: i64 = row.try_get("interval_secs").map_err(map_err)?;
                        return Ok(if slowed == 1 {
                            DevicePoll::SlowDown { interval }
                        } else {
                            DevicePoll::Pending
                        });
                    }
                    // Approved: take it.
                    let taken = sqlx::query(&format!(
                        "UPDATE keyward_oauth2_device_codes SET status = 'taken', last_poll = $3 \
                         WHERE device_code_hash = $1 AND client_id = $2 AND status = 'approved' \
                         AND expires_at > $3 RETURNING {COLUMNS}"
                    ))
                    .bind(device_code_hash)
                    .bind(client_id)
                    .bind(now)
                    .fetch_optional(self.pool())
                    .await
                    .map_err(map_err)?;
                    if let Some(row) = taken {
                        return Ok(DevicePoll::Approved(Self::device_record_from_row(&row, true)?));
                    }
                    // Neither: say why.
                    let row = sqlx::query(
                        "SELECT client_id, status, expires_at FROM keyward_oauth2_device_codes \
                         WHERE device_code_hash = $1",
                    )
                    .bind(device_code_hash)
                    .fetch_optional(self.pool())
                    .await
                    .map_err(map_err)?;
                    let Some(row) = row else { return Ok(DevicePoll::Unknown) };
                    let owner: String = row.try_get("client_id").map_err(map_err)?;
                    let status: String = row.try_get("status").map_err(map_err)?;
                    let expires_at: i64 = row.try_get("expires_at").map_err(map_err)?;
                    Ok(if owner != client_id {
                        DevicePoll::Unknown
                    } else if expires_at <= now {
                        DevicePoll::Expired
                    } else {
                        match status.as_str() {
                            "denied" => DevicePoll::Denied,
                            "taken" => DevicePoll::Taken,
                            // Decided between the statements above: the next poll sees it.
                            "pending" | "approved" => DevicePoll::Pending,
                            other => {
                                return Err(StoreError::Corrupt(format!(
                                    "unknown device-code status {other:?}"
                                )));
                            }
                        }
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
                    let count: i64 = sqlx::query_scalar(
                        "INSERT INTO keyward_oauth2_device_attempts (attempt_key, attempts, expires_at) \
                         VALUES ($1, 1, $2) ON CONFLICT (attempt_key) DO UPDATE SET \
                         attempts = CASE WHEN keyward_oauth2_device_attempts.expires_at <= $3 THEN 1 \
                             ELSE keyward_oauth2_device_attempts.attempts + 1 END, \
                         expires_at = CASE WHEN keyward_oauth2_device_attempts.expires_at <= $3 \
                             THEN excluded.expires_at ELSE keyward_oauth2_device_attempts.expires_at END \
                         RETURNING attempts",
                    )
                    .bind(key)
                    .bind(window_ends_at)
                    .bind(now)
                    .fetch_one(self.pool())
                    .await
                    .map_err(map_err)?;
                    u64::try_from(count).map_err(|_| StoreError::Corrupt("a negative attempt count".into()))
                })
            }

            fn purge_expired_device_codes(&self, now: i64) -> BoxFuture<'_, Result<u64, StoreError>> {
                Box::pin(async move {
                    let codes = sqlx::query("DELETE FROM keyward_oauth2_device_codes WHERE expires_at <= $1")
                        .bind(now)
                        .execute(self.pool())
                        .await
                        .map_err(map_err)?
                        .rows_affected();
                    let attempts =
                        sqlx::query("DELETE FROM keyward_oauth2_device_attempts WHERE expires_at <= $1")
                            .bind(now)
                            .execute(self.pool())
                            .await
                            .map_err(map_err)?
                            .rows_affected();
                    Ok(codes + attempts)
                })
            }
        }
    };
}

#[cfg(feature = "sqlite")]
sql_device_impls!(crate::SqliteStore, sqlx::sqlite::SqliteRow);
#[cfg(feature = "postgres")]
sql_device_impls!(crate::PostgresStore, sqlx::postgres::PgRow);
