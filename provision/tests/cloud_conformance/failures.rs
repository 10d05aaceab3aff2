//! Conformance: how failures are reported (missing resources, time-outs, unplaceable
//! servers, bad requests).

use std::time::Duration;

use provision::cloud::*;

use crate::target::*;

pub async fn deleting_missing_resources_is_ok(t: &Target) {
    let c = t.cloud();
    let missing = "00000000-0000-4000-8000-000000000000";
    c.server_delete(missing).await.expect("server");
    c.volume_delete(missing).await.expect("volume");
    c.server_group_delete(missing).await.expect("server group");
    let e = c.server_get(missing).await.expect_err("no such server");
    assert_eq!((e.kind, e.status), (ErrorKind::NotFound, Some(404)));
    assert!(e.call.contains(missing) && !e.message.is_empty(), "{e}");
    let e = c.volume_get(missing).await.expect_err("no such volume");
    assert!(e.is_not_found(), "{e}");
}

pub async fn waits_time_out_retryably(t: &Target) {
    let c = t.cloud();
    let tiny = WaitPolicy {
        initial: Duration::from_millis(5),
        max_interval: Duration::from_millis(10),
        deadline: Duration::from_millis(30),
    };
    let s = c
        .server_create(&t.server_spec("slow"))
        .await
        .expect("create");
    let e = c
        .wait_server_active(&s.id, &tiny)
        .await
        .expect_err("times out");
    assert!(e.retryable(), "{e}");
    assert!(
        e.message.contains("timed out") && e.message.contains("BUILD"),
        "{e}"
    );
    let v = c
        .volume_create(&VolumeSpec {
            name: t.name("slow"),
            size_gib: 1,
            volume_type: None,
            metadata: t.owner(),
        })
        .await
        .expect("volume");
    let e = c
        .wait_volume_available(&v.id, &tiny)
        .await
        .expect_err("times out");
    assert!(e.retryable() && e.message.contains("creating"), "{e}");
    c.server_delete(&s.id).await.expect("delete server");
    // Cinder refuses to delete a volume still creating: then wait for it first.
    if c.volume_delete(&v.id).await.is_err() {
        c.wait_volume_available(&v.id, &t.wait)
            .await
            .expect("available");
        c.volume_delete(&v.id).await.expect("delete volume");
    }
}

pub async fn unplaceable_server_fails_permanently(t: &Target) {
    let Some(huge) = &t.huge_flavor else {
        eprintln!("skipped: set SHIPYARD_TEST_HUGE_FLAVOR to a flavor no host can take");
        return;
    };
    let c = t.cloud();
    let mut spec = t.server_spec("huge");
    spec.flavor = huge.clone();
    let s = c
        .server_create(&spec)
        .await
        .expect("Nova accepts, then fails to place");
    let e = c
        .wait_server_active(&s.id, &t.wait)
        .await
        .expect_err("ERROR");
    assert_eq!(e.kind, ErrorKind::Permanent, "{e}");
    assert!(e.message.contains("No valid host"), "{e}");
    assert!(e.call.contains(&s.id), "{e}");
    assert!(c.server_get(&s.id).await.expect("get").fault.is_some());
    c.server_delete(&s.id).await.expect("delete");
}

pub async fn bad_requests_are_permanent(t: &Target) {
    let c = t.cloud();
    let e = c
        .volume_create(&VolumeSpec {
            name: t.name("empty"),
            size_gib: 0,
            volume_type: None,
            metadata: t.owner(),
        })
        .await
        .expect_err("size 0");
    assert_eq!((e.kind, e.status), (ErrorKind::Permanent, Some(400)), "{e}");
    assert!(e.call.contains(&t.name("empty")), "{e}");
    assert!(
        !e.message.is_empty() && !e.message.starts_with("HTTP"),
        "{e}"
    );

    let mut spec = t.server_spec("bad-image");
    spec.image = "00000000-0000-4000-8000-000000000000".into();
    let e = c.server_create(&spec).await.expect_err("no such image");
    assert_eq!((e.kind, e.status), (ErrorKind::Permanent, Some(400)), "{e}");

    let mut spec = t.server_spec("bad-flavor");
    spec.flavor = t.name("no-such-flavor");
    let e = c.server_create(&spec).await.expect_err("no such flavor");
    assert_eq!(e.kind, ErrorKind::Permanent, "{e}");
    assert!(e.message.contains("no-such-flavor"), "{e}");

    let e = c
        .server_group_create(&"x".repeat(300), GroupPolicy::AntiAffinity)
        .await
        .expect_err("name too long");
    assert_eq!((e.kind, e.status), (ErrorKind::Permanent, Some(400)), "{e}");
    assert!(c.server_list(&t.owner()).await.expect("list").is_empty());
}
