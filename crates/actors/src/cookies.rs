//! Keeps the generic sources' cookie jars in the database: read back when
//! the node starts (before its first fetch), written within two seconds of
//! a change, sealed with the node's key. A write that fails is tried again
//! with the next change.

use std::sync::Arc;
use std::time::Duration;

use actix::Addr;
use trawler_sources::Adapters;
use trawler_store::{Cipher, CookieJar, DbPool};

use crate::db::{DbExecutor, Exec};
use crate::metrics::Metrics;

/// How often changed jars are written.
const EVERY: Duration = Duration::from_secs(2);

/// Puts back the jars kept before the node stopped.
pub(crate) fn restore(pool: &DbPool, adapters: &Adapters, cipher: &Cipher) {
    let kept = pool
        .get()
        .map_err(|e| e.to_string())
        .and_then(|mut c| CookieJar::all(&mut c, cipher).map_err(|e| e.to_string()));
    match kept {
        Ok(jars) => {
            for (jar, json) in jars {
                if !adapters.cookie_jars().restore(&jar, &json) {
                    log::warn!("cookies: the kept jar {jar} does not read; its site sets a new session");
                }
            }
        }
        Err(e) => log::warn!("cookies: reading the kept jars failed: {e}"),
    }
}

/// Writes the jars that change, until the node stops.
pub(crate) fn start(db: Addr<DbExecutor>, adapters: Adapters, cipher: Arc<Cipher>, metrics: Metrics) {
    crate::task::spawn_supervised("cookies", metrics, move || {
        let (db, adapters, cipher) = (db.clone(), adapters.clone(), cipher.clone());
        async move {
            loop {
                tokio::time::sleep(EVERY).await;
                let changed = adapters.cookie_jars().take_changed();
                if changed.is_empty() {
                    continue;
                }
                let keys: Vec<String> = changed.iter().map(|(k, _)| k.clone()).collect();
                let (cipher, now) = (cipher.clone(), trawler_domain::now_millis());
                let write =
                    move |conn: &mut trawler_store::AnyConnection| CookieJar::save(conn, &cipher, &changed, now);
                match db.send(Exec(write)).await {
                    Ok(Ok(())) => {}
                    failed => {
                        log::warn!("cookies: keeping {} jars failed: {failed:?}", keys.len());
                        adapters.cookie_jars().unsaved(keys);
                    }
                }
            }
        }
    });
}
