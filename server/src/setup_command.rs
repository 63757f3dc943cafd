/*!
`wharf-server admin create` and `wharf-server token create`: first setup and tokens for
scripts, run against the server's own store (migrated first, so they work before the server
ever ran). Passwords never come from a flag: flags show in `ps` and shell history.
*/

use crate::config::{AdminAction, Command, Config, TokenAction};
use crate::store::Store;
use std::io::BufRead;
use wharf_core::access::Grant;
use wharf_core::account::{Credentials, parse_duration};

type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

fn password() -> Result<String> {
    if let Ok(p) = std::env::var("WHARF_ADMIN_PASSWORD") {
        return Ok(p);
    }
    eprintln!("password (one line on stdin):");
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    Ok(line.trim_end_matches(['\n', '\r']).to_string())
}

pub async fn run(config: &Config, command: Command) -> Result<()> {
    let store = Store::open(config.database_url.as_deref(), &config.data_dir).await?;
    let control = crate::control::Control::new(store, crate::agents::Agents::default(), String::new());
    match command {
        Command::Admin { action: AdminAction::Create { username } } => {
            let creds = Credentials { username, password: password()? };
            let user = control.create_account(&creds, true, false).await?;
            println!("created admin {}", user.username);
        }
        Command::Token { action: TokenAction::Create { username, role, expires_in } } => {
            let role = match role.as_deref() {
                None => None,
                Some(r) => Some(Grant::parse(r).ok_or("--role: one of admin, maintainer, deployer, viewer")?),
            };
            let expires = match expires_in.as_deref() {
                None => None,
                Some(text) => Some(parse_duration(text).ok_or("--expires-in: a lifetime as 30m, 12h, 7d or seconds")?),
            };
            let (token, secret) = control.issue_user_token(&username, role, expires, "wharf-server token create").await?;
            eprintln!("token {} for {} ({}), shown once:", token.id, username, token.role);
            println!("{secret}");
        }
    }
    Ok(())
}
