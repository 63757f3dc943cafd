/*!
Who may do what: one decision over (subject, action, resource), taken for every request of
the API and the portal alike. The server finds the subject (a session or a token) and the
resource's owner; this module only decides, so the whole rule set is here and tested
without a database.

Teams own task-definition families, services and the tasks they start; an admin shares
clusters with teams. Roles inside a team rise from viewer (read) to deployer (register
revisions, deploy, run and stop tasks) to maintainer (services, members, tokens); an admin
may do everything.
*/

use serde::{Deserialize, Serialize};

/// A role inside a team, weakest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Viewer,
    Deployer,
    Maintainer,
}

impl Role {
    pub const ALL: [Role; 3] = [Role::Viewer, Role::Deployer, Role::Maintainer];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Deployer => "deployer",
            Role::Maintainer => "maintainer",
        }
    }

    pub fn parse(text: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.as_str() == text)
    }
}

/// A token's or a grant's role: a team role, or `admin` (everything).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Grant {
    Admin,
    Team(Role),
}

impl Grant {
    pub fn parse(text: &str) -> Option<Grant> {
        if text == "admin" { Some(Grant::Admin) } else { Role::parse(text).map(Grant::Team) }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Grant::Admin => "admin",
            Grant::Team(r) => r.as_str(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Membership {
    pub team: String,
    pub role: Role,
}

/// Whoever a request is from, with what they may use for it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct Subject {
    /// The user's name (a team token's subject is `team:<name>`).
    pub username: String,
    pub admin: bool,
    /// An admin's token with a lesser role acts with that role in every team.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub every_team: Option<Role>,
    pub teams: Vec<Membership>,
}

impl Subject {
    /// The role this subject acts with in `team`, if any.
    pub fn role_in(&self, team: &str) -> Option<Role> {
        let member = self.teams.iter().filter(|m| m.team == team).map(|m| m.role).max();
        member.max(self.every_team)
    }

    /// Whether the subject sees every team's objects (an admin, or an admin's lesser token).
    pub fn sees_everything(&self) -> bool {
        self.admin || self.every_team.is_some()
    }

    /// The teams whose objects this subject may read (meaningless when it sees everything).
    pub fn team_names(&self) -> Vec<String> {
        self.teams.iter().map(|m| m.team.clone()).collect()
    }

    /// The team a new object goes to when the request names none: the only team where the
    /// subject has at least `role`.
    pub fn default_team(&self, role: Role) -> Result<String, Denied> {
        let mut able = self.teams.iter().filter(|m| m.role >= role).map(|m| m.team.as_str()).collect::<Vec<_>>();
        able.dedup();
        match able.as_slice() {
            [one] => Ok(one.to_string()),
            [] => Err(Denied(format!("{} is not a {} or more of any team", self.username, role.as_str()))),
            _ => Err(Denied(format!("{} belongs to several teams ({}); name the team", self.username, able.join(", ")))),
        }
    }
}

/// What the portal may offer a subject on one family's objects (and in general): it hides
/// the controls the policy would refuse.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Abilities {
    /// Accounts, clusters, hosts.
    pub admin: bool,
    /// Register, deploy, run and stop in the family's team.
    pub deploy: bool,
    /// Create and delete services, deregister revisions in the family's team.
    pub maintain: bool,
    /// Deploy in some team (register a new family, run a task).
    pub deploy_anywhere: bool,
    /// Maintain some team (create a service).
    pub maintain_anywhere: bool,
}

impl Subject {
    /// What [`decide`] would allow on `team`'s objects (None: no family in view).
    pub fn abilities(&self, team: Option<&str>) -> Abilities {
        let on = |action| match team {
            Some(team) => decide(self, action, Resource::Team { team, cluster_shared_with: None }).is_ok(),
            None => self.admin,
        };
        let anywhere = |role: Role| self.admin || self.every_team.is_some_and(|r| r >= role) || self.teams.iter().any(|m| m.role >= role);
        Abilities {
            admin: decide(self, Action::ManageAccounts, Resource::System).is_ok(),
            deploy: on(Action::Deploy),
            maintain: on(Action::Maintain),
            deploy_anywhere: anywhere(Role::Deployer),
            maintain_anywhere: anywhere(Role::Maintainer),
        }
    }
}

/// What a request wants to do. Admin-only actions first, then a team's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Create, disable and reset users; create and delete teams.
    ManageAccounts,
    /// Create, update (task policy), delete clusters; share them with teams.
    ManageClusters,
    /// Join tokens and container instances (drain, deregister): the hosts themselves.
    ManageHosts,
    /// Read a cluster, its instances and its capacity: any team it is shared with.
    UseCluster,
    /// Read a team's task definitions, services, tasks, logs.
    Read,
    /// Register revisions, deploy (update) services, run and stop tasks.
    Deploy,
    /// Create and delete services, deregister revisions.
    Maintain,
    /// Add or change members and team tokens with this role (never above one's own).
    Grant(Role),
    /// Read the audit log of a team (admins read all of it).
    Audit,
}

/// What the action is on.
#[derive(Debug, Clone, Copy)]
pub enum Resource<'a> {
    /// Wharf as a whole (accounts, clusters being created).
    System,
    /// A cluster, with the teams it is shared with.
    Cluster { shared_with: &'a [String] },
    /// Something a team owns; `cluster` names the teams of the cluster it runs on, when it
    /// runs on one (a team may only run on clusters shared with it).
    Team { team: &'a str, cluster_shared_with: Option<&'a [String]> },
}

/// A refusal, with its reason in words for the caller.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Denied(pub String);

/// The one decision: allowed, or refused with the reason.
pub fn decide(who: &Subject, action: Action, resource: Resource<'_>) -> Result<(), Denied> {
    if who.admin {
        return Ok(());
    }
    let name = &who.username;
    match (action, resource) {
        (Action::ManageAccounts | Action::ManageClusters | Action::ManageHosts, _) => Err(Denied(format!("only an admin may do this; {name} is not one"))),
        (Action::UseCluster, Resource::Cluster { shared_with }) => {
            if who.every_team.is_some() || shared_with.iter().any(|t| who.role_in(t).is_some()) {
                Ok(())
            } else {
                Err(Denied(format!("the cluster is not shared with a team of {name}")))
            }
        }
        (action, Resource::Team { team, cluster_shared_with }) => {
            let needed = match action {
                Action::Read | Action::UseCluster => Role::Viewer,
                Action::Deploy => Role::Deployer,
                Action::Maintain | Action::Audit => Role::Maintainer,
                // A maintainer grants up to their own role, never more.
                Action::Grant(role) => Role::Maintainer.max(role),
                _ => unreachable!("admin-only actions are answered above"),
            };
            let Some(role) = who.role_in(team) else {
                return Err(Denied(format!("{name} is not a member of team '{team}'")));
            };
            if role < needed {
                return Err(Denied(format!("{name} is a {} of team '{team}'; this needs a {}", role.as_str(), needed.as_str())));
            }
            if let Some(shared) = cluster_shared_with
                && !shared.iter().any(|t| t == team)
            {
                return Err(Denied(format!("the cluster is not shared with team '{team}'")));
            }
            Ok(())
        }
        (_, _) => Err(Denied(format!("{name} may not do this"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn member(team: &str, role: Role) -> Subject {
        Subject { username: "ann".into(), admin: false, every_team: None, teams: vec![Membership { team: team.into(), role }] }
    }

    fn team<'a>(t: &'a str, shared: Option<&'a [String]>) -> Resource<'a> {
        Resource::Team { team: t, cluster_shared_with: shared }
    }

    #[test]
    fn roles_rise_from_viewer_to_maintainer() {
        let expected = [
            (Action::Read, [true, true, true]),
            (Action::Deploy, [false, true, true]),
            (Action::Maintain, [false, false, true]),
            (Action::Audit, [false, false, true]),
            (Action::Grant(Role::Maintainer), [false, false, true]),
        ];
        for (action, allowed) in expected {
            for (role, allow) in Role::ALL.into_iter().zip(allowed) {
                assert_eq!(decide(&member("a", role), action, team("a", None)).is_ok(), allow, "{role:?} {action:?}");
                assert!(decide(&member("b", role), action, team("a", None)).is_err(), "another team's {role:?} {action:?}");
            }
        }
    }

    #[test]
    fn only_an_admin_manages_accounts_clusters_and_hosts() {
        let admin = Subject { username: "root".into(), admin: true, every_team: None, teams: vec![] };
        for action in [Action::ManageAccounts, Action::ManageClusters, Action::ManageHosts] {
            assert!(decide(&admin, action, Resource::System).is_ok());
            let refused = decide(&member("a", Role::Maintainer), action, Resource::System).unwrap_err();
            assert!(refused.0.contains("only an admin"), "{refused}");
        }
    }

    #[test]
    fn a_team_runs_only_on_clusters_shared_with_it() {
        let shared = vec!["a".to_string()];
        let other = vec!["b".to_string()];
        assert!(decide(&member("a", Role::Deployer), Action::Deploy, team("a", Some(&shared))).is_ok());
        let refused = decide(&member("a", Role::Deployer), Action::Deploy, team("a", Some(&other))).unwrap_err();
        assert!(refused.0.contains("not shared with team 'a'"), "{refused}");
        assert!(decide(&member("a", Role::Viewer), Action::UseCluster, Resource::Cluster { shared_with: &shared }).is_ok());
        assert!(decide(&member("a", Role::Viewer), Action::UseCluster, Resource::Cluster { shared_with: &other }).is_err());
    }

    #[test]
    fn a_maintainer_cannot_grant_above_maintainer_and_a_deployer_grants_nothing() {
        for role in Role::ALL {
            assert!(decide(&member("a", Role::Maintainer), Action::Grant(role), team("a", None)).is_ok());
            assert!(decide(&member("a", Role::Deployer), Action::Grant(role), team("a", None)).is_err());
        }
    }

    #[test]
    fn an_admins_lesser_token_acts_with_that_role_everywhere() {
        let capped = Subject { username: "root".into(), admin: false, every_team: Some(Role::Viewer), teams: vec![] };
        assert!(decide(&capped, Action::Read, team("x", None)).is_ok());
        assert!(decide(&capped, Action::Deploy, team("x", None)).is_err());
        assert!(decide(&capped, Action::ManageClusters, Resource::System).is_err());
    }

    #[test]
    fn abilities_are_what_the_decision_allows() {
        let viewer = member("a", Role::Viewer);
        assert_eq!(viewer.abilities(Some("a")), Abilities::default());
        let deployer = member("a", Role::Deployer).abilities(Some("a"));
        assert!(deployer.deploy && deployer.deploy_anywhere && !deployer.maintain && !deployer.admin);
        assert!(!member("b", Role::Maintainer).abilities(Some("a")).deploy, "another team's maintainer deploys nothing of a");
        assert!(member("b", Role::Maintainer).abilities(Some("a")).maintain_anywhere);
    }

    #[test]
    fn the_default_team_is_the_only_able_one() {
        let mut s = member("a", Role::Deployer);
        assert_eq!(s.default_team(Role::Deployer).unwrap(), "a");
        assert!(s.default_team(Role::Maintainer).is_err());
        s.teams.push(Membership { team: "b".into(), role: Role::Maintainer });
        assert!(s.default_team(Role::Deployer).unwrap_err().0.contains("several teams"));
        assert_eq!(s.default_team(Role::Maintainer).unwrap(), "b");
    }
}
