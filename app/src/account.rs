/*!
Signing in: the first-run page that creates the admin, the sign-in page, and the signed-in
user's corner of the sidebar. The forms post to the server's sign-in routes (under `/auth/`) as plain HTML
forms, so they work before the page's scripts load.
*/

use leptos::prelude::*;
use leptos::server_fn::codec::Json;
use leptos_router::hooks::use_query_map;
use crate::error::PortalResult;
use wharf_core::access::{Abilities, Subject};

/// The signed-in subject, or None.
#[server(input = Json)]
pub async fn whoami() -> PortalResult<Option<Subject>> {
    Ok(crate::ssr::backend()?.subject())
}

/// What the signed-in user may do with a family's objects (or in general).
#[server(input = Json)]
pub async fn my_abilities(family: Option<String>) -> PortalResult<Abilities> {
    Ok(crate::ssr::backend()?.abilities(family).await?)
}

/// The abilities asked for so far, one resource per family, owned by the app rather than by
/// the view that asked: live pages re-render their content on every change, and a resource
/// owned by a re-rendered view is disposed while its read is still pending. Kept for the
/// page's life: roles change rarely, and the API checks every request anyway.
type AbilityResources = std::collections::HashMap<Option<String>, Resource<PortalResult<Abilities>>>;

#[derive(Clone)]
struct AbilityCache {
    owner: Owner,
    resources: std::sync::Arc<std::sync::Mutex<AbilityResources>>,
}

/// Called once by the app, before any page asks what its user may do.
pub fn provide_ability_cache() {
    if let Some(owner) = Owner::current() {
        provide_context(AbilityCache { owner, resources: Default::default() });
    }
}

fn abilities_for(family: Option<String>) -> Resource<PortalResult<Abilities>> {
    let make = |family: Option<String>| Resource::new(move || family.clone(), my_abilities);
    let Some(cache) = use_context::<AbilityCache>() else { return make(family) };
    let mut resources = cache.resources.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    *resources.entry(family.clone()).or_insert_with(|| cache.owner.with(|| make(family)))
}

/// Shows its children only when the policy allows what they offer: `check` reads the
/// abilities for `family` (the family of the object on the page, if any).
#[component]
pub fn IfAllowed(#[prop(into, optional)] family: Signal<Option<String>>, check: fn(&Abilities) -> bool, children: ChildrenFn) -> impl IntoView {
    let children = StoredValue::new(children);
    view! {
        <Suspense fallback=|| ()>
            {move || {
                let abilities = abilities_for(family.get());
                Suspend::new(async move {
                    let allowed = abilities.await.map(|a| check(&a)).unwrap_or(false);
                    allowed.then(|| children.with_value(|c| c()))
                })
            }}
        </Suspense>
    }
}

/// One of the account forms: a title, a short text, and username and password fields.
#[component]
fn AccountForm(title: &'static str, intro: &'static str, action: &'static str, submit: &'static str, new_password: bool) -> impl IntoView {
    let query = use_query_map();
    let error = move || query.read().get("error");
    let next = move || query.read().get("next").unwrap_or_else(|| "/".into());
    let username = move || query.read().get("username").unwrap_or_default();
    let autocomplete = if new_password { "new-password" } else { "current-password" };
    view! {
        <leptos_meta::Title text=title/>
        <section class="card account-card">
            <h1>{title}</h1>
            <p class="muted">{intro}</p>
            {move || error().map(|e| view! { <p class="field-errors" role="alert" id="account-error">{e}</p> })}
            <form method="post" action=action class="account-form">
                <input type="hidden" name="next" prop:value=next/>
                <label for="username">"Username"</label>
                <input id="username" name="username" autocomplete="username" required prop:value=username autofocus/>
                <label for="password">"Password"</label>
                <input id="password" name="password" type="password" autocomplete=autocomplete required minlength=if new_password { 10 } else { 1 }/>
                {new_password.then(|| view! { <p class="hint">"At least 10 characters; a passphrase is best."</p> })}
                <button type="submit" class="primary">{submit}</button>
            </form>
        </section>
    }
}

#[component]
pub fn LoginPage() -> impl IntoView {
    view! {
        <AccountForm
            title="Sign in"
            intro="Sign in to see your teams' services, task definitions and the clusters shared with them."
            action="/auth/login"
            submit="Sign in"
            new_password=false
        />
    }
}

#[component]
pub fn SetupPage() -> impl IntoView {
    view! {
        <AccountForm
            title="Create the admin account"
            intro="Wharf has no accounts yet. The first one is its admin: it creates teams, shares clusters with them and adds people."
            action="/auth/setup"
            submit="Create admin and sign in"
            new_password=true
        />
    }
}

/// Who is signed in, with their roles, and the sign-out button.
#[component]
pub fn UserMenu() -> impl IntoView {
    let me = Resource::new(|| (), |_| whoami());
    view! {
        <Suspense fallback=|| ()>
            {move || Suspend::new(async move {
                me.await.ok().flatten().map(|s| {
                    let roles = if s.admin {
                        "admin".to_string()
                    } else {
                        s.teams.iter().map(|m| format!("{} ({})", m.team, m.role.as_str())).collect::<Vec<_>>().join(", ")
                    };
                    view! {
                        <div class="user-menu" id="user-menu">
                            <span class="user-name">{s.username.clone()}</span>
                            <span class="muted user-roles">{roles}</span>
                            <form method="post" action="/auth/logout">
                                <button type="submit" id="sign-out">"Sign out"</button>
                            </form>
                        </div>
                    }
                })
            })}
        </Suspense>
    }
}
