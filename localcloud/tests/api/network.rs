//! The private network in Neutron's shape.

use reqwest::StatusCode;
use serde_json::json;

use crate::common::*;
use crate::server_req;

#[tokio::test]
async fn the_private_network_in_neutrons_shape() {
    let cloud = Cloud::start_with(|c| c.server_build_delay = std::time::Duration::ZERO).await;
    let token = cloud.token().await;
    let (status, nets) = cloud.get("/network/v2.0/networks", Some(&token)).await;
    assert_eq!(status, StatusCode::OK);
    assert_shape(&sample("neutron/networks-list-response.json"), &nets, "");
    let net = nets["networks"][0]["id"].as_str().unwrap().to_string();
    let (_, subnets) = cloud
        .get(
            &format!("/network/v2.0/subnets?network_id={net}"),
            Some(&token),
        )
        .await;
    assert_shape(&sample("neutron/subnets-list-response.json"), &subnets, "");
    let (_, none) = cloud
        .get("/network/v2.0/networks?name=public", Some(&token))
        .await;
    assert_eq!(none["networks"].as_array().unwrap().len(), 0);
    let (status, missing) = cloud.get("/network/v2.0/networks/nope", Some(&token)).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(missing["NeutronError"]["type"], "NetworkNotFound");
    // Servers take the network by id, and nothing else.
    let mut req = server_req("n0", None);
    req["server"]["networks"] = json!([{"uuid": net}]);
    let (status, _) = cloud
        .send(
            reqwest::Method::POST,
            "/compute/v2.1/servers",
            &token,
            Some(req.clone()),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED);
    req["server"]["networks"] = json!([{"uuid": "not-a-network"}]);
    let (status, _) = cloud
        .send(
            reqwest::Method::POST,
            "/compute/v2.1/servers",
            &token,
            Some(req),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    cloud.running.stop();
}
