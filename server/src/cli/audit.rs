//! `clavis audit`.

use ::server::StartError;
use clavis::service::Caller;

use super::failure;

/// `clavis audit`: every event (or those of `action`) since `since`, oldest first, as
/// JSON Lines, read a page at a time.
pub async fn command(
    services: &clavis::service::Services,
    since: Option<i64>,
    action: Option<String>,
) -> Result<(), StartError> {
    use std::io::Write;

    use clavis::audit::AuditAction;

    let action = match action.as_deref().map(AuditAction::parse) {
        None => None,
        Some(Some(action)) => Some(action),
        Some(None) => {
            return Err(StartError::Other(format!(
                "--action must be one of {}",
                AuditAction::names().join(", ")
            )));
        }
    };
    let readable = clavis::service::audit::scope(services, &Caller::operator())
        .await
        .map_err(|e| StartError::Other(failure(e)))?;
    let mut entries = Vec::new();
    let mut before_id = None;
    loop {
        let query = clavis::audit::Query {
            action,
            since,
            before_id,
            limit: 10_000,
        };
        let page = clavis::service::audit::read(services, &readable, &query)
            .await
            .map_err(|e| StartError::Other(format!("reading the audit log: {}", failure(e))))?;
        before_id = page.last().map(|e| e.id);
        let done = page.len() < 10_000;
        entries.extend(page);
        if done {
            break;
        }
    }
    let mut out = std::io::stdout().lock();
    for entry in entries.iter().rev() {
        writeln!(out, "{}", clavis::audit::json_line(entry))
            .map_err(|e| StartError::Other(format!("writing the output failed: {e}")))?;
    }
    Ok(())
}
