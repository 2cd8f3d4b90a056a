//! The stand-in for ISE's admin GUI of the External MDM entry (`/sim-gui/external-mdm`).

#[allow(clippy::wildcard_imports)]
use super::*;

pub(super) fn gui_answer(status: StatusCode, success: bool, message: &str) -> Response {
    (
        status,
        Json(json!({"success": success, "message": message})),
    )
        .into_response()
}

pub(super) async fn gui_list(State(s): State<Arc<Shared>>) -> Response {
    Json(json!(s.with_world(|w| {
        w.mdm_servers.values().cloned().collect::<Vec<_>>()
    })))
    .into_response()
}

pub(super) async fn gui_get(State(s): State<Arc<Shared>>, Path(name): Path<String>) -> Response {
    match s.with_world(|w| w.mdm_servers.get(&name).cloned()) {
        Some(m) => Json(json!(m)).into_response(),
        None => gui_answer(
            StatusCode::NOT_FOUND,
            false,
            &format!("External MDM server {name} does not exist"),
        ),
    }
}

pub(super) fn validate(m: &MdmServer) -> Result<(), String> {
    if m.name.trim().is_empty() || m.name.contains(['\'', '"', '<', '>']) {
        return Err("Name is required and may not contain quotes or angle brackets".into());
    }
    if m.client_id.trim().is_empty()
        || m.token_issuing_url.trim().is_empty()
        || m.token_audience.trim().is_empty()
    {
        return Err("Client ID, Token Issuing URL and Token Audience are required".into());
    }
    if !m.auto_discovery_url.starts_with("https://") {
        return Err("Auto Discovery URL must be an https URL".into());
    }
    if !matches!(m.status.as_str(), "Enabled" | "Disabled") {
        return Err("Status must be Enabled or Disabled".into());
    }
    Ok(())
}

pub(super) async fn gui_create(
    State(s): State<Arc<Shared>>,
    Json(mut m): Json<MdmServer>,
) -> Response {
    if let Err(e) = validate(&m) {
        return gui_answer(StatusCode::BAD_REQUEST, false, &e);
    }
    let enable = m.status == "Enabled";
    m.status = "Disabled".into();
    m.last_test = None;
    let exists = s.with_world(|w| {
        if w.mdm_servers.contains_key(&m.name) {
            return true;
        }
        w.mdm_servers.insert(m.name.clone(), m.clone());
        false
    });
    if exists {
        return gui_answer(
            StatusCode::CONFLICT,
            false,
            &format!("External MDM server {} already exists", m.name),
        );
    }
    if enable {
        return set_enabled(&s, &m.name, true).await;
    }
    gui_answer(StatusCode::CREATED, true, "Saved")
}

pub(super) async fn gui_edit(
    State(s): State<Arc<Shared>>,
    Path(name): Path<String>,
    Json(mut m): Json<MdmServer>,
) -> Response {
    m.name = name.clone();
    if let Err(e) = validate(&m) {
        return gui_answer(StatusCode::BAD_REQUEST, false, &e);
    }
    let enable = m.status == "Enabled";
    let found = s.with_world(|w| match w.mdm_servers.get_mut(&name) {
        Some(existing) => {
            let status = existing.status.clone();
            *existing = MdmServer {
                status,
                last_test: None,
                ..m
            };
            true
        }
        None => false,
    });
    if !found {
        return gui_answer(
            StatusCode::NOT_FOUND,
            false,
            &format!("External MDM server {name} does not exist"),
        );
    }
    set_enabled(&s, &name, enable).await
}

pub(super) async fn gui_delete(State(s): State<Arc<Shared>>, Path(name): Path<String>) -> Response {
    match s.with_world(|w| w.mdm_servers.remove(&name)) {
        Some(_) => gui_answer(StatusCode::OK, true, "Deleted"),
        None => gui_answer(
            StatusCode::NOT_FOUND,
            false,
            &format!("External MDM server {name} does not exist"),
        ),
    }
}

pub(super) async fn gui_test(State(s): State<Arc<Shared>>, Path(name): Path<String>) -> Response {
    match crate::gui::test_connection(&s, &name).await {
        Ok(m) => gui_answer(StatusCode::OK, true, &m),
        Err(m) => gui_answer(StatusCode::OK, false, &m),
    }
}

pub(super) async fn set_enabled(s: &Shared, name: &str, enabled: bool) -> Response {
    if !s.with_world(|w| w.mdm_servers.contains_key(name)) {
        return gui_answer(
            StatusCode::NOT_FOUND,
            false,
            &format!("External MDM server {name} does not exist"),
        );
    }
    if enabled {
        // ISE tests the connection before it saves an enabled server.
        if let Err(m) = crate::gui::test_connection(s, name).await {
            return gui_answer(StatusCode::BAD_REQUEST, false, &m);
        }
    }
    s.with_world(|w| {
        if let Some(m) = w.mdm_servers.get_mut(name) {
            m.status = if enabled { "Enabled" } else { "Disabled" }.into();
        }
    });
    gui_answer(
        StatusCode::OK,
        true,
        if enabled { "Enabled" } else { "Disabled" },
    )
}

pub(super) async fn gui_enable(State(s): State<Arc<Shared>>, Path(name): Path<String>) -> Response {
    set_enabled(&s, &name, true).await
}

pub(super) async fn gui_disable(
    State(s): State<Arc<Shared>>,
    Path(name): Path<String>,
) -> Response {
    set_enabled(&s, &name, false).await
}
