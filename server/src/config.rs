//! Configuration: command-line flags with `CLAVIS_*` (and `DATABASE_URL`) environment
//! equivalents, parsed once at start and checked into a typed [`Config`]. A bad value
//! stops the start with one line naming the setting.

use std::{net::SocketAddr, path::PathBuf};

use clap::{Args, Parser, Subcommand, ValueEnum};
use tracing_subscriber::filter::Targets;

/// Clavis: a self-hosted OAuth 2.0 client-credentials server and gateway for MCP servers.
#[derive(Debug, Parser)]
#[command(
    name = "clavis",
    version,
    long_about = None,
    after_help = "Without a command, clavis serves (the dashboard, the OAuth endpoints, /mcp and the \
                  gateway) with the server settings above, as `clavis serve` does. \
                  `clavis COMMAND --help` shows what a command takes."
)]
pub struct Cli {
    #[command(flatten)]
    pub settings: Settings,
    #[command(subcommand)]
    pub command: Option<Command>,
}

impl Cli {
    /// Parses the command line (exiting with clap's message on an error, as
    /// [`Parser::parse`] does). See [`Cli::try_parse_args`].
    #[must_use]
    pub fn parse_args() -> Self {
        Self::try_parse_args(std::env::args_os()).unwrap_or_else(|e| e.exit())
    }

    /// Parses `argv`. The server settings may come before `serve` (`clavis --addr A`,
    /// `clavis --addr A serve`) or after it (`clavis serve --addr A`), not both; those
    /// after it take the place of the ones before.
    pub fn try_parse_args<I, T>(argv: I) -> Result<Self, clap::Error>
    where
        I: IntoIterator<Item = T>,
        T: Into<std::ffi::OsString> + Clone,
    {
        use clap::{CommandFactory, FromArgMatches, parser::ValueSource};
        let mut command = Self::command();
        let matches = command.try_get_matches_from_mut(argv)?;
        let mut cli = Self::from_arg_matches(&matches)?;
        if let Some((Command::Serve(after), serve)) = cli
            .command
            .as_mut()
            .zip(matches.subcommand_matches("serve"))
        {
            let server_settings = ServeArgs::augment_args(clap::Command::new("serve"));
            let given = |m: &clap::ArgMatches| {
                server_settings.get_arguments().any(|arg| {
                    m.value_source(arg.get_id().as_str()) == Some(ValueSource::CommandLine)
                })
            };
            if given(serve) {
                if given(&matches) {
                    return Err(command.error(
                        clap::error::ErrorKind::ArgumentConflict,
                        "server settings go before `serve` or after it, not both",
                    ));
                }
                std::mem::swap(&mut cli.settings.serve, after);
            }
        }
        Ok(cli)
    }
}

/// What to do; serving is the default.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the dashboard, the OAuth endpoints and the MCP endpoint (the default).
    Serve(ServeArgs),
    /// Apply the database migrations and exit.
    Migrate,
    /// Create a dashboard account (for closed sign-up). Reads the password from the first
    /// line of standard input, so that it never appears in the process list.
    CreateUser {
        /// The account's email address.
        #[arg(long)]
        email: String,
        /// Make the account an administrator (the first account always is one).
        #[arg(long)]
        admin: bool,
    },
    /// Manage the MCP servers Clavis protects (output is JSON).
    Server {
        #[command(subcommand)]
        action: ServerCommand,
    },
    /// Manage the issuers whose workload tokens credentials may federate (output is
    /// JSON).
    Issuer {
        #[command(subcommand)]
        action: IssuerCommand,
    },
    /// Identity providers people sign in with (SPEC §21).
    Idp {
        #[command(subcommand)]
        action: IdpCommand,
    },
    /// Manage the access-token signing keys.
    Keys {
        #[command(subcommand)]
        action: KeysCommand,
    },
    /// Manage client credentials from scripts (output is JSON).
    Credential {
        #[command(subcommand)]
        action: CredentialCommand,
    },
    /// Offline checks of client secrets (no database, no network).
    Secret {
        #[command(subcommand)]
        action: SecretCommand,
    },
    /// Print the audit log, oldest first, one JSON object per line.
    Audit {
        /// Only events at or after this time (RFC 3339, e.g. 2026-11-30T00:00:00Z).
        #[arg(long, value_parser = parse_rfc3339)]
        since: Option<i64>,
        /// Only this action (e.g. credential.revoked).
        #[arg(long)]
        action: Option<String>,
    },
}

/// Unix seconds of an RFC 3339 time (`YYYY-MM-DDTHH:MM:SS` with `Z` or an offset,
/// optional fractional seconds) or a date (`YYYY-MM-DD`, its start in UTC).
fn parse_rfc3339(raw: &str) -> Result<i64, String> {
    clavis::civil::parse_rfc3339(raw)
        .ok_or_else(|| format!("{raw:?} is not an RFC 3339 time such as 2026-11-30T00:00:00Z"))
}

/// Trusted issuers of workload tokens (SPEC §18).
#[derive(Debug, Subcommand)]
pub enum IssuerCommand {
    /// Trust an issuer (GitHub Actions, GitLab CI, a Kubernetes cluster, …); prints it.
    Add {
        /// A short name (letters, digits, `.`, `-`, `_`).
        #[arg(long)]
        name: String,
        /// The `iss` its tokens carry: an https URL (http only on a loopback address).
        #[arg(long)]
        issuer: String,
        /// Where its keys are (default: found by OpenID Connect discovery at the issuer).
        #[arg(long)]
        jwks_url: Option<String>,
    },
    /// List the trusted issuers.
    List,
    /// Stop trusting an issuer; every federation rule naming it goes with it.
    Remove {
        /// Its name.
        name: String,
    },
}

/// Identity providers (SPEC §21, §22).
#[derive(Debug, Subcommand)]
pub enum IdpCommand {
    /// Register an OpenID Connect provider; its client secret is read from the first
    /// line of standard input. Prints it (`clavis idp list` and the dashboard show the
    /// redirect URI to register there: <issuer>/sso/NAME/callback).
    Add {
        /// A short name (letters, digits, `.`, `-`, `_`): the callback is
        /// `<issuer>/sso/NAME/callback`.
        #[arg(long)]
        name: String,
        /// The provider's issuer URL (its discovery document is below it).
        #[arg(long)]
        issuer: String,
        /// Clavis's client id at the provider.
        #[arg(long)]
        client_id: String,
        /// What the sign-in button says after "Sign in with" (default: the name).
        #[arg(long)]
        display_name: Option<String>,
        /// An email domain that may sign in with it (repeatable; default: any).
        #[arg(long = "email-domain")]
        email_domains: Vec<String>,
    },
    /// List the identity providers (without their secrets), with their redirect URIs.
    List,
    /// Remove an identity provider; the accounts it created stay.
    Remove {
        /// Its name.
        name: String,
    },
}

/// Client-secret checks.
#[derive(Debug, Subcommand)]
pub enum SecretCommand {
    /// Read a secret from the first line of standard input and say whether it is a
    /// well-formed Clavis client secret (prefix, length, alphabet, checksum). Exit 0 if
    /// so, 1 if not; the secret itself is never printed. Whether it is still valid only
    /// the server can tell.
    Check,
}

/// Signing-key management.
#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Make a new signing key current. The previous key stays published until every
    /// token it signed has expired; running servers pick the new key up within seconds.
    Rotate,
    /// Withdraw a signing key at once: its tokens stop working everywhere (at once on
    /// PostgreSQL, within 5 s on SQLite). A new key is made current if it was the current one.
    Revoke {
        /// The key id (`kid`), as in the JWKS.
        kid: String,
    },
}

/// MCP server management without the dashboard.
#[derive(Debug, Subcommand)]
pub enum ServerCommand {
    /// Register an MCP server. With `--upstream-header-name`, the header's value is read
    /// from the first line of standard input (it never appears in the process list).
    Add {
        /// Display name.
        #[arg(long)]
        name: String,
        /// URL path segment: the gateway serves it at <issuer>/mcp/<slug>.
        #[arg(long)]
        slug: String,
        /// How the server is protected: `gateway` (Clavis forwards to --upstream-url) or
        /// `external` (the server checks Clavis tokens itself).
        #[arg(long, value_enum, ignore_case = true, hide_possible_values = true)]
        mode: ServerMode,
        /// Gateway: where Clavis forwards requests (http or https).
        #[arg(long, default_value = "")]
        upstream_url: String,
        /// External: the server's resource identifier (token audience).
        #[arg(long, default_value = "")]
        resource_url: String,
        /// Gateway: a header Clavis adds to every upstream request (value from stdin).
        #[arg(long, default_value = "")]
        upstream_header_name: String,
        /// Gateway: allow an upstream at a link-local address (cloud metadata range).
        #[arg(long)]
        allow_link_local: bool,
        /// Who may grant it to a credential: `everyone` signed in, or `chosen-teams`
        /// (administrators and the `--team`s).
        #[arg(long, default_value = "chosen-teams")]
        access: String,
        /// A team (id) the server is shared with; repeatable.
        #[arg(long = "team")]
        teams: Vec<i64>,
    },
    /// List the registered servers (no header values).
    List,
    /// Remove a server: its tokens stop working at the gateway of running servers at once
    /// on PostgreSQL, within 1 s on SQLite.
    Remove {
        /// The server's slug.
        slug: String,
    },
}

/// How a registered MCP server is protected (`--mode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ServerMode {
    /// Clavis forwards to the upstream URL.
    Gateway,
    /// The server checks Clavis tokens itself.
    External,
}

impl ServerMode {
    /// The name the store and the API use.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Gateway => "gateway",
            Self::External => "external",
        }
    }
}

/// How a credential authenticates at the token endpoint (`--auth`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ClientAuth {
    /// A secret, printed once.
    ClientSecret,
    /// A JWT signed with a private key (with --public-key; no secret).
    PrivateKeyJwt,
}

impl ClientAuth {
    /// The RFC 7591 `token_endpoint_auth_method` name.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ClientSecret => "client_secret",
            Self::PrivateKeyJwt => "private_key_jwt",
        }
    }
}

/// One federation rule (SPEC §18), as `credential create` and `credential edit` take it.
#[derive(Debug, Args)]
pub struct FederationArgs {
    /// A federation rule: workload tokens of this trusted issuer (its name) that meet
    /// the --claim conditions get this credential's tokens.
    #[arg(long)]
    pub federate: Option<String>,
    /// The audience the workload token must carry (default: Clavis's issuer URL).
    #[arg(long, requires = "federate")]
    pub federate_audience: Option<String>,
    /// A claim condition of the rule, CLAIM=PATTERN (`*` matches anything); repeat
    /// for several.
    #[arg(long = "claim", requires = "federate")]
    pub claims: Vec<String>,
    /// Accept each workload token (its jti) once.
    #[arg(long, requires = "federate")]
    pub single_use: bool,
}

/// Credential management without the dashboard.
#[derive(Debug, Subcommand)]
pub enum CredentialCommand {
    /// Create a credential for an account and print its id and secret (shown once).
    Create {
        /// Email of the owning account.
        #[arg(long)]
        user: String,
        /// Name of the credential.
        #[arg(long)]
        name: String,
        /// Description.
        #[arg(long, default_value = "")]
        description: String,
        /// A scope to grant; repeat for several.
        #[arg(long = "scope", default_values_t = [String::from("mcp")])]
        scopes: Vec<String>,
        /// Expire after this many days (default: never).
        #[arg(long)]
        expires_days: Option<u32>,
        /// Create this many credentials ("NAME #1", "NAME #2", …), one JSON line each.
        #[arg(long, default_value_t = 1)]
        count: u32,
        /// Grant this MCP server (its slug, or `@builtin` for the built-in /mcp); repeat
        /// for several [default: @builtin].
        #[arg(long = "server")]
        servers: Vec<String>,
        /// Tool names the credential may call at the gateway, comma-separated (default: all).
        #[arg(long, default_value = "")]
        allowed_tools: String,
        /// Lifetime of its tokens: 5m, 15m, 1h or 24h (default: the server's).
        #[arg(long, value_parser = parse_duration)]
        token_lifetime: Option<i64>,
        /// Tokens it may get per hour (default: no limit).
        #[arg(long)]
        tokens_per_hour: Option<i64>,
        /// How it authenticates: `client-secret` (a secret, printed once) or
        /// `private-key-jwt` (a JWT signed with a private key, with --public-key).
        #[arg(
            long,
            value_enum,
            ignore_case = true,
            hide_possible_values = true,
            default_value_t = ClientAuth::ClientSecret
        )]
        auth: ClientAuth,
        /// File with the public key(s) of a private-key-jwt credential: PEM, JWK or JWKS.
        #[arg(long)]
        public_key: Option<std::path::PathBuf>,
        /// Create it in this team (its id, as in /teams/ID) instead of the account's
        /// personal workspace; the account must be a member.
        #[arg(long)]
        team: Option<i64>,
        #[command(flatten)]
        federation: FederationArgs,
        /// No secret at all: only the federation rule gets it tokens.
        #[arg(long, requires = "federate")]
        no_secret: bool,
        /// Its token requests must carry a DPoP proof, so every token it gets is bound
        /// to the program's key (SPEC §19).
        #[arg(long)]
        require_dpop: bool,
        /// Calls per minute at a granted gateway server: SLUG=N for all its tools,
        /// SLUG:TOOL=N for one; repeat for several.
        #[arg(long = "calls-per-minute", value_name = "SLUG[:TOOL]=N")]
        calls_per_minute: Vec<String>,
    },
    /// Change a credential's name, description, allowed tools or quota; what is not
    /// given stays. Prints the credential as JSON.
    Edit {
        /// The credential's client id.
        client_id: String,
        #[arg(long)]
        name: Option<String>,
        #[arg(long)]
        description: Option<String>,
        /// Comma-separated tool names; an empty value allows every tool.
        #[arg(long)]
        allowed_tools: Option<String>,
        /// Tokens per hour, or `none` for no limit.
        #[arg(long)]
        tokens_per_hour: Option<String>,
        /// With --federate: replaces its federation rules with that one.
        #[command(flatten)]
        federation: FederationArgs,
        /// Remove its federation rules (refused for a credential without a secret).
        #[arg(long, conflicts_with = "federate")]
        no_federation: bool,
        /// Whether its token requests must carry a DPoP proof: `yes` or `no`.
        #[arg(long, value_name = "yes|no", value_parser = clap::builder::BoolishValueParser::new())]
        require_dpop: Option<bool>,
        /// Replace its calls-per-minute limits with these (SLUG=N, SLUG:TOOL=N; repeat).
        #[arg(long = "calls-per-minute", value_name = "SLUG[:TOOL]=N")]
        calls_per_minute: Vec<String>,
        /// Remove its calls-per-minute limits.
        #[arg(long, conflicts_with = "calls_per_minute")]
        no_call_limits: bool,
    },
    /// Give a credential a new secret (printed once, as JSON); the old one keeps
    /// working for a while so programs can be updated without downtime.
    Rotate {
        /// The credential's client id.
        client_id: String,
        /// How long the old secret keeps working: `0` (ends now), or a number with `s`,
        /// `m`, `h` or `d`, up to 7 days.
        #[arg(long, default_value = "24h", value_parser = parse_duration)]
        old_secret_valid: i64,
        /// For a private-key-jwt credential: a file with its new public key(s); the old
        /// keys keep working for --old-secret-valid.
        #[arg(long)]
        public_key: Option<std::path::PathBuf>,
    },
    /// Revoke a credential, at once and for good.
    Revoke {
        /// The credential's client id.
        client_id: String,
    },
    /// List an account's personal credentials, or with --team a team's (no secrets).
    List {
        /// Email of the account (with --team: a member of it).
        #[arg(long)]
        user: String,
        /// The team's id.
        #[arg(long)]
        team: Option<i64>,
    },
}

/// Every setting, as given (checked by [`Config::from_settings`]): those every
/// subcommand reads and those only the server reads.
#[derive(Debug, Args)]
pub struct Settings {
    #[command(flatten)]
    pub shared: SharedArgs,
    #[command(flatten)]
    pub serve: ServeArgs,
}

/// Settings the subcommands share with the server (the data, the issuer their output
/// names, the log); given before or after the subcommand.
#[derive(Debug, Args)]
#[command(next_help_heading = "Shared settings")]
pub struct SharedArgs {
    /// Database URL; the SQLite file (and its directory) is created when missing.
    #[arg(
        long,
        env = "DATABASE_URL",
        default_value = "sqlite://data/clavis.db",
        global = true
    )]
    pub database_url: String,
    /// File holding the master key that seals stored secrets (created `0600` on first
    /// start) [default: master.key beside the SQLite database, ./data/master.key otherwise].
    #[arg(long, env = "CLAVIS_MASTER_KEY_FILE", global = true)]
    pub master_key_file: Option<PathBuf>,
    /// Public base URL of this server, the OAuth `issuer` [default: http://<addr>].
    #[arg(long, env = "CLAVIS_ISSUER", global = true)]
    pub issuer: Option<String>,
    /// Log format: `text` (human-readable lines) or `json` (one JSON object per line).
    #[arg(
        long,
        env = "CLAVIS_LOG_FORMAT",
        value_enum,
        ignore_case = true,
        hide_possible_values = true,
        default_value_t = LogFormat::Text,
        global = true
    )]
    pub log_format: LogFormat,
    /// Log filter, e.g. `info` or `warn,clavis=debug`.
    #[arg(long, env = "CLAVIS_LOG", default_value = "info", global = true)]
    pub log: String,
}

/// Settings only the server reads: `clavis [SETTINGS]` or `clavis serve [SETTINGS]`.
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Server settings")]
pub struct ServeArgs {
    /// Address and port to listen on.
    #[arg(long, env = "CLAVIS_ADDR", default_value = "127.0.0.1:3000")]
    pub addr: String,
    /// Serve `/metrics` only on this address and port, not on --addr [default: on --addr].
    #[arg(long, env = "CLAVIS_METRICS_ADDR")]
    pub metrics_addr: Option<String>,
    /// Access-token lifetime in seconds (1 to 86400).
    #[arg(long, env = "CLAVIS_TOKEN_TTL", default_value = "3600")]
    pub token_ttl: String,
    /// Who may create a dashboard account: `open` (anyone, from the sign-up page or by
    /// single sign-on), `sso-only` (by single sign-on only: no password sign-up) or
    /// `closed` (only `clavis create-user`; an invitation needs an existing account).
    #[arg(
        long,
        env = "CLAVIS_SIGNUP",
        value_enum,
        ignore_case = true,
        hide_possible_values = true,
        default_value_t = Signup::Open
    )]
    pub signup: Signup,
    /// Failed client authentications allowed at once per client id.
    #[arg(long, env = "CLAVIS_CLIENT_FAILURE_BURST", default_value_t = 20)]
    pub client_failure_burst: u32,
    /// Then one more per this many milliseconds, per client id.
    #[arg(long, env = "CLAVIS_CLIENT_FAILURE_PERIOD_MS", default_value_t = 3000)]
    pub client_failure_period_ms: u32,
    /// Failed client authentications allowed at once per client address.
    #[arg(long, env = "CLAVIS_ADDRESS_FAILURE_BURST", default_value_t = 300)]
    pub address_failure_burst: u32,
    /// Then one more per this many milliseconds, per client address.
    #[arg(long, env = "CLAVIS_ADDRESS_FAILURE_PERIOD_MS", default_value_t = 200)]
    pub address_failure_period_ms: u32,
    /// Failed sign-ins allowed at once per (account, client address)…
    #[arg(long, env = "CLAVIS_SIGN_IN_FAILURE_BURST", default_value_t = 5)]
    pub sign_in_failure_burst: u32,
    /// …then one more per this many milliseconds.
    #[arg(
        long,
        env = "CLAVIS_SIGN_IN_FAILURE_PERIOD_MS",
        default_value_t = 20_000
    )]
    pub sign_in_failure_period_ms: u32,
    /// Failed sign-ins allowed at once per client address (any account)…
    #[arg(
        long,
        env = "CLAVIS_SIGN_IN_ADDRESS_FAILURE_BURST",
        default_value_t = 100
    )]
    pub sign_in_address_failure_burst: u32,
    /// …then one more per this many milliseconds.
    #[arg(
        long,
        env = "CLAVIS_SIGN_IN_ADDRESS_FAILURE_PERIOD_MS",
        default_value_t = 1000
    )]
    pub sign_in_address_failure_period_ms: u32,
    /// Audit events are kept this many days, then deleted.
    #[arg(long, env = "CLAVIS_AUDIT_RETENTION_DAYS", default_value_t = 400)]
    pub audit_retention_days: u32,
    /// Sign-ups allowed at once per client address…
    #[arg(long, env = "CLAVIS_SIGN_UP_BURST", default_value_t = 50)]
    pub sign_up_burst: u32,
    /// …then one more per this many milliseconds.
    #[arg(long, env = "CLAVIS_SIGN_UP_PERIOD_MS", default_value_t = 60_000)]
    pub sign_up_period_ms: u32,
    /// Most connections open at once; further ones wait until one closes.
    #[arg(long, env = "CLAVIS_MAX_CONNECTIONS", default_value_t = 4096)]
    pub max_connections: u32,
    /// Proxies whose `X-Forwarded-For` is believed, comma-separated CIDR ranges (e.g.
    /// `10.0.0.0/8,127.0.0.1`); from anyone else the header is ignored [default: none].
    #[arg(long, env = "CLAVIS_TRUSTED_PROXIES", default_value = "")]
    pub trusted_proxies: String,
    /// Seconds the gateway waits for an upstream MCP server's answer headers (then 504).
    #[arg(long, env = "CLAVIS_GATEWAY_TIMEOUT", default_value_t = 60)]
    pub gateway_timeout: u32,
    /// Largest request body the gateway forwards, in bytes (larger: 413).
    #[arg(long, env = "CLAVIS_GATEWAY_BODY_LIMIT", default_value_t = 4 * 1024 * 1024)]
    pub gateway_body_limit: u32,
    /// Let administrators register gateway upstreams at link-local addresses
    /// (169.254.0.0/16, fe80::/10, fd00:ec2::254, metadata.google.internal: where cloud
    /// metadata services answer); refused otherwise, also when a name resolves there.
    #[arg(long, env = "CLAVIS_ALLOW_LINK_LOCAL_UPSTREAMS")]
    pub allow_link_local_upstreams: bool,
    /// Demand server nonces in DPoP proofs (RFC 9449 §8, §9), at the token endpoint and
    /// every resource: a proof must carry a nonce Clavis handed out in the last 5 to 10
    /// minutes, so no proof can be made ahead of time. Costs a client one extra round
    /// trip per nonce; the instances share the nonces.
    #[arg(long, env = "CLAVIS_DPOP_NONCE")]
    pub dpop_nonce: bool,
    /// Seconds between refetches of a trusted issuer's keys on an unknown `kid` (tests
    /// shorten it).
    #[arg(
        long,
        env = "CLAVIS_JWKS_REFETCH_INTERVAL",
        default_value_t = 30,
        hide = true
    )]
    pub jwks_refetch_interval: u32,
    /// Export traces to this OpenTelemetry collector, over OTLP/HTTP (protobuf): its
    /// base URL such as `http://localhost:4318` (spans go to `/v1/traces` there). The
    /// other standard `OTEL_*` variables apply (`OTEL_EXPORTER_OTLP_HEADERS`,
    /// `OTEL_SERVICE_NAME`, `OTEL_TRACES_SAMPLER`, `OTEL_BSP_*`, …) [default: no traces].
    #[arg(long, env = "OTEL_EXPORTER_OTLP_ENDPOINT", value_name = "URL")]
    pub otlp_endpoint: Option<String>,
    /// The share of new traces recorded, from 0 to 1; a caller's `traceparent` decides
    /// for its own trace [default: `OTEL_TRACES_SAMPLER`, else 1].
    #[arg(long, env = "CLAVIS_TRACE_SAMPLING", value_name = "RATIO")]
    pub trace_sampling: Option<f64>,
    /// Directory holding the built site (`pkg/` with the wasm bundle and CSS).
    #[arg(long, env = "LEPTOS_SITE_ROOT", default_value = "target/site")]
    pub site_root: PathBuf,
}

/// Log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// Who may create dashboard accounts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Signup {
    /// Anyone, from the sign-up page.
    Open,
    /// Only `clavis create-user` (an invitation needs an existing account).
    Closed,
    /// By single sign-on only (SPEC §21): the first sign-in with an identity provider
    /// creates the account; there is no password sign-up.
    SsoOnly,
}

/// Checked configuration.
#[derive(Debug, Clone)]
pub struct Config {
    pub addr: SocketAddr,
    /// Where `/metrics` is served instead of `addr`, if set.
    pub metrics_addr: Option<SocketAddr>,
    pub database_url: String,
    /// The issuer URL without a trailing slash.
    pub issuer: String,
    /// `scheme://host[:port]` of the issuer, what browsers send as `Origin`.
    pub issuer_origin: String,
    pub token_ttl_secs: u32,
    pub signup_open: bool,
    /// Whether a first single sign-on creates an account (`open` and `sso-only`).
    pub sso_signup: bool,
    pub log_format: LogFormat,
    pub log_filter: Targets,
    pub site_root: PathBuf,
    /// Failed client authentications: (burst, period) per client id and per address.
    pub client_failures: (u32, u32),
    pub address_failures: (u32, u32),
    /// Failed sign-ins per (account, address), failed sign-ins per address, and sign-ups
    /// per address: (burst, period in ms).
    pub sign_in_failures: (u32, u32),
    pub sign_in_address_failures: (u32, u32),
    pub sign_ups: (u32, u32),
    /// The master key file.
    pub master_key_file: PathBuf,
    /// Proxies whose `X-Forwarded-For` is believed.
    pub trusted_proxies: Vec<clavis::throttle::Cidr>,
    /// Most connections open at once.
    pub max_connections: usize,
    /// Days audit events are kept.
    pub audit_retention_days: u32,
    /// How long the gateway waits for an upstream's answer headers.
    pub gateway_timeout: std::time::Duration,
    /// Largest gateway request body, in bytes.
    pub gateway_body_limit: usize,
    /// Whether gateway upstreams may be at link-local addresses.
    pub allow_link_local_upstreams: bool,
    /// DPoP proofs must carry a server nonce.
    pub dpop_nonce: bool,
    /// Least time between refetches of an issuer's keys on an unknown `kid`.
    pub jwks_refetch_interval: std::time::Duration,
    /// Where traces go (SPEC §20); `None`: no traces.
    pub traces: Option<Traces>,
}

/// Trace export settings (SPEC §20).
#[derive(Debug, Clone, PartialEq)]
pub struct Traces {
    /// The OTLP/HTTP traces URL (`…/v1/traces`); `None`: the one
    /// `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` names.
    pub endpoint: Option<String>,
    /// The share of new traces recorded: `--trace-sampling`, else what
    /// `OTEL_TRACES_SAMPLER` (and `…_ARG`) say, else 1. Always parent-based: a caller's
    /// trace is recorded when its `traceparent` says it is sampled.
    pub sampling: f64,
}

impl Traces {
    /// From `--otlp-endpoint` (a collector's base URL, as `OTEL_EXPORTER_OTLP_ENDPOINT`),
    /// `--trace-sampling` and the environment: traces are on with an endpoint from
    /// either, unless `OTEL_SDK_DISABLED=true` or `OTEL_TRACES_EXPORTER=none`.
    fn from_settings(
        endpoint: Option<&str>,
        sampling: Option<f64>,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Option<Self>, ConfigError> {
        const SETTING: &str = "--otlp-endpoint (OTEL_EXPORTER_OTLP_ENDPOINT)";
        if let Some(ratio) = sampling
            && !(0.0..=1.0).contains(&ratio)
        {
            return Err(ConfigError::new(
                "--trace-sampling (CLAVIS_TRACE_SAMPLING)",
                format!("{ratio} is not a share from 0 to 1"),
            ));
        }
        let set = |name: &str| env(name).filter(|v| !v.trim().is_empty());
        let off =
            |name: &str, value: &str| set(name).is_some_and(|v| v.eq_ignore_ascii_case(value));
        if off("OTEL_SDK_DISABLED", "true") || off("OTEL_TRACES_EXPORTER", "none") {
            return Ok(None);
        }
        // The signal's own variable wins over the general one (the OpenTelemetry
        // specification's order), not over the flag.
        let signal = set("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT").is_some();
        let from_general =
            endpoint.is_some() && env("OTEL_EXPORTER_OTLP_ENDPOINT").as_deref() == endpoint;
        let endpoint = endpoint.filter(|_| !(signal && from_general));
        let endpoint = match endpoint.map(str::trim).filter(|e| !e.is_empty()) {
            Some(base) => {
                let url = url::Url::parse(base)
                    .ok()
                    .filter(|u| matches!(u.scheme(), "http" | "https") && u.has_host())
                    .ok_or_else(|| {
                        ConfigError::new(SETTING, format!("{base:?} is not an http(s) URL"))
                    })?;
                let base = url.as_str().trim_end_matches('/');
                Some(if base.ends_with("/v1/traces") {
                    base.to_owned()
                } else {
                    format!("{base}/v1/traces")
                })
            }
            None if signal => None,
            None => return Ok(None),
        };
        let sampling = sampling.unwrap_or_else(|| {
            let ratio = || {
                set("OTEL_TRACES_SAMPLER_ARG")
                    .and_then(|arg| arg.trim().parse::<f64>().ok())
                    .filter(|r| (0.0..=1.0).contains(r))
                    .unwrap_or(1.0)
            };
            match set("OTEL_TRACES_SAMPLER").as_deref().map(str::trim) {
                Some("always_off" | "parentbased_always_off") => 0.0,
                Some("traceidratio" | "parentbased_traceidratio") => ratio(),
                _ => 1.0,
            }
        });
        Ok(Some(Self { endpoint, sampling }))
    }
}

/// A setting that cannot be used; its `Display` is the one line printed at start.
#[derive(Debug, thiserror::Error)]
#[error("invalid {setting}: {reason}")]
pub struct ConfigError {
    pub setting: &'static str,
    pub reason: String,
}

impl ConfigError {
    fn new(setting: &'static str, reason: impl Into<String>) -> Self {
        Self {
            setting,
            reason: reason.into(),
        }
    }
}

/// The longest access-token lifetime accepted, in seconds (one day).
pub const MAX_TOKEN_TTL_SECS: u32 = 86_400;

impl Config {
    /// Checks every setting; the first bad one is reported by its flag and variable name.
    pub fn from_settings(settings: &Settings) -> Result<Self, ConfigError> {
        let (shared, s) = (&settings.shared, &settings.serve);
        let addr: SocketAddr = s.addr.trim().parse().map_err(|_| {
            ConfigError::new(
                "--addr (CLAVIS_ADDR)",
                format!(
                    "{:?} is not an address and port such as 127.0.0.1:3000",
                    s.addr
                ),
            )
        })?;
        if !(shared.database_url.starts_with("sqlite:")
            || clavis::store::is_postgres_url(&shared.database_url))
        {
            return Err(ConfigError::new(
                "--database-url (DATABASE_URL)",
                "use sqlite://PATH (e.g. sqlite://data/clavis.db) or postgres://USER:PASSWORD@HOST/DB",
            ));
        }
        let metrics_addr = s
            .metrics_addr
            .as_deref()
            .map(|raw| {
                raw.trim().parse::<SocketAddr>().map_err(|_| {
                    ConfigError::new(
                        "--metrics-addr (CLAVIS_METRICS_ADDR)",
                        format!("{raw:?} is not an address and port such as 127.0.0.1:9090"),
                    )
                })
            })
            .transpose()?;
        let issuer_raw = shared
            .issuer
            .clone()
            .unwrap_or_else(|| format!("http://{addr}"));
        let (issuer, issuer_origin) = parse_issuer(&issuer_raw)?;
        let token_ttl_secs = s
            .token_ttl
            .trim()
            .parse::<u32>()
            .ok()
            .filter(|ttl| (1..=MAX_TOKEN_TTL_SECS).contains(ttl))
            .ok_or_else(|| {
                ConfigError::new(
                    "--token-ttl (CLAVIS_TOKEN_TTL)",
                    format!(
                        "{:?} is not a number of seconds from 1 to {MAX_TOKEN_TTL_SECS}",
                        s.token_ttl
                    ),
                )
            })?;
        let signup_open = s.signup == Signup::Open;
        let sso_signup = matches!(s.signup, Signup::Open | Signup::SsoOnly);
        let log_format = shared.log_format;
        let log_filter = shared.log.parse::<Targets>().map_err(|_| {
            ConfigError::new(
                "--log (CLAVIS_LOG)",
                format!(
                    "{:?} is not a filter such as `info` or `warn,clavis=debug`",
                    shared.log
                ),
            )
        })?;
        let master_key_file = shared.master_key_file.clone().unwrap_or_else(|| {
            sqlite_dir(&shared.database_url)
                .unwrap_or_else(|| PathBuf::from("data"))
                .join("master.key")
        });
        let gateway_timeout = std::time::Duration::from_secs(u64::from(positive(
            "--gateway-timeout (CLAVIS_GATEWAY_TIMEOUT)",
            s.gateway_timeout,
        )?));
        let gateway_body_limit = usize::try_from(positive(
            "--gateway-body-limit (CLAVIS_GATEWAY_BODY_LIMIT)",
            s.gateway_body_limit,
        )?)
        .unwrap_or(usize::MAX);
        let trusted_proxies = s
            .trusted_proxies
            .split(',')
            .map(str::trim)
            .filter(|c| !c.is_empty())
            .map(|c| {
                clavis::throttle::Cidr::parse(c).ok_or_else(|| {
                    ConfigError::new(
                        "--trusted-proxies (CLAVIS_TRUSTED_PROXIES)",
                        format!("{c:?} is not an address or CIDR range such as 10.0.0.0/8"),
                    )
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let pair = |burst: (&'static str, u32), period: (&'static str, u32)| {
            Ok::<_, ConfigError>((positive(burst.0, burst.1)?, positive(period.0, period.1)?))
        };
        let sign_in_failures = pair(
            (
                "--sign-in-failure-burst (CLAVIS_SIGN_IN_FAILURE_BURST)",
                s.sign_in_failure_burst,
            ),
            (
                "--sign-in-failure-period-ms (CLAVIS_SIGN_IN_FAILURE_PERIOD_MS)",
                s.sign_in_failure_period_ms,
            ),
        )?;
        let sign_in_address_failures = pair(
            (
                "--sign-in-address-failure-burst (CLAVIS_SIGN_IN_ADDRESS_FAILURE_BURST)",
                s.sign_in_address_failure_burst,
            ),
            (
                "--sign-in-address-failure-period-ms (CLAVIS_SIGN_IN_ADDRESS_FAILURE_PERIOD_MS)",
                s.sign_in_address_failure_period_ms,
            ),
        )?;
        let sign_ups = pair(
            ("--sign-up-burst (CLAVIS_SIGN_UP_BURST)", s.sign_up_burst),
            (
                "--sign-up-period-ms (CLAVIS_SIGN_UP_PERIOD_MS)",
                s.sign_up_period_ms,
            ),
        )?;
        let max_connections = usize::try_from(positive(
            "--max-connections (CLAVIS_MAX_CONNECTIONS)",
            s.max_connections,
        )?)
        .unwrap_or(usize::MAX);
        let audit_retention_days = positive(
            "--audit-retention-days (CLAVIS_AUDIT_RETENTION_DAYS)",
            s.audit_retention_days,
        )?;
        Ok(Self {
            audit_retention_days,
            max_connections,
            sign_in_failures,
            sign_in_address_failures,
            sign_ups,
            trusted_proxies,
            master_key_file,
            gateway_timeout,
            gateway_body_limit,
            allow_link_local_upstreams: s.allow_link_local_upstreams,
            dpop_nonce: s.dpop_nonce,
            traces: Traces::from_settings(s.otlp_endpoint.as_deref(), s.trace_sampling, |name| {
                std::env::var(name).ok()
            })?,
            jwks_refetch_interval: std::time::Duration::from_secs(u64::from(
                s.jwks_refetch_interval,
            )),
            addr,
            metrics_addr,
            database_url: shared.database_url.clone(),
            issuer,
            issuer_origin,
            token_ttl_secs,
            signup_open,
            sso_signup,
            log_format,
            log_filter,
            site_root: s.site_root.clone(),
            client_failures: (
                positive(
                    "--client-failure-burst (CLAVIS_CLIENT_FAILURE_BURST)",
                    s.client_failure_burst,
                )?,
                positive(
                    "--client-failure-period-ms (CLAVIS_CLIENT_FAILURE_PERIOD_MS)",
                    s.client_failure_period_ms,
                )?,
            ),
            address_failures: (
                positive(
                    "--address-failure-burst (CLAVIS_ADDRESS_FAILURE_BURST)",
                    s.address_failure_burst,
                )?,
                positive(
                    "--address-failure-period-ms (CLAVIS_ADDRESS_FAILURE_PERIOD_MS)",
                    s.address_failure_period_ms,
                )?,
            ),
        })
    }

    /// Whether cookies must be `Secure` (the issuer is served over https).
    #[must_use]
    pub fn is_https(&self) -> bool {
        self.issuer.starts_with("https://")
    }
}

fn positive(setting: &'static str, value: u32) -> Result<u32, ConfigError> {
    if value == 0 {
        Err(ConfigError::new(setting, "must be at least 1"))
    } else {
        Ok(value)
    }
}

/// The issuer must be an absolute http(s) URL without query or fragment. Returns it
/// without a trailing slash, and its origin.
/// A duration in seconds from `0`, `90s`, `30m`, `1h` or `7d`.
fn parse_duration(raw: &str) -> Result<i64, String> {
    let raw = raw.trim();
    let (number, unit) = raw.split_at(raw.find(|c: char| !c.is_ascii_digit()).unwrap_or(raw.len()));
    let seconds = match unit {
        "" | "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => 0,
    };
    number
        .parse::<i64>()
        .ok()
        .filter(|_| seconds > 0)
        .and_then(|n| n.checked_mul(seconds))
        .filter(|s| (0..=clavis::credentials::MAX_OLD_SECRET_VALID).contains(s))
        .ok_or_else(|| {
            format!("expected 0 or a duration such as 90s, 30m, 1h or 7d (at most 7d), got {raw:?}")
        })
}

fn parse_issuer(raw: &str) -> Result<(String, String), ConfigError> {
    let bad = |why: &str| ConfigError::new("--issuer (CLAVIS_ISSUER)", format!("{raw:?} {why}"));
    let url = url::Url::parse(raw.trim())
        .map_err(|_| bad("is not an absolute URL such as https://clavis.example.com"))?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err(bad("must be an http:// or https:// URL with a host"));
    }
    if url.query().is_some() || url.fragment().is_some() || !url.username().is_empty() {
        return Err(bad("must not have a query, fragment or user name"));
    }
    let issuer = url.as_str().trim_end_matches('/').to_owned();
    Ok((issuer, url.origin().ascii_serialization()))
}

/// The directory of an SQLite database file (`None` for other databases and in-memory
/// SQLite).
fn sqlite_dir(url: &str) -> Option<PathBuf> {
    let path = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))?;
    let path = path.split('?').next().unwrap_or_default();
    if path.is_empty() || path == ":memory:" {
        return None;
    }
    Some(
        std::path::Path::new(path)
            .parent()
            .map_or_else(|| PathBuf::from("."), std::path::Path::to_path_buf),
    )
}

/// A database URL fit for messages: any password replaced.
#[must_use]
pub fn redact_url(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut parsed) if parsed.password().is_some() => {
            let _ = parsed.set_password(Some("redacted"));
            parsed.to_string()
        }
        _ => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_take_a_unit_and_stay_within_seven_days() {
        assert_eq!(parse_duration("0"), Ok(0));
        assert_eq!(parse_duration("90s"), Ok(90));
        assert_eq!(parse_duration("30m"), Ok(1800));
        assert_eq!(parse_duration("24h"), Ok(86_400));
        assert_eq!(parse_duration("7d"), Ok(604_800));
        for bad in ["8d", "", "h", "1w", "-1h", "1.5h", "99999999999999999999d"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }

    fn settings(args: &[&str]) -> Settings {
        let mut argv = vec!["clavis"];
        argv.extend_from_slice(args);
        Cli::parse_from(argv).settings
    }

    #[test]
    fn defaults_listen_locally_and_derive_the_issuer_from_the_address() {
        let config = Config::from_settings(&settings(&[])).map_err(|e| e.to_string());
        let config = config.as_ref();
        assert_eq!(
            config.map(|c| c.issuer.as_str()),
            Ok("http://127.0.0.1:3000")
        );
        assert_eq!(config.map(|c| c.token_ttl_secs), Ok(3600));
        assert_eq!(config.map(|c| c.signup_open), Ok(true));
    }

    #[test]
    fn each_bad_setting_is_named() {
        for (args, named) in [
            (&["--addr", "nope"][..], "CLAVIS_ADDR"),
            (&["--metrics-addr", "9090"][..], "CLAVIS_METRICS_ADDR"),
            (&["--issuer", "not a url"][..], "CLAVIS_ISSUER"),
            (&["--issuer", "ftp://x.example"][..], "CLAVIS_ISSUER"),
            (&["--token-ttl", "86401"][..], "CLAVIS_TOKEN_TTL"),
            (&["--token-ttl", "0"][..], "CLAVIS_TOKEN_TTL"),
            (&["--database-url", "mysql://x"][..], "DATABASE_URL"),
            (
                &["--trusted-proxies", "10.0.0.0/8,nope"][..],
                "CLAVIS_TRUSTED_PROXIES",
            ),
        ] {
            let error = Config::from_settings(&settings(args))
                .map(|_| ())
                .map_err(|e| e.to_string());
            assert!(
                matches!(&error, Err(e) if e.contains(named) && !e.contains('\n')),
                "{args:?}: {error:?}"
            );
        }
    }

    #[test]
    fn choices_are_checked_by_clap_and_ignore_case() {
        for args in [
            &["clavis", "--signup", "maybe"][..],
            &["clavis", "--log-format", "xml"][..],
            &[
                "clavis",
                "credential",
                "create",
                "--user",
                "a@b.c",
                "--name",
                "n",
                "--auth",
                "basic",
            ][..],
            &[
                "clavis", "server", "add", "--name", "n", "--slug", "s", "--mode", "proxy",
            ][..],
        ] {
            let error = Cli::try_parse_from(args)
                .map(|_| ())
                .map_err(|e| e.to_string());
            assert!(
                matches!(&error, Err(e) if e.contains("invalid value") && e.contains("possible values")),
                "{args:?}: {error:?}"
            );
        }
        let cli = Cli::parse_from(["clavis", "--signup", "CLOSED", "--log-format", "Json"]);
        assert_eq!(cli.settings.serve.signup, Signup::Closed);
        assert_eq!(cli.settings.shared.log_format, LogFormat::Json);
        let cli = Cli::parse_from(["clavis", "--signup", "sso-only"]);
        assert_eq!(cli.settings.serve.signup, Signup::SsoOnly);
        let cli = Cli::parse_from([
            "clavis", "server", "add", "--name", "n", "--slug", "s", "--mode", "external",
        ]);
        assert!(matches!(
            cli.command,
            Some(Command::Server {
                action: ServerCommand::Add {
                    mode: ServerMode::External,
                    ..
                }
            })
        ));
    }

    #[test]
    fn server_settings_go_before_or_after_serve_and_subcommands_take_only_shared_ones() {
        let addr = |argv: &[&str]| {
            Cli::try_parse_args(argv)
                .map(|cli| cli.settings.serve.addr)
                .map_err(|e| e.kind())
        };
        let given = Ok("127.0.0.1:1".to_owned());
        assert_eq!(addr(&["clavis", "--addr", "127.0.0.1:1"]), given);
        assert_eq!(addr(&["clavis", "--addr", "127.0.0.1:1", "serve"]), given);
        assert_eq!(addr(&["clavis", "serve", "--addr", "127.0.0.1:1"]), given);
        assert_eq!(
            addr(&[
                "clavis",
                "--token-ttl",
                "5",
                "serve",
                "--addr",
                "127.0.0.1:1"
            ]),
            Err(clap::error::ErrorKind::ArgumentConflict)
        );
        for argv in [
            &[
                "clavis",
                "server",
                "list",
                "--database-url",
                "sqlite://x.db",
            ][..],
            &[
                "clavis",
                "--database-url",
                "sqlite://x.db",
                "server",
                "list",
            ][..],
            &["clavis", "create-user", "--email", "a@b.c", "--log", "warn"][..],
        ] {
            assert!(Cli::try_parse_args(argv).is_ok(), "{argv:?}");
        }
        let serve_only = Cli::try_parse_args(["clavis", "server", "list", "--token-ttl", "5"]);
        assert!(serve_only.is_err());
    }

    #[test]
    fn issuer_keeps_its_path_and_drops_a_trailing_slash() {
        let config =
            Config::from_settings(&settings(&["--issuer", "https://id.example.com/clavis/"]));
        let config = config.map_err(|e| e.to_string());
        assert_eq!(
            config.as_ref().map(|c| c.issuer.as_str()),
            Ok("https://id.example.com/clavis")
        );
        assert_eq!(
            config.as_ref().map(|c| c.issuer_origin.as_str()),
            Ok("https://id.example.com")
        );
        assert_eq!(config.map(|c| c.is_https()), Ok(true));
    }

    #[test]
    fn the_master_key_defaults_to_the_database_directory() {
        let key = |args: &[&str]| {
            Config::from_settings(&settings(args))
                .map(|c| c.master_key_file)
                .map_err(|e| e.to_string())
        };
        assert_eq!(key(&[]), Ok(PathBuf::from("data/master.key")));
        assert_eq!(
            key(&["--database-url", "sqlite:///var/lib/clavis/c.db?mode=rwc"]),
            Ok(PathBuf::from("/var/lib/clavis/master.key"))
        );
        assert_eq!(
            key(&["--master-key-file", "/etc/clavis/key"]),
            Ok(PathBuf::from("/etc/clavis/key"))
        );
    }

    #[test]
    fn database_passwords_are_redacted() {
        assert_eq!(
            redact_url("postgres://u:secret@db/clavis"),
            "postgres://u:redacted@db/clavis"
        );
    }

    #[test]
    #[expect(clippy::unwrap_used, reason = "tests fail loudly")]
    fn traces_are_on_with_an_endpoint_and_off_without_or_when_disabled() {
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |name: &str| {
                pairs
                    .iter()
                    .find(|(n, _)| *n == name)
                    .map(|(_, v)| (*v).to_owned())
            }
        };
        let on = |endpoint: Option<&str>, pairs| {
            Traces::from_settings(endpoint, None, env(pairs)).unwrap()
        };
        assert_eq!(on(None, &[]), None);
        for base in [
            "http://collector:4318",
            "http://collector:4318/",
            "http://collector:4318/v1/traces",
        ] {
            assert_eq!(
                on(Some(base), &[]).unwrap().endpoint.as_deref(),
                Some("http://collector:4318/v1/traces"),
                "{base}"
            );
        }
        assert_eq!(
            on(Some("https://tempo.example/otlp"), &[])
                .unwrap()
                .endpoint
                .as_deref(),
            Some("https://tempo.example/otlp/v1/traces")
        );
        // The signal's own variable is a whole URL, read by the exporter itself.
        let signal = on(
            None,
            &[("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "http://c:4318/x")],
        );
        assert_eq!(
            signal,
            Some(Traces {
                endpoint: None,
                sampling: 1.0
            })
        );
        assert_eq!(
            on(Some("http://c:4318"), &[("OTEL_SDK_DISABLED", "TRUE")]),
            None
        );
        assert_eq!(
            on(Some("http://c:4318"), &[("OTEL_TRACES_EXPORTER", "none")]),
            None
        );
        for bad in ["collector:4318", "ftp://c/", "not a url"] {
            let e = Traces::from_settings(Some(bad), None, env(&[])).unwrap_err();
            assert!(e.to_string().contains("--otlp-endpoint"), "{e}");
        }
        for ratio in [-0.1, 1.5, f64::NAN] {
            let e =
                Traces::from_settings(Some("http://c:4318"), Some(ratio), env(&[])).unwrap_err();
            assert!(e.to_string().contains("--trace-sampling"), "{e}");
        }
        let half = Traces::from_settings(Some("http://c:4318"), Some(0.5), env(&[])).unwrap();
        assert_eq!(half.unwrap().sampling, 0.5);
        // Without the flag, the standard variables.
        let sampling = |pairs| on(Some("http://c:4318"), pairs).unwrap().sampling;
        assert_eq!(sampling(&[]), 1.0);
        assert_eq!(sampling(&[("OTEL_TRACES_SAMPLER", "always_off")]), 0.0);
        assert_eq!(
            sampling(&[
                ("OTEL_TRACES_SAMPLER", "parentbased_traceidratio"),
                ("OTEL_TRACES_SAMPLER_ARG", "0.25")
            ]),
            0.25
        );
        assert_eq!(sampling(&[("OTEL_TRACES_SAMPLER", "traceidratio")]), 1.0);
    }
}
