//! Per-tool call limits (SPEC §20): a credential may call each gateway server it is
//! granted at most so many times a minute, overall and per tool (`docs=600`,
//! `deploy:deploy=5`). Counted in memory per instance, in windows of a clock minute; a
//! call over a limit is answered by the gateway itself and never reaches the upstream.
//!
//! N instances allow up to N times each limit (each counts its own calls): the price of
//! asking nothing shared per call.

use std::{
    collections::HashMap,
    fmt,
    sync::{Mutex, PoisonError},
};

use crate::{
    UnixTime,
    grant::{ToolName, is_tool_name},
};

/// Most limits one credential holds.
pub const MAX_LIMITS: usize = 50;
/// The highest limit, in calls per minute.
pub const MAX_PER_MINUTE: u32 = 1_000_000;

/// One limit: calls per minute of one tool (or of all, `tool: None`) at one server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallLimit {
    pub server_id: i64,
    pub tool: Option<ToolName>,
    pub per_minute: u32,
}

/// A credential's limits, at most one per (server, tool).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CallLimits(Vec<CallLimit>);

/// A limit line that does not read, with what was expected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidLimit {
    #[error(
        "write each limit as SERVER=N (all its tools) or SERVER:TOOL=N, N calls per minute from 1 to 1,000,000"
    )]
    Form,
    #[error("\"{0}\" is not an MCP server this credential is granted")]
    Server(String),
    #[error("two limits for the same server and tool")]
    Twice,
    #[error("at most {MAX_LIMITS} limits")]
    TooMany,
}

impl CallLimits {
    /// No limit at all.
    pub const NONE: Self = Self(Vec::new());

    /// Limits as written, one per line or comma-separated (`SLUG=N`, `SLUG:TOOL=N`),
    /// each server among `granted` (`(slug, id)`).
    pub fn parse<'a>(
        lines: impl IntoIterator<Item = &'a str>,
        granted: &[(String, i64)],
    ) -> Result<Self, InvalidLimit> {
        let mut limits = Vec::new();
        for entry in lines
            .into_iter()
            .flat_map(|line| line.split([',', '\n']))
            .map(str::trim)
            .filter(|e| !e.is_empty())
        {
            let (target, n) = entry.rsplit_once('=').ok_or(InvalidLimit::Form)?;
            let per_minute: u32 = n.trim().parse().map_err(|_| InvalidLimit::Form)?;
            if per_minute == 0 || per_minute > MAX_PER_MINUTE {
                return Err(InvalidLimit::Form);
            }
            let (slug, tool) = match target.trim().split_once(':') {
                Some((slug, "*")) => (slug, None),
                Some((slug, tool)) => (slug, Some(ToolName::new(tool).ok_or(InvalidLimit::Form)?)),
                None => (target.trim(), None),
            };
            let server_id = granted
                .iter()
                .find(|(s, _)| s == slug)
                .map(|(_, id)| *id)
                .ok_or_else(|| InvalidLimit::Server(slug.chars().take(64).collect()))?;
            if limits
                .iter()
                .any(|l: &CallLimit| l.server_id == server_id && l.tool == tool)
            {
                return Err(InvalidLimit::Twice);
            }
            limits.push(CallLimit {
                server_id,
                tool,
                per_minute,
            });
            if limits.len() > MAX_LIMITS {
                return Err(InvalidLimit::TooMany);
            }
        }
        Ok(Self(limits))
    }

    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    #[must_use]
    pub fn all(&self) -> &[CallLimit] {
        &self.0
    }

    /// The limits at one server.
    pub fn at(&self, server_id: i64) -> impl Iterator<Item = &CallLimit> {
        self.0.iter().filter(move |l| l.server_id == server_id)
    }

    /// The limits as written, with the servers' slugs (`None`: a server since removed,
    /// left out).
    #[must_use]
    pub fn written(&self, slug: impl Fn(i64) -> Option<String>) -> Vec<String> {
        self.0
            .iter()
            .filter_map(|l| {
                let slug = slug(l.server_id)?;
                Some(match &l.tool {
                    Some(tool) => format!("{slug}:{tool}={}", l.per_minute),
                    None => format!("{slug}={}", l.per_minute),
                })
            })
            .collect()
    }

    /// Only the limits at these servers (a grant removed takes its limits with it).
    #[must_use]
    pub fn only_at(&self, server_ids: &[i64]) -> Self {
        Self(
            self.0
                .iter()
                .filter(|l| server_ids.contains(&l.server_id))
                .cloned()
                .collect(),
        )
    }
}

/// Stored as space-separated `ID=N` and `ID:TOOL=N` (tool names have no whitespace).
impl fmt::Display for CallLimits {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, l) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(" ")?;
            }
            match &l.tool {
                Some(tool) => write!(f, "{}:{tool}={}", l.server_id, l.per_minute)?,
                None => write!(f, "{}={}", l.server_id, l.per_minute)?,
            }
        }
        Ok(())
    }
}

/// Read back from storage; an entry that does not read is left out.
impl From<String> for CallLimits {
    fn from(stored: String) -> Self {
        let limits = stored
            .split_whitespace()
            .filter_map(|entry| {
                let (target, n) = entry.rsplit_once('=')?;
                let per_minute = n.parse().ok()?;
                let (id, tool) = match target.split_once(':') {
                    Some((id, tool)) if is_tool_name(tool) => (id, ToolName::new(tool)),
                    Some(_) => return None,
                    None => (target, None),
                };
                Some(CallLimit {
                    server_id: id.parse().ok()?,
                    tool,
                    per_minute,
                })
            })
            .collect();
        Self(limits)
    }
}

/// A call refused by a limit: which, and when the next minute starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limited {
    /// The tool limited, `None` for the server's overall limit.
    pub tool: Option<String>,
    pub per_minute: u32,
    /// Seconds until the next minute, when calls count from 0 again (1 to 60).
    pub retry_after: i64,
}

impl fmt::Display for Limited {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.tool {
            Some(tool) => write!(
                f,
                "the tool \"{tool}\" is limited to {} calls per minute for this credential; retry in {} s",
                self.per_minute, self.retry_after
            ),
            None => write!(
                f,
                "this MCP server is limited to {} calls per minute for this credential; retry in {} s",
                self.per_minute, self.retry_after
            ),
        }
    }
}

type Key = (i64, i64, Option<Box<str>>);

/// The calls counted this minute, per (credential, server, limited tool or all). Only
/// limits that exist make entries, so what a caller sends cannot grow it; entries of a
/// past minute are dropped as the minute turns.
#[derive(Default)]
pub struct CallCounter {
    counts: Mutex<Counts>,
}

#[derive(Default)]
struct Counts {
    minute: i64,
    calls: HashMap<Key, u32>,
}

impl CallCounter {
    /// Counts a request of credential `credential_id` at `server_id` calling `tools`
    /// (one entry per `tools/call`; none for other requests, which only the overall
    /// limit counts, as one call) against `limits` at `now`. Nothing is counted when a
    /// limit refuses it.
    pub fn take(
        &self,
        credential_id: i64,
        server_id: i64,
        tools: &[&str],
        limits: &CallLimits,
        now: UnixTime,
    ) -> Result<(), Limited> {
        let mut applicable = limits.at(server_id).peekable();
        if applicable.peek().is_none() {
            return Ok(());
        }
        let minute = now.div_euclid(60);
        let retry_after = 60 - now.rem_euclid(60);
        let mut counts = self.counts.lock().unwrap_or_else(PoisonError::into_inner);
        if counts.minute != minute {
            counts.minute = minute;
            counts.calls.clear();
        }
        let mut wanted: Vec<(Key, u32)> = Vec::new();
        for limit in applicable {
            let (calls, tool) = match &limit.tool {
                None => (u32::try_from(tools.len().max(1)).unwrap_or(u32::MAX), None),
                Some(tool) => {
                    let n = tools.iter().filter(|t| **t == tool.as_str()).count();
                    (u32::try_from(n).unwrap_or(u32::MAX), Some(tool.as_str()))
                }
            };
            if calls == 0 {
                continue;
            }
            let key = (credential_id, server_id, tool.map(Box::from));
            let used = counts.calls.get(&key).copied().unwrap_or(0);
            if used.saturating_add(calls) > limit.per_minute {
                return Err(Limited {
                    tool: tool.map(str::to_owned),
                    per_minute: limit.per_minute,
                    retry_after,
                });
            }
            wanted.push((key, used + calls));
        }
        for (key, total) in wanted {
            counts.calls.insert(key, total);
        }
        Ok(())
    }

    /// This minute's use of each of `limits` by `credential_id`, in their order.
    #[must_use]
    pub fn used(&self, credential_id: i64, limits: &CallLimits, now: UnixTime) -> Vec<u32> {
        let counts = self.counts.lock().unwrap_or_else(PoisonError::into_inner);
        limits
            .all()
            .iter()
            .map(|l| {
                if counts.minute != now.div_euclid(60) {
                    return 0;
                }
                let key = (
                    credential_id,
                    l.server_id,
                    l.tool.as_ref().map(|t| Box::from(t.as_str())),
                );
                counts.calls.get(&key).copied().unwrap_or(0)
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    #![expect(clippy::unwrap_used, reason = "tests fail loudly")]

    use super::*;

    fn granted() -> Vec<(String, i64)> {
        vec![("docs".into(), 1), ("ops".into(), 2)]
    }

    #[test]
    fn limits_read_as_written_and_refuse_what_is_not_a_limit() {
        let limits =
            CallLimits::parse(["docs=600, ops:deploy=5", "ops:*=100"], &granted()).unwrap();
        assert_eq!(limits.all().len(), 3);
        let slug = |id: i64| Some(if id == 1 { "docs" } else { "ops" }.to_owned());
        assert_eq!(
            limits.written(slug),
            ["docs=600", "ops:deploy=5", "ops=100"]
        );
        // Stored and read back.
        assert_eq!(CallLimits::from(limits.to_string()), limits);
        for bad in [
            "docs",
            "docs=0",
            "docs=x",
            "docs=1000001",
            "docs:a b=1",
            "docs:=3",
        ] {
            assert_eq!(
                CallLimits::parse([bad], &granted()),
                Err(InvalidLimit::Form),
                "{bad}"
            );
        }
        assert_eq!(
            CallLimits::parse(["other=5"], &granted()),
            Err(InvalidLimit::Server("other".into()))
        );
        assert_eq!(
            CallLimits::parse(["docs=5", "docs:*=6"], &granted()),
            Err(InvalidLimit::Twice)
        );
        let many: Vec<String> = (0..=MAX_LIMITS).map(|i| format!("docs:t{i}=1")).collect();
        assert_eq!(
            CallLimits::parse(many.iter().map(String::as_str), &granted()),
            Err(InvalidLimit::TooMany)
        );
        assert_eq!(
            CallLimits::parse(["", " , "], &granted()),
            Ok(CallLimits::NONE)
        );
    }

    #[test]
    fn the_third_call_of_a_tool_limited_to_two_waits_for_the_next_minute() {
        let limits = CallLimits::parse(["docs:deploy=2", "docs=10"], &granted()).unwrap();
        let counter = CallCounter::default();
        // 15 s into a minute.
        let now = 30_000_000 * 60 + 15;
        assert_eq!(counter.take(7, 1, &["deploy"], &limits, now), Ok(()));
        assert_eq!(counter.take(7, 1, &["deploy"], &limits, now + 1), Ok(()));
        let refused = counter
            .take(7, 1, &["deploy"], &limits, now + 2)
            .unwrap_err();
        assert_eq!(refused.tool.as_deref(), Some("deploy"));
        assert_eq!((refused.per_minute, refused.retry_after), (2, 43));
        // Another tool, another credential, another server: unaffected.
        assert_eq!(counter.take(7, 1, &["search"], &limits, now + 2), Ok(()));
        assert_eq!(counter.take(8, 1, &["deploy"], &limits, now + 2), Ok(()));
        assert_eq!(counter.take(7, 2, &["deploy"], &limits, now + 2), Ok(()));
        // The refused call was not counted: deploy 2, all 3 (2 deploys and a search).
        assert_eq!(counter.used(7, &limits, now + 2), [2, 3]);
        // The next minute counts from 0.
        assert_eq!(counter.take(7, 1, &["deploy"], &limits, now + 45), Ok(()));
        assert_eq!(counter.used(7, &limits, now + 45), [1, 1]);
        // A batch of calls counts each; over the overall limit, none is counted.
        let calls = ["a"; 9];
        assert_eq!(counter.take(7, 1, &calls, &limits, now + 46), Ok(()));
        assert!(counter.take(7, 1, &["a"], &limits, now + 46).is_err());
        assert_eq!(counter.used(7, &limits, now + 46), [1, 10]);
    }

    #[test]
    fn requests_that_call_no_tool_count_once_against_the_overall_limit() {
        let limits = CallLimits::parse(["docs=1"], &granted()).unwrap();
        let counter = CallCounter::default();
        assert_eq!(counter.take(1, 1, &[], &limits, 60), Ok(()));
        assert!(counter.take(1, 1, &[], &limits, 61).is_err());
        // Without limits at a server nothing is counted or kept.
        assert_eq!(counter.take(1, 2, &["x"; 3], &limits, 61), Ok(()));
        assert_eq!(counter.counts.lock().unwrap().calls.len(), 1);
    }
}
