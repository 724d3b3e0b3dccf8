//! Policies at work in a running gateway: hot reload under traffic (a bad
//! edit is refused and counted while the last good set keeps deciding; a
//! good edit decides within a second) and shadow mode (differences counted,
//! never enforced).

use reqwest::{Method, StatusCode};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use wrnexus_e2e::TestResult;
use wrnexus_e2e::client::{self, http, sign_up};
use wrnexus_e2e::services::{fresh_postgres, redis, redis_url};
use wrnexus_e2e::stack::Stack;

/// A rule closing `/beta/…` to everyone.
const BETA_CLOSED: &str = "// Beta pages are closed while the feature is built.\n\
@id(\"beta-closed\")\nforbid (\n  principal,\n  action,\n  resource\n)\n\
when { context.path like \"/beta/*\" };\n";

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

        // A bad edit is refused and counted; the last good set keeps deciding.
        std::fs::write(live.join("broken.cedar"), "permit (principal, action\n")?;
        until_metric(
            &admin,
            "wrnexus_gateway_policy_reloads_total",
            &["set=\"live\"", "result=\"refused\""],
            1.0,
        )
        .await?;
        let r = alice.req(&c, Method::GET, &beta).send().await?;
        assert_eq!(r.status(), StatusCode::OK, "the old set still decides");
        std::fs::remove_file(live.join("broken.cedar"))?;

        // A good edit: new decisions within a second.
        std::fs::write(live.join("beta.cedar"), BETA_CLOSED)?;
        let started = Instant::now();
        loop {
            let status = alice.req(&c, Method::GET, &beta).send().await?.status();
            if status == StatusCode::FORBIDDEN {
                break;
            }
            assert!(
                started.elapsed() < Duration::from_secs(1),
                "the new rule did not take effect within a second"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        eprintln!("good edit in force after {:?}", started.elapsed());
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
