//! Keystone: tokens with their catalog, credentials, refusals.

use reqwest::StatusCode;
use serde_json::Value;

use crate::common::*;

#[tokio::test]
async fn password_token_with_catalog_in_keystones_shape() {
    let cloud = Cloud::start().await;
    let res = cloud.auth("admin", &cloud.password(), "admin").await;
    assert_eq!(res.status(), StatusCode::CREATED);
    assert!(res.headers().contains_key("x-subject-token"));
    let body: Value = res.json().await.unwrap();
    assert_shape(&sample("keystone/project-scoped-password.json"), &body, "");
    let catalog = body["token"]["catalog"].as_array().unwrap();
    let compute = catalog
        .iter()
        .find(|s| s["type"] == "compute")
        .expect("compute in catalog");
    let public = compute["endpoints"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["interface"] == "public")
        .unwrap();
    assert_eq!(public["url"], format!("{}/compute/v2.1", cloud.running.url));
    // The token is the subject of a validation call.
    let token = cloud.token().await;
    let res = cloud
        .http
        .get(format!("{}/auth/tokens", cloud.running.auth_url()))
        .header("x-auth-token", &token)
        .header("x-subject-token", &token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    // The sample request (by user id) parses; its unknown user is refused like any other.
    let res = cloud
        .http
        .post(format!("{}/auth/tokens", cloud.running.auth_url()))
        .json(&sample("keystone/project-name-password.json"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    let clouds = std::fs::read_to_string(cloud._dir.0.join("clouds.yaml")).unwrap();
    assert!(
        clouds.contains(&format!("auth_url: {}/identity/v3", cloud.running.url)),
        "{clouds}"
    );
    cloud.running.stop();
}

/// The embedded cloud's password is not `admin`: random per data directory, kept there
/// (0600, with clouds.yaml 0600 too), the same after a restart on that directory.
#[tokio::test]
async fn credentials_are_random_per_data_dir_and_private() {
    use std::os::unix::fs::PermissionsExt;
    let cloud = Cloud::start().await;
    let password = cloud.password();
    assert_ne!(password, "admin");
    assert!(password.len() >= 20, "{password}");
    assert_eq!(
        cloud.auth("admin", "admin", "admin").await.status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        cloud.auth("admin", &password, "admin").await.status(),
        StatusCode::CREATED
    );
    let mode = |f: &str| {
        std::fs::metadata(cloud._dir.0.join(f))
            .unwrap()
            .permissions()
            .mode()
            & 0o777
    };
    assert_eq!(mode("clouds.yaml"), 0o600);
    assert_eq!(mode("admin.password"), 0o600);
    let yaml = std::fs::read_to_string(cloud._dir.0.join("clouds.yaml")).unwrap();
    assert!(yaml.contains(&format!("password: '{password}'")), "{yaml}");
    // Another data directory, another password.
    let other = Cloud::start().await;
    assert_ne!(other.password(), password);
    other.running.stop();
    // The same directory after a restart: the same password.
    let dir = cloud._dir.0.clone();
    let subnet = cloud.running.cloud.config.subnet;
    cloud.running.stop();
    let mut config = localcloud::Config::new("127.0.0.1:0".parse().unwrap(), &dir);
    config.vip_range = random_vip_range();
    config.subnet = subnet;
    let again = localcloud::start(config).await.unwrap();
    assert_eq!(again.admin().password, password);
    again.stop();
    let _keep = cloud._dir;
}

#[tokio::test]
async fn identity_refusals_in_keystones_error_shape() {
    let cloud = Cloud::start().await;
    for (user, password, project) in [
        ("admin", "wrong", "admin"),
        ("nobody", "admin", "admin"),
        ("admin", "admin", "admin"),
        ("admin", &cloud.password(), "other"),
    ] {
        let res = cloud.auth(user, password, project).await;
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
        let body: Value = res.json().await.unwrap();
        assert_eq!(body["error"]["code"], 401, "{body}");
        assert_eq!(body["error"]["title"], "Unauthorized");
        assert!(body["error"]["message"].is_string());
    }
    for bad in [&b""[..], b"{", b"\xff\xfe", b"{\"auth\": 3}", b"[]"] {
        let res = cloud
            .http
            .post(format!("{}/auth/tokens", cloud.running.auth_url()))
            .header("content-type", "application/json")
            .body(bad.to_vec())
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::BAD_REQUEST, "{bad:?}");
        let body: Value = res.json().await.unwrap();
        assert_eq!(body["error"]["code"], 400);
    }
    cloud.running.stop();
}
