/*!
Signing in: the first-run page that creates the admin, the sign-in page, and the signed-in
user's corner of the sidebar. The forms post to the server's sign-in routes (under `/auth/`) as plain HTML
forms, so they work before the page's scripts load.
*/

use leptos::prelude::*;
use leptos::server_fn::codec::Json;
use leptos_router::hooks::use_query_map;
use crate::components::settled;
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

/// Shows its children only when the policy allows what they offer: `check` reads the
/// abilities for `family` (the family of the object on the page, if any).
#[component]
pub fn IfAllowed(
    #[prop(into, optional)] family: Signal<Option<String>>,
    check: fn(&Abilities) -> bool,
    /// Shown instead, when not allowed (by default nothing).
    #[prop(into, optional)]
    fallback: Option<ViewFn>,
    children: ChildrenFn,
) -> impl IntoView {
    // A resource of this view's own: one shared through the app's cache is created at a
    // different point of the render on the server and in the browser, and hydration then
    // finds the value missing.
    let abilities = crate::components::resource(move || family.get(), my_abilities);
    let children = StoredValue::new(children);
    let fallback = StoredValue::new(fallback);
    view! {
        <Suspense fallback=|| ()>
            {move || Suspend::new(async move {
                let allowed = settled(abilities).await.map(|a| check(&a)).unwrap_or(false);
                if allowed {
                    children.with_value(|c| c()).into_any()
                } else {
                    fallback.with_value(|f| f.as_ref().map(ViewFn::run)).into_any()
                }
            })}
        </Suspense>
    }
}

/// One of the account forms: a title, a short text, and username and password fields.
#[component]
fn AccountForm(title: &'static str, intro: &'static str, action: &'static str, submit: &'static str, new_password: bool) -> impl IntoView {
    let query = use_query_map();
    let error = move || query.read().get("error");
    // Plain attributes read once: the form works before the scripts load, and hydration must
    // not overwrite what someone has typed by then (a `prop:value` is set again when it hydrates).
    // Each answer from the server is a new page, so nothing here changes while it is shown.
    let next = query.with_untracked(|q| q.get("next").unwrap_or_else(|| "/".into()));
    let username = query.with_untracked(|q| q.get("username").unwrap_or_default());
    let autocomplete = if new_password { "new-password" } else { "current-password" };
    view! {
        <leptos_meta::Title text=title/>
        <section class="card account-card">
            <h1>{title}</h1>
            <p class="muted">{intro}</p>
            {move || error().map(|e| view! { <p class="field-errors" role="alert" id="account-error">{e}</p> })}
            <form method="post" action=action class="account-form">
                <input type="hidden" name="next" value=next/>
                <label for="username">"Username"</label>
                <input id="username" name="username" autocomplete="username" required value=username autofocus/>
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
    let me = crate::components::resource(|| (), |_| whoami());
    view! {
        <Suspense fallback=|| ()>
            {move || Suspend::new(async move {
                settled(me).await.ok().flatten().map(|s| {
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
                                <input type="hidden" name="csrf" value=crate::csrf_token()/>
                                <button type="submit" id="sign-out">"Sign out"</button>
                            </form>
                        </div>
                    }
                })
            })}
        </Suspense>
    }
}
