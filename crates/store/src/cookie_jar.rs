//! The generic sources' cookie jars, kept sealed so that a site's session
//! survives a restart (the jars themselves live in the sources crate).

use diesel::prelude::*;

use crate::schema::cookie_jars as cj;
use crate::{AnyConnection, Cipher, StoreResult};

/// The stored jars.
pub struct CookieJar;

impl CookieJar {
    /// Every jar, opened: `(jar, its JSON)`. A jar sealed with a key this
    /// node no longer knows is skipped (its site sets a new session).
    pub fn all(conn: &mut AnyConnection, cipher: &Cipher) -> StoreResult<Vec<(String, String)>> {
        let rows: Vec<(String, String)> = db_run!(conn: { cj::table.select((cj::jar, cj::sealed)).load(conn)? });
        Ok(rows.into_iter().filter_map(|(jar, sealed)| Some((jar, cipher.open(&sealed).ok()?))).collect())
    }

    /// Keeps jars (`(jar, its JSON)`), sealed, replacing what was kept.
    pub fn save(conn: &mut AnyConnection, cipher: &Cipher, jars: &[(String, String)], now_ms: i64) -> StoreResult<()> {
        let sealed: Vec<(String, String)> =
            jars.iter().map(|(k, json)| Ok((k.clone(), cipher.seal(json)?))).collect::<StoreResult<_>>()?;
        crate::write_transaction::<_, crate::StoreError, _>(conn, |conn| {
            for (jar, sealed) in &sealed {
                let row = (cj::jar.eq(jar), cj::sealed.eq(sealed), cj::updated_at_ms.eq(now_ms));
                db_run!(conn: {
                    diesel::insert_into(cj::table)
                        .values(row)
                        .on_conflict(cj::jar)
                        .do_update()
                        .set((cj::sealed.eq(sealed), cj::updated_at_ms.eq(now_ms)))
                        .execute(conn)?;
                });
            }
            Ok(())
        })
    }
}
