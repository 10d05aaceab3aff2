//! Listeners bind again after a restart.

use std::time::Duration;

use reqwest::Method;

use crate::common::*;
use crate::{ask, balanced, Backend, LBAAS};

#[tokio::test]
async fn listeners_bind_again_after_a_restart() {
    let dir = tempdir::Dir::new();
    let vips = random_vip_range();
    let subnet = localcloud::addresses::random_subnet();
    let config = |d: &std::path::Path| {
        let mut c = localcloud::Config::new("127.0.0.1:0".parse().unwrap(), d);
        c.lb_delay = Duration::ZERO;
        c.lb_update_delay = Duration::ZERO;
        c.vip_range = vips;
        c.subnet = subnet;
        c
    };
    let first = Cloud {
        running: localcloud::start(config(&dir.0)).await.unwrap(),
        _dir: tempdir::Dir::new(),
        http: reqwest::Client::new(),
    };
    let token = first.token().await;
    let backend = Backend::start(&first, &token, "kept").await;
    let (lb, vip, _) = balanced(&first, &token, 7443, &[backend.addr]).await;
    let mut answered = false;
    for _ in 0..100 {
        if ask(&vip, 7443).await == "kept" {
            answered = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(answered);
    first.running.stop();
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(
        ask(&vip, 7443).await,
        "refused",
        "stopped cloud closes its listeners"
    );

    let second = Cloud {
        running: localcloud::start(config(&dir.0)).await.unwrap(),
        _dir: tempdir::Dir::new(),
        http: reqwest::Client::new(),
    };
    let token = second.token().await;
    let (_, body) = second
        .send(
            Method::GET,
            &format!("{LBAAS}/loadbalancers/{lb}"),
            &token,
            None,
        )
        .await;
    assert_eq!(body["loadbalancer"]["vip_address"], vip.as_str());
    let mut answered = false;
    for _ in 0..100 {
        if ask(&vip, 7443).await == "kept" {
            answered = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        answered,
        "the listener binds again and forwards after a restart"
    );
    second.running.stop();
    backend.kill();
}
