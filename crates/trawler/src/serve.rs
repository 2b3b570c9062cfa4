//! Starting and stopping a server (shared by `serve` and `demo`), the
//! simulator command, and `migrate`.

use std::net::SocketAddr;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use actix_web::dev::{ServerHandle, Service};
use actix_web::{web, App, HttpServer};
use anyhow::{bail, Context, Result};
use trawler_actors::Tree;
use trawler_sources::Adapters;
use trawler_store::{run_migrations, AnyConnection, DbPool};
use trawler_web::{AdminToken, AppState};

use crate::config::{Settings, SimArgs};

/// A running server.
pub struct Running {
    /// Where the API listens.
    pub addr: SocketAddr,
    shutdown_timeout: std::time::Duration,
    handle: ServerHandle,
    tree: Tree,
    reloader: Option<Arc<dyn trawler_web::Reloader>>,
}

/// Opens the database, applies migrations, lets `seed` add data, starts the
/// actor tree and the HTTP server. Must run inside an actix system.
/// `origins` says where the settings came from, so that a reload can read
/// them again (none: nothing to reload).
pub async fn start(
    settings: Settings,
    origins: Option<crate::reload::Origins>,
    seed: impl FnOnce(&mut AnyConnection) -> Result<()>,
) -> Result<Running> {
    settings.check()?;
    let cipher = Arc::new(settings.store.cipher().map_err(anyhow::Error::msg)?);
    let spool_dir = Some(settings.store.data_dir.join("spool"));
    let actors = settings.actors.config(cipher.clone(), spool_dir.clone());
    let pool = DbPool::open(&settings.store.store()).context("opening the database")?;
    pool.probe().with_context(|| format!("connecting to {}", pool.url_redacted()))?;
    {
        let mut conn = pool.get().with_context(|| format!("connecting to {}", pool.url_redacted()))?;
        let applied = run_migrations(&mut conn).context("applying migrations")?;
        for name in &applied {
            log::info!("applied migration {name}");
        }
        seed(&mut conn)?;
        check_secrets(&mut conn, &cipher)?;
    }
    log::info!("database: {}", pool.url_redacted());
    check_alone(&pool, &actors.node).await?;
    let adapters = Adapters::new(&settings.sources.config()).context("building the HTTP client")?;
    let tree = Tree::start(actors, pool.clone(), adapters).context("starting the actors")?;
    let w = &settings.web;
    let token = |t: &Option<trawler_domain::settings::Secret>| {
        t.as_ref().filter(|t| !t.is_empty()).map(|t| AdminToken::new(t.expose().to_owned()))
    };
    let reload_pool = pool.clone();
    let state = web::Data::new(AppState {
        pool,
        tree: tree.clone(),
        // `check` has seen it set.
        admin_token: token(&w.admin_token).context("TRAWLER_ADMIN_TOKEN is required")?,
        metrics_token: token(&w.metrics_token),
        migrated: Arc::new(AtomicBool::new(true)),
        ui_password_hash: w.admin_password_hash.as_ref().map(|h| h.as_str().to_owned()),
        secure_cookies: w.cookie_secure,
        login_guard: trawler_web::LoginGuard::new(w.trusted_proxies.clone()),
        embed_origins: w.embed_origins.iter().map(|o| o.as_str().to_owned()).collect(),
        currencies: Default::default(),
        jobs: Default::default(),
        reloader: origins.map(|origins| {
            let reloader = crate::reload::NodeReloader::new(
                origins,
                &settings,
                (tree.clone(), reload_pool),
                cipher.clone(),
                spool_dir,
            );
            Arc::new(reloader) as Arc<dyn trawler_web::Reloader>
        }),
        revocations: Default::default(),
        limits: trawler_web::Limits::new(w.limits()),
    });
    let watched = state.clone();
    trawler_actors::spawn_supervised("revocations", tree.metrics().clone(), move || {
        trawler_web::watch_revocations(watched.clone())
    });
    let app_state = state.clone();
    let mut server = HttpServer::new(move || {
        let metrics_state = app_state.clone();
        App::new()
            .app_data(app_state.clone())
            .wrap_fn(move |req, srv| {
                let started = std::time::Instant::now();
                let method = req.method().clone();
                let route = req.match_pattern();
                let state = metrics_state.clone();
                let response = srv.call(req);
                async move {
                    let response = response.await?;
                    let seconds = started.elapsed().as_secs_f64();
                    trawler_web::record_request(&state, &method, route, response.status().as_u16(), seconds);
                    trawler_web::audit_request(&state, response.request(), response.status().as_u16());
                    Ok(response)
                }
            })
            .configure(trawler_web::configure)
    })
    .disable_signals()
    .shutdown_timeout(10);
    if let Some(workers) = settings.web.http_workers {
        server = server.workers(workers.usize());
    }
    let server = server.bind(settings.web.bind).with_context(|| format!("binding {}", settings.web.bind))?;
    let addr = server.addrs().first().copied().context("the server bound no address")?;
    let server = server.run();
    let handle = server.handle();
    actix_web::rt::spawn(server);
    let reloader = state.reloader.clone();
    Ok(Running { addr, handle, tree, reloader, shutdown_timeout: settings.actors.shutdown_timeout.get() })
}

/// Refuses to start beside another live node under the same name, and on
/// SQLite beside any other live node (it serves one; PostgreSQL shares the
/// projects out by leases). A row that looks alive may be a node killed
/// moments ago: its heartbeat is watched for one beat first.
async fn check_alone(pool: &DbPool, me: &str) -> Result<()> {
    use trawler_store::node::{Node, HEARTBEAT_MS, TTL_MS};
    // The nodes and the database's clock, by which liveness is judged.
    let read = || -> Result<(Vec<Node>, i64)> {
        let mut conn = pool.get().context("reading the node registry")?;
        let list = Node::list(&mut conn).context("reading the node registry")?;
        Ok((list, Node::clock(&mut conn).context("reading the database's clock")?))
    };
    let sqlite = pool.backend() == trawler_store::Backend::Sqlite;
    let (nodes, now) = read()?;
    let suspects: Vec<Node> = nodes.into_iter().filter(|n| n.alive(now, TTL_MS) && (sqlite || n.name == me)).collect();
    if suspects.is_empty() {
        return Ok(());
    }
    log::info!(
        "node registry: {} looks alive; watching one heartbeat",
        suspects.iter().map(|n| n.name.as_str()).collect::<Vec<_>>().join(", ")
    );
    actix_web::rt::time::sleep(std::time::Duration::from_millis(HEARTBEAT_MS as u64 + 700)).await;
    let (later, now) = read()?;
    let Some(other) = later.iter().find(|n| {
        suspects.iter().any(|s| s.name == n.name && n.heartbeat_at_ms > s.heartbeat_at_ms) && n.alive(now, TTL_MS)
    }) else {
        return Ok(());
    };
    let age = (now - other.heartbeat_at_ms) as f64 / 1000.0;
    let why = if other.name == me {
        format!(
            "a node named `{me}` is already running on this database (heartbeat {age:.1} s ago); \
             give each node its own TRAWLER_NODE_NAME"
        )
    } else {
        format!(
            "SQLite serves one node, and node `{}` is running on {} (heartbeat {age:.1} s ago); \
             stop it, or use PostgreSQL",
            other.name,
            pool.url_redacted()
        )
    };
    anyhow::bail!(why)
}

impl Running {
    /// Stops accepting requests, stops the scrapers and flushes every
    /// buffered point.
    pub async fn stop(self) -> Result<()> {
        log::info!("shutting down: stopping the HTTP server");
        self.handle.stop(true).await;
        let written = self.tree.shutdown(self.shutdown_timeout).await.context("flushing buffered points")?;
        log::info!("shutdown complete ({written} buffered points written)");
        Ok(())
    }
}

/// Resolves on Ctrl-C or SIGTERM.
pub async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// `trawler serve`: serves until Ctrl-C or SIGTERM; SIGHUP reloads the
/// settings.
pub fn run(settings: Settings, origins: crate::reload::Origins) -> Result<()> {
    actix_web::rt::System::new().block_on(async move {
        let running = start(settings, Some(origins), |_| Ok(())).await?;
        println!("trawler: serving on http://{}", running.addr);
        let stop = wait_for_signal();
        tokio::pin!(stop);
        #[cfg(unix)]
        {
            use tokio::signal::unix::{signal, SignalKind};
            if let (Ok(mut hup), Some(reloader)) = (signal(SignalKind::hangup()), running.reloader.clone()) {
                loop {
                    tokio::select! {
                        () = &mut stop => return running.stop().await,
                        _ = hup.recv() => {
                            reloader.reload("signal").await;
                        }
                    }
                }
            }
        }
        stop.await;
        running.stop().await
    })
}

/// `trawler sim`.
pub fn run_sim(args: SimArgs) -> Result<()> {
    actix_web::rt::System::new().block_on(async move {
        let epoch = args.epoch.unwrap_or_else(trawler_domain::now_secs);
        let state = trawler_sim::SimState::new(epoch);
        if let Some(file) = &args.faults {
            let text = std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
            let faults: std::collections::BTreeMap<String, trawler_sim::Fault> = serde_json::from_str(&text)
                .with_context(|| format!("{} is not a map of target to fault", file.display()))?;
            for (target, fault) in faults {
                state.faults.set(&target, fault);
            }
        }
        for (platform, per_sec) in &args.limits {
            state.faults.set_limit(platform, *per_sec);
        }
        let mut served = Vec::new();
        for file in &args.fixtures {
            let text = std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
            let fixture: trawler_domain::fixture::Fixture =
                serde_json::from_str(&text).with_context(|| format!("{} is not a trawler fixture", file.display()))?;
            served.extend(state.load_fixture(fixture).map_err(|e| anyhow::anyhow!("{}: {e}", file.display()))?);
        }
        let sim = trawler_sim::SimServer::start_with(&args.bind.to_string(), state, args.workers)
            .with_context(|| format!("binding {}", args.bind))?;
        println!("trawler sim: listening on http://{} (epoch {epoch})", sim.addr);
        for source in served {
            println!("trawler sim: serving a fixture at http://{}/fixture/{source}", sim.addr);
        }
        wait_for_signal().await;
        sim.handle.stop(true).await;
        Ok(())
    })
}

/// `trawler migrate`.
/// Refuses to start when stored secrets are sealed with a key that is not
/// configured (one line, naming the key), and seals secrets stored as plain
/// text by earlier versions.
fn check_secrets(conn: &mut AnyConnection, cipher: &trawler_store::Cipher) -> Result<()> {
    let (ids, plain) = trawler_store::secret::stored_keys(conn).context("reading stored secrets")?;
    if let Some(unknown) = ids.iter().find(|id| !cipher.knows(id)) {
        bail!(
            "stored secrets are sealed with key {unknown}, which is not configured (this node's key is {}): \
             set TRAWLER_SECRET_KEY, or TRAWLER_SECRET_KEYS_OLD, to it",
            cipher.key_id()
        );
    }
    if plain > 0 {
        let n = trawler_store::secret::reseal_all(conn, cipher, |_, _| {}).context("sealing stored secrets")?;
        log::info!("sealed {n} secrets stored as plain text with key {}", cipher.key_id());
    }
    Ok(())
}

/// `trawler secrets rotate`: seals every stored secret with the current key
/// (opening each with the key that sealed it), with progress on stderr.
pub fn rotate(settings: Settings) -> Result<()> {
    let cipher = settings.store.cipher().map_err(anyhow::Error::msg)?;
    let pool = DbPool::open(&settings.store.store()).context("opening the database")?;
    let mut conn = pool.get().with_context(|| format!("connecting to {}", pool.url_redacted()))?;
    let (ids, _) = trawler_store::secret::stored_keys(&mut conn).context("reading stored secrets")?;
    if let Some(unknown) = ids.iter().find(|id| !cipher.knows(id)) {
        bail!("secrets sealed with key {unknown} cannot be opened: add that key to TRAWLER_SECRET_KEYS_OLD");
    }
    let bar = indicatif::ProgressBar::new(0);
    let n = trawler_store::secret::reseal_all(&mut conn, &cipher, |done, total| {
        bar.set_length(total as u64);
        bar.set_position(done as u64);
    })
    .context("re-sealing stored secrets")?;
    bar.finish_and_clear();
    println!("trawler: {n} secrets sealed with key {}; the old keys can go", cipher.key_id());
    Ok(())
}

pub fn migrate(settings: Settings) -> Result<()> {
    let store = settings.store.store();
    let pool = DbPool::open(&store).context("opening the database")?;
    pool.probe().with_context(|| format!("connecting to {}", pool.url_redacted()))?;
    let mut conn = pool.get().with_context(|| format!("connecting to {}", pool.url_redacted()))?;
    let applied = run_migrations(&mut conn).context("applying migrations")?;
    if applied.is_empty() {
        println!("trawler: {} is up to date", pool.url_redacted());
    } else {
        for name in applied {
            println!("trawler: applied {name}");
        }
    }
    Ok(())
}
