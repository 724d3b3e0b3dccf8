//! The short soak: a fleet (a control plane, two gateways) at its maximum,
//! then about a minute at half of it (`WRNEXUS_SOAK_SECS`,
//! `WRNEXUS_SOAK_FRACTION`): no errors, progress in every interval, and no
//! process's memory growing by 5 % or more after the warm-up. The long form
//! is `benches/src/bin/soak.rs` (docs/production.md, "Soak").

use wrnexus_e2e::TestResult;
use wrnexus_e2e::soak::{self, Settings};

/// Most a process's resident set may grow over the soak after the warm-up.
const GROWTH_BOUND: f64 = 0.05;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn half_the_maximum_for_a_while_without_errors_or_growth() -> TestResult {
    let settings = Settings::short_from_env()?;
    let Some(report) = soak::run(&settings, &mut |line| eprintln!("{line}")).await? else {
        return Ok(());
    };
    println!("{}", report.render());

    assert_eq!(
        report.total_errors(),
        0,
        "errors: {:?}\n{}",
        report.errors,
        report.render()
    );
    assert_eq!(report.samples.len(), settings.samples());
    for (i, sample) in report.samples.iter().enumerate() {
        assert!(
            sample.requests > 0,
            "no request answered in interval {i}\n{}",
            report.render()
        );
    }
    // The soak kept its pace (an open loop: nothing waited for the answers).
    let answered = report.soak_requests() as f64;
    let asked = report.soak_rate * settings.soak_duration.as_secs_f64();
    assert!(
        answered >= 0.9 * asked,
        "{answered} answered of {asked:.0} asked\n{}",
        report.render()
    );
    let growth = report.growth();
    assert_eq!(growth.len(), settings.gateways + 1, "{growth:?}");
    for g in &growth {
        assert!(
            g.growth < GROWTH_BOUND,
            "{} grew {:.2} % ({} KiB -> {} KiB)\n{}",
            g.process,
            g.growth * 100.0,
            g.start_kib,
            g.end_kib,
            report.render()
        );
    }
    Ok(())
}
