//! Driver behaviour: the shared trait object, and listings across pages.

use std::sync::Arc;

use provision::cloud::*;

use crate::stub;
use crate::target::*;

/// Code generic over `impl Cloud` takes the shared driver as it is.
async fn flavor_count(cloud: impl Cloud) -> usize {
    cloud.flavor_list().await.map(|f| f.len()).unwrap_or(0)
}

#[tokio::test]
async fn usable_as_shared_trait_object() {
    let t = localcloud_target(|_| {}).await;
    let shared: Arc<dyn Cloud> = t.cloud.clone();
    let tasks: Vec<_> = (0..3)
        .map(|_| {
            let c = shared.clone();
            tokio::spawn(async move { c.flavor_list().await.map(|f| f.len()) })
        })
        .collect();
    for task in tasks {
        assert_eq!(task.await.expect("joins").expect("flavors"), 5);
    }
    assert_eq!(flavor_count(shared.clone()).await, 5);
    assert_eq!(flavor_count(Box::new(shared)).await, 5);
}

#[tokio::test]
async fn lists_servers_across_pages() {
    let stub = stub::start(stub::Mode::BadRequest).await;
    let cloud = stub::driver(&stub).await;
    let all = cloud
        .server_list(&Metadata::new())
        .await
        .expect("two pages");
    let ids: Vec<&str> = all.iter().map(|s| s.id.as_str()).collect();
    assert_eq!(ids, ["s1", "s2", "s3"]);
    let masters = cloud
        .server_list(&Metadata::from([("role".into(), "master".into())]))
        .await
        .expect("filtered");
    let ids: Vec<&str> = masters.iter().map(|s| s.id.as_str()).collect();
    assert_eq!(ids, ["s1", "s3"]);
    assert_eq!(masters[0].addresses, ["10.0.0.9"]);
}

#[tokio::test]
async fn listing_starts_over_when_its_marker_is_deleted() {
    // Page one ends with s2; s2 is deleted before page two is asked for, and Nova answers
    // 400 "marker [s2] not found". The driver lists again from the start.
    let stub = stub::start(stub::Mode::MarkerVanishes).await;
    let cloud = stub::driver(&stub).await;
    let servers = cloud
        .server_list(&Default::default())
        .await
        .expect("the listing survives");
    let ids: Vec<&str> = servers.iter().map(|s| s.id.as_str()).collect();
    assert_eq!(ids, ["s1", "s3"]);
}
