//! What a credential is granted, as typed values: its [`Scopes`] and the tools it may
//! call ([`AllowedTools`]). Both are read once, where they enter (a form, the admin API,
//! a stored row, a token's `scope` claim); past that nothing splits or joins a string.

use std::fmt;

/// A scope a credential may hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scope {
    /// Call MCP servers.
    Mcp,
    /// Introspect tokens (RFC 7662).
    Introspect,
    /// Manage the credentials of its own workspace through the admin API (SPEC §14).
    CredentialsAdmin,
}

impl Scope {
    /// Every scope, in display order (the order a token's `scope` lists them in).
    pub const ALL: [Self; 3] = [Self::Mcp, Self::Introspect, Self::CredentialsAdmin];

    /// Its name in OAuth.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Mcp => "mcp",
            Self::Introspect => "introspect",
            Self::CredentialsAdmin => "credentials:admin",
        }
    }

    /// The scope of this name.
    #[must_use]
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == name)
    }

    const fn bit(self) -> u8 {
        1 << self as u8
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A set of scopes; shown (and stored, and put in tokens) space-delimited in
/// [`Scope::ALL`]'s order.
#[derive(Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct Scopes(u8);

/// A scope name Clavis does not offer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown scope {0:?}")]
pub struct UnknownScope(pub String);

impl Scopes {
    /// No scope.
    pub const NONE: Self = Self(0);

    /// Just `scope`.
    #[must_use]
    pub const fn only(scope: Scope) -> Self {
        Self(scope.bit())
    }

    /// These and `scope`.
    #[must_use]
    pub const fn with(self, scope: Scope) -> Self {
        Self(self.0 | scope.bit())
    }

    #[must_use]
    pub const fn contains(self, scope: Scope) -> bool {
        self.0 & scope.bit() != 0
    }

    #[must_use]
    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// Whether every scope of `self` is among `other`.
    #[must_use]
    pub const fn is_subset(self, other: Self) -> bool {
        self.0 & !other.0 == 0
    }

    /// The scopes in both.
    #[must_use]
    pub const fn intersection(self, other: Self) -> Self {
        Self(self.0 & other.0)
    }

    /// The scopes, in display order.
    pub fn iter(self) -> impl Iterator<Item = Scope> {
        Scope::ALL.into_iter().filter(move |s| self.contains(*s))
    }

    /// The scopes named, in any order and with repeats. The first unknown name is the
    /// error.
    pub fn from_names<'a>(names: impl IntoIterator<Item = &'a str>) -> Result<Self, UnknownScope> {
        names.into_iter().try_fold(Self::NONE, |scopes, name| {
            Scope::parse(name)
                .map(|scope| scopes.with(scope))
                .ok_or_else(|| UnknownScope(name.to_owned()))
        })
    }

    /// A space-delimited list, as in OAuth (RFC 6749 §3.3: empty names between
    /// repeated spaces are skipped).
    pub fn parse(list: &str) -> Result<Self, UnknownScope> {
        Self::from_names(list.split(' ').filter(|s| !s.is_empty()))
    }

    /// The scopes of a list Clavis wrote itself (a token's `scope` claim, a stored
    /// row) that it knows: a name this version does not know grants nothing, rather
    /// than make the token or the credential unreadable.
    #[must_use]
    pub fn known_in(claim: &str) -> Self {
        claim
            .split(' ')
            .filter_map(Scope::parse)
            .fold(Self::NONE, Self::with)
    }

    /// The names, in display order, for an answer or a page.
    #[must_use]
    pub fn to_strings(self) -> Vec<String> {
        self.iter().map(|s| s.as_str().to_owned()).collect()
    }
}

impl fmt::Display for Scopes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, scope) in self.iter().enumerate() {
            if i > 0 {
                f.write_str(" ")?;
            }
            f.write_str(scope.as_str())?;
        }
        Ok(())
    }
}

impl fmt::Debug for Scopes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Scopes({self})")
    }
}

/// A stored list ([`Scopes::known_in`]).
impl From<String> for Scopes {
    fn from(list: String) -> Self {
        Self::known_in(&list)
    }
}

/// Most tool names in a credential's allowed list.
pub const MAX_ALLOWED_TOOLS: usize = 100;
/// Longest tool name, in characters.
pub const TOOL_NAME_MAX_CHARS: usize = 128;

/// The name of a tool a credential can be limited to: not empty, no comma or whitespace
/// (the lists' separators), at most [`TOOL_NAME_MAX_CHARS`] characters, no control
/// character.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ToolName(Box<str>);

impl ToolName {
    /// The name, if a credential can be limited to a tool of this name.
    #[must_use]
    pub fn new(name: &str) -> Option<Self> {
        is_tool_name(name).then(|| Self(name.into()))
    }

    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ToolName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Whether a credential can be limited to a tool of this name ([`ToolName`]).
#[must_use]
pub fn is_tool_name(name: &str) -> bool {
    !name.is_empty()
        && name.chars().count() <= TOOL_NAME_MAX_CHARS
        && !name
            .chars()
            .any(|c| c == ',' || c.is_whitespace() || c.is_control())
}

/// The tools a credential may call at the gateway: at most [`MAX_ALLOWED_TOOLS`]
/// distinct names, in the order given; empty: every tool.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AllowedTools(Vec<ToolName>);

/// A tool list that breaks [`AllowedTools`]'s rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error(
    "at most {MAX_ALLOWED_TOOLS} tool names of at most {TOOL_NAME_MAX_CHARS} characters, without spaces, commas or control characters"
)]
pub struct InvalidTools;

impl AllowedTools {
    /// Every tool.
    pub const EVERY: Self = Self(Vec::new());

    /// Checks names (empty: every tool): each a [`ToolName`], at most
    /// [`MAX_ALLOWED_TOOLS`] once repeats are dropped (the first of each kept).
    pub fn from_names<'a>(names: impl IntoIterator<Item = &'a str>) -> Result<Self, InvalidTools> {
        let mut tools: Vec<ToolName> = Vec::new();
        for name in names {
            let name = ToolName::new(name).ok_or(InvalidTools)?;
            if !tools.contains(&name) {
                tools.push(name);
            }
        }
        if tools.len() > MAX_ALLOWED_TOOLS {
            return Err(InvalidTools);
        }
        Ok(Self(tools))
    }

    /// A comma- (or whitespace-) separated list, as a form or the command line gives it.
    pub fn parse(list: &str) -> Result<Self, InvalidTools> {
        Self::from_names(
            list.split(|c: char| c == ',' || c.is_whitespace())
                .filter(|n| !n.is_empty()),
        )
    }

    /// Whether the credential is limited to some tools (`false`: every tool).
    #[must_use]
    pub fn is_limited(&self) -> bool {
        !self.0.is_empty()
    }

    /// Whether the credential may call the tool `name`.
    #[must_use]
    pub fn allows(&self, name: &str) -> bool {
        self.0.is_empty() || self.0.iter().any(|t| t.as_str() == name)
    }

    /// The names, in order (empty: every tool).
    #[must_use]
    pub fn names(&self) -> &[ToolName] {
        &self.0
    }

    /// The names as strings, for an answer or a page.
    #[must_use]
    pub fn to_strings(&self) -> Vec<String> {
        self.0.iter().map(ToString::to_string).collect()
    }
}

/// Space-separated, as stored.
impl fmt::Display for AllowedTools {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, tool) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(" ")?;
            }
            f.write_str(tool.as_str())?;
        }
        Ok(())
    }
}

/// A stored list (space-separated), as it was stored: a list written before a rule
/// tightened (names over 128 characters were once accepted) keeps limiting the
/// credential to exactly those tools.
impl From<String> for AllowedTools {
    fn from(list: String) -> Self {
        Self(
            list.split_whitespace()
                .map(|name| ToolName(name.into()))
                .collect(),
        )
    }
}

#[cfg(test)]
mod tests {
    #![expect(clippy::unwrap_used, reason = "tests fail loudly")]

    use super::*;

    #[test]
    fn scopes_read_any_order_and_show_in_display_order() {
        let scopes = Scopes::parse("credentials:admin  mcp mcp").unwrap();
        assert_eq!(scopes.to_string(), "mcp credentials:admin");
        assert!(scopes.contains(Scope::Mcp) && !scopes.contains(Scope::Introspect));
        assert_eq!(Scopes::from(scopes.to_string()), scopes);
        assert_eq!(
            Scopes::from("mcp retired".to_owned()),
            Scopes::only(Scope::Mcp)
        );
        assert_eq!(Scopes::parse(""), Ok(Scopes::NONE));
        assert_eq!(
            Scopes::parse("mcp admin"),
            Err(UnknownScope("admin".to_owned()))
        );
        // OAuth's delimiter is the space: a tab is part of a name.
        assert!(Scopes::parse("mcp\tintrospect").is_err());
        assert!(Scopes::only(Scope::Mcp).is_subset(scopes));
        assert!(!Scopes::only(Scope::Introspect).is_subset(scopes));
        assert!(Scopes::NONE.is_subset(Scopes::NONE));
    }

    #[test]
    fn tool_lists_keep_order_drop_repeats_and_refuse_bad_names() {
        let tools = AllowedTools::parse("search, fetch search\nwrite").unwrap();
        assert_eq!(tools.to_string(), "search fetch write");
        assert_eq!(AllowedTools::from(tools.to_string()), tools);
        assert!(tools.allows("fetch") && !tools.allows("delete") && !tools.allows(""));
        assert!(AllowedTools::EVERY.allows("anything"));
        assert!(!AllowedTools::parse(" , ").unwrap().is_limited());
        let long = "x".repeat(TOOL_NAME_MAX_CHARS + 1);
        for bad in [long.as_str(), "a\u{7}b"] {
            assert_eq!(
                AllowedTools::from_names([bad]),
                Err(InvalidTools),
                "{bad:?}"
            );
        }
        let many: Vec<String> = (0..=MAX_ALLOWED_TOOLS).map(|i| format!("t{i}")).collect();
        assert!(AllowedTools::from_names(many.iter().map(String::as_str)).is_err());
        // A list stored before the length rule still limits to exactly its names.
        let stored = AllowedTools::from(format!("{long} b"));
        assert!(stored.allows(&long) && stored.allows("b") && !stored.allows("c"));
        let repeated = vec!["t"; MAX_ALLOWED_TOOLS + 5];
        assert_eq!(AllowedTools::from_names(repeated).unwrap().names().len(), 1);
    }
}
