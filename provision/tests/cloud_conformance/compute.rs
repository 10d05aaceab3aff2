//! Conformance: catalog, server groups and servers.

use provision::cloud::*;

use crate::target::*;

pub async fn catalog_flavors_images_hosts(t: &Target) {
    let c = t.cloud();
    let flavors = c.flavor_list().await.expect("flavors");
    let flavor = flavors
        .iter()
        .find(|f| f.name == t.flavor || f.id == t.flavor)
        .unwrap_or_else(|| panic!("{} is not in {flavors:?}", t.flavor));
    assert!(flavor.vcpus > 0 && flavor.ram_mib > 0, "{flavor:?}");
    let image = c.image_id(&t.image).await;
    assert!(
        image.is_ok() || t.image.len() == 36,
        "image {}: {image:?}",
        t.image
    );
    let missing = c
        .image_id(&t.name("no-such-image"))
        .await
        .expect_err("no such image");
    assert!(missing.is_not_found(), "{missing}");
    if let Some(net) = &t.network {
        assert!(!c.network_id(net).await.expect("network").is_empty());
    }
    if t.admin {
        let hosts = c.host_usage().await.expect("hosts");
        assert!(!hosts.is_empty());
        assert!(
            hosts.iter().all(|h| h.vcpus > 0 && h.ram_mib > 0),
            "{hosts:?}"
        );
    }
}

pub async fn server_group_lifecycle(t: &Target) {
    let c = t.cloud();
    let name = t.name("masters");
    let g = c
        .server_group_create(&name, GroupPolicy::AntiAffinity)
        .await
        .expect("create");
    assert_eq!(
        (g.name.as_str(), g.policy.as_str()),
        (name.as_str(), "anti-affinity")
    );
    let again = c
        .server_group_create(&name, GroupPolicy::AntiAffinity)
        .await
        .expect("create again");
    assert_eq!(again.id, g.id, "a second create returns the first group");
    let found = c.server_group_find(&name).await.expect("find");
    assert_eq!(found.map(|f| f.id), Some(g.id.clone()));
    let soft = c
        .server_group_create(&t.name("workers"), GroupPolicy::SoftAntiAffinity)
        .await
        .expect("soft");
    assert_eq!(soft.policy, "soft-anti-affinity");
    c.server_group_delete(&g.id).await.expect("delete");
    c.server_group_delete(&g.id).await.expect("delete again");
    c.server_group_delete(&soft.id).await.expect("delete soft");
    assert_eq!(c.server_group_find(&name).await.expect("find"), None);
}

pub async fn server_lifecycle(t: &Target) {
    let c = t.cloud();
    let group = c
        .server_group_create(&t.name("masters"), GroupPolicy::AntiAffinity)
        .await
        .expect("group");
    let mut spec = t.server_spec("master-0");
    spec.group = Some(group.id.clone());
    spec.metadata.insert("role".into(), "master".into());
    let s = c.server_create(&spec).await.expect("create");
    assert_eq!(s.name, spec.name);
    assert_eq!(s.metadata.get("role").map(String::as_str), Some("master"));
    let again = c.server_create(&spec).await.expect("create again");
    assert_eq!(again.id, s.id, "a second create returns the first server");

    let s = c.wait_server_active(&s.id, &t.wait).await.expect("ACTIVE");
    assert_eq!(s.status, "ACTIVE");
    assert!(
        !s.addresses.is_empty(),
        "an ACTIVE server has an address: {s:?}"
    );
    if t.admin {
        assert!(s.host.is_some(), "admins see the host: {s:?}");
    }
    assert_eq!(c.server_get(&s.id).await.expect("get").id, s.id);
    let listed = c.server_list(&t.owner()).await.expect("list");
    assert_eq!(
        listed.iter().map(|s| s.id.as_str()).collect::<Vec<_>>(),
        vec![s.id.as_str()],
        "the cloud has one server for the spec"
    );
    let mut other_owner = t.owner();
    other_owner.insert("role".into(), "worker".into());
    assert!(c.server_list(&other_owner).await.expect("list").is_empty());
    let g = c
        .server_group_find(&group.name)
        .await
        .expect("find group")
        .expect("group");
    assert!(g.members.contains(&s.id), "{g:?}");

    c.server_delete(&s.id).await.expect("delete");
    c.server_delete(&s.id).await.expect("delete again");
    gone(t, "deleted server", || c.server_get(&s.id)).await;
    c.server_group_delete(&group.id)
        .await
        .expect("delete group");
}

pub async fn server_boots_from_a_volume(t: &Target) {
    let c = t.cloud();
    let mut spec = t.server_spec("bfv");
    spec.boot_volume_gib = Some(10);
    let s = c.server_create(&spec).await.expect("create");
    let s = c.wait_server_active(&s.id, &t.wait).await.expect("ACTIVE");
    assert_eq!(s.name, spec.name);
    c.server_delete(&s.id).await.expect("delete");
    gone(t, "deleted server", || c.server_get(&s.id)).await;
}
