//! Two control planes behind the gateways, on one Postgres and one Redis:
//! what one control plane changes reaches a gateway that asks the other,
//! and a control plane that dies takes nothing with it.

use reqwest::{Method, StatusCode};
use std::time::Duration;
use wrnexus_e2e::TestResult;
use wrnexus_e2e::client::{self, http, sign_up, until};
use wrnexus_e2e::services::{PrivateRedis, fresh_postgres};
use wrnexus_e2e::stack::Stack;

#[tokio::test]
async fn gateways_behind_two_control_planes_see_each_others_changes() -> TestResult {
    let Some(database) = fresh_postgres().await? else {
        return Ok(());
    };
    let dir = tempfile::tempdir()?;
    let Some(redis) = PrivateRedis::start(dir.path()).await? else {
        return Ok(());
    };
    let mut stack = Stack::split(&database, &redis.url()).await?;
    let result = async {
        // Gateway 1 asks control plane 1, gateway 2 control plane 2.
        let (cp2, cp2_name) = stack.add_control_plane(&redis.url(), &[]).await?;
        let (gw2, _) = stack.add_gateway_via(&redis.url(), &cp2).await?;
        let gw1 = stack.gateway.clone();
        let c = http();
        let alice = sign_up(&c, &gw1, &client::email("alice")).await?;
        // Bob signs up through the other control plane, and is invited
        // and joins through it too.
        let mut bob = sign_up(&c, &gw2, &client::email("bob")).await?;
        client::join(&c, &gw2, &alice, &mut bob, &alice.workspace_id, "member").await?;
        let (doc1, doc2) = (format!("{gw1}/doc"), format!("{gw2}/doc"));
        for doc in [&doc1, &doc2] {
            until(&c, &bob, doc, StatusCode::OK, Duration::from_secs(2)).await?;
            until(&c, &alice, doc, StatusCode::OK, Duration::from_secs(2)).await?;
        }

        // Alice removes Bob through control plane 2: the gateway that asks
        // control plane 1 refuses him as soon as the other does.
        let r = alice
            .req(
                &c,
                Method::DELETE,
                &format!(
                    "{gw2}/.wrnexus/api/v1/workspaces/{}/members/{}",
                    alice.workspace_id, bob.id
                ),
            )
            .send()
            .await?;
        assert_eq!(r.status(), StatusCode::OK);
        let (a, b) = tokio::join!(
            until(
                &c,
                &bob,
                &doc1,
                StatusCode::FORBIDDEN,
                Duration::from_secs(1)
            ),
            until(
                &c,
                &bob,
                &doc2,
                StatusCode::FORBIDDEN,
                Duration::from_secs(1)
            ),
        );
        eprintln!(
            "a removal made through one control plane seen after {:?} and {:?}",
            a?, b?
        );

        // Control plane 2 dies. Control plane 1 carries on: a new sign-up
        // and its session work at gateway 1, Alice still gets in, Bob still
        // does not.
        stack
            .proc(&cp2_name)
            .ok_or("no second control plane")?
            .kill();
        let carol = sign_up(&c, &gw1, &client::email("carol")).await?;
        until(&c, &carol, &doc1, StatusCode::OK, Duration::from_secs(2)).await?;
        until(&c, &alice, &doc1, StatusCode::OK, Duration::from_secs(2)).await?;
        until(
            &c,
            &bob,
            &doc1,
            StatusCode::FORBIDDEN,
            Duration::from_secs(1),
        )
        .await?;
        TestResult::Ok(())
    }
    .await;
    if let Err(e) = &result {
        eprintln!("{e}\n{}", stack.logs());
    }
    result
}
