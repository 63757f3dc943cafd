/*!
The portal's pages as lazy routes, split by section. The first visit downloads the shell
(layout, router, live feed, sign-in) and the section of the page it opened; other sections load
when someone goes there, so a new page does not grow what every visit pays for. The server
names the modules a page needs in its `<head>`, so the browser fetches them alongside the main
one, not after it.

A section is one split point (`#[lazy]`): pages used together share one module, which keeps
the number of files a page needs small.
*/

use leptos::lazy;
use leptos::prelude::*;
use leptos_router::LazyRoute;

/// Declares the sections and their pages: for each section a lazy function that renders one of
/// its pages, and for each page a route that calls it.
macro_rules! sections {
    ($($section:ident ($preload:ident) { $($name:ident => $page:path),* $(,)? })*) => {
        /// Every page of the portal that is loaded lazily.
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        pub enum Page { $($($name,)*)* }

        $(
            #[lazy]
            fn $section(page: Page) -> AnyView {
                match page {
                    $(Page::$name => untrack($page).into_any(),)*
                    #[allow(unreachable_patterns)]
                    _ => unreachable!("{page:?} is not in {}", stringify!($section)),
                }
            }

            $(
                pub struct $name;

                impl LazyRoute for $name {
                    fn data() -> Self {
                        $name
                    }

                    async fn view(_this: Self) -> AnyView {
                        $section(Page::$name).await
                    }

                    async fn preload() {
                        // The preload function exists in the browser build only.
                        #[cfg(feature = "hydrate")]
                        $preload().await;
                    }
                }
            )*
        )*
    };
}

sections! {
    dashboard (__preload_dashboard) {
        Home => crate::home::HomePage,
        Clusters => crate::clusters::ClustersPage,
    }
    cluster (__preload_cluster) {
        Cluster => crate::clusters::ClusterPage,
    }
    fleet (__preload_fleet) {
        Instances => crate::instances::InstancesPage,
        Instance => crate::instances::InstancePage,
        Task => crate::tasks::TaskPage,
    }
    service (__preload_service) {
        Service => crate::services::ServicePage,
    }
    launch (__preload_launch) {
        NewService => crate::services::NewServicePage,
        UpdateService => crate::services::UpdateServicePage,
        RunTask => crate::run_task::RunTaskPage,
    }
    diagram (__preload_diagram) {
        Diagram => crate::diagram::DiagramPage,
    }
    balancing (__preload_balancing) {
        LoadBalancing => crate::balancing::LoadBalancingPage,
    }
    scaling (__preload_scaling) {
        ServiceScaling => crate::scaling_page::ServiceScalingPage,
    }
    definitions (__preload_definitions) {
        Families => crate::task_definitions::FamiliesPage,
        Family => crate::task_definitions::FamilyPage,
        Revision => crate::task_definitions::RevisionPage,
    }
    editor (__preload_editor) {
        Register => crate::editor::RegisterPage,
    }
    administration (__preload_administration) {
        Teams => crate::teams::TeamsPage,
        Team => crate::teams::TeamPage,
        Audit => crate::audit::AuditPage,
        Secrets => crate::secrets::SecretsPage,
    }
}
