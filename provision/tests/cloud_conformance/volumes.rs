//! Conformance: volumes.

use provision::cloud::*;

use crate::target::*;

pub async fn volume_lifecycle(t: &Target) {
    let c = t.cloud();
    let spec = VolumeSpec {
        name: t.name("etcd-0"),
        size_gib: 1,
        volume_type: None,
        metadata: t.owner(),
    };
    let v = c.volume_create(&spec).await.expect("create");
    assert_eq!((v.name.as_str(), v.size_gib), (spec.name.as_str(), 1));
    assert_eq!(c.volume_create(&spec).await.expect("again").id, v.id);
    let v = c
        .wait_volume_available(&v.id, &t.wait)
        .await
        .expect("available");
    let listed = c.volume_list(&t.owner()).await.expect("list");
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert_eq!(listed[0].metadata, t.owner());

    c.volume_extend(&v.id, 2).await.expect("extend");
    let v = c
        .wait_volume_available(&v.id, &t.wait)
        .await
        .expect("available");
    assert_eq!(v.size_gib, 2);
    c.volume_extend(&v.id, 2)
        .await
        .expect("extend to the same size is a no-op");

    let s = c
        .server_create(&t.server_spec("worker-0"))
        .await
        .expect("server");
    c.wait_server_active(&s.id, &t.wait).await.expect("ACTIVE");
    let a = c.volume_attach(&s.id, &v.id).await.expect("attach");
    assert_eq!(
        (a.server_id.as_str(), a.volume_id.as_str()),
        (s.id.as_str(), v.id.as_str())
    );
    let again = c.volume_attach(&s.id, &v.id).await.expect("attach again");
    assert_eq!(again.volume_id, v.id);
    let in_use = c
        .wait_volume_status(&v.id, "in-use", &t.wait)
        .await
        .expect("in-use");
    assert_eq!(in_use.attached_to, vec![s.id.clone()]);
    let busy = c
        .volume_delete(&v.id)
        .await
        .expect_err("an attached volume stays");
    assert_eq!(
        (busy.kind, busy.status),
        (ErrorKind::Permanent, Some(400)),
        "{busy}"
    );

    c.volume_detach(&s.id, &v.id).await.expect("detach");
    c.volume_detach(&s.id, &v.id).await.expect("detach again");
    c.wait_volume_available(&v.id, &t.wait)
        .await
        .expect("available");
    c.volume_delete(&v.id).await.expect("delete");
    c.volume_delete(&v.id).await.expect("delete again");
    gone(t, "deleted volume", || c.volume_get(&v.id)).await;
    c.server_delete(&s.id).await.expect("delete server");
}
