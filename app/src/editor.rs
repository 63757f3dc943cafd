/*!
Registering a task definition: a JSON editor that validates as you type (the same checks as
the server, compiled into the page) and marks the lines the problems are on, plus a form for
the common fields that writes the same JSON.
*/

use crate::components::{Checkbox, PageHeader};
use crate::error::{FieldErrorList, PortalResult};
use crate::task_definitions::get_revision;
use leptos::prelude::*;
use leptos::server_fn::codec::Json;
use leptos_router::hooks::{use_navigate, use_query_map};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use wharf_core::FieldError;
use wharf_core::json_locate;
use wharf_core::task_definition::{TaskDefinition, parse_registration};

#[server(input = Json)]
pub async fn register_task_definition(document: String) -> PortalResult<(TaskDefinition, Vec<String>)> {
    let value = wharf_core::task_definition::parse_document(&document)?;
    Ok(crate::ssr::backend()?.register_task_definition(value, None).await?)
}

const STARTER: &str = r#"{
  "family": "hello",
  "containerDefinitions": [
    {
      "name": "web",
      "image": "nginx:1.27-alpine",
      "cpu": 256,
      "memory": 256,
      "essential": true,
      "portMappings": [
        { "containerPort": 80, "hostPort": 0, "protocol": "tcp" }
      ]
    }
  ]
}"#;

#[derive(Clone, Copy, PartialEq)]
enum Tab {
    Json,
    Form,
}

/// Problems of the current text, each with the line it is marked on.
fn check(text: &str) -> Vec<(FieldError, usize)> {
    match parse_registration(text) {
        Ok(_) => Vec::new(),
        Err(e) => e
            .errors
            .into_iter()
            .map(|fe| {
                let line = if fe.field.is_empty() {
                    syntax_error_line(text).unwrap_or(1)
                } else {
                    json_locate::line_of(text, &fe.field).unwrap_or(1)
                };
                (fe, line)
            })
            .collect(),
    }
}

fn syntax_error_line(text: &str) -> Option<usize> {
    serde_json::from_str::<Value>(text).err().map(|e| e.line().max(1))
}

#[component]
pub fn RegisterPage() -> impl IntoView {
    let text = RwSignal::new(STARTER.to_string());
    let tab = RwSignal::new(Tab::Json);
    let problems = Memo::new(move |_| check(&text.read()));
    let register = ServerAction::<RegisterTaskDefinition>::new();
    let server_errors = Signal::derive(move || match register.value().get() {
        Some(Err(e)) => {
            let mut errors = e.field_errors().to_vec();
            if errors.is_empty() {
                errors.push(FieldError { field: String::new(), message: e.to_string() });
            }
            errors
        }
        _ => Vec::new(),
    });
    let client_errors = Signal::derive(move || problems.get().into_iter().map(|(e, _)| e).collect::<Vec<_>>());

    // "Create new revision" prefills the editor with what a revision was registered with.
    let query = use_query_map();
    let from = crate::components::resource(move || query.read().get("from"), |from| async move {
        match from {
            Some(reference) if !reference.is_empty() => get_revision(reference).await.map(Some),
            _ => Ok(None),
        }
    });
    Effect::new(move |_| {
        if let Some(Ok(Some(td))) = from.get() {
            text.set(serde_json::to_string_pretty(&td.spec).unwrap_or_default());
        }
    });

    let navigate = use_navigate();
    Effect::new(move |_| {
        if let Some(Ok((td, ignored))) = register.value().get() {
            let mut url = format!("/task-definitions/{}/{}", td.family(), td.revision);
            if !ignored.is_empty() {
                url.push_str(&format!("?ignored={}", ignored.join(",")));
            }
            navigate(&url, Default::default());
        }
    });

    view! {
        <PageHeader
            title="Register task definition".to_string()
            crumbs=vec![("/task-definitions".into(), "Task definitions".into())]
        />
        <p class="lead">
            "Paste an ECS task definition (a RegisterTaskDefinition input, or the output of describe-task-definition), or fill in the form. "
            "Problems are checked as you type."
        </p>
        <div class="tabs" role="tablist">
            <TabButton id="tab-json" label="JSON" tab=Tab::Json current=tab/>
            <TabButton id="tab-form" label="Form" tab=Tab::Form current=tab/>
        </div>
        <form
            class="card"
            on:submit=move |ev| {
                ev.prevent_default();
                register.dispatch(RegisterTaskDefinition { document: text.get_untracked() });
            }
            on:keydown=move |ev| {
                // Ctrl+Enter (⌘+Enter) registers from anywhere in the form.
                if ev.key() == "Enter" && (ev.ctrl_key() || ev.meta_key()) {
                    ev.prevent_default();
                    if problems.read_untracked().is_empty() && !register.pending().get_untracked() {
                        register.dispatch(RegisterTaskDefinition { document: text.get_untracked() });
                    }
                }
            }
        >
            <Show when=move || tab.get() == Tab::Form>
                <CommonFieldsForm text/>
            </Show>
            <div class:hidden=move || tab.get() != Tab::Json>
                <Editor text problems/>
            </div>
            <div class="status-line" id="validation-status">
                {move || {
                    let n = problems.read().len();
                    if n == 0 {
                        view! { <span class="ok">"✓ Valid task definition"</span> }.into_any()
                    } else {
                        view! { <span class="bad">{format!("{n} problem{} to fix", if n == 1 { "" } else { "s" })}</span> }.into_any()
                    }
                }}
            </div>
            <FieldErrorList errors=client_errors/>
            <FieldErrorList errors=server_errors/>
            <div class="form-actions">
                <button
                    type="submit"
                    class="primary"
                    id="register"
                    disabled=move || !problems.read().is_empty() || register.pending().get()
                >
                    {move || if register.pending().get() { "Registering…" } else { "Register" }}
                </button>
                <span class="hint-key">" or "<kbd>"Ctrl"</kbd>"+"<kbd>"Enter"</kbd></span>
            </div>
        </form>
    }
}

#[component]
fn TabButton(id: &'static str, label: &'static str, tab: Tab, current: RwSignal<Tab>) -> impl IntoView {
    view! {
        <button type="button" role="tab" id=id aria-selected=move || (current.get() == tab).to_string() on:click=move |_| current.set(tab)>
            {label}
        </button>
    }
}

/// A textarea over a layer that draws the lines, with problem lines marked.
#[component]
fn Editor(text: RwSignal<String>, problems: Memo<Vec<(FieldError, usize)>>) -> impl IntoView {
    let layer = NodeRef::<leptos::html::Pre>::new();
    let gutter = NodeRef::<leptos::html::Div>::new();
    let marks = Memo::new(move |_| {
        let mut by_line: BTreeMap<usize, Vec<String>> = BTreeMap::new();
        for (e, line) in problems.get() {
            by_line.entry(line).or_default().push(e.to_string());
        }
        by_line
    });
    let lines = move || {
        let marks = marks.get();
        text.read()
            .split('\n')
            .enumerate()
            .map(|(i, l)| (i + 1, l.to_string(), marks.get(&(i + 1)).map(|m| m.join("\n"))))
            .collect::<Vec<_>>()
    };
    let sync_scroll = move |ev: leptos::ev::Event| {
        let area = event_target::<leptos::web_sys::HtmlTextAreaElement>(&ev);
        if let Some(l) = layer.get() {
            l.set_scroll_top(area.scroll_top());
            l.set_scroll_left(area.scroll_left());
        }
        if let Some(g) = gutter.get() {
            g.set_scroll_top(area.scroll_top());
        }
    };
    let initial = text.get_untracked();
    view! {
        <div class="editor">
            <div class="gutter" node_ref=gutter aria-hidden="true">
                {move || {
                    lines()
                        .into_iter()
                        .map(|(n, _, mark)| {
                            let marked = mark.is_some();
                            view! { <div class="gutter-line" class:error=marked title=mark.unwrap_or_default()>{n}</div> }
                        })
                        .collect_view()
                }}
            </div>
            <div class="code">
                <pre class="layer" node_ref=layer aria-hidden="true">
                    {move || {
                        lines()
                            .into_iter()
                            .map(|(n, line, mark)| {
                                let marked = mark.is_some();
                                view! {
                                    <div class="editor-line" class:error=marked data-line=n title=mark.unwrap_or_default()>
                                        {if line.is_empty() { " ".to_string() } else { line }}
                                    </div>
                                }
                            })
                            .collect_view()
                    }}
                </pre>
                <textarea
                    id="td-json"
                    aria-label="Task definition JSON"
                    spellcheck="false"
                    autocomplete="off"
                    wrap="off"
                    bind:value=text
                    on:scroll=sync_scroll
                >
                    {initial}
                </textarea>
            </div>
        </div>
    }
}

/// The common fields of a one-container task; every change rewrites the JSON.
#[component]
fn CommonFieldsForm(text: RwSignal<String>) -> impl IntoView {
    // Start from what the editor holds, so switching tabs loses nothing the form shows.
    let current: Value = serde_json::from_str(&text.get_untracked()).unwrap_or(Value::Null);
    let c0 = &current["containerDefinitions"][0];
    let s = |v: &Value| match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    };
    let family = RwSignal::new(s(&current["family"]));
    let name = RwSignal::new(s(&c0["name"]));
    let image = RwSignal::new(s(&c0["image"]));
    let cpu = RwSignal::new(s(&c0["cpu"]));
    let memory = RwSignal::new(s(&c0["memory"]));
    let container_port = RwSignal::new(s(&c0["portMappings"][0]["containerPort"]));
    let host_port = RwSignal::new(s(&c0["portMappings"][0]["hostPort"]));
    let essential = RwSignal::new(c0["essential"].as_bool().unwrap_or(true));
    let env = RwSignal::new(
        c0["environment"]
            .as_array()
            .map(|vars| vars.iter().map(|v| format!("{}={}", s(&v["name"]), s(&v["value"]))).collect::<Vec<_>>().join("\n"))
            .unwrap_or_default(),
    );
    Effect::new(move |first: Option<()>| {
        let doc = form_document(
            &family.get(),
            &name.get(),
            &image.get(),
            &cpu.get(),
            &memory.get(),
            &container_port.get(),
            &host_port.get(),
            essential.get(),
            &env.get(),
        );
        // The first run only subscribes: opening the form must not rewrite pasted JSON.
        if first.is_some() {
            text.set(serde_json::to_string_pretty(&doc).unwrap_or_default());
        }
    });
    view! {
        <div class="form-grid">
            <Field label="Family" id="f-family" hint="letters, digits, - and _" value=family/>
            <Field label="Container name" id="f-name" hint="" value=name/>
            <Field label="Image" id="f-image" hint="e.g. nginx:1.27-alpine" value=image/>
            <Field label="CPU units" id="f-cpu" hint="1024 = one core" value=cpu/>
            <Field label="Memory (MiB)" id="f-memory" hint="hard limit" value=memory/>
            <Field label="Container port" id="f-container-port" hint="" value=container_port/>
            <Field label="Host port" id="f-host-port" hint="0 or empty = dynamic" value=host_port/>
            <Checkbox id="f-essential" checked=essential label="Essential (the task stops when this container stops)"/>
            <label class="wide" for="f-env">
                "Environment (one NAME=value per line)"
                <textarea id="f-env" rows="3" bind:value=env></textarea>
            </label>
        </div>
    }
}

#[component]
fn Field(label: &'static str, id: &'static str, hint: &'static str, value: RwSignal<String>) -> impl IntoView {
    view! {
        <label for=id>
            {label}
            <input id=id bind:value=value autocomplete="off"/>
            <small>{hint}</small>
        </label>
    }
}

/// Numbers stay numbers; anything else is passed on as text for validation to name.
fn number_or_text(s: &str) -> Option<Value> {
    let s = s.trim();
    if s.is_empty() {
        return None;
    }
    Some(s.parse::<i64>().map(Value::from).unwrap_or_else(|_| Value::from(s)))
}

#[allow(clippy::too_many_arguments)]
fn form_document(
    family: &str,
    name: &str,
    image: &str,
    cpu: &str,
    memory: &str,
    container_port: &str,
    host_port: &str,
    essential: bool,
    env: &str,
) -> Value {
    let mut container = serde_json::Map::new();
    container.insert("name".into(), json!(name.trim()));
    container.insert("image".into(), json!(image.trim()));
    if let Some(v) = number_or_text(cpu) {
        container.insert("cpu".into(), v);
    }
    if let Some(v) = number_or_text(memory) {
        container.insert("memory".into(), v);
    }
    container.insert("essential".into(), json!(essential));
    if let Some(cp) = number_or_text(container_port) {
        let hp = number_or_text(host_port).unwrap_or(json!(0));
        container.insert("portMappings".into(), json!([{ "containerPort": cp, "hostPort": hp, "protocol": "tcp" }]));
    }
    let vars: Vec<Value> = env
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let (k, v) = l.split_once('=').unwrap_or((l, ""));
            json!({ "name": k.trim(), "value": v })
        })
        .collect();
    if !vars.is_empty() {
        container.insert("environment".into(), Value::Array(vars));
    }
    json!({ "family": family.trim(), "containerDefinitions": [Value::Object(container)] })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_form_writes_a_valid_ecs_document() {
        let doc = form_document("web", "nginx", "nginx:1.27", "256", "512", "80", "", true, "A=1\nB = two=2\n");
        let reg = parse_registration(&doc.to_string()).expect("valid");
        let c = &reg.spec.container_definitions.unwrap()[0];
        assert_eq!(c.memory, Some(512));
        assert_eq!(c.port_mappings.as_ref().unwrap()[0].host_port, Some(0));
        let env = c.environment.as_ref().unwrap();
        assert_eq!((env[1].name.as_deref(), env[1].value.as_deref()), (Some("B"), Some(" two=2")));
    }

    #[test]
    fn form_mistakes_reach_validation_at_their_field() {
        let doc = form_document("web", "nginx", "", "", "lots", "", "", true, "");
        let fields: Vec<String> = check(&serde_json::to_string_pretty(&doc).unwrap()).into_iter().map(|(e, _)| e.field).collect();
        assert_eq!(fields, ["containerDefinitions[0].memory"], "a wrong type is reported first, at its field");
        let problems = check(&serde_json::to_string_pretty(&form_document("web", "nginx", "", "", "64", "", "", true, "")).unwrap());
        assert_eq!(problems.len(), 1);
        assert_eq!(problems[0].0.field, "containerDefinitions[0].image");
        assert_eq!(problems[0].1, 6, "marked on the image line");
    }
}
