//! The OAuth 2 authorization server's stores ([`keyward::oauth2::provider::store`]) and
//! [`OnceStore`](keyward::common::store::OnceStore) in SQL, written once for SQLite and
//! PostgreSQL in [`sql_oauth2_impls!`] (migration `0004_oauth2.sql`).
//!
//! Atomicity, on both backends:
//! - a code is taken with `UPDATE … SET used = TRUE WHERE used = FALSE AND expires_at > now
//!   RETURNING`: of concurrent takes, one updates the row and the others find it used
//!   (PostgreSQL makes a waiting `UPDATE` check its `WHERE` again once the first commits;
//!   SQLite runs one write at a time);
//! - a refresh token is rotated in one transaction that starts with `UPDATE … SET revoked
//!   WHERE revoked = FALSE … RETURNING` (the row lock, or SQLite's write lock, is taken by
//!   that first statement, so only one rotation wins) and inserts the new pair; a failed
//!   insert rolls the revocation back;
//! - a consent grant is merged in a transaction that starts with an `INSERT … ON CONFLICT
//!   DO UPDATE … WHERE 1 = 0`, which inserts a new grant or locks the existing row (in
//!   PostgreSQL, `ON CONFLICT DO UPDATE` locks the conflicting row even when its `WHERE`
//!   updates nothing; in SQLite the statement takes the write lock), then reads, merges and
//!   writes it;
//! - a single-use value is recorded as a nonce is: `INSERT … ON CONFLICT … DO UPDATE …
//!   WHERE expired`, fresh when a row was affected; its replay epoch is
//!   [`ReplayEpoch::Durable`](keyward::common::replay::ReplayEpoch::Durable) (except an
//!   in-memory SQLite database's, its first call).
//!
//! Clients and codes are kept as JSON (their records evolve; nothing filters on their
//! fields but the key); tokens have a column per field, since revocation filters by family
//! and by subject.

use keyward::oauth2::provider::store::{ConsentGrant, StoreError, TokenKind};

/// A record as JSON.
pub(super) fn to_json<T: serde::Serialize>(value: &T) -> Result<String, StoreError> {
    serde_json::to_string(value).map_err(StoreError::backend)
}

/// A JSON column as a record; undecodable is [`StoreError::Corrupt`].
pub(super) fn from_json<T: serde::de::DeserializeOwned>(json: &str) -> Result<T, StoreError> {
    serde_json::from_str(json).map_err(|e| StoreError::Corrupt(e.to_string()))
}

/// A nullable JSON column as a record.
pub(super) fn optional_json<T: serde::de::DeserializeOwned>(
    json: Option<String>,
) -> Result<Option<T>, StoreError> {
    json.as_deref().map(from_json).transpose()
}

/// The `kind` column of a token.
pub(super) fn kind_column(kind: TokenKind) -> &'static str {
    match kind {
        TokenKind::Access => "access",
        TokenKind::Refresh => "refresh",
    }
}

/// A token's kind from its column.
pub(super) fn kind_from_column(column: &str) -> Result<TokenKind, StoreError> {
    match column {
        "access" => Ok(TokenKind::Access),
        "refresh" => Ok(TokenKind::Refresh),
        other => Err(StoreError::Corrupt(format!("token of unknown kind {other:?}"))),
    }
}

/// The columns of a token, in the order the readers decode them.
pub(super) const TOKEN_COLUMNS: &str = "token_hash, kind, client_id, subject, scopes, resources, family_id, issued_at, expires_at, auth_time, revoked, session, jkt";

/// `stored` merged with `new` as [`ConsentStore::save_grant`] says: the union of scopes and
/// resources (stored ones first), the new grant's times.
///
/// [`ConsentStore::save_grant`]: keyward::oauth2::provider::store::ConsentStore::save_grant
pub(super) fn merge_grant(mut stored: ConsentGrant, new: &ConsentGrant) -> ConsentGrant {
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

/// The trait implementations, identical for both backends: `$store` and its sqlx database.
/// The store defines `oauth2_client_row` and `oauth2_token_row` (SQLite reads them on the
/// calling thread).
macro_rules! sql_oauth2_impls {
    ($store:ty, $db:ty) => {
        use keyward::common::store::OnceStore;
        use keyward::oauth2::provider::store::{
            AuthorizationCodeStore, CodeRecord, ConsentGrant, ConsentStore, OAuth2ClientStore, OAuth2Store,
            RegisteredClient, RotateRefresh, TakeCode, TokenRecord, TokenStore,
        };

        use super::oauth2::{
            from_json, kind_column, kind_from_column, merge_grant, optional_json, to_json, TOKEN_COLUMNS,
        };

        /// A token row, decoded.
        fn oauth2_token_from_row(row: &<$db as sqlx::Database>::Row) -> Result<TokenRecord, StoreError> {
            let get_json = |name: &str| -> Result<Vec<String>, StoreError> {
                from_json(&row.try_get::<String, _>(name).map_err(map_err)?)
            };
            Ok(TokenRecord {
                token_hash: row.try_get("token_hash").map_err(map_err)?,
                kind: kind_from_column(&row.try_get::<String, _>("kind").map_err(map_err)?)?,
                client_id: row.try_get("client_id").map_err(map_err)?,
                subject: row.try_get("subject").map_err(map_err)?,
                scopes: get_json("scopes")?,
                resources: get_json("resources")?,
                family_id: row.try_get("family_id").map_err(map_err)?,
                issued_at: row.try_get("issued_at").map_err(map_err)?,
                expires_at: row.try_get("expires_at").map_err(map_err)?,
                auth_time: row.try_get("auth_time").map_err(map_err)?,
                revoked: row.try_get("revoked").map_err(map_err)?,
                session: optional_json(row.try_get::<Option<String>, _>("session").map_err(map_err)?)?,
                jkt: row.try_get("jkt").map_err(map_err)?,
            })
        }

        /// A grant row, decoded.
        fn oauth2_grant_from_row(row: &<$db as sqlx::Database>::Row) -> Result<ConsentGrant, StoreError> {
            Ok(ConsentGrant {
                subject: row.try_get("subject").map_err(map_err)?,
                client_id: row.try_get("client_id").map_err(map_err)?,
                scopes: from_json(&row.try_get::<String, _>("scopes").map_err(map_err)?)?,
                resources: from_json(&row.try_get::<String, _>("resources").map_err(map_err)?)?,
                granted_at: row.try_get("granted_at").map_err(map_err)?,
                expires_at: row.try_get("expires_at").map_err(map_err)?,
            })
        }

        /// Inserts a token; [`StoreError::Duplicate`] if its hash is taken.
        async fn insert_oauth2_token(
            conn: &mut <$db as sqlx::Database>::Connection,
            t: &TokenRecord,
        ) -> Result<(), StoreError> {
            sqlx::query(
                "INSERT INTO keyward_oauth2_tokens (token_hash, kind, client_id, subject, scopes, resources, \
                 family_id, issued_at, expires_at, auth_time, revoked, session, jkt) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
            )
            .bind(&t.token_hash)
            .bind(kind_column(t.kind))
            .bind(&t.client_id)
            .bind(&t.subject)
            .bind(to_json(&t.scopes)?)
            .bind(to_json(&t.resources)?)
            .bind(&t.family_id)
            .bind(t.issued_at)
            .bind(t.expires_at)
            .bind(t.auth_time)
            .bind(t.revoked)
            .bind(t.session.as_ref().map(to_json).transpose()?)
            .bind(&t.jkt)
            .execute(&mut *conn)
            .await
            .map_err(map_err)?;
            Ok(())
        }

        impl $store {
            /// Counts a write, and purges expired records every [`PURGE_EVERY`] of them.
            async fn oauth2_housekeeping(&self, now: i64) {
                if self.inserts.fetch_add(1, Ordering::Relaxed) % PURGE_EVERY == PURGE_EVERY - 1 {
                    // A failed purge must not fail a valid request; the next one retries.
                    let _ = self.purge(now).await;
                }
            }

            /// The client, through sqlx.
            async fn oauth2_client_by_sqlx(&self, client_id: &str) -> Result<Option<RegisteredClient>, StoreError> {
                let json: Option<String> =
                    sqlx::query_scalar("SELECT record FROM keyward_oauth2_clients WHERE client_id = $1")
                        .bind(client_id)
                        .fetch_optional(&self.pool)
                        .await
                        .map_err(map_err)?;
                json.map(|j| from_json(&j)).transpose()
            }

            /// The active token, through sqlx.
            async fn oauth2_token_by_sqlx(&self, token_hash: &str, now: i64) -> Result<Option<TokenRecord>, StoreError> {
                let row = sqlx::query(&format!(
                    "SELECT {TOKEN_COLUMNS} FROM keyward_oauth2_tokens \
                     WHERE token_hash = $1 AND revoked = FALSE AND expires_at > $2"
                ))
                .bind(token_hash)
                .bind(now)
                .fetch_optional(&self.pool)
                .await
                .map_err(map_err)?;
                row.map(|r| oauth2_token_from_row(&r)).transpose()
            }

            /// The transaction of [`TokenStore::rotate_refresh`].
            async fn rotate(
                &self,
                old_hash: &str,
                new_access: &TokenRecord,
                new_refresh: Option<&TokenRecord>,
                now: i64,
            ) -> Result<RotateRefresh, StoreError> {
                let mut tx = self.pool.begin().await.map_err(map_err)?;
                // Revokes the old token when a new one replaces it; when it is kept, the
                // same statement (setting nothing new) still locks it against a concurrent
                // rotation or revocation until the new access token is stored.
                let row = sqlx::query(&format!(
                    "UPDATE keyward_oauth2_tokens SET revoked = $2 WHERE token_hash = $1 AND kind = 'refresh' \
                     AND revoked = FALSE AND expires_at > $3 RETURNING {TOKEN_COLUMNS}"
                ))
                .bind(old_hash)
                .bind(new_refresh.is_some())
                .bind(now)
                .fetch_optional(&mut *tx)
                .await
                .map_err(map_err)?;
                let Some(row) = row else {
                    drop(tx);
                    let found = sqlx::query(
                        "SELECT family_id FROM keyward_oauth2_tokens WHERE token_hash = $1 \
                         AND kind = 'refresh' AND revoked = TRUE AND expires_at > $2",
                    )
                    .bind(old_hash)
                    .bind(now)
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(map_err)?;
                    return match found {
                        Some(row) => Ok(RotateRefresh::Reused { family_id: row.try_get("family_id").map_err(map_err)? }),
                        None => Ok(RotateRefresh::Unknown),
                    };
                };
                let mut old = oauth2_token_from_row(&row)?;
                old.revoked = false;
                insert_oauth2_token(&mut *tx, new_access).await?;
                if let Some(r) = new_refresh {
                    insert_oauth2_token(&mut *tx, r).await?;
                }
                tx.commit().await.map_err(map_err)?;
                Ok(RotateRefresh::Rotated(old))
            }

            /// The transaction of [`ConsentStore::save_grant`].
            async fn save(&self, grant: &ConsentGrant, now: i64) -> Result<(), StoreError> {
                let mut tx = self.pool.begin().await.map_err(map_err)?;
                // Inserts a new grant, or locks the existing one (and updates nothing).
                let inserted = sqlx::query(
                    "INSERT INTO keyward_oauth2_grants (subject, client_id, scopes, resources, granted_at, expires_at) \
                     VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (subject, client_id) \
                     DO UPDATE SET granted_at = excluded.granted_at WHERE 1 = 0",
                )
                .bind(&grant.subject)
                .bind(&grant.client_id)
                .bind(to_json(&grant.scopes)?)
                .bind(to_json(&grant.resources)?)
                .bind(grant.granted_at)
                .bind(grant.expires_at)
                .execute(&mut *tx)
                .await
                .map_err(map_err)?
                .rows_affected();
                if inserted == 0 {
                    let row = sqlx::query(
                        "SELECT subject, client_id, scopes, resources, granted_at, expires_at \
                         FROM keyward_oauth2_grants WHERE subject = $1 AND client_id = $2",
                    )
                    .bind(&grant.subject)
                    .bind(&grant.client_id)
                    .fetch_one(&mut *tx)
                    .await
                    .map_err(map_err)?;
                    let stored = oauth2_grant_from_row(&row)?;
                    let saved = if stored.is_live(now) { merge_grant(stored, grant) } else { grant.clone() };
                    sqlx::query(
                        "UPDATE keyward_oauth2_grants SET scopes = $3, resources = $4, granted_at = $5, \
                         expires_at = $6 WHERE subject = $1 AND client_id = $2",
                    )
                    .bind(&saved.subject)
                    .bind(&saved.client_id)
                    .bind(to_json(&saved.scopes)?)
                    .bind(to_json(&saved.resources)?)
                    .bind(saved.granted_at)
                    .bind(saved.expires_at)
                    .execute(&mut *tx)
                    .await
                    .map_err(map_err)?;
                }
                tx.commit().await.map_err(map_err)
            }

            /// Runs a statement with `$1` (and `$2`) bound; how many rows it affected.
            async fn oauth2_execute(&self, sql: &str, first: &str, second: Option<&str>) -> Result<u64, StoreError> {
                let mut query = sqlx::query(sql).bind(first);
                if let Some(second) = second {
                    query = query.bind(second);
                }
                Ok(query.execute(&self.pool).await.map_err(map_err)?.rows_affected())
            }

            /// Deletes the rows of `table` expired at `now`; how many.
            async fn oauth2_purge(&self, table: &str, now: i64) -> Result<u64, StoreError> {
                let sql = format!("DELETE FROM {table} WHERE expires_at <= $1");
                Ok(sqlx::query(&sql).bind(now).execute(&self.pool).await.map_err(map_err)?.rows_affected())
            }
        }

        impl OAuth2ClientStore for $store {
            fn get_registered_client<'a>(
                &'a self,
                client_id: &'a str,
            ) -> BoxFuture<'a, Result<Option<RegisteredClient>, StoreError>> {
                Box::pin(self.oauth2_client_row(client_id))
            }

            fn create_registered_client<'a>(
                &'a self,
                client: &'a RegisteredClient,
            ) -> BoxFuture<'a, Result<(), StoreError>> {
                Box::pin(async move {
                    sqlx::query("INSERT INTO keyward_oauth2_clients (client_id, record) VALUES ($1, $2)")
                        .bind(&client.client_id)
                        .bind(to_json(client)?)
                        .execute(&self.pool)
                        .await
                        .map_err(map_err)?;
                    Ok(())
                })
            }

            fn update_registered_client<'a>(
                &'a self,
                client: &'a RegisteredClient,
            ) -> BoxFuture<'a, Result<bool, StoreError>> {
                Box::pin(async move {
                    let n = sqlx::query("UPDATE keyward_oauth2_clients SET record = $2 WHERE client_id = $1")
                        .bind(&client.client_id)
                        .bind(to_json(client)?)
                        .execute(&self.pool)
                        .await
                        .map_err(map_err)?
                        .rows_affected();
                    Ok(n > 0)
                })
            }

            fn delete_registered_client<'a>(&'a self, client_id: &'a str) -> BoxFuture<'a, Result<bool, StoreError>> {
                Box::pin(async move {
                    let sql = "DELETE FROM keyward_oauth2_clients WHERE client_id = $1";
                    Ok(self.oauth2_execute(sql, client_id, None).await? > 0)
                })
            }
        }

        impl AuthorizationCodeStore for $store {
            fn create_code<'a>(&'a self, code: &'a CodeRecord) -> BoxFuture<'a, Result<(), StoreError>> {
                Box::pin(async move {
                    self.oauth2_housekeeping(code.issued_at).await;
                    sqlx::query(
                        "INSERT INTO keyward_oauth2_codes (code_hash, client_id, family_id, record, expires_at) \
                         VALUES ($1, $2, $3, $4, $5)",
                    )
                    .bind(&code.code_hash)
                    .bind(&code.client_id)
                    .bind(&code.family_id)
                    .bind(to_json(code)?)
                    .bind(code.expires_at)
                    .execute(&self.pool)
                    .await
                    .map_err(map_err)?;
                    Ok(())
                })
            }

            /// `UPDATE … WHERE used = FALSE … RETURNING`; when it updates nothing, a look for
            /// the tombstone.
            fn take_code<'a>(&'a self, code_hash: &'a str, now: i64) -> BoxFuture<'a, Result<TakeCode, StoreError>> {
                Box::pin(async move {
                    let taken: Option<String> = sqlx::query_scalar(
                        "UPDATE keyward_oauth2_codes SET used = TRUE \
                         WHERE code_hash = $1 AND used = FALSE AND expires_at > $2 RETURNING record",
                    )
                    .bind(code_hash)
                    .bind(now)
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(map_err)?;
                    if let Some(json) = taken {
                        return Ok(TakeCode::Fresh(from_json(&json)?));
                    }
                    let used = sqlx::query(
                        "SELECT family_id, client_id FROM keyward_oauth2_codes \
                         WHERE code_hash = $1 AND used = TRUE AND expires_at > $2",
                    )
                    .bind(code_hash)
                    .bind(now)
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(map_err)?;
                    match used {
                        Some(row) => Ok(TakeCode::Used {
                            family_id: row.try_get("family_id").map_err(map_err)?,
                            client_id: row.try_get("client_id").map_err(map_err)?,
                        }),
                        None => Ok(TakeCode::Unknown),
                    }
                })
            }

            fn purge_expired_codes(&self, now: i64) -> BoxFuture<'_, Result<u64, StoreError>> {
                Box::pin(self.oauth2_purge("keyward_oauth2_codes", now))
            }
        }

        impl TokenStore for $store {
            /// Both inserts in one transaction.
            fn create_tokens<'a>(
                &'a self,
                access: &'a TokenRecord,
                refresh: Option<&'a TokenRecord>,
            ) -> BoxFuture<'a, Result<(), StoreError>> {
                Box::pin(async move {
                    self.oauth2_housekeeping(access.issued_at).await;
                    let mut tx = self.pool.begin().await.map_err(map_err)?;
                    insert_oauth2_token(&mut *tx, access).await?;
                    if let Some(r) = refresh {
                        insert_oauth2_token(&mut *tx, r).await?;
                    }
                    tx.commit().await.map_err(map_err)
                })
            }

            fn get_token<'a>(
                &'a self,
                token_hash: &'a str,
                now: i64,
            ) -> BoxFuture<'a, Result<Option<TokenRecord>, StoreError>> {
                Box::pin(self.oauth2_token_row(token_hash, now))
            }

            fn rotate_refresh<'a>(
                &'a self,
                old_hash: &'a str,
                new_access: &'a TokenRecord,
                new_refresh: Option<&'a TokenRecord>,
                now: i64,
            ) -> BoxFuture<'a, Result<RotateRefresh, StoreError>> {
                Box::pin(self.rotate(old_hash, new_access, new_refresh, now))
            }

            fn revoke_token<'a>(&'a self, token_hash: &'a str) -> BoxFuture<'a, Result<bool, StoreError>> {
                Box::pin(async move {
                    let sql = "UPDATE keyward_oauth2_tokens SET revoked = TRUE WHERE token_hash = $1 AND revoked = FALSE";
                    Ok(self.oauth2_execute(sql, token_hash, None).await? > 0)
                })
            }

            fn revoke_family<'a>(&'a self, family_id: &'a str) -> BoxFuture<'a, Result<u64, StoreError>> {
                let sql = "UPDATE keyward_oauth2_tokens SET revoked = TRUE WHERE family_id = $1 AND revoked = FALSE";
                Box::pin(self.oauth2_execute(sql, family_id, None))
            }

            fn revoke_subject_tokens<'a>(
                &'a self,
                subject: &'a str,
                client_id: &'a str,
            ) -> BoxFuture<'a, Result<u64, StoreError>> {
                let sql = "UPDATE keyward_oauth2_tokens SET revoked = TRUE \
                           WHERE subject = $1 AND client_id = $2 AND revoked = FALSE";
                Box::pin(self.oauth2_execute(sql, subject, Some(client_id)))
            }

            fn revoke_client_tokens<'a>(&'a self, client_id: &'a str) -> BoxFuture<'a, Result<u64, StoreError>> {
                let sql = "UPDATE keyward_oauth2_tokens SET revoked = TRUE WHERE client_id = $1 AND revoked = FALSE";
                Box::pin(self.oauth2_execute(sql, client_id, None))
            }

            fn purge_expired_tokens(&self, now: i64) -> BoxFuture<'_, Result<u64, StoreError>> {
                Box::pin(self.oauth2_purge("keyward_oauth2_tokens", now))
            }
        }

        impl ConsentStore for $store {
            fn get_grant<'a>(
                &'a self,
                subject: &'a str,
                client_id: &'a str,
                now: i64,
            ) -> BoxFuture<'a, Result<Option<ConsentGrant>, StoreError>> {
                Box::pin(async move {
                    let row = sqlx::query(
                        "SELECT subject, client_id, scopes, resources, granted_at, expires_at \
                         FROM keyward_oauth2_grants WHERE subject = $1 AND client_id = $2 \
                         AND (expires_at IS NULL OR expires_at > $3)",
                    )
                    .bind(subject)
                    .bind(client_id)
                    .bind(now)
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(map_err)?;
                    row.map(|r| oauth2_grant_from_row(&r)).transpose()
                })
            }

            fn save_grant<'a>(&'a self, grant: &'a ConsentGrant, now: i64) -> BoxFuture<'a, Result<(), StoreError>> {
                Box::pin(self.save(grant, now))
            }

            fn list_grants<'a>(
                &'a self,
                subject: &'a str,
                now: i64,
            ) -> BoxFuture<'a, Result<Vec<ConsentGrant>, StoreError>> {
                Box::pin(async move {
                    let rows = sqlx::query(
                        "SELECT subject, client_id, scopes, resources, granted_at, expires_at \
                         FROM keyward_oauth2_grants WHERE subject = $1 AND (expires_at IS NULL OR expires_at > $2) \
                         ORDER BY granted_at, client_id",
                    )
                    .bind(subject)
                    .bind(now)
                    .fetch_all(&self.pool)
                    .await
                    .map_err(map_err)?;
                    rows.iter().map(oauth2_grant_from_row).collect()
                })
            }

            fn revoke_grant<'a>(
                &'a self,
                subject: &'a str,
                client_id: &'a str,
            ) -> BoxFuture<'a, Result<bool, StoreError>> {
                Box::pin(async move {
                    let sql = "DELETE FROM keyward_oauth2_grants WHERE subject = $1 AND client_id = $2";
                    Ok(self.oauth2_execute(sql, subject, Some(client_id)).await? > 0)
                })
            }

            fn purge_expired_grants(&self, now: i64) -> BoxFuture<'_, Result<u64, StoreError>> {
                Box::pin(self.oauth2_purge("keyward_oauth2_grants", now))
            }
        }

        impl OAuth2Store for $store {}

        /// Insert-if-absent, as a nonce: a live row stops the upsert's `WHERE`.
        impl OnceStore for $store {
            fn record_once<'a>(
                &'a self,
                namespace: &'a str,
                key: &'a str,
                expires_at: i64,
                now: i64,
            ) -> BoxFuture<'a, Result<Recorded, StoreError>> {
                let epoch = self.forgets.as_ref().map_or(ReplayEpoch::Durable, |first| first.observe(now));
                Box::pin(async move {
                    self.oauth2_housekeeping(now).await;
                    let affected = sqlx::query(
                        "INSERT INTO keyward_once (namespace, once_key, expires_at) VALUES ($1, $2, $3) \
                         ON CONFLICT (namespace, once_key) DO UPDATE SET expires_at = excluded.expires_at \
                         WHERE keyward_once.expires_at <= $4",
                    )
                    .bind(namespace)
                    .bind(key)
                    .bind(expires_at)
                    .bind(now)
                    .execute(&self.pool)
                    .await
                    .map_err(map_err)?
                    .rows_affected();
                    Ok(Recorded { fresh: affected == 1, epoch })
                })
            }
        }
    };
}

pub(super) use sql_oauth2_impls;

/// The reads SQLite runs on the calling thread (see `SqliteStore`): a registered client and
/// an active token, by key.
#[cfg(feature = "sqlite")]
pub(super) mod sqlite_reads {
    use keyward::oauth2::provider::store::{RegisteredClient, StoreError, TokenRecord};
    use rusqlite::OptionalExtension;

    use super::{TOKEN_COLUMNS, from_json, kind_from_column, optional_json};
    use crate::sql::sqlite::map_rusqlite_err;

    /// The client with this id.
    pub(in crate::sql) fn read_client(
        conn: &rusqlite::Connection,
        client_id: &str,
    ) -> Result<Option<RegisteredClient>, StoreError> {
        let mut stmt = conn
            .prepare_cached("SELECT record FROM keyward_oauth2_clients WHERE client_id = ?1")
            .map_err(map_rusqlite_err)?;
        let json: Option<String> =
            stmt.query_row([client_id], |row| row.get(0)).optional().map_err(map_rusqlite_err)?;
        json.map(|j| from_json(&j)).transpose()
    }

    /// The token with this hash, if active at `now`.
    pub(in crate::sql) fn read_token(
        conn: &rusqlite::Connection,
        token_hash: &str,
        now: i64,
    ) -> Result<Option<TokenRecord>, StoreError> {
        let mut stmt = conn
            .prepare_cached(&format!(
                "SELECT {TOKEN_COLUMNS} FROM keyward_oauth2_tokens \
                 WHERE token_hash = ?1 AND revoked = FALSE AND expires_at > ?2"
            ))
            .map_err(map_rusqlite_err)?;
        type Columns = (
            String,
            String,
            String,
            Option<String>,
            String,
            String,
            String,
            i64,
            i64,
            Option<i64>,
            bool,
            Option<String>,
            Option<String>,
        );
        let row: Option<Columns> = stmt
            .query_row(rusqlite::params![token_hash, now], |r| {
                Ok((
                    r.get(0)?,
                    r.get(1)?,
                    r.get(2)?,
                    r.get(3)?,
                    r.get(4)?,
                    r.get(5)?,
                    r.get(6)?,
                    r.get(7)?,
                    r.get(8)?,
                    r.get(9)?,
                    r.get(10)?,
                    r.get(11)?,
                    r.get(12)?,
                ))
            })
            .optional()
            .map_err(map_rusqlite_err)?;
        let Some((
            token_hash,
            kind,
            client_id,
            subject,
            scopes,
            resources,
            family_id,
            issued_at,
            expires_at,
            auth_time,
            revoked,
            session,
            jkt,
        )) = row
        else {
            return Ok(None);
        };
        Ok(Some(TokenRecord {
            token_hash,
            kind: kind_from_column(&kind)?,
            client_id,
            subject,
            scopes: from_json(&scopes)?,
            resources: from_json(&resources)?,
            family_id,
            issued_at,
            expires_at,
            auth_time,
            revoked,
            session: optional_json(session)?,
            jkt,
        }))
    }
}
