//! Tags set after creation.

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::common::*;
use crate::{delete, get, network_with_subnet, NET};

#[tokio::test]
async fn tags_can_be_set_after_creation() {
    let cloud = Cloud::start().await;
    let token = cloud.token().await;
    let (net, _) = network_with_subnet(&cloud, &token, "t", "127.168.9.0/24").await;
    let (status, tags) = cloud
        .send(
            Method::PUT,
            &format!("{NET}/networks/{net}/tags"),
            &token,
            Some(json!({"tags": ["a", "b"]})),
        )
        .await;
    assert_eq!(
        (status, tags),
        (StatusCode::OK, json!({"tags": ["a", "b"]}))
    );
    let (status, _) = cloud
        .send(
            Method::PUT,
            &format!("{NET}/networks/{net}/tags/c"),
            &token,
            None,
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(
        delete(&cloud, &token, &format!("/networks/{net}/tags/a")).await,
        StatusCode::NO_CONTENT
    );
    let (_, shown) = get(&cloud, &token, &format!("/networks/{net}")).await;
    assert_eq!(shown["network"]["tags"], json!(["b", "c"]));
    let (status, updated) = cloud
        .send(
            Method::PUT,
            &format!("{NET}/networks/{net}"),
            &token,
            Some(json!({"network": {"name": "renamed"}})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(updated["network"]["name"], "renamed");
    assert_eq!(updated["network"]["revision_number"], 2);
    cloud.running.stop();
}
