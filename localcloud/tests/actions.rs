//! Nova's server actions and `user_data` in localcloud: a server keeps the user data it
//! was given and never shows it back; bad user data is refused and makes nothing;
//! `os-stop` and `os-start` move it between ACTIVE and SHUTOFF (a second stop is a
//! 409); `rebuild` boots it again with new user data (REBUILD, then ACTIVE);
//! `os-resetState` (admin) puts it in ERROR and back to ACTIVE.

mod common;

use base64::Engine as _;
use common::Cloud;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

fn b64(s: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(s)
}

fn server(name: &str, user_data: Value) -> Value {
    json!({"server": {"name": name, "flavorRef": "1", "imageRef": "ubuntu-22.04-k8s-v1.31",
        "networks": "auto", "user_data": user_data}})
}

async fn status(cloud: &Cloud, token: &str, id: &str) -> Value {
    cloud
        .get(&format!("/compute/v2.1/servers/{id}"), Some(token))
        .await
        .1
}

#[tokio::test]
async fn user_data_stop_start_and_rebuild() {
    let cloud = Cloud::start_with(|c| c.server_build_delay = std::time::Duration::ZERO).await;
    let token = cloud.token().await;

    // Bad user data: refused, nothing made.
    for bad in [json!("not base64 at all!"), json!("A".repeat(70_000))] {
        let (s, body) = cloud
            .send(
                Method::POST,
                "/compute/v2.1/servers",
                &token,
                Some(server("bad", bad)),
            )
            .await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{body}");
        assert!(
            body["badRequest"]["message"]
                .as_str()
                .unwrap()
                .contains("user_data"),
            "{body}"
        );
    }
    let (_, list) = cloud.get("/compute/v2.1/servers", Some(&token)).await;
    assert_eq!(list["servers"].as_array().unwrap().len(), 0);

    let secret = "#!/bin/sh\necho a-private-key\n";
    let (s, made) = cloud
        .send(
            Method::POST,
            "/compute/v2.1/servers",
            &token,
            Some(server("vm", json!(b64(secret)))),
        )
        .await;
    assert_eq!(s, StatusCode::ACCEPTED, "{made}");
    let id = made["server"]["id"].as_str().unwrap().to_string();
    let shown = status(&cloud, &token, &id).await;
    assert_eq!(shown["server"]["status"], "ACTIVE");
    assert!(
        !shown.to_string().contains("a-private-key"),
        "user data shown back: {shown}"
    );
    assert!(
        !shown.to_string().contains(&b64(secret)),
        "user data shown back: {shown}"
    );

    let action = |body: Value| {
        let (cloud, token, id) = (&cloud, &token, &id);
        async move {
            cloud
                .send(
                    Method::POST,
                    &format!("/compute/v2.1/servers/{id}/action"),
                    token,
                    Some(body),
                )
                .await
        }
    };
    let (s, _) = action(json!({"os-stop": null})).await;
    assert_eq!(s, StatusCode::ACCEPTED);
    let shown = status(&cloud, &token, &id).await;
    assert_eq!(shown["server"]["status"], "SHUTOFF");
    assert_eq!(shown["server"]["OS-EXT-STS:vm_state"], "stopped");
    assert_eq!(shown["server"]["OS-EXT-STS:power_state"], 4);
    let (s, body) = action(json!({"os-stop": null})).await;
    assert_eq!(s, StatusCode::CONFLICT, "{body}");
    let (s, _) = action(json!({"os-start": null})).await;
    assert_eq!(s, StatusCode::ACCEPTED);
    assert_eq!(
        status(&cloud, &token, &id).await["server"]["status"],
        "ACTIVE"
    );

    let (s, body) = action(json!({"os-reboot-twice": null})).await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{body}");
    let (s, body) = action(json!({"rebuild": {"imageRef": "no-such-image"}})).await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{body}");

    // Rebuilt with new user data: REBUILD for the build time, then ACTIVE.
    let mut b = cloud.running.cloud.behaviour();
    b.server_build_seconds = 1.0;
    cloud.running.cloud.set_behaviour(b);
    let (s, body) = action(json!({"rebuild": {"imageRef": "ubuntu-22.04-k8s-v1.31", "user_data": b64("#!/bin/sh\necho again\n")}})).await;
    assert_eq!(s, StatusCode::ACCEPTED, "{body}");
    assert_eq!(body["server"]["id"], id.as_str());
    assert_eq!(
        status(&cloud, &token, &id).await["server"]["status"],
        "REBUILD"
    );
    tokio::time::sleep(std::time::Duration::from_millis(1200)).await;
    assert_eq!(
        status(&cloud, &token, &id).await["server"]["status"],
        "ACTIVE"
    );
    cloud.running.stop();
}

#[tokio::test]
async fn reset_state_puts_a_server_in_error_and_back() {
    let cloud = Cloud::start_with(|c| c.server_build_delay = std::time::Duration::ZERO).await;
    let token = cloud.token().await;
    let (s, made) = cloud
        .send(
            Method::POST,
            "/compute/v2.1/servers",
            &token,
            Some(server("vm", Value::Null)),
        )
        .await;
    assert_eq!(s, StatusCode::ACCEPTED, "{made}");
    let id = made["server"]["id"].as_str().unwrap().to_string();
    let reset = |state: Value| {
        let (cloud, token, id) = (&cloud, &token, &id);
        async move {
            cloud
                .send(
                    Method::POST,
                    &format!("/compute/v2.1/servers/{id}/action"),
                    token,
                    Some(json!({"os-resetState": {"state": state}})),
                )
                .await
        }
    };
    let (s, body) = reset(json!("paused")).await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{body}");
    let (s, body) = reset(json!("error")).await;
    assert_eq!(s, StatusCode::ACCEPTED, "{body}");
    let shown = status(&cloud, &token, &id).await;
    assert_eq!(shown["server"]["status"], "ERROR", "{shown}");
    assert!(shown["server"]["fault"]["message"]
        .as_str()
        .is_some_and(|m| m.contains("reset to ERROR")));
    let (s, body) = reset(json!("active")).await;
    assert_eq!(s, StatusCode::ACCEPTED, "{body}");
    let shown = status(&cloud, &token, &id).await;
    assert_eq!(shown["server"]["status"], "ACTIVE", "{shown}");
    assert!(shown["server"].get("fault").is_none(), "{shown}");
}
