/*! Name rules shared by families, clusters, services and containers (ECS's rule). */

/// Up to 255 letters (upper or lower case), digits, hyphens and underscores.
pub fn check_name(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("is required".into());
    }
    if name.len() > 255 {
        return Err(format!("is {} characters long; the limit is 255", name.len()));
    }
    if let Some(bad) = name.chars().find(|c| !(c.is_ascii_alphanumeric() || *c == '-' || *c == '_')) {
        return Err(format!(
            "'{name}' contains '{bad}'; use only letters, digits, hyphens and underscores (up to 255)"
        ));
    }
    Ok(())
}
