//! Enterprise identity (SPEC §21): the OpenID Connect providers people sign in with,
//! the checks of their ID tokens, and the checks of the ID-JAGs (Identity Assertion JWT
//! Authorization Grants, MCP's Enterprise-Managed Authorization) agents present at the
//! token endpoint. Signatures and times are [`crate::federation::verify`]'s, as for
//! workload tokens; what is left here is what makes a token mean a person.

use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::{
    UnixTime,
    federation::{Refusal, TrustedIssuer, Workload, fetchable},
    grant::Scopes,
    sealed::{MasterKey, SealError},
};

/// The JWT `typ` of an ID-JAG.
pub const ID_JAG_TYPE: &str = "oauth-id-jag+jwt";
/// The grant profile discovery lists (`authorization_grant_profiles_supported`).
pub const ID_JAG_PROFILE: &str = "urn:ietf:params:oauth:grant-profile:id-jag";
/// Longest provider name (it is a path segment: `/sso/<name>/callback`).
pub const NAME_MAX: usize = 64;
const DISPLAY_NAME_MAX: usize = 80;
const CLIENT_ID_MAX: usize = 255;
const CLIENT_SECRET_MAX: usize = 1000;
/// Most allowed email domains of one provider.
pub const DOMAINS_MAX: usize = 20;
/// How long a sign-in started at a provider may take to come back.
pub const PENDING_TTL: UnixTime = 600;

/// An identity provider as an administrator registered it.
#[derive(Clone, PartialEq, Eq)]
pub struct IdentityProvider {
    pub id: i64,
    /// Its short name: the path segment of its callback and the CLI's handle.
    pub name: String,
    /// What the sign-in page's button says: **Sign in with <display name>**.
    pub display_name: String,
    /// Its issuer URL: the `iss` of its tokens; discovery is found below it.
    pub issuer: String,
    /// Clavis's client id at the provider.
    pub client_id: String,
    /// Clavis's client secret at the provider, sealed with the master key.
    pub client_secret: Vec<u8>,
    /// The email domains that may sign in with it; empty: any.
    pub email_domains: Vec<String>,
    pub created_at: UnixTime,
}

impl fmt::Debug for IdentityProvider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IdentityProvider")
            .field("id", &self.id)
            .field("name", &self.name)
            .field("issuer", &self.issuer)
            .field("client_id", &self.client_id)
            .field("email_domains", &self.email_domains)
            .finish_non_exhaustive()
    }
}

impl From<crate::store::ProviderRow> for IdentityProvider {
    fn from(row: crate::store::ProviderRow) -> Self {
        Self {
            id: row.id,
            name: row.name,
            display_name: row.display_name,
            issuer: row.issuer,
            client_id: row.client_id,
            client_secret: row.client_secret,
            // Written by Clavis only; unreadable means no domain allowed rather than
            // any (an empty list allows every domain).
            email_domains: serde_json::from_str(&row.email_domains)
                .unwrap_or_else(|_| vec!["invalid.invalid".to_owned()]),
            created_at: row.created_at,
        }
    }
}

/// What the client secret is sealed for: one provider's name.
fn secret_purpose(name: &str) -> String {
    format!("identity-provider-secret:{name}")
}

impl IdentityProvider {
    /// The client secret, opened with the master key.
    pub fn client_secret(&self, master: &MasterKey) -> Result<String, SealError> {
        let bytes = master.open(&secret_purpose(&self.name), &self.client_secret)?;
        String::from_utf8(bytes).map_err(|_| SealError::Open)
    }

    /// Where its OpenID Connect discovery document is.
    #[must_use]
    pub fn discovery_url(&self) -> String {
        crate::federation::discovery_url(&self.issuer)
    }

    /// The redirect URI to register at the provider, under Clavis's `issuer` URL.
    #[must_use]
    pub fn redirect_uri(&self, issuer: &str) -> String {
        format!(
            "{}/sso/{}/callback",
            issuer.trim_end_matches('/'),
            self.name
        )
    }

    /// Whether `email` (normalised) is in one of its allowed domains (any, when it
    /// lists none): who may sign in with it.
    #[must_use]
    pub fn allows(&self, email: &str) -> bool {
        self.email_domains.is_empty() || self.vouches_for(email)
    }

    /// Whether `email` is in a domain it lists explicitly: only then does its word on
    /// an email name an account it did not create or link (a provider trusted for any
    /// domain would otherwise speak for every account, administrators' included).
    #[must_use]
    pub fn vouches_for(&self, email: &str) -> bool {
        email
            .rsplit_once('@')
            .is_some_and(|(_, domain)| self.email_domains.iter().any(|d| d == domain))
    }

    /// Where its keys are, for the key cache: the `jwks_uri` its discovery document
    /// names (an OpenID provider may keep its keys on another host, as Google does).
    #[must_use]
    pub fn key_source(&self, jwks_uri: &str) -> TrustedIssuer {
        TrustedIssuer {
            id: self.id,
            name: self.name.clone(),
            issuer: self.issuer.clone(),
            jwks_url: Some(jwks_uri.to_owned()),
            created_at: self.created_at,
        }
    }
}

/// Why a new identity provider was refused; `field` names the input.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidProvider {
    #[error("a name is 1 to 64 letters, digits, '.', '_' or '-'")]
    Name,
    #[error("a display name is at most 80 characters")]
    DisplayName,
    #[error(
        "the issuer must be an https URL (http only on a loopback address), without query or fragment"
    )]
    Issuer,
    #[error("the client id is required (at most 255 characters)")]
    ClientId,
    #[error("the client secret is required (at most 1000 characters)")]
    ClientSecret,
    #[error("{0:?} is not an email domain (at most 20, such as example.com)")]
    Domain(String),
    #[error("an identity provider with this name or issuer exists")]
    Taken,
}

impl InvalidProvider {
    /// The input at fault.
    #[must_use]
    pub fn field(&self) -> &'static str {
        match self {
            Self::Name | Self::Taken => "name",
            Self::DisplayName => "display_name",
            Self::Issuer => "issuer",
            Self::ClientId => "client_id",
            Self::ClientSecret => "client_secret",
            Self::Domain(_) => "email_domains",
        }
    }
}

/// A checked new identity provider, its secret still in the clear.
#[derive(Clone, PartialEq, Eq)]
pub struct NewProvider {
    pub name: String,
    pub display_name: String,
    pub issuer: String,
    pub client_id: String,
    client_secret: String,
    pub email_domains: Vec<String>,
}

impl fmt::Debug for NewProvider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NewProvider")
            .field("name", &self.name)
            .field("issuer", &self.issuer)
            .finish_non_exhaustive()
    }
}

impl NewProvider {
    /// Checks a provider's fields: a short name, a display name (the name when empty),
    /// an issuer URL as for trusted issuers (kept as given: it is compared with `iss`
    /// exactly), a client id and secret, and email domains (lower-cased, a leading `@`
    /// dropped, repeats removed).
    pub fn check(
        name: &str,
        display_name: &str,
        issuer: &str,
        client_id: &str,
        client_secret: String,
        email_domains: &[String],
    ) -> Result<Self, InvalidProvider> {
        let name = name.trim();
        if name.is_empty()
            || name.chars().count() > NAME_MAX
            || !name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c))
            || name.starts_with('.')
        {
            return Err(InvalidProvider::Name);
        }
        let display_name = match display_name.trim() {
            "" => name,
            given => given,
        };
        if display_name.chars().count() > DISPLAY_NAME_MAX
            || display_name.chars().any(char::is_control)
        {
            return Err(InvalidProvider::DisplayName);
        }
        let issuer = issuer.trim();
        if !fetchable(issuer) || issuer.contains('?') {
            return Err(InvalidProvider::Issuer);
        }
        let client_id = client_id.trim();
        if client_id.is_empty()
            || client_id.len() > CLIENT_ID_MAX
            || client_id.chars().any(char::is_control)
        {
            return Err(InvalidProvider::ClientId);
        }
        let client_secret = client_secret.trim().to_owned();
        if client_secret.is_empty()
            || client_secret.len() > CLIENT_SECRET_MAX
            || client_secret.chars().any(char::is_control)
        {
            return Err(InvalidProvider::ClientSecret);
        }
        let mut domains: Vec<String> = Vec::new();
        for given in email_domains {
            let domain = given.trim().trim_start_matches('@').to_ascii_lowercase();
            if domain.is_empty() {
                continue;
            }
            if !is_domain(&domain) || domains.len() == DOMAINS_MAX {
                return Err(InvalidProvider::Domain(given.trim().to_owned()));
            }
            if !domains.contains(&domain) {
                domains.push(domain);
            }
        }
        Ok(Self {
            name: name.to_owned(),
            display_name: display_name.to_owned(),
            issuer: issuer.to_owned(),
            client_id: client_id.to_owned(),
            client_secret,
            email_domains: domains,
        })
    }

    /// The client secret sealed with `master` for this provider.
    #[must_use]
    pub fn sealed_secret(&self, master: &MasterKey) -> Vec<u8> {
        master.seal(&secret_purpose(&self.name), self.client_secret.as_bytes())
    }

    /// Its columns, with the secret as sealed.
    #[must_use]
    pub fn row<'a>(&'a self, sealed_secret: &'a [u8]) -> crate::store::NewProviderRow<'a> {
        crate::store::NewProviderRow {
            name: &self.name,
            display_name: &self.display_name,
            issuer: &self.issuer,
            client_id: &self.client_id,
            sealed_secret,
            email_domains: &self.email_domains,
        }
    }
}

/// A DNS name of at least two labels: letters, digits and `-`, at most 253 characters.
fn is_domain(domain: &str) -> bool {
    domain.len() <= 253
        && domain.contains('.')
        && domain.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        })
}

/// A sign-in started at a provider, kept in the browser's session until it comes back.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pending {
    pub provider: String,
    /// Its row id: a provider removed and added again under the name is another.
    pub provider_id: i64,
    pub state: String,
    pub nonce: String,
    /// The PKCE code verifier (RFC 7636).
    pub verifier: String,
    /// Where to go once signed in (a local path).
    pub next: String,
    /// The provider's token endpoint and keys, as its discovery named them.
    pub token_endpoint: String,
    pub jwks_uri: String,
    pub started_at: UnixTime,
}

impl fmt::Debug for Pending {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pending")
            .field("provider", &self.provider)
            .field("started_at", &self.started_at)
            .finish_non_exhaustive()
    }
}

impl Pending {
    /// A new sign-in at `provider`: fresh `state`, `nonce` and code verifier.
    #[must_use]
    pub fn start(
        provider: &IdentityProvider,
        next: String,
        token_endpoint: String,
        jwks_uri: String,
        now: UnixTime,
    ) -> Self {
        Self {
            provider: provider.name.clone(),
            provider_id: provider.id,
            state: random_text(),
            nonce: random_text(),
            verifier: random_text(),
            next,
            token_endpoint,
            jwks_uri,
            started_at: now,
        }
    }

    /// The PKCE `code_challenge` (S256) of its verifier.
    #[must_use]
    pub fn challenge(&self) -> String {
        use sha2::Digest as _;
        crate::b64(&sha2::Sha256::digest(self.verifier.as_bytes()))
    }

    /// Whether a callback to `provider` with `state` at `now` finishes this sign-in
    /// (state compared in constant time).
    #[must_use]
    pub fn answers(&self, provider: &str, state: &str, now: UnixTime) -> bool {
        use subtle::ConstantTimeEq as _;
        self.provider == provider
            && bool::from(self.state.as_bytes().ct_eq(state.as_bytes()))
            && now >= self.started_at
            && now - self.started_at <= PENDING_TTL
    }
}

/// 32 random bytes in base64url (43 characters): a `state`, `nonce` or code verifier.
fn random_text() -> String {
    let mut bytes = [0u8; 32];
    rand::fill(&mut bytes);
    crate::b64(&bytes)
}

/// Why a single sign-on failed: what the sign-in page tells the person (by `code`,
/// so nothing from the provider is ever shown).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SsoError {
    #[error("There is no identity provider of that name.")]
    UnknownProvider,
    #[error(
        "This sign-in was not started here, has expired or was used already. Please try again."
    )]
    State,
    #[error("The identity provider did not sign you in.")]
    Denied,
    #[error(
        "The identity provider could not be reached or refused Clavis. Please try again later."
    )]
    Provider,
    #[error("The identity provider's answer could not be verified.")]
    IdToken,
    #[error("Your identity provider has not verified your email address.")]
    Unverified,
    #[error("Your email address's domain may not sign in with this identity provider.")]
    Domain,
    #[error("This account is disabled.")]
    Disabled,
    #[error("No account has this email address, and sign-up is closed.")]
    SignupClosed,
    #[error(
        "An account with this email address exists. Sign in with its password first, then with your identity provider to link the two."
    )]
    LinkNeedsPassword,
    #[error("Signing in failed. Please try again.")]
    Internal,
}

impl SsoError {
    /// Every error, for reading a code back.
    pub const ALL: [Self; 11] = [
        Self::UnknownProvider,
        Self::State,
        Self::Denied,
        Self::Provider,
        Self::IdToken,
        Self::Unverified,
        Self::Domain,
        Self::Disabled,
        Self::SignupClosed,
        Self::LinkNeedsPassword,
        Self::Internal,
    ];

    /// Its code in the sign-in page's address (`/login?sso=state`).
    #[must_use]
    pub fn code(self) -> &'static str {
        match self {
            Self::UnknownProvider => "unknown",
            Self::State => "state",
            Self::Denied => "denied",
            Self::Provider => "provider",
            Self::IdToken => "id_token",
            Self::Unverified => "unverified",
            Self::Domain => "domain",
            Self::Disabled => "disabled",
            Self::SignupClosed => "closed",
            Self::LinkNeedsPassword => "link",
            Self::Internal => "internal",
        }
    }

    /// The error of a code; `None` for anything else.
    #[must_use]
    pub fn from_code(code: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|e| e.code() == code)
    }
}

/// A person as their provider vouched for them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// The provider's `sub`.
    pub subject: String,
    /// Their email, normalised, verified by the provider.
    pub email: String,
}

/// The checks of an ID token whose signature, issuer and times verified
/// ([`crate::federation::verify`]): issued to `client_id` (`aud`, and `azp` when
/// there are several audiences), for this sign-in (`nonce`), with a verified email in
/// an allowed domain.
pub fn check_id_token(
    token: &Workload,
    provider: &IdentityProvider,
    nonce: &str,
) -> Result<Identity, SsoError> {
    use subtle::ConstantTimeEq as _;
    let text = |name: &str| token.claims.get(name).and_then(Value::as_str);
    if !token.audiences.iter().any(|a| a == &provider.client_id) {
        return Err(SsoError::IdToken);
    }
    if token.audiences.len() > 1 && text("azp") != Some(provider.client_id.as_str()) {
        return Err(SsoError::IdToken);
    }
    let given = text("nonce").unwrap_or_default();
    if !bool::from(given.as_bytes().ct_eq(nonce.as_bytes())) {
        return Err(SsoError::IdToken);
    }
    let email = text("email")
        .and_then(|e| crate::accounts::Email::parse(e).ok())
        .ok_or(SsoError::Unverified)?;
    // Some providers write the flag as a string.
    let verified = match token.claims.get("email_verified") {
        Some(Value::Bool(flag)) => *flag,
        Some(Value::String(flag)) => flag == "true",
        _ => false,
    };
    if !verified {
        return Err(SsoError::Unverified);
    }
    if !provider.allows(email.as_str()) {
        return Err(SsoError::Domain);
    }
    Ok(Identity {
        subject: token.subject.clone(),
        email: email.as_str().to_owned(),
    })
}

/// A checked ID-JAG: who it names, and what it lets the client ask for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdJag {
    /// The provider's `sub` for the person.
    pub subject: String,
    /// Their email, if the ID-JAG carries one (normalised).
    pub email: Option<String>,
    /// The resource the token is for (`resource`), if named.
    pub resource: Option<String>,
    /// The scopes it grants (`scope`, names Clavis does not offer dropped); `None`: it
    /// names none, and the credential's apply.
    pub scope: Option<Scopes>,
    pub jti: String,
    /// Until when its `jti` must be remembered.
    pub replayable_until: UnixTime,
}

/// The checks of an ID-JAG whose signature, issuer and times verified
/// ([`crate::federation::verify`]): for this authorization server (`aud` = `issuer`),
/// issued to the client that authenticated (`client_id`), with a `jti` to spend.
pub fn check_id_jag(token: &Workload, issuer: &str, client_id: &str) -> Result<IdJag, Refusal> {
    let text = |name: &str| token.claims.get(name).and_then(Value::as_str);
    let issuer = issuer.trim_end_matches('/');
    if !token
        .audiences
        .iter()
        .any(|a| a.trim_end_matches('/') == issuer)
    {
        return Err(Refusal::OtherAudience);
    }
    if text("client_id") != Some(client_id) {
        return Err(Refusal::OtherClient);
    }
    let jti = token.jti.clone().ok_or(Refusal::IdJagNoJti)?;
    // A limit written in another shape (a list, say) is refused, not read as none.
    for limit in ["scope", "resource"] {
        if token.claims.get(limit).is_some_and(|v| !v.is_string()) {
            return Err(Refusal::IdJagClaims);
        }
    }
    // An email the provider says is unverified names nobody.
    let email = text("email")
        .filter(|_| token.claims.get("email_verified") != Some(&Value::Bool(false)))
        .and_then(|e| crate::accounts::Email::parse(e).ok())
        .map(|e| e.as_str().to_owned());
    Ok(IdJag {
        subject: token.subject.clone(),
        email,
        resource: text("resource").map(str::to_owned),
        scope: text("scope").map(Scopes::known_in),
        jti,
        replayable_until: token.replayable_until(),
    })
}

/// Whether a JWT's header says it is an ID-JAG (`typ: oauth-id-jag+jwt`, compared
/// case-insensitively as media types are).
#[must_use]
pub fn is_id_jag(assertion: &str) -> bool {
    jsonwebtoken::decode_header(assertion).is_ok_and(|h| {
        h.typ.is_some_and(|t| {
            t.eq_ignore_ascii_case(ID_JAG_TYPE)
                || t.eq_ignore_ascii_case("application/oauth-id-jag+jwt")
        })
    })
}

#[cfg(test)]
mod tests {
    #![expect(clippy::unwrap_used, reason = "tests fail loudly")]

    use serde_json::json;

    use super::*;

    fn provider(domains: &[&str]) -> IdentityProvider {
        IdentityProvider {
            id: 1,
            name: "okta".into(),
            display_name: "Okta".into(),
            issuer: "https://acme.okta.com".into(),
            client_id: "clavis".into(),
            client_secret: Vec::new(),
            email_domains: domains.iter().map(|d| (*d).to_owned()).collect(),
            created_at: 0,
        }
    }

    fn token(claims: serde_json::Value) -> Workload {
        let claims = claims.as_object().unwrap().clone();
        let audiences = match claims.get("aud") {
            Some(Value::String(one)) => vec![one.clone()],
            Some(Value::Array(many)) => many
                .iter()
                .filter_map(|a| a.as_str().map(str::to_owned))
                .collect(),
            _ => Vec::new(),
        };
        Workload {
            issuer: "https://acme.okta.com".into(),
            subject: "00u1".into(),
            audiences,
            jti: claims.get("jti").and_then(Value::as_str).map(str::to_owned),
            exp: 2000,
            iat: 1000,
            claims,
        }
    }

    #[test]
    fn new_providers_are_checked_and_normalised() {
        let domains = vec![
            " @Acme.COM ".to_owned(),
            "acme.com".to_owned(),
            String::new(),
        ];
        let new = NewProvider::check(
            " okta ",
            "",
            "https://acme.okta.com",
            "clavis",
            "s3cret".into(),
            &domains,
        )
        .unwrap();
        assert_eq!(new.display_name, "okta");
        assert_eq!(new.email_domains, ["acme.com"]);
        assert!(!format!("{new:?}").contains("s3cret"));
        let check = |name: &str, issuer: &str, id: &str, secret: &str, domain: &str| {
            NewProvider::check(name, "", issuer, id, secret.into(), &[domain.to_owned()])
                .map(|_| ())
                .map_err(|e| e.field())
        };
        let ok = ("okta", "https://a.example", "id", "secret", "a.example");
        assert_eq!(check(ok.0, ok.1, ok.2, ok.3, ok.4), Ok(()));
        assert_eq!(check("a/b", ok.1, ok.2, ok.3, ok.4), Err("name"));
        assert_eq!(check("..", ok.1, ok.2, ok.3, ok.4), Err("name"));
        assert_eq!(
            check(ok.0, "http://a.example", ok.2, ok.3, ok.4),
            Err("issuer")
        );
        assert_eq!(
            check(ok.0, "https://a.example/?x", ok.2, ok.3, ok.4),
            Err("issuer")
        );
        assert_eq!(check(ok.0, ok.1, " ", ok.3, ok.4), Err("client_id"));
        assert_eq!(check(ok.0, ok.1, ok.2, "", ok.4), Err("client_secret"));
        for domain in ["localhost", "a..b", "-a.b", "a b.c", "user@a.b"] {
            assert_eq!(
                check(ok.0, ok.1, ok.2, ok.3, domain),
                Err("email_domains"),
                "{domain}"
            );
        }
    }

    #[test]
    fn secrets_are_sealed_for_their_provider() {
        let master = MasterKey::from_bytes(&[7; 32]);
        let new = NewProvider::check("okta", "", "https://a.example", "id", "s3cret".into(), &[])
            .unwrap();
        let mut stored = provider(&[]);
        stored.client_secret = new.sealed_secret(&master);
        assert_eq!(stored.client_secret(&master).unwrap(), "s3cret");
        stored.name = "other".into();
        assert!(stored.client_secret(&master).is_err());
    }

    #[test]
    fn domains_allow_exactly_their_addresses() {
        let p = provider(&["acme.com"]);
        assert!(p.allows("ada@acme.com"));
        assert!(!p.allows("ada@evil-acme.com"));
        assert!(!p.allows("ada@sub.acme.com"));
        assert!(!p.allows("ada@acme.com.evil"));
        assert!(provider(&[]).allows("ada@anything.example"));
        // Its word on an email names an account only in a domain it lists.
        assert!(p.vouches_for("ada@acme.com"));
        assert!(!provider(&[]).vouches_for("ada@anything.example"));
    }

    #[test]
    fn id_tokens_need_the_audience_nonce_and_a_verified_allowed_email() {
        let p = provider(&["acme.com"]);
        let good = json!({"aud": "clavis", "nonce": "n1", "email": "Ada@Acme.com", "email_verified": true});
        assert_eq!(
            check_id_token(&token(good.clone()), &p, "n1"),
            Ok(Identity {
                subject: "00u1".into(),
                email: "ada@acme.com".into()
            })
        );
        let with = |patch: serde_json::Value| {
            let mut claims = good.clone();
            for (k, v) in patch.as_object().unwrap() {
                if v.is_null() {
                    claims.as_object_mut().unwrap().remove(k);
                } else {
                    claims[k] = v.clone();
                }
            }
            check_id_token(&token(claims), &p, "n1")
        };
        assert_eq!(with(json!({"aud": "other"})), Err(SsoError::IdToken));
        assert_eq!(
            with(json!({"aud": ["clavis", "other"]})),
            Err(SsoError::IdToken)
        );
        assert!(with(json!({"aud": ["clavis", "other"], "azp": "clavis"})).is_ok());
        assert_eq!(with(json!({"nonce": "n2"})), Err(SsoError::IdToken));
        assert_eq!(with(json!({"nonce": null})), Err(SsoError::IdToken));
        assert_eq!(
            with(json!({"email_verified": false})),
            Err(SsoError::Unverified)
        );
        assert_eq!(
            with(json!({"email_verified": null})),
            Err(SsoError::Unverified)
        );
        assert!(with(json!({"email_verified": "true"})).is_ok());
        assert_eq!(with(json!({"email": null})), Err(SsoError::Unverified));
        assert_eq!(
            with(json!({"email": "ada@other.com"})),
            Err(SsoError::Domain)
        );
    }

    #[test]
    fn id_jags_are_for_this_server_and_the_authenticated_client() {
        let good = json!({"aud": "https://clavis.example", "client_id": "c1", "jti": "j1",
            "email": "Ada@Acme.com", "scope": "mcp:tools unknown", "resource": "https://clavis.example/mcp"});
        let jag = check_id_jag(&token(good.clone()), "https://clavis.example/", "c1").unwrap();
        assert_eq!(jag.email.as_deref(), Some("ada@acme.com"));
        assert_eq!(jag.resource.as_deref(), Some("https://clavis.example/mcp"));
        assert_eq!(jag.replayable_until, 2060);
        assert!(jag.scope.is_some());
        let refused = |patch: serde_json::Value| {
            let mut claims = good.clone();
            for (k, v) in patch.as_object().unwrap() {
                if v.is_null() {
                    claims.as_object_mut().unwrap().remove(k);
                } else {
                    claims[k] = v.clone();
                }
            }
            check_id_jag(&token(claims), "https://clavis.example", "c1").err()
        };
        assert_eq!(
            refused(json!({"aud": "https://other.example"})),
            Some(Refusal::OtherAudience)
        );
        assert_eq!(
            refused(json!({"client_id": "c2"})),
            Some(Refusal::OtherClient)
        );
        assert_eq!(
            refused(json!({"client_id": null})),
            Some(Refusal::OtherClient)
        );
        assert_eq!(refused(json!({"jti": null})), Some(Refusal::IdJagNoJti));
        assert_eq!(
            refused(json!({"scope": ["mcp"]})),
            Some(Refusal::IdJagClaims)
        );
        assert_eq!(
            refused(json!({"resource": ["https://a.example", "https://b.example"]})),
            Some(Refusal::IdJagClaims)
        );
        let unverified = json!({"aud": "https://clavis.example", "client_id": "c1", "jti": "j2",
            "email": "ada@acme.com", "email_verified": false});
        let jag = check_id_jag(&token(unverified), "https://clavis.example", "c1").unwrap();
        assert_eq!(jag.email, None);
    }

    #[test]
    fn pending_sign_ins_answer_only_their_state_in_time() {
        let pending = Pending::start(
            &provider(&[]),
            "/".into(),
            String::new(),
            String::new(),
            1000,
        );
        assert_eq!(pending.state.len(), 43);
        assert_ne!(pending.state, pending.nonce);
        assert!(pending.answers("okta", &pending.state.clone(), 1000 + PENDING_TTL));
        assert!(!pending.answers("okta", &pending.state.clone(), 1001 + PENDING_TTL));
        assert!(!pending.answers("other", &pending.state.clone(), 1000));
        assert!(!pending.answers("okta", "forged", 1000));
        // S256 (RFC 7636 §4.2): base64url(SHA-256(verifier)), as Python's hashlib and
        // base64.urlsafe_b64encode compute it.
        let mut known = pending.clone();
        known.verifier = "dBjftJeZ4CVP-mJ92aUL5bhfDeCCkMCEDKyzlG4gMHk".into();
        assert_eq!(
            known.challenge(),
            "zJ6q3_WuIhs_McIJc0gs11GMPc1ahdiDQOwKCHkmmCA"
        );
        for code in SsoError::ALL {
            assert_eq!(SsoError::from_code(code.code()), Some(code));
        }
    }
}
