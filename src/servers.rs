//! MCP servers Clavis protects (SPEC §10): what an administrator registers, how it is
//! checked, and the resource identifier (token `aud`) of each.
//!
//! - A **gateway** server is served by Clavis at `<issuer>/mcp/<slug>` and forwarded to
//!   its upstream URL; its resource identifier is `<issuer>/mcp/<slug>`.
//! - An **external** server checks tokens itself (JWKS or introspection); its resource
//!   identifier is the registered resource URL, and Clavis only issues tokens for it.
//!
//! A gateway server may carry one upstream header (an upstream API key, say) that
//! Clavis adds to every forwarded request. Its value is sealed with the master key
//! ([`crate::sealed`]) before it reaches the database and never shown again.

use std::{
    collections::HashMap,
    fmt,
    sync::{Arc, PoisonError, RwLock},
};

use crate::{
    UnixTime,
    batch::{Batch, Held},
    sealed::{MasterKey, SealError},
    store::{self, Pool, ServerRow, StoreError},
};

/// Longest slug, in characters.
pub const SLUG_MAX_CHARS: usize = 40;
/// Longest server name, in characters.
pub const NAME_MAX_CHARS: usize = 100;
/// Longest upstream header value, in bytes.
pub const HEADER_VALUE_MAX: usize = 4096;
/// The value of the built-in `/mcp` in a credential's list of servers (not a valid slug).
pub const BUILTIN: &str = "@builtin";

/// How Clavis stands in front of a server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Mode {
    Gateway,
    External,
}

impl Mode {
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Gateway => "gateway",
            Self::External => "external",
        }
    }

    #[must_use]
    pub fn parse(value: &str) -> Option<Self> {
        match value.trim().to_ascii_lowercase().as_str() {
            "gateway" => Some(Self::Gateway),
            "external" => Some(Self::External),
            _ => None,
        }
    }
}

/// Who may grant a server to a credential (SPEC §10), decided by
/// [`authz::may`](crate::authz::may) with [`Action::GrantServer`](crate::authz::Action).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub enum Access {
    /// Everyone signed in, in any of their workspaces.
    Everyone,
    /// Administrators, and the teams it is shared with (in those teams' workspaces).
    #[default]
    ChosenTeams,
}

impl Access {
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Everyone => "everyone",
            Self::ChosenTeams => "chosen-teams",
        }
    }

    /// Reads a stored or posted value; empty is the default (chosen teams).
    #[must_use]
    pub fn parse(value: &str) -> Option<Self> {
        match value.trim().to_ascii_lowercase().as_str() {
            "everyone" => Some(Self::Everyone),
            "" | "chosen-teams" => Some(Self::ChosenTeams),
            _ => None,
        }
    }

    /// As the form shows it.
    #[must_use]
    pub fn label(self) -> &'static str {
        match self {
            Self::Everyone => "Everyone signed in",
            Self::ChosenTeams => "Administrators and chosen teams",
        }
    }
}

/// Why a server cannot be registered. The texts are shown to people as they are.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidServer {
    #[error("Enter a name (1 to {NAME_MAX_CHARS} characters).")]
    Name,
    #[error(
        "The slug must be 1 to {SLUG_MAX_CHARS} lower-case letters, digits or dashes, starting with a letter or digit, and not “oauth”."
    )]
    Slug,
    #[error("Choose a mode: Gateway or External.")]
    Mode,
    #[error("A gateway server needs an upstream URL: an absolute http:// or https:// URL.")]
    UpstreamUrl,
    #[error(
        "An external server needs a resource URL: an absolute http:// or https:// URL without a fragment, other than this server's own endpoints."
    )]
    ResourceUrl,
    #[error(
        "The upstream header name must be a valid HTTP header name other than the ones Clavis sets itself."
    )]
    HeaderName,
    #[error(
        "The upstream header value must be 1 to {HEADER_VALUE_MAX} visible ASCII characters (and needs a header name)."
    )]
    HeaderValue,
    #[error(
        "The upstream URL is a link-local address, where cloud metadata services answer. An operator can allow such upstreams (--allow-link-local-upstreams)."
    )]
    LinkLocalUpstream,
    #[error(
        "The upstream URL changed: enter the upstream header value again (a stored value is only sent to the URL it was given for)."
    )]
    HeaderValueAgain,
    #[error("Choose an access: everyone signed in, or administrators and chosen teams.")]
    Access,
    #[error("A server with this slug or resource URL already exists.")]
    Taken,
    #[error("There is no such server.")]
    NotFound,
}

impl InvalidServer {
    /// The field the rule is about.
    #[must_use]
    pub fn field(&self) -> &'static str {
        match self {
            Self::Name => "name",
            Self::Slug | Self::Taken => "slug",
            Self::Mode => "mode",
            Self::UpstreamUrl | Self::LinkLocalUpstream => "upstream_url",
            Self::ResourceUrl => "resource_url",
            Self::HeaderName => "header_name",
            Self::HeaderValue | Self::HeaderValueAgain => "header_value",
            Self::Access => "access",
            Self::NotFound => "slug",
        }
    }
}

/// Whether `slug` matches `^[a-z0-9][a-z0-9-]{0,39}$` and is not reserved.
#[must_use]
pub fn is_slug(slug: &str) -> bool {
    let bytes = slug.as_bytes();
    !bytes.is_empty()
        && bytes.len() <= SLUG_MAX_CHARS
        && (bytes[0].is_ascii_lowercase() || bytes[0].is_ascii_digit())
        && bytes
            .iter()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'-')
        && slug != "oauth"
}

/// Headers the gateway sets or forwards itself, or that belong to the connection: an
/// upstream header may not be one of them.
const RESERVED_HEADERS: &[&str] = &[
    "accept",
    "connection",
    "content-length",
    "content-type",
    "cookie",
    "expect",
    "host",
    "keep-alive",
    "last-event-id",
    "mcp-protocol-version",
    "mcp-session-id",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

fn valid_header_name(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    !name.is_empty()
        && name.len() <= 100
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
        && !RESERVED_HEADERS.contains(&lower.as_str())
        && !lower.starts_with("x-clavis-")
}

/// Whether an upstream at this address needs the operator's leave
/// (`--allow-link-local-upstreams`): link-local addresses (169.254.0.0/16, fe80::/10,
/// also IPv4-mapped), where cloud metadata services answer (169.254.169.254), and AWS's
/// IPv6 metadata address `fd00:ec2::254`. Loopback and private ranges are the normal
/// case for an upstream and stay allowed.
#[must_use]
pub fn is_link_local(ip: std::net::IpAddr) -> bool {
    use std::net::{IpAddr, Ipv6Addr};
    const AWS_METADATA_V6: Ipv6Addr = Ipv6Addr::new(0xfd00, 0x0ec2, 0, 0, 0, 0, 0, 0x0254);
    match ip {
        IpAddr::V4(v4) => v4.is_link_local(),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.is_link_local(),
            None => (v6.segments()[0] & 0xffc0) == 0xfe80 || v6 == AWS_METADATA_V6,
        },
    }
}

/// Whether an upstream URL names a link-local address literally (see [`is_link_local`];
/// names that resolve to one are refused by the gateway when it connects).
#[must_use]
pub fn names_link_local(url: &str) -> bool {
    match url::Url::parse(url).ok().as_ref().and_then(url::Url::host) {
        Some(url::Host::Ipv4(ip)) => is_link_local(ip.into()),
        Some(url::Host::Ipv6(ip)) => is_link_local(ip.into()),
        Some(url::Host::Domain(name)) => {
            name.eq_ignore_ascii_case("metadata.google.internal")
                || name.eq_ignore_ascii_case("metadata.google.internal.")
        }
        None => false,
    }
}

fn http_url(raw: &str) -> Option<String> {
    let url = url::Url::parse(raw.trim()).ok()?;
    (matches!(url.scheme(), "http" | "https")
        && url.host_str().is_some()
        && url.fragment().is_none()
        && url.username().is_empty()
        && url.password().is_none())
    .then(|| url.to_string())
}

/// A checked request to register a server.
#[derive(Clone, PartialEq, Eq)]
pub struct NewServer {
    pub name: String,
    pub slug: String,
    pub mode: Mode,
    pub upstream_url: Option<String>,
    pub resource_url: Option<String>,
    /// Header name and value (the value in clear, until it is sealed).
    pub header: Option<(String, String)>,
    pub access: Access,
    /// The teams it is shared with (kept whatever the access, used with chosen teams).
    pub teams: Vec<i64>,
}

impl fmt::Debug for NewServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NewServer")
            .field("slug", &self.slug)
            .field("mode", &self.mode)
            .field("header", &self.header.as_ref().map(|(name, _)| name))
            .finish_non_exhaustive()
    }
}

/// The form fields of a server, as sent.
#[derive(Default)]
pub struct ServerFields<'a> {
    pub name: &'a str,
    pub slug: &'a str,
    pub mode: &'a str,
    pub upstream_url: &'a str,
    pub resource_url: &'a str,
    pub header_name: &'a str,
    pub header_value: &'a str,
    /// `everyone` or `chosen-teams` (empty: chosen teams).
    pub access: &'a str,
    /// The teams a `chosen-teams` server is shared with.
    pub teams: &'a [i64],
}

impl NewServer {
    /// Checks the fields. `issuer` is this server's issuer: an external resource URL may
    /// not claim one of its own endpoints. Fields that do not apply to the mode are
    /// ignored.
    pub fn parse(fields: &ServerFields<'_>, issuer: &str) -> Result<Self, InvalidServer> {
        let name = fields.name.trim();
        let name_chars = name.chars().count();
        if name_chars == 0 || name_chars > NAME_MAX_CHARS {
            return Err(InvalidServer::Name);
        }
        let slug = fields.slug.trim();
        if !is_slug(slug) {
            return Err(InvalidServer::Slug);
        }
        let mode = Mode::parse(fields.mode).ok_or(InvalidServer::Mode)?;
        let (upstream_url, resource_url) = match mode {
            Mode::Gateway => (
                Some(http_url(fields.upstream_url).ok_or(InvalidServer::UpstreamUrl)?),
                None,
            ),
            Mode::External => {
                let url = http_url(fields.resource_url).ok_or(InvalidServer::ResourceUrl)?;
                let own = format!("{}/", issuer.trim_end_matches('/'));
                if url.starts_with(&own) || url.trim_end_matches('/') == issuer {
                    return Err(InvalidServer::ResourceUrl);
                }
                (None, Some(url))
            }
        };
        let header_name = fields.header_name.trim();
        let header_value = fields.header_value.trim();
        let header = match (mode, header_name.is_empty(), header_value.is_empty()) {
            (Mode::External, _, _) | (Mode::Gateway, true, true) => None,
            (Mode::Gateway, false, _) if !valid_header_name(header_name) => {
                return Err(InvalidServer::HeaderName);
            }
            (Mode::Gateway, false, false)
                if header_value.len() <= HEADER_VALUE_MAX
                    && header_value.bytes().all(|b| (0x20..0x7f).contains(&b)) =>
            {
                Some((header_name.to_owned(), header_value.to_owned()))
            }
            (Mode::Gateway, true, false) => return Err(InvalidServer::HeaderValue),
            (Mode::Gateway, false, _) => return Err(InvalidServer::HeaderValue),
        };
        let access = Access::parse(fields.access).ok_or(InvalidServer::Access)?;
        let mut teams = fields.teams.to_vec();
        teams.sort_unstable();
        teams.dedup();
        Ok(Self {
            name: name.to_owned(),
            slug: slug.to_owned(),
            mode,
            upstream_url,
            resource_url,
            header,
            access,
            teams,
        })
    }
}

/// The associated data a server's header value is sealed under.
fn header_purpose(slug: &str) -> String {
    format!("mcp-server-header:{slug}")
}

/// A registered server, as the rest of Clavis sees it. The upstream header value, when
/// there is one, is opened only by the gateway ([`Server::header_value`]).
#[derive(Clone, PartialEq, Eq)]
pub struct Server {
    pub id: i64,
    pub slug: String,
    pub name: String,
    pub mode: Mode,
    pub upstream_url: Option<String>,
    pub resource_url: Option<String>,
    pub header_name: Option<String>,
    header_value_sealed: Option<Vec<u8>>,
    pub created_at: UnixTime,
    pub access: Access,
    /// The teams it is shared with.
    pub teams: Vec<i64>,
}

impl fmt::Debug for Server {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Server")
            .field("id", &self.id)
            .field("slug", &self.slug)
            .field("mode", &self.mode)
            .finish_non_exhaustive()
    }
}

impl Server {
    fn from_row(row: ServerRow) -> Result<Self, StoreError> {
        Ok(Self {
            id: row.id,
            mode: Mode::parse(&row.mode).ok_or(StoreError::Corrupt("unknown server mode"))?,
            slug: row.slug,
            name: row.name,
            upstream_url: row.upstream_url,
            resource_url: row.resource_url,
            header_name: row.header_name,
            header_value_sealed: row.header_value_sealed,
            created_at: row.created_at,
            access: Access::parse(&row.access)
                .ok_or(StoreError::Corrupt("unknown server access"))?,
            teams: row.teams,
        })
    }

    /// Whether this person may grant it to a credential in `workspace` (and so whether
    /// such a credential may use it).
    #[must_use]
    pub fn grantable(
        &self,
        actor: &crate::authz::Actor,
        workspace: crate::authz::Workspace,
    ) -> bool {
        crate::authz::may(
            actor,
            crate::authz::Action::GrantServer {
                everyone: self.access == Access::Everyone,
                shared: workspace
                    .team()
                    .is_some_and(|team| self.teams.contains(&team)),
            },
            workspace,
        )
    }

    /// The resource identifier: the token audience for this server.
    #[must_use]
    pub fn resource(&self, issuer: &str) -> String {
        match self.mode {
            Mode::Gateway => gateway_resource(issuer, &self.slug),
            Mode::External => self.resource_url.clone().unwrap_or_default(),
        }
    }

    /// Whether an upstream header is configured.
    #[must_use]
    pub fn has_header(&self) -> bool {
        self.header_value_sealed.is_some()
    }

    /// The upstream header value, opened with the master key.
    pub fn header_value(&self, key: &MasterKey) -> Result<Option<String>, SealError> {
        self.header_value_sealed
            .as_ref()
            .map(|sealed| {
                key.open(&header_purpose(&self.slug), sealed)
                    .and_then(|bytes| String::from_utf8(bytes).map_err(|_| SealError::Open))
            })
            .transpose()
    }
}

/// `<issuer>/mcp/<slug>`.
#[must_use]
pub fn gateway_resource(issuer: &str, slug: &str) -> String {
    format!("{issuer}/mcp/{slug}")
}

/// Registers a server; [`InvalidServer::Taken`] when the slug or resource URL exists.
pub async fn create(
    pool: &Pool,
    key: &MasterKey,
    new: &NewServer,
    allow_link_local: bool,
    now: UnixTime,
    who: &crate::audit::Who,
) -> Result<Result<Server, InvalidServer>, StoreError> {
    if !allow_link_local && new.upstream_url.as_deref().is_some_and(names_link_local) {
        return Ok(Err(InvalidServer::LinkLocalUpstream));
    }
    let sealed = new.sealed_header(key);
    let event = who.did(
        now,
        crate::audit::AuditAction::ServerCreated,
        &new.slug,
        None,
    );
    match store::insert_server(pool, &new.row(sealed.as_deref(), now), &event).await? {
        Some(id) => Ok(Ok(new.clone().into_server(id, sealed, now))),
        None => Ok(Err(InvalidServer::Taken)),
    }
}

impl NewServer {
    /// The upstream header value sealed for this server, if there is one.
    fn sealed_header(&self, key: &MasterKey) -> Option<Vec<u8>> {
        self.header
            .as_ref()
            .map(|(_, value)| key.seal(&header_purpose(&self.slug), value.as_bytes()))
    }

    /// The stored row, with the header value already sealed.
    fn row<'a>(&'a self, sealed: Option<&'a [u8]>, now: UnixTime) -> store::NewServerRow<'a> {
        store::NewServerRow {
            slug: &self.slug,
            name: &self.name,
            mode: self.mode.as_str(),
            upstream_url: self.upstream_url.as_deref(),
            resource_url: self.resource_url.as_deref(),
            header_name: self.header.as_ref().map(|(name, _)| name.as_str()),
            header_value_sealed: sealed,
            now,
            access: self.access.as_str(),
            teams: &self.teams,
        }
    }

    /// The server as stored under `id`.
    fn into_server(self, id: i64, sealed: Option<Vec<u8>>, created_at: UnixTime) -> Server {
        Server {
            id,
            slug: self.slug,
            name: self.name,
            mode: self.mode,
            upstream_url: self.upstream_url,
            resource_url: self.resource_url,
            header_name: self.header.map(|(name, _)| name),
            header_value_sealed: sealed,
            created_at,
            access: self.access,
            teams: self.teams,
        }
    }
}

/// Changes a registered server: its name, its upstream or resource URL and its upstream
/// header (slug and mode stay). An empty header value with a header name keeps the
/// stored value, so the form never needs to show it — but only while the upstream URL
/// stays the same: a stored value is never sent to a URL it was not given for (another
/// administrator could otherwise point the server at their own host and read it). An
/// empty header name removes it.
#[expect(
    clippy::too_many_arguments,
    reason = "the server, the change and who makes it, under the operator's setting"
)]
pub async fn update(
    pool: &Pool,
    key: &MasterKey,
    slug: &str,
    fields: &ServerFields<'_>,
    issuer: &str,
    allow_link_local: bool,
    now: UnixTime,
    who: &crate::audit::Who,
) -> Result<Result<Server, InvalidServer>, StoreError> {
    let Some(existing) = by_slug(pool, slug).await? else {
        return Ok(Err(InvalidServer::NotFound));
    };
    let keep = fields.header_value.trim().is_empty()
        && !fields.header_name.trim().is_empty()
        && existing.has_header();
    let checked = ServerFields {
        slug: &existing.slug,
        mode: existing.mode.as_str(),
        header_value: if keep { "kept" } else { fields.header_value },
        ..*fields
    };
    let new = match NewServer::parse(&checked, issuer) {
        Ok(new) => new,
        Err(e) => return Ok(Err(e)),
    };
    if keep && new.upstream_url != existing.upstream_url {
        return Ok(Err(InvalidServer::HeaderValueAgain));
    }
    if !allow_link_local && new.upstream_url.as_deref().is_some_and(names_link_local) {
        return Ok(Err(InvalidServer::LinkLocalUpstream));
    }
    let sealed = if keep {
        existing.header_value_sealed.clone()
    } else {
        new.sealed_header(key)
    };
    Ok(
        match store::update_server(
            pool,
            slug,
            &new.row(sealed.as_deref(), now),
            &who.did(now, crate::audit::AuditAction::ServerUpdated, slug, None),
        )
        .await?
        {
            None => Err(InvalidServer::NotFound),
            Some(false) => Err(InvalidServer::Taken),
            Some(true) => Ok(new.into_server(existing.id, sealed, existing.created_at)),
        },
    )
}

/// Every registered server, by name.
pub async fn list(pool: &Pool) -> Result<Vec<Server>, StoreError> {
    store::list_servers(pool)
        .await?
        .into_iter()
        .map(Server::from_row)
        .collect()
}

/// One server by slug.
pub async fn by_slug(pool: &Pool, slug: &str) -> Result<Option<Server>, StoreError> {
    store::server_by_slug(pool, slug)
        .await?
        .map(Server::from_row)
        .transpose()
}

/// The registered servers by slug, held in memory for the gateway: reloaded after every
/// change made by this process, on a notification from another instance or the CLI
/// (PostgreSQL), and every 5 s. A server removed elsewhere without a notification stops
/// working within 1 s anyway: its grants go with it, and every gateway call checks the
/// grant on the credential, which the credential cache reads again after 1 s at most.
#[derive(Default)]
pub struct Registry(RwLock<Arc<HashMap<String, Arc<Server>>>>);

impl Registry {
    /// Reads every server again.
    pub async fn reload(&self, pool: &Pool) -> Result<(), StoreError> {
        let servers = list(pool)
            .await?
            .into_iter()
            .map(|s| (s.slug.clone(), Arc::new(s)))
            .collect();
        *self.0.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(servers);
        Ok(())
    }

    /// The server with this slug.
    #[must_use]
    pub fn get(&self, slug: &str) -> Option<Arc<Server>> {
        self.0
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(slug)
            .cloned()
    }
}

/// Gateway calls counted in memory per (credential, server, tool, UTC day) and added
/// to the database in batches (SPEC §10.2, §13): `(calls, errors)`.
///
/// Tool names come from callers, so they are bounded: at most [`TOOLS_PER_DAY`] names
/// per credential, server and day (here and in the database, where the rest are added
/// to [`OTHER_TOOL`]), and calls refused by the allowed-tools rule all count under
/// [`REFUSED_TOOL`].
#[derive(Default)]
pub struct GatewayUsage(Batch<UsageKey, (i64, i64), ToolNames>);

/// Distinct tool names held per (credential, server, day).
type ToolNames = HashMap<(i64, i64, i64), usize>;

/// (credential id, server id, tool, UTC day number).
type UsageKey = (i64, i64, String, i64);

/// Most distinct tool names counted per credential, server and day; further names are
/// counted as [`OTHER_TOOL`].
pub const TOOLS_PER_DAY: usize = 50;
/// Where the calls of tool names beyond [`TOOLS_PER_DAY`] are counted.
pub const OTHER_TOOL: &str = "(other)";
/// Where calls refused by a credential's allowed tools are counted.
pub const REFUSED_TOOL: &str = "(refused)";

/// Most distinct (credential, server, tool, day) keys held between flushes; beyond it
/// new tool names are counted as `(other)`, so invented names cannot grow memory.
const USAGE_KEYS_MAX: usize = 100_000;

impl GatewayUsage {
    /// Counts one call.
    pub fn record(
        &self,
        credential_id: i64,
        server_id: i64,
        tool: &str,
        now: UnixTime,
        error: bool,
    ) {
        let mut held = self.0.lock();
        let Held {
            counts,
            side: names,
        } = &mut *held;
        let day = now.div_euclid(86_400);
        let mut key = (credential_id, server_id, tool.to_owned(), day);
        if !counts.contains_key(&key) {
            let named = names.entry((credential_id, server_id, day)).or_insert(0);
            if *named >= TOOLS_PER_DAY || counts.len() >= USAGE_KEYS_MAX {
                OTHER_TOOL.clone_into(&mut key.2);
            }
            if !counts.contains_key(&key) {
                *named += 1;
            }
        }
        let entry = counts.entry(key).or_insert((0, 0));
        entry.0 += 1;
        entry.1 += i64::from(error);
    }

    /// Writes the counts gathered so far in one transaction; on failure they are kept.
    pub async fn flush(&self, pool: &Pool) -> Result<usize, StoreError> {
        self.0
            .flush(
                async |batch| {
                    store::add_gateway_usage(pool, batch, TOOLS_PER_DAY, OTHER_TOOL).await
                },
                |names, (credential_id, server_id, _, day)| {
                    *names.entry((*credential_id, *server_id, *day)).or_insert(0) += 1;
                },
            )
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ISSUER: &str = "https://clavis.example";

    fn fields<'a>(slug: &'a str, mode: &'a str) -> ServerFields<'a> {
        ServerFields {
            name: "Docs search",
            slug,
            mode,
            upstream_url: "http://10.0.0.5:8000/mcp",
            resource_url: "https://mcp.example.com/mcp",
            ..ServerFields::default()
        }
    }

    #[test]
    fn link_local_addresses_and_metadata_names_are_told_apart() {
        for url in [
            "http://169.254.169.254/",
            "http://169.254.0.1:80/mcp",
            "http://[fe80::1]/",
            "http://[febf::1]/",
            "http://[fd00:ec2::254]/",
            "http://[::ffff:169.254.169.254]/",
            "http://metadata.google.internal/",
            "http://METADATA.google.internal./",
        ] {
            assert!(names_link_local(url), "{url}");
        }
        for url in [
            "http://127.0.0.1/",
            "http://10.0.0.5/",
            "http://192.168.1.1/",
            "http://[::1]/",
            "http://[fd00::1]/",
            "http://[fec0::1]/",
            "http://169.255.0.1/",
            "http://docs.example/",
        ] {
            assert!(!names_link_local(url), "{url}");
        }
    }

    #[test]
    fn slugs_follow_the_pattern_and_oauth_is_reserved() {
        for good in ["docs", "a", "0-x", &"a".repeat(40)] {
            assert!(is_slug(good), "{good}");
        }
        for bad in [
            "",
            "-docs",
            "Docs",
            "do cs",
            "d_s",
            "oauth",
            &"a".repeat(41),
            "é",
        ] {
            assert!(!is_slug(bad), "{bad}");
        }
    }

    #[test]
    fn gateway_and_external_servers_are_checked_by_mode() {
        let gateway = NewServer::parse(&fields("docs", "Gateway"), ISSUER);
        assert_eq!(
            gateway.as_ref().map(|s| s.upstream_url.as_deref()),
            Ok(Some("http://10.0.0.5:8000/mcp"))
        );
        assert_eq!(gateway.map(|s| s.resource_url), Ok(None));
        let external = NewServer::parse(&fields("docs", "external"), ISSUER);
        assert_eq!(
            external.map(|s| (s.mode, s.upstream_url, s.resource_url)),
            Ok((
                Mode::External,
                None,
                Some("https://mcp.example.com/mcp".into())
            ))
        );
        let cases = [
            (
                ServerFields {
                    name: " ",
                    ..fields("docs", "gateway")
                },
                InvalidServer::Name,
            ),
            (fields("oauth", "gateway"), InvalidServer::Slug),
            (fields("docs", "proxy"), InvalidServer::Mode),
            (
                ServerFields {
                    upstream_url: "ftp://x/mcp",
                    ..fields("docs", "gateway")
                },
                InvalidServer::UpstreamUrl,
            ),
            (
                ServerFields {
                    resource_url: "/mcp",
                    ..fields("docs", "external")
                },
                InvalidServer::ResourceUrl,
            ),
            (
                ServerFields {
                    resource_url: "https://clavis.example/mcp",
                    ..fields("docs", "external")
                },
                InvalidServer::ResourceUrl,
            ),
            (
                ServerFields {
                    header_name: "X-Clavis-Client-Id",
                    header_value: "v",
                    ..fields("docs", "gateway")
                },
                InvalidServer::HeaderName,
            ),
            (
                ServerFields {
                    header_name: "Host",
                    header_value: "v",
                    ..fields("docs", "gateway")
                },
                InvalidServer::HeaderName,
            ),
            (
                ServerFields {
                    header_name: "X-Api-Key",
                    header_value: "a\u{7}b",
                    ..fields("docs", "gateway")
                },
                InvalidServer::HeaderValue,
            ),
            (
                ServerFields {
                    header_value: "orphan",
                    ..fields("docs", "gateway")
                },
                InvalidServer::HeaderValue,
            ),
        ];
        for (fields, error) in cases {
            assert_eq!(
                NewServer::parse(&fields, ISSUER).map(|_| ()),
                Err(error.clone()),
                "{error:?}"
            );
        }
        let with_header = NewServer::parse(
            &ServerFields {
                header_name: "Authorization",
                header_value: "Bearer up-key",
                ..fields("docs", "gateway")
            },
            ISSUER,
        );
        assert_eq!(
            with_header.map(|s| s.header),
            Ok(Some(("Authorization".into(), "Bearer up-key".into())))
        );
    }

    #[test]
    fn debug_never_shows_the_header_value() {
        let new = NewServer::parse(
            &ServerFields {
                header_name: "X-Api-Key",
                header_value: "sekrit-value",
                ..fields("docs", "gateway")
            },
            ISSUER,
        );
        let shown = format!("{new:?}");
        assert!(
            shown.contains("X-Api-Key") && !shown.contains("sekrit-value"),
            "{shown}"
        );
    }
}
