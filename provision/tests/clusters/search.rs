//! The cluster list's query: search, filters and paging.

use std::time::Duration;

use provision::clusters;
use provision::Store;

use crate::both;
use crate::common::*;

// The list's query: one row with the page as JSON, on both databases. Newest first,
// literal name fragments (no LIKE wildcards), status filter, paging with the total, node
// sums and creators, deleted clusters left out, a page past the end; and the console's
// first read, a user with their projects in one query.
both!(
    cluster_search_pages_and_filters,
    |store: Store| async move {
        let (user, project) = store
            .user_create_with_project("lister@example.com", "x", false, false)
            .await
            .unwrap();
        let mut ids = Vec::new();
        for (name, workers) in [
            ("web_1", 1),
            ("web%2", 2),
            ("db-3", 3),
            ("web-4", 4),
            ("api-5", 5),
        ] {
            let c = store
                .cluster_insert(&project.id, &user.id, &spec(name, 1, workers))
                .await
                .unwrap();
            ids.push(c.id);
            tokio::time::sleep(Duration::from_millis(3)).await;
        }
        store
            .cluster_set_status(&ids[2], model::ClusterStatus::Failed, Some("no valid host"))
            .await
            .unwrap();
        store.cluster_mark_deleted(&ids[4]).await.unwrap();
        let filter = |name: &str, status: &str, limit: i64, offset: i64| clusters::ClusterFilter {
            name: Some(name.to_string()).filter(|s| !s.is_empty()),
            status: model::ClusterStatus::parse(status),
            limit,
            offset,
        };
        let names = |page: &[clusters::ClusterSummary]| {
            page.iter().map(|s| s.name.clone()).collect::<Vec<_>>()
        };

        let (page, total) = store
            .cluster_search(&project.id, &filter("", "", 20, 0))
            .await
            .unwrap();
        assert_eq!(total, 4);
        assert_eq!(names(&page), ["web-4", "db-3", "web%2", "web_1"]);
        assert_eq!(page[0].nodes, 4);
        assert_eq!(page[0].created_by_email, "lister@example.com");
        assert_eq!(page[0].id, ids[3]);
        assert_eq!(page[0].master_count, 1);
        assert_eq!(page[1].status, model::ClusterStatus::Failed);
        assert_eq!(page[1].status_reason.as_deref(), Some("no valid host"));
        assert_eq!(page[0].status_reason, None);

        let (page, total) = store
            .cluster_search(&project.id, &filter("", "", 2, 2))
            .await
            .unwrap();
        assert_eq!(
            (names(&page), total),
            (vec!["web%2".to_string(), "web_1".to_string()], 4)
        );
        let (page, total) = store
            .cluster_search(&project.id, &filter("", "", 2, 10))
            .await
            .unwrap();
        assert_eq!(
            (page.len(), total),
            (0, 4),
            "a page past the end still counts"
        );
        let (page, total) = store
            .cluster_search(&project.id, &filter("%", "", 20, 0))
            .await
            .unwrap();
        assert_eq!(
            (names(&page), total),
            (vec!["web%2".to_string()], 1),
            "% is literal"
        );
        let (page, _) = store
            .cluster_search(&project.id, &filter("_", "", 20, 0))
            .await
            .unwrap();
        assert_eq!(names(&page), ["web_1"], "_ is literal");
        let (page, total) = store
            .cluster_search(&project.id, &filter("web", "CREATING", 20, 0))
            .await
            .unwrap();
        assert_eq!(
            (names(&page), total),
            (
                vec![
                    "web-4".to_string(),
                    "web%2".to_string(),
                    "web_1".to_string()
                ],
                3
            )
        );
        let (page, total) = store
            .cluster_search(&project.id, &filter("", "FAILED", 20, 0))
            .await
            .unwrap();
        assert_eq!((names(&page), total), (vec!["db-3".to_string()], 1));
        let (page, total) = store
            .cluster_search(&project.id, &filter("nothing", "", 20, 0))
            .await
            .unwrap();
        assert_eq!((page.len(), total), (0, 0));

        // The console reads the user and their projects at once, in the usual order.
        let team = store
            .project_create("a team", &user.id, None)
            .await
            .unwrap();
        let (read, projects) = store.user_with_projects(&user.id).await.unwrap().unwrap();
        assert_eq!(
            (&read.id, &read.email, read.is_admin),
            (&user.id, &user.email, false)
        );
        let listed = store.project_list_for_user(&user.id).await.unwrap();
        assert_eq!(projects, listed);
        assert_eq!(projects.len(), 2);
        assert_eq!(
            projects[0].project.id, project.id,
            "the personal project first"
        );
        assert_eq!(projects[1].project.id, team.id);
        assert!(store
            .user_with_projects("no-such-user")
            .await
            .unwrap()
            .is_none());
    }
);
