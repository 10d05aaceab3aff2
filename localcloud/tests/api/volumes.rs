//! Cinder volumes as real files, and Nova attaching them.

use reqwest::StatusCode;
use serde_json::json;

use crate::common::*;
use crate::server_req;

#[tokio::test]
async fn volumes_are_real_files_in_cinders_shapes() {
    let cloud = Cloud::start_with(|c| {
        c.volume_delay = std::time::Duration::ZERO;
        c.server_build_delay = std::time::Duration::ZERO;
        c.users.push(localcloud::UserConfig {
            name: "other".into(),
            password: Some("other password".into()),
            project: "other".into(),
            admin: false,
        });
    })
    .await;
    let token = cloud.token().await;
    let project = cloud.project_id().await;
    let base = format!("/volume/v3/{project}/volumes");
    let post = reqwest::Method::POST;

    // The published request body is accepted as it is.
    let (status, created) = cloud
        .send(
            post.clone(),
            &base,
            &token,
            Some(sample("cinder/volume-create-request.json")),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{created}");
    assert_shape(&sample("cinder/volume-create-response.json"), &created, "");
    let id = created["volume"]["id"].as_str().unwrap().to_string();
    let file = cloud.running.cloud.volumes.path(&id);
    assert_eq!(std::fs::metadata(&file).unwrap().len(), 10 << 30);

    let (_, shown) = cloud.get(&format!("{base}/{id}"), Some(&token)).await;
    assert_shape(&sample("cinder/volume-show-response.json"), &shown, "");
    assert_eq!(shown["volume"]["status"], "available");
    let (_, list) = cloud.get(&base, Some(&token)).await;
    assert_shape(&sample("cinder/volumes-list-response.json"), &list, "");
    let (_, detail) = cloud.get(&format!("{base}/detail"), Some(&token)).await;
    assert_shape(
        &sample("cinder/volumes-list-detailed-response.json"),
        &detail,
        "",
    );

    // Extend grows the file; the published extend body works.
    let action = format!("{base}/{id}/action");
    let mut extend = sample("cinder/volume-extend-request.json");
    extend["os-extend"]["new_size"] = json!(12);
    let (status, _) = cloud
        .send(post.clone(), &action, &token, Some(extend))
        .await;
    assert_eq!(status, StatusCode::ACCEPTED);
    assert_eq!(std::fs::metadata(&file).unwrap().len(), 12 << 30);

    // Only to a server of the volume's own project: not one that does not exist, nor
    // another project's.
    let other = cloud.auth("other", "other password", "other").await;
    let other = other.headers()["x-subject-token"]
        .to_str()
        .unwrap()
        .to_string();
    let (_, theirs) = cloud
        .send(
            post.clone(),
            "/compute/v2.1/servers",
            &other,
            Some(server_req("theirs", None)),
        )
        .await;
    let theirs = theirs["server"]["id"].as_str().unwrap().to_string();
    for stranger in ["s1", theirs.as_str()] {
        let (status, body) = cloud
            .send(
                post.clone(),
                &action,
                &token,
                Some(json!({"os-attach": {"instance_uuid": stranger, "mountpoint": "/dev/vdb"}})),
            )
            .await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{stranger}: {body}");
        let (_, shown) = cloud.get(&format!("{base}/{id}"), Some(&token)).await;
        assert_eq!(shown["volume"]["status"], "available");
    }
    // In use: cannot be deleted; detached: can, and the file goes.
    let (_, mine) = cloud
        .send(
            post.clone(),
            "/compute/v2.1/servers",
            &token,
            Some(server_req("mine", None)),
        )
        .await;
    let mine = mine["server"]["id"].as_str().unwrap().to_string();
    let (status, _) = cloud
        .send(
            post.clone(),
            &action,
            &token,
            Some(json!({"os-attach": {"instance_uuid": mine, "mountpoint": "/dev/vdb"}})),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED);
    let (_, shown) = cloud.get(&format!("{base}/{id}"), Some(&token)).await;
    assert_eq!(shown["volume"]["status"], "in-use");
    let (status, refused) = cloud
        .send(
            reqwest::Method::DELETE,
            &format!("{base}/{id}"),
            &token,
            None,
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(refused["badRequest"]["code"], 400);
    assert!(file.exists());
    let (status, _) = cloud
        .send(
            post.clone(),
            &action,
            &token,
            Some(json!({"os-detach": {}})),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED);
    let (status, _) = cloud
        .send(
            reqwest::Method::DELETE,
            &format!("{base}/{id}"),
            &token,
            None,
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED);
    assert!(!file.exists());
    let (status, gone) = cloud.get(&format!("{base}/{id}"), Some(&token)).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(gone["itemNotFound"]["code"], 404);

    // Bad sizes, names, types and bodies: 4xx, nothing created.
    for body in [
        json!({"volume": {"size": 0}}),
        json!({"volume": {"size": -5}}),
        json!({"volume": {"size": 100000}}),
        json!({"volume": {"size": "ten"}}),
        json!({"volume": {"size": 1, "name": "n".repeat(256)}}),
        json!({"volume": {"size": 1, "volume_type": "gold"}}),
        json!({"size": 1}),
    ] {
        let (status, answer) = cloud
            .send(post.clone(), &base, &token, Some(body.clone()))
            .await;
        assert!(status.is_client_error(), "{body}: {status}");
        assert!(answer.as_object().is_some_and(|o| o.len() == 1), "{answer}");
    }
    let (_, list) = cloud.get(&base, Some(&token)).await;
    assert_eq!(list["volumes"].as_array().unwrap().len(), 0);
    // Another project's URL is refused.
    let (status, _) = cloud
        .get("/volume/v3/someone-else/volumes", Some(&token))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    cloud.running.stop();
}

#[tokio::test]
async fn nova_attaches_cinder_volumes() {
    let cloud = Cloud::start_with(|c| {
        c.server_build_delay = std::time::Duration::ZERO;
        c.volume_delay = std::time::Duration::ZERO;
    })
    .await;
    let token = cloud.token().await;
    let project = cloud.project_id().await;
    let post = reqwest::Method::POST;
    let (_, server) = cloud
        .send(
            post.clone(),
            "/compute/v2.1/servers",
            &token,
            Some(server_req("m0", None)),
        )
        .await;
    let sid = server["server"]["id"].as_str().unwrap().to_string();
    let (_, volume) = cloud
        .send(
            post.clone(),
            &format!("/volume/v3/{project}/volumes"),
            &token,
            Some(json!({"volume": {"size": 1}})),
        )
        .await;
    let vid = volume["volume"]["id"].as_str().unwrap().to_string();

    let mut req = sample("nova/attach-volume-to-server-req.json");
    req["volumeAttachment"]["volumeId"] = json!(vid);
    let attachments = format!("/compute/v2.1/servers/{sid}/os-volume_attachments");
    let (status, attached) = cloud
        .send(post.clone(), &attachments, &token, Some(req.clone()))
        .await;
    assert_eq!(status, StatusCode::OK, "{attached}");
    assert_shape(
        &sample("nova/attach-volume-to-server-resp.json"),
        &attached,
        "",
    );
    assert_eq!(attached["volumeAttachment"]["device"], "/dev/vdb");
    let (_, vol) = cloud
        .get(&format!("/volume/v3/{project}/volumes/{vid}"), Some(&token))
        .await;
    assert_eq!(vol["volume"]["status"], "in-use");
    assert_eq!(vol["volume"]["attachments"][0]["server_id"], sid.as_str());
    let (_, srv) = cloud
        .get(&format!("/compute/v2.1/servers/{sid}"), Some(&token))
        .await;
    assert_eq!(
        srv["server"]["os-extended-volumes:volumes_attached"][0]["id"],
        vid.as_str()
    );
    // Twice is refused: the volume is in use.
    let (status, _) = cloud
        .send(post.clone(), &attachments, &token, Some(req.clone()))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (_, list) = cloud.get(&attachments, Some(&token)).await;
    assert_eq!(list["volumeAttachments"].as_array().unwrap().len(), 1);

    let (status, _) = cloud
        .send(
            reqwest::Method::DELETE,
            &format!("{attachments}/{vid}"),
            &token,
            None,
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED);
    let (status, _) = cloud
        .send(
            reqwest::Method::DELETE,
            &format!("{attachments}/{vid}"),
            &token,
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (_, vol) = cloud
        .get(&format!("/volume/v3/{project}/volumes/{vid}"), Some(&token))
        .await;
    assert_eq!(vol["volume"]["status"], "available");

    // Deleting the server detaches what it had.
    let (status, _) = cloud
        .send(post.clone(), &attachments, &token, Some(req))
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = cloud
        .send(
            reqwest::Method::DELETE,
            &format!("/compute/v2.1/servers/{sid}"),
            &token,
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (_, vol) = cloud
        .get(&format!("/volume/v3/{project}/volumes/{vid}"), Some(&token))
        .await;
    assert_eq!(vol["volume"]["status"], "available");
    let (status, _) = cloud
        .send(
            post,
            "/compute/v2.1/servers/nope/os-volume_attachments",
            &token,
            Some(json!({"volumeAttachment": {"volumeId": vid}})),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    cloud.running.stop();
}
