//! The [`Cloud`] calls, service by service: Nova (flavors, server groups, servers),
//! Cinder (volumes) and Octavia (load balancers, listeners, pools, members, health
//! monitors). One trait impl, so one file.

use reqwest::Method;
use serde_json::json;

use super::*;

#[async_trait::async_trait]
impl Cloud for OpenStack {
    async fn flavor_list(&self) -> CloudResult<Vec<Flavor>> {
        let body: wire::FlavorsBody = self
            .get(Service::Compute, "/flavors/detail", &[], "list flavors")
            .await?;
        Ok(body.flavors.into_iter().map(Flavor::from).collect())
    }

    async fn image_id(&self, name: &str) -> CloudResult<String> {
        let call = format!("find image {name}");
        let body: wire::ImagesBody = self
            .get(
                Service::Image,
                "/v2/images",
                &[("name", name.to_string())],
                &call,
            )
            .await?;
        let mut named: Vec<wire::WireImage> = body
            .images
            .into_iter()
            .filter(|i| i.name.as_deref() == Some(name))
            .collect();
        // An active image before one still uploading.
        named.sort_by_key(|i| i.status.as_deref() != Some("active"));
        named.into_iter().next().map(|i| i.id).ok_or_else(|| {
            CloudError::new(
                ErrorKind::NotFound,
                None,
                call,
                format!("there is no image named {name:?}"),
            )
        })
    }

    async fn network_id(&self, name_or_id: &str) -> CloudResult<String> {
        self.network_ref(name_or_id, &format!("find network {name_or_id}"))
            .await
    }

    async fn host_usage(&self) -> CloudResult<Vec<HostUsage>> {
        let body: wire::HypervisorsBody = self
            .get(
                Service::Compute,
                "/os-hypervisors/detail",
                &[],
                "list hypervisors",
            )
            .await?;
        Ok(body.hypervisors.into_iter().map(HostUsage::from).collect())
    }

    async fn server_group_create(
        &self,
        name: &str,
        policy: GroupPolicy,
    ) -> CloudResult<ServerGroup> {
        let call = format!("create server group {name}");
        let body = json!({"server_group": {"name": name, "policy": policy.as_str()}});
        self.create(
            &call,
            || self.server_group_find(name),
            || async {
                let made: wire::ServerGroupBody = self
                    .post(Service::Compute, "/os-server-groups", &body, &call)
                    .await?;
                Ok(made.server_group.into())
            },
        )
        .await
    }

    async fn server_group_find(&self, name: &str) -> CloudResult<Option<ServerGroup>> {
        let body: wire::ServerGroupsBody = self
            .get(
                Service::Compute,
                "/os-server-groups",
                &[("limit", "1000".into())],
                &format!("find server group {name}"),
            )
            .await?;
        Ok(body
            .server_groups
            .into_iter()
            .map(ServerGroup::from)
            .find(|g| g.name == name))
    }

    async fn server_group_delete(&self, id: &str) -> CloudResult<()> {
        self.delete(
            Service::Compute,
            &format!("/os-server-groups/{id}"),
            &format!("delete server group {id}"),
        )
        .await
    }

    async fn server_create(&self, spec: &ServerSpec) -> CloudResult<Server> {
        let call = format!("create server {}", spec.name);
        let flavor = self.flavor_ref(&spec.flavor, &call).await?;
        let image = self.image_ref(&spec.image).await?;
        let networks = match &spec.network {
            Some(n) => json!([{"uuid": self.network_ref(n, &call).await?}]),
            None => json!("auto"),
        };
        let mut server = json!({
            "name": spec.name,
            "flavorRef": flavor,
            "metadata": spec.metadata,
            "networks": networks,
        });
        match spec.boot_volume_gib {
            Some(size) => {
                server["block_device_mapping_v2"] = json!([{
                    "boot_index": 0,
                    "uuid": image,
                    "source_type": "image",
                    "destination_type": "volume",
                    "volume_size": size,
                    "delete_on_termination": true,
                }]);
            }
            None => server["imageRef"] = json!(image),
        }
        if let Some(data) = &spec.user_data {
            use base64::Engine as _;
            server["user_data"] =
                json!(base64::engine::general_purpose::STANDARD.encode(data.0.as_bytes()));
        }
        let mut body = json!({ "server": server });
        if let Some(g) = &spec.group {
            body["OS-SCH-HNT:scheduler_hints"] = json!({ "group": g });
        }
        let find = || async {
            Ok(self
                .servers_detail(Some(&spec.name))
                .await?
                .into_iter()
                .find(|s| s.name == spec.name && has_all(&s.metadata, &spec.metadata)))
        };
        self.create(&call, find, || async {
            let made: wire::ServerCreatedBody = self
                .post(Service::Compute, "/servers", &body, &call)
                .await?;
            self.server_get(&made.server.id).await
        })
        .await
    }

    async fn server_get(&self, id: &str) -> CloudResult<Server> {
        let body: wire::ServerBody = self
            .get(
                Service::Compute,
                &format!("/servers/{id}"),
                &[],
                &format!("show server {id}"),
            )
            .await?;
        Ok(body.server.into())
    }

    async fn server_list(&self, metadata: &Metadata) -> CloudResult<Vec<Server>> {
        Ok(self
            .servers_detail(None)
            .await?
            .into_iter()
            .filter(|s| has_all(&s.metadata, metadata))
            .collect())
    }

    async fn server_rebuild(&self, id: &str, image: &str, user_data: &UserData) -> CloudResult<()> {
        use base64::Engine as _;
        let call = format!("rebuild server {id}");
        let image = self.image_ref(image).await?;
        let body = json!({"rebuild": {
            "imageRef": image,
            "user_data": base64::engine::general_purpose::STANDARD.encode(user_data.0.as_bytes()),
        }});
        // Not retried here: a rebuild done twice only boots the server once more, and the
        // step that asks for it is retried as a whole.
        self.exchange(
            Service::Compute,
            Method::POST,
            &format!("/servers/{id}/action"),
            &[],
            Some(&body),
            &call,
            Retry::Never,
        )
        .await
        .map(|_| ())
    }

    async fn server_delete(&self, id: &str) -> CloudResult<()> {
        self.delete(
            Service::Compute,
            &format!("/servers/{id}"),
            &format!("delete server {id}"),
        )
        .await
    }

    async fn volume_create(&self, spec: &VolumeSpec) -> CloudResult<Volume> {
        let call = format!("create volume {}", spec.name);
        let mut volume = json!({
            "name": spec.name,
            "size": spec.size_gib,
            "metadata": spec.metadata,
        });
        if let Some(t) = &spec.volume_type {
            volume["volume_type"] = json!(t);
        }
        let body = json!({ "volume": volume });
        let find = || async {
            Ok(self
                .volumes_detail(Some(&spec.name))
                .await?
                .into_iter()
                .find(|v| v.name == spec.name && has_all(&v.metadata, &spec.metadata)))
        };
        self.create(&call, find, || async {
            let made: wire::VolumeBody =
                self.post(Service::Volume, "/volumes", &body, &call).await?;
            Ok(made.volume.into())
        })
        .await
    }

    async fn volume_get(&self, id: &str) -> CloudResult<Volume> {
        let body: wire::VolumeBody = self
            .get(
                Service::Volume,
                &format!("/volumes/{id}"),
                &[],
                &format!("show volume {id}"),
            )
            .await?;
        Ok(body.volume.into())
    }

    async fn volume_list(&self, metadata: &Metadata) -> CloudResult<Vec<Volume>> {
        Ok(self
            .volumes_detail(None)
            .await?
            .into_iter()
            .filter(|v| has_all(&v.metadata, metadata))
            .collect())
    }

    async fn volume_delete(&self, id: &str) -> CloudResult<()> {
        self.delete(
            Service::Volume,
            &format!("/volumes/{id}"),
            &format!("delete volume {id}"),
        )
        .await
    }

    async fn volume_extend(&self, id: &str, new_size_gib: u64) -> CloudResult<()> {
        let call = format!("extend volume {id} to {new_size_gib} GiB");
        let path = format!("/volumes/{id}/action");
        let body = json!({"os-extend": {"new_size": new_size_gib}});
        // Retried as "look, then act", like a create: a lost answer does not extend twice.
        let done =
            || async { Ok((self.volume_get(id).await?.size_gib >= new_size_gib).then_some(())) };
        self.create(&call, done, || async {
            self.exchange(
                Service::Volume,
                Method::POST,
                &path,
                &[],
                Some(&body),
                &call,
                Retry::Never,
            )
            .await
            .map(|_| ())
        })
        .await
    }

    async fn volume_attach(
        &self,
        server_id: &str,
        volume_id: &str,
    ) -> CloudResult<VolumeAttachment> {
        let call = format!("attach volume {volume_id} to server {server_id}");
        let path = format!("/servers/{server_id}/os-volume_attachments");
        let body = json!({"volumeAttachment": {"volumeId": volume_id}});
        let find = || async {
            let list: wire::AttachmentsBody = self.get(Service::Compute, &path, &[], &call).await?;
            Ok(list
                .attachments
                .into_iter()
                .find(|a| a.volume_id == volume_id)
                .map(VolumeAttachment::from))
        };
        self.create(&call, find, || async {
            let made: wire::AttachmentBody =
                self.post(Service::Compute, &path, &body, &call).await?;
            Ok(made.attachment.into())
        })
        .await
    }

    async fn volume_detach(&self, server_id: &str, volume_id: &str) -> CloudResult<()> {
        self.delete(
            Service::Compute,
            &format!("/servers/{server_id}/os-volume_attachments/{volume_id}"),
            &format!("detach volume {volume_id} from server {server_id}"),
        )
        .await
    }

    async fn load_balancer_create(&self, spec: &LoadBalancerSpec) -> CloudResult<LoadBalancer> {
        let call = format!("create load balancer {}", spec.name);
        let mut lb = json!({"name": spec.name, "tags": spec.tags});
        if let Some(n) = &spec.vip_network_id {
            lb["vip_network_id"] = json!(n);
        }
        if let Some(s) = &spec.vip_subnet_id {
            lb["vip_subnet_id"] = json!(s);
        }
        let body = json!({ "loadbalancer": lb });
        let find = || async {
            let list: wire::LoadBalancersBody = self
                .get(
                    Service::LoadBalancer,
                    "/v2/lbaas/loadbalancers",
                    &Self::lb_query(Some(&spec.name), &spec.tags),
                    &call,
                )
                .await?;
            Ok(list
                .loadbalancers
                .into_iter()
                .map(LoadBalancer::from)
                .find(|l| l.name == spec.name && has_tags(&l.tags, &spec.tags)))
        };
        self.create(&call, find, || async {
            let made: wire::LoadBalancerBody = self
                .post(
                    Service::LoadBalancer,
                    "/v2/lbaas/loadbalancers",
                    &body,
                    &call,
                )
                .await?;
            Ok(made.loadbalancer.into())
        })
        .await
    }

    async fn load_balancer_get(&self, id: &str) -> CloudResult<LoadBalancer> {
        let body: wire::LoadBalancerBody = self
            .get(
                Service::LoadBalancer,
                &format!("/v2/lbaas/loadbalancers/{id}"),
                &[],
                &format!("show load balancer {id}"),
            )
            .await?;
        Ok(body.loadbalancer.into())
    }

    async fn load_balancer_list(&self, tags: &[String]) -> CloudResult<Vec<LoadBalancer>> {
        let body: wire::LoadBalancersBody = self
            .get(
                Service::LoadBalancer,
                "/v2/lbaas/loadbalancers",
                &Self::lb_query(None, tags),
                "list load balancers",
            )
            .await?;
        Ok(body
            .loadbalancers
            .into_iter()
            .map(LoadBalancer::from)
            .filter(|l| has_tags(&l.tags, tags))
            .collect())
    }

    async fn load_balancer_delete(&self, id: &str) -> CloudResult<()> {
        self.delete(
            Service::LoadBalancer,
            &format!("/v2/lbaas/loadbalancers/{id}?cascade=true"),
            &format!("delete load balancer {id}"),
        )
        .await
    }

    async fn listener_create(&self, spec: &ListenerSpec) -> CloudResult<Listener> {
        let call = format!("create listener {}", spec.name);
        let body = json!({"listener": {
            "name": spec.name,
            "protocol": "TCP",
            "protocol_port": spec.port,
            "loadbalancer_id": spec.load_balancer_id,
            "tags": spec.tags,
        }});
        let find = || async {
            let list: wire::ListenersBody = self
                .get(
                    Service::LoadBalancer,
                    "/v2/lbaas/listeners",
                    &Self::lb_query(Some(&spec.name), &spec.tags),
                    &call,
                )
                .await?;
            Ok(list.listeners.into_iter().map(Listener::from).find(|l| {
                l.name == spec.name
                    && has_tags(&l.tags, &spec.tags)
                    && l.load_balancer_ids.contains(&spec.load_balancer_id)
            }))
        };
        self.create(&call, find, || async {
            let made: wire::ListenerBody = self
                .post(Service::LoadBalancer, "/v2/lbaas/listeners", &body, &call)
                .await?;
            Ok(made.listener.into())
        })
        .await
    }

    async fn listener_list(&self, tags: &[String]) -> CloudResult<Vec<Listener>> {
        let body: wire::ListenersBody = self
            .get(
                Service::LoadBalancer,
                "/v2/lbaas/listeners",
                &Self::lb_query(None, tags),
                "list listeners",
            )
            .await?;
        Ok(body
            .listeners
            .into_iter()
            .map(Listener::from)
            .filter(|l| has_tags(&l.tags, tags))
            .collect())
    }

    async fn listener_delete(&self, id: &str) -> CloudResult<()> {
        self.delete(
            Service::LoadBalancer,
            &format!("/v2/lbaas/listeners/{id}"),
            &format!("delete listener {id}"),
        )
        .await
    }

    async fn pool_delete(&self, id: &str) -> CloudResult<()> {
        self.delete(
            Service::LoadBalancer,
            &format!("/v2/lbaas/pools/{id}"),
            &format!("delete pool {id}"),
        )
        .await
    }

    async fn pool_list(&self, tags: &[String]) -> CloudResult<Vec<Pool>> {
        let body: wire::PoolsBody = self
            .get(
                Service::LoadBalancer,
                "/v2/lbaas/pools",
                &Self::lb_query(None, tags),
                "list pools",
            )
            .await?;
        Ok(body
            .pools
            .into_iter()
            .map(Pool::from)
            .filter(|p| has_tags(&p.tags, tags))
            .collect())
    }

    async fn pool_create(&self, spec: &PoolSpec) -> CloudResult<Pool> {
        let call = format!("create pool {}", spec.name);
        let body = json!({"pool": {
            "name": spec.name,
            "listener_id": spec.listener_id,
            "protocol": "TCP",
            "lb_algorithm": "ROUND_ROBIN",
            "tags": spec.tags,
        }});
        let find = || async {
            let list: wire::PoolsBody = self
                .get(
                    Service::LoadBalancer,
                    "/v2/lbaas/pools",
                    &Self::lb_query(Some(&spec.name), &spec.tags),
                    &call,
                )
                .await?;
            Ok(list.pools.into_iter().map(Pool::from).find(|p| {
                p.name == spec.name
                    && has_tags(&p.tags, &spec.tags)
                    && p.listener_ids.contains(&spec.listener_id)
            }))
        };
        self.create(&call, find, || async {
            let made: wire::PoolBody = self
                .post(Service::LoadBalancer, "/v2/lbaas/pools", &body, &call)
                .await?;
            Ok(made.pool.into())
        })
        .await
    }

    async fn member_add(&self, pool_id: &str, spec: &MemberSpec) -> CloudResult<Member> {
        let call = format!("add member {} to pool {pool_id}", spec.name);
        let path = format!("/v2/lbaas/pools/{pool_id}/members");
        let body = json!({"member": {
            "name": spec.name,
            "address": spec.address,
            "protocol_port": spec.port,
        }});
        // Octavia refuses a second member with the same address and port.
        let find = || async {
            Ok(self
                .member_list(pool_id)
                .await?
                .into_iter()
                .find(|m| m.address == spec.address && m.port == spec.port))
        };
        self.create(&call, find, || async {
            let made: wire::MemberBody = self
                .post(Service::LoadBalancer, &path, &body, &call)
                .await?;
            Ok(made.member.into())
        })
        .await
    }

    async fn member_remove(&self, pool_id: &str, member_id: &str) -> CloudResult<()> {
        self.delete(
            Service::LoadBalancer,
            &format!("/v2/lbaas/pools/{pool_id}/members/{member_id}"),
            &format!("remove member {member_id} from pool {pool_id}"),
        )
        .await
    }

    async fn member_list(&self, pool_id: &str) -> CloudResult<Vec<Member>> {
        let body: wire::MembersBody = self
            .get(
                Service::LoadBalancer,
                &format!("/v2/lbaas/pools/{pool_id}/members"),
                &[],
                &format!("list members of pool {pool_id}"),
            )
            .await?;
        Ok(body.members.into_iter().map(Member::from).collect())
    }

    async fn health_monitor_create(&self, spec: &HealthMonitorSpec) -> CloudResult<HealthMonitor> {
        let call = format!("create health monitor {}", spec.name);
        let body = json!({"healthmonitor": {
            "name": spec.name,
            "pool_id": spec.pool_id,
            "type": "TCP",
            "delay": spec.delay_secs,
            "timeout": spec.timeout_secs,
            "max_retries": spec.max_retries,
        }});
        let find = || async {
            let list: wire::HealthMonitorsBody = self
                .get(
                    Service::LoadBalancer,
                    "/v2/lbaas/healthmonitors",
                    &Self::lb_query(Some(&spec.name), &[]),
                    &call,
                )
                .await?;
            Ok(list
                .healthmonitors
                .into_iter()
                .map(HealthMonitor::from)
                .find(|h| h.name == spec.name && h.pool_ids.contains(&spec.pool_id)))
        };
        self.create(&call, find, || async {
            let made: wire::HealthMonitorBody = self
                .post(
                    Service::LoadBalancer,
                    "/v2/lbaas/healthmonitors",
                    &body,
                    &call,
                )
                .await?;
            Ok(made.healthmonitor.into())
        })
        .await
    }
}
