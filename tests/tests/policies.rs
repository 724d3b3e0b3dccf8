//! Policies at work in a running gateway: hot reload under traffic (a bad
//! edit — syntax, an invariant, or an invariant only the solver's proof
//! sees broken — is refused and counted while the last good set keeps
//! deciding; a good edit decides within seconds), `/ready` saying the sets
//! are proven, reload on SIGHUP when polling is slow, and shadow mode
//! (differences counted, never enforced).

use reqwest::{Method, StatusCode};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use wrnexus_e2e::TestResult;
use wrnexus_e2e::client::{self, http, sign_up};
use wrnexus_e2e::services::{absent, fresh_postgres, redis, redis_url};
use wrnexus_e2e::stack::Stack;
use wrnexus_policies::solver::ProofSettings;

/// A rule closing `/beta/…` to everyone.
const BETA_CLOSED: &str = "// Beta pages are closed while the feature is built.\n\
@id(\"beta-closed\")\nforbid (\n  principal,\n  action,\n  resource\n)\n\
when { context.path like \"/beta/*\" };\n";

/// [`BETA_CLOSED`] with a typo after it: the whole file is refused.
fn beta_closed_with_a_typo() -> String {
    format!("{BETA_CLOSED}\npermit (principal, action\n")
}

/// [`BETA_CLOSED`] with a rule letting viewers write drafts: valid Cedar,
/// but it breaks "a viewer never writes" (only for paths under `/drafts/`,
/// which the invariant check tries because the rule names them).
fn beta_closed_with_viewers_writing() -> String {
    format!(
        "{BETA_CLOSED}\n// Viewers may write drafts.\n@id(\"viewer-drafts\")\npermit (\n  principal,\n  \
         action == WRNexus::Action::\"write\",\n  resource\n)\n\
         when {{ context.role == \"viewer\" && context.path like \"/drafts/*\" }};\n"
    )
}

/// [`BETA_CLOSED`] with a rule letting viewers write where the plan equals
/// the path: valid Cedar breaking "a viewer never writes" only for a
/// relation between two context values, which no sampled request has; the
/// solver's proof finds one.
fn beta_closed_with_a_relation() -> String {
    format!(
        "{BETA_CLOSED}\n// Viewers may write where the plan names the path.\n@id(\"viewer-plan-path\")\n\
         permit (\n  principal,\n  action == WRNexus::Action::\"write\",\n  resource\n)\n\
         when {{ context.role == \"viewer\" && context.plan == context.path }};\n"
    )
}

/// Whether cvc5 is at hand for the gateway (skipping loudly, or failing
/// when it is required).
fn proving() -> TestResult<bool> {
    match ProofSettings::default().probe() {
        Ok(_) => Ok(true),
        Err(why) => absent::<()>("cvc5", &why).map(|_| false),
    }
}

/// Replace `path` at once (as deployment tools do), so that a poll never
/// sees half a file.
fn put(path: &Path, text: &str) -> std::io::Result<()> {
    let staged = path.with_extension("staged");
    std::fs::write(&staged, text)?;
    std::fs::rename(staged, path)
}

/// Ask for `url` as `user` until it is forbidden; how long that took.
/// Fails when it takes five seconds or more: a reload is a poll, a parse and
/// the solver's proofs, which a loaded machine slows (how fast it is belongs
/// to the benchmarks).
async fn forbidden_soon(
    c: &reqwest::Client,
    user: &client::User,
    url: &str,
) -> TestResult<Duration> {
    let started = Instant::now();
    loop {
        if user.req(c, Method::GET, url).send().await?.status() == StatusCode::FORBIDDEN {
            return Ok(started.elapsed());
        }
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "the new rule did not take effect within five seconds"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The stacks of this file run one at a time: they assert how soon a
/// reload takes effect, and another stack's traffic would compete for the
/// CPU.
static ONE_STACK: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

fn copy_shipped(to: &Path) -> std::io::Result<()> {
    let from = Path::new(env!("CARGO_MANIFEST_DIR")).join("../policies");
    std::fs::create_dir_all(to.join("tests"))?;
    for entry in std::fs::read_dir(&from)? {
        let path = entry?.path();
        if path
            .extension()
            .is_some_and(|e| e == "cedar" || e == "cedarschema")
            && let Some(name) = path.file_name()
        {
            std::fs::copy(&path, to.join(name))?;
        }
    }
    for entry in std::fs::read_dir(from.join("tests"))? {
        let path = entry?.path();
        if path.extension().is_some_and(|e| e == "toml")
            && let Some(name) = path.file_name()
        {
            std::fs::copy(&path, to.join("tests").join(name))?;
        }
    }
    Ok(())
}

/// The sum of the samples of `metric` whose labels contain every of `labels`.
async fn metric(admin: &str, metric: &str, labels: &[&str]) -> TestResult<f64> {
    let text = reqwest::get(format!("{admin}/metrics"))
        .await?
        .text()
        .await?;
    Ok(text
        .lines()
        .filter(|l| l.starts_with(metric) && labels.iter().all(|want| l.contains(want)))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum())
}

async fn until_metric(admin: &str, name: &str, labels: &[&str], at_least: f64) -> TestResult {
    let deadline = Instant::now() + Duration::from_secs(5);
    while metric(admin, name, labels).await? < at_least {
        if Instant::now() > deadline {
            return Err(format!("{name}{labels:?} never reached {at_least}").into());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Ok(())
}

#[tokio::test]
async fn reloads_under_traffic_and_shadow_differences() -> TestResult {
    let _one = ONE_STACK.lock().await;
    let Some(database) = fresh_postgres().await? else {
        return Ok(());
    };
    if redis().await?.is_none() {
        return Ok(());
    }
    let dirs = tempfile::tempdir()?;
    let (live, shadow) = (dirs.path().join("live"), dirs.path().join("shadow"));
    copy_shipped(&live)?;
    copy_shipped(&shadow)?;
    std::fs::write(shadow.join("beta.cedar"), BETA_CLOSED)?;
    let (live_arg, shadow_arg) = (live.display().to_string(), shadow.display().to_string());
    let stack = Stack::split_with(
        &database,
        &redis_url(),
        &[
            ("WRNEXUS_POLICIES__DIR", &live_arg),
            ("WRNEXUS_POLICIES__SHADOW_DIR", &shadow_arg),
            // The second measured is the reload's (load, proofs, cases), not
            // the poll's: look often.
            ("WRNEXUS_POLICIES__POLL_INTERVAL_MS", "50"),
        ],
    )
    .await?;
    let result = async {
        let (gw, admin) = (stack.gateway.clone(), stack.admin.clone());
        let c = http();
        let alice = sign_up(&c, &gw, &client::email("alice")).await?;
        let beta = format!("{gw}/beta/page");

        // Shadow mode: the candidate would deny; live allows, and the
        // difference is counted.
        let r = alice.req(&c, Method::GET, &beta).send().await?;
        assert_eq!(r.status(), StatusCode::OK);
        until_metric(
            &admin,
            "wrnexus_gateway_policy_shadow_differences_total",
            &["live=\"allow\"", "shadow=\"deny\""],
            1.0,
        )
        .await?;

        // Traffic throughout: not one request may fail during reloads.
        let stop = Arc::new(AtomicBool::new(false));
        let (sent, failed) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
        let traffic = {
            let (stop, sent, failed) = (stop.clone(), sent.clone(), failed.clone());
            let (c, doc, cookie) = (c.clone(), format!("{gw}/doc"), alice.cookie.clone());
            tokio::spawn(async move {
                while !stop.load(Ordering::Relaxed) {
                    let ok = c
                        .get(&doc)
                        .header("cookie", &cookie)
                        .send()
                        .await
                        .is_ok_and(|r| r.status() == StatusCode::OK);
                    sent.fetch_add(1, Ordering::Relaxed);
                    if !ok {
                        failed.fetch_add(1, Ordering::Relaxed);
                    }
                }
            })
        };

        // A bad edit is refused and counted; the last good set keeps
        // deciding: `/beta/` stays open although the edit would close it.
        let refused = |at_least| {
            until_metric(
                &admin,
                "wrnexus_gateway_policy_reloads_total",
                &["set=\"live\"", "result=\"refused\""],
                at_least,
            )
        };
        put(&live.join("beta.cedar"), &beta_closed_with_a_typo())?;
        refused(1.0).await?;
        let r = alice.req(&c, Method::GET, &beta).send().await?;
        assert_eq!(r.status(), StatusCode::OK, "the old set still decides");
        assert!(
            stack.logs().contains("beta.cedar:"),
            "the refusal names the file and line"
        );

        // Valid Cedar breaking an invariant: refused and counted the same.
        put(
            &live.join("beta.cedar"),
            &beta_closed_with_viewers_writing(),
        )?;
        refused(2.0).await?;
        let r = alice.req(&c, Method::GET, &beta).send().await?;
        assert_eq!(r.status(), StatusCode::OK, "the old set still decides");
        assert!(
            stack
                .logs()
                .contains("invariant broken: a viewer never writes"),
            "the refusal names the invariant"
        );

        // Valid Cedar breaking an invariant only the proof sees: refused,
        // the log showing the request that breaks it.
        if proving()? {
            let ready = reqwest::get(format!("{admin}/ready")).await?.text().await?;
            assert!(
                ready.contains("policy proofs (live): on: 8 invariants")
                    && ready.contains("policy proofs (shadow): on: "),
                "{ready}"
            );
            put(&live.join("beta.cedar"), &beta_closed_with_a_relation())?;
            refused(3.0).await?;
            let r = alice.req(&c, Method::GET, &beta).send().await?;
            assert_eq!(r.status(), StatusCode::OK, "the old set still decides");
            let logs = stack.logs();
            assert!(
                logs.contains("proven false over")
                    && logs.contains("counterexample: principal WRNexus::")
                    && logs.contains("`viewer-plan-path` ("),
                "the refusal shows the breaking request"
            );
        }

        // The file fixed: new decisions within seconds.
        put(&live.join("beta.cedar"), BETA_CLOSED)?;
        let took = forbidden_soon(&c, &alice, &beta).await?;
        eprintln!("good edit in force after {took:?}");
        assert!(
            metric(
                &admin,
                "wrnexus_gateway_policy_reloads_total",
                &["set=\"live\"", "result=\"ok\""]
            )
            .await?
                >= 1.0
        );

        stop.store(true, Ordering::Relaxed);
        traffic.await?;
        let (sent, failed) = (sent.load(Ordering::Relaxed), failed.load(Ordering::Relaxed));
        assert!(sent > 10, "too little traffic: {sent}");
        assert_eq!(
            failed, 0,
            "{failed} of {sent} requests failed during reloads"
        );
        TestResult::Ok(())
    }
    .await;
    if let Err(e) = &result {
        eprintln!("{e}\n{}", stack.logs());
    }
    result
}

#[tokio::test]
async fn sighup_reloads_at_once_when_polling_is_slow() -> TestResult {
    let _one = ONE_STACK.lock().await;
    let Some(database) = fresh_postgres().await? else {
        return Ok(());
    };
    if redis().await?.is_none() {
        return Ok(());
    }
    let dirs = tempfile::tempdir()?;
    let live = dirs.path().join("live");
    copy_shipped(&live)?;
    let live_arg = live.display().to_string();
    let mut stack = Stack::split_with(
        &database,
        &redis_url(),
        &[
            ("WRNEXUS_POLICIES__DIR", &live_arg),
            // An hour: only the signal can make the gateway notice.
            ("WRNEXUS_POLICIES__POLL_INTERVAL_MS", "3600000"),
        ],
    )
    .await?;
    let result = async {
        let (gw, admin) = (stack.gateway.clone(), stack.admin.clone());
        let c = http();
        let alice = sign_up(&c, &gw, &client::email("alice")).await?;
        let beta = format!("{gw}/beta/page");
        let status = || alice.req(&c, Method::GET, &beta).send();
        assert_eq!(status().await?.status(), StatusCode::OK);

        put(&live.join("beta.cedar"), BETA_CLOSED)?;
        // Unsignalled, the edit goes unnoticed.
        tokio::time::sleep(Duration::from_millis(800)).await;
        assert_eq!(
            status().await?.status(),
            StatusCode::OK,
            "reloaded without a signal: the poll interval was not applied"
        );

        let gateway = stack
            .procs
            .iter()
            .find(|p| p.name.starts_with("gateway"))
            .ok_or("no gateway process")?;
        gateway.hangup()?;
        let took = forbidden_soon(&c, &alice, &beta).await?;
        eprintln!("in force {took:?} after SIGHUP");
        assert_eq!(
            metric(
                &admin,
                "wrnexus_gateway_policy_reloads_total",
                &["set=\"live\"", "result=\"ok\""]
            )
            .await?,
            1.0
        );
        TestResult::Ok(())
    }
    .await;
    if let Err(e) = &result {
        eprintln!("{e}\n{}", stack.logs());
    }
    if let Some(gateway) = stack
        .procs
        .iter_mut()
        .find(|p| p.name.starts_with("gateway"))
    {
        gateway.check_running()?;
    }
    result
}
