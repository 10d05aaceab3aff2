//! Quotas, limits and their errors.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::common::*;
use crate::{octavia_error, subnet, LBAAS};

#[tokio::test]
async fn quotas_limits_and_their_errors() {
    let cloud = Cloud::start_with(|c| {
        c.lb_delay = Duration::ZERO;
        c.lb_update_delay = Duration::ZERO;
        c.server_build_delay = Duration::ZERO;
        c.volume_delay = Duration::ZERO;
        c.users.push(localcloud::UserConfig {
            name: "tenant".into(),
            password: Some("secret".into()),
            project: "tenant".into(),
            admin: false,
        });
    })
    .await;
    let token = cloud.token().await;
    let project = cloud.project_id().await;

    let (s, limits) = cloud
        .send(Method::GET, "/compute/v2.1/limits", &token, None)
        .await;
    assert_eq!(s, StatusCode::OK);
    assert_shape(&sample("nova/limit-get-resp.json"), &limits, "");
    let (_, q) = cloud
        .send(
            Method::GET,
            &format!("/compute/v2.1/os-quota-sets/{project}"),
            &token,
            None,
        )
        .await;
    assert_shape(&sample("nova/quotas-show-get-resp.json"), &q, "");
    let (_, q) = cloud
        .send(
            Method::GET,
            &format!("/compute/v2.1/os-quota-sets/{project}/detail"),
            &token,
            None,
        )
        .await;
    assert_shape(&sample("nova/quotas-show-detail-get-resp.json"), &q, "");
    let (_, q) = cloud
        .send(
            Method::GET,
            &format!("/volume/v3/{project}/os-quota-sets/{project}?usage=true"),
            &token,
            None,
        )
        .await;
    assert_shape(&sample("cinder/quotas-show-usage-response.json"), &q, "");
    let (_, q) = cloud
        .send(
            Method::GET,
            &format!("/volume/v3/{project}/os-quota-sets/{project}"),
            &token,
            None,
        )
        .await;
    assert_shape(&sample("cinder/quotas-show-response.json"), &q, "");
    let (_, l) = cloud
        .send(
            Method::GET,
            &format!("/volume/v3/{project}/limits"),
            &token,
            None,
        )
        .await;
    assert_shape(&sample("cinder/limits-show-response.json"), &l, "");
    let (_, q) = cloud
        .send(
            Method::GET,
            &format!("{LBAAS}/quotas/{project}"),
            &token,
            None,
        )
        .await;
    assert_shape(&sample("octavia/quotas-show-response.json"), &q, "");

    // Tight quotas, set through each service's own API.
    let (s, b) = cloud
        .send(
            Method::PUT,
            &format!("/compute/v2.1/os-quota-sets/{project}"),
            &token,
            Some(json!({"quota_set": {"cores": 3}})),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(b["quota_set"]["cores"], 3);
    let (s, _) = cloud
        .send(
            Method::PUT,
            &format!("/volume/v3/{project}/os-quota-sets/{project}"),
            &token,
            Some(json!({"quota_set": {"gigabytes": 10}})),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    let (s, _) = cloud
        .send(
            Method::PUT,
            &format!("{LBAAS}/quotas/{project}"),
            &token,
            Some(json!({"quota": {"loadbalancer": 1}})),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    let (s, b) = cloud
        .send(
            Method::PUT,
            &format!("/compute/v2.1/os-quota-sets/{project}"),
            &token,
            Some(json!({"quota_set": {"cores": "many"}})),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{b}");

    let server = |flavor: &str| json!({"server": {"name": "q", "flavorRef": flavor, "imageRef": "ubuntu-22.04-k8s-v1.31", "networks": "auto"}});
    let (s, _) = cloud
        .send(
            Method::POST,
            "/compute/v2.1/servers",
            &token,
            Some(server("3")),
        )
        .await;
    assert_eq!(s, StatusCode::ACCEPTED, "2 of 3 cores");
    let (s, b) = cloud
        .send(
            Method::POST,
            "/compute/v2.1/servers",
            &token,
            Some(server("3")),
        )
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN, "{b}");
    assert!(
        b["forbidden"]["message"]
            .as_str()
            .unwrap()
            .contains("Quota exceeded for cores"),
        "{b}"
    );
    let (_, limits) = cloud
        .send(Method::GET, "/compute/v2.1/limits", &token, None)
        .await;
    assert_eq!(limits["limits"]["absolute"]["totalCoresUsed"], 2);
    assert_eq!(limits["limits"]["absolute"]["maxTotalCores"], 3);

    let vol = |size: u64| json!({"volume": {"size": size, "name": "v"}});
    let (s, _) = cloud
        .send(
            Method::POST,
            &format!("/volume/v3/{project}/volumes"),
            &token,
            Some(vol(8)),
        )
        .await;
    assert_eq!(s, StatusCode::ACCEPTED);
    let (s, b) = cloud
        .send(
            Method::POST,
            &format!("/volume/v3/{project}/volumes"),
            &token,
            Some(vol(8)),
        )
        .await;
    assert_eq!(s, StatusCode::PAYLOAD_TOO_LARGE, "{b}");
    assert!(
        b["overLimit"]["message"]
            .as_str()
            .unwrap()
            .contains("gigabytes quota"),
        "{b}"
    );

    let subnet = subnet(&cloud, &token).await;
    let lb = json!({"loadbalancer": {"vip_subnet_id": subnet}});
    let (s, _) = cloud
        .send(
            Method::POST,
            &format!("{LBAAS}/loadbalancers"),
            &token,
            Some(lb.clone()),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED);
    let (s, b) = cloud
        .send(
            Method::POST,
            &format!("{LBAAS}/loadbalancers"),
            &token,
            Some(lb),
        )
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN, "{b}");
    octavia_error(&b);

    // A tenant may read its own quota but not change it, nor read hosts.
    let res = cloud.auth("tenant", "secret", "tenant").await;
    let tenant = res.headers()["x-subject-token"]
        .to_str()
        .unwrap()
        .to_string();
    let body: Value = res.json().await.unwrap();
    let tenant_project = body["token"]["project"]["id"].as_str().unwrap().to_string();
    let (s, _) = cloud
        .send(
            Method::GET,
            &format!("/compute/v2.1/os-quota-sets/{tenant_project}"),
            &tenant,
            None,
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    let (s, _) = cloud
        .send(
            Method::PUT,
            &format!("/compute/v2.1/os-quota-sets/{tenant_project}"),
            &tenant,
            Some(json!({"quota_set": {"cores": 1000}})),
        )
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, _) = cloud
        .send(
            Method::GET,
            &format!("/compute/v2.1/os-quota-sets/{project}"),
            &tenant,
            None,
        )
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, _) = cloud
        .send(
            Method::GET,
            "/compute/v2.1/os-hypervisors/detail",
            &tenant,
            None,
        )
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, _) = cloud
        .send(
            Method::PUT,
            "/admin/behaviour",
            &tenant,
            Some(json!({"error_rate": 1.0})),
        )
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    cloud.running.stop();
}
