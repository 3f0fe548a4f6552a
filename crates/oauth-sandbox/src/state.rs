//! The sandbox's mutable state: apps, codes, grants, tokens, clock, faults, log, counters.

use std::collections::HashSet;
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use jsonwebtoken::EncodingKey;

use crate::consent::{Consent, TeamInfo, default_team_name};
use crate::events::{Events, PendingEvent};
use crate::installs::InstallRec;
use crate::limits::{Connections, Limits};
use crate::model::{App, Counters, ExternalToken, Fault, FaultKind, RecordedRequest, Stats};

/// Authorization code lifetime: 10 minutes.
pub(crate) const CODE_TTL_SECS: i64 = 600;
/// Slack rotating access-token lifetime.
pub(crate) const SLACK_ACCESS_TTL_SECS: i64 = 43_200;
/// Slack PKCE refresh-token lifetime: 30 days.
pub(crate) const PKCE_REFRESH_TTL_SECS: i64 = 30 * 24 * 3600;

/// How the Notion token endpoint words an `invalid_grant`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum NotionGrantErrorStyle {
    /// `{"error":"invalid_grant","error_description":"…","request_id":"…"}` (default; the
    /// reference's recommendation).
    #[default]
    OAuth,
    /// The Notion envelope `{"object":"error","status":400,"code":"invalid_grant",…}`.
    Envelope,
}

/// Which authorize endpoint issued a code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Flow {
    Notion,
    SlackV2,
    /// `/oauth/v2_user/authorize`: user scopes only, exchanged at `oauth.v2.user.access`.
    SlackV2User,
    SlackV1,
    SlackOidc,
}

/// The identity a consent resolved to.
#[derive(Debug, Clone)]
pub(crate) struct Identity {
    pub(crate) team_id: String,
    pub(crate) team_name: String,
    pub(crate) user_id: String,
    pub(crate) user_name: String,
    pub(crate) user_email: String,
    pub(crate) enterprise: Option<(String, String)>,
    /// Slack: an org-wide install of `enterprise` (`team: null` in the v2 answers).
    pub(crate) org_wide: bool,
    pub(crate) teams: Vec<TeamInfo>,
}

#[derive(Debug, Clone)]
pub(crate) struct CodeRec {
    pub(crate) client_id: String,
    pub(crate) flow: Flow,
    pub(crate) redirect_uri: Option<String>,
    pub(crate) effective_redirect: String,
    pub(crate) scopes: Vec<String>,
    pub(crate) user_scopes: Vec<String>,
    pub(crate) challenge: Option<String>,
    pub(crate) nonce: Option<String>,
    pub(crate) identity: Identity,
    pub(crate) issued_at: i64,
    pub(crate) used: bool,
    /// When it was made, in real time (for [`Limits::state_retention`]).
    pub(crate) born: Instant,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum GrantKind {
    Notion,
    SlackBot,
    SlackUser,
}

#[derive(Debug, Clone)]
pub(crate) struct Grant {
    pub(crate) client_id: String,
    pub(crate) kind: GrantKind,
    pub(crate) identity: Identity,
    pub(crate) scopes: Vec<String>,
    pub(crate) rotating: bool,
    pub(crate) pkce: bool,
    /// Access tokens minted for this grant, oldest first.
    pub(crate) access: Vec<String>,
    /// The long-lived token that `oauth.v2.exchange` migrated, expired at the first refresh.
    pub(crate) legacy_token: Option<String>,
    pub(crate) exchanged: bool,
    pub(crate) revoked: bool,
    /// Notion: bot id; Slack: bot user id / bot id.
    pub(crate) bot_id: String,
    pub(crate) bot_user_id: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TokenKind {
    Access,
    Refresh,
}

#[derive(Debug, Clone)]
pub(crate) struct TokenRec {
    pub(crate) kind: TokenKind,
    pub(crate) grant: usize,
    pub(crate) issued_at: i64,
    pub(crate) expires_at: Option<i64>,
    pub(crate) revoked: bool,
    pub(crate) used_at: Option<i64>,
    /// The (access, refresh) pair this refresh token minted.
    pub(crate) replay: Option<(String, String)>,
    /// When it was made, in real time (for [`Limits::state_retention`]).
    pub(crate) born: Instant,
}

/// Why a token does not work.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TokenState {
    Live,
    Unknown,
    Revoked,
    Expired,
}

#[derive(Debug)]
pub(crate) struct Inner {
    pub(crate) apps: HashMap<String, App>,
    pub(crate) codes: HashMap<String, CodeRec>,
    pub(crate) grants: Vec<Grant>,
    pub(crate) tokens: HashMap<String, TokenRec>,
    /// Slack installations, one per (app, team) or, org-wide, per (app, enterprise).
    pub(crate) installs: Vec<InstallRec>,
    pub(crate) consents: VecDeque<Consent>,
    pub(crate) faults: HashMap<String, VecDeque<(FaultKind, u32)>>,
    pub(crate) log: VecDeque<RecordedRequest>,
    pub(crate) limits: Limits,
    /// When dead state was last looked for.
    last_sweep: Instant,
    pub(crate) seq: u64,
    pub(crate) counters: Counters,
    pub(crate) clock_offset: i64,
    pub(crate) external: Vec<ExternalToken>,
    pub(crate) rng: u64,
    /// Events built by the request (or control call) being processed, handed to
    /// [`Shared::events`] once it is done.
    pub(crate) outbox: Vec<PendingEvent>,
}

/// State shared by the server tasks and the control API.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) inner: Mutex<Inner>,
    pub(crate) base_url: String,
    pub(crate) jwt_key: EncodingKey,
    pub(crate) notion_grant_style: NotionGrantErrorStyle,
    pub(crate) connections: Arc<Connections>,
    /// Event delivery to the apps' request URLs.
    pub(crate) events: Arc<Events>,
}

impl Shared {
    /// Locks the state; a poisoned lock (a panic elsewhere) is recovered, never propagated.
    pub(crate) fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Sends the events `inner`'s last operation built (in the background).
    pub(crate) fn flush_events(&self, inner: &mut Inner) {
        if !inner.outbox.is_empty() {
            self.events.send(std::mem::take(&mut inner.outbox));
        }
    }
}

fn real_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

impl Inner {
    pub(crate) fn new(apps: Vec<App>, limits: Limits) -> Self {
        let mut seed = [0u8; 8];
        // Randomness only makes tokens unpredictable across runs; a failure falls back to the time.
        if getrandom::fill(&mut seed).is_err() {
            seed = real_now().to_le_bytes();
        }
        let mut inner = Self {
            apps: HashMap::new(),
            codes: HashMap::new(),
            grants: Vec::new(),
            tokens: HashMap::new(),
            installs: Vec::new(),
            consents: VecDeque::new(),
            faults: HashMap::new(),
            log: VecDeque::new(),
            limits,
            last_sweep: Instant::now(),
            seq: 0,
            counters: Counters::default(),
            clock_offset: 0,
            external: Vec::new(),
            rng: u64::from_le_bytes(seed) | 1,
            outbox: Vec::new(),
        };
        for app in apps {
            if app.provider == crate::model::Provider::Slack {
                inner.external.push(ExternalToken {
                    external_token_id: format!("Et{}", app.app_id.trim_start_matches('A')),
                    client_id: app.client_id.clone(),
                    provider_key: "salesforce".into(),
                    external_token: "00D3j00000025Zh!AQ4AQSandboxExternalToken.opF6L9".into(),
                });
            }
            inner.apps.insert(app.client_id.clone(), app);
        }
        inner
    }

    /// The sandbox clock, Unix seconds.
    pub(crate) fn now(&self) -> i64 {
        real_now().saturating_add(self.clock_offset)
    }

    /// The identity the next authorize consents with (consumes a queued consent), or `None` when
    /// the queued consent denies.
    pub(crate) fn take_consent(
        &mut self,
        client_id: &str,
        notion: bool,
        team_hint: Option<&str>,
    ) -> Option<Identity> {
        let c = self
            .consents
            .iter()
            .position(|c| c.client_id.as_deref().is_none_or(|id| id == client_id))
            .and_then(|i| self.consents.remove(i))
            .unwrap_or_default();
        if c.deny {
            return None;
        }
        let (def_team, def_team_name, def_user) = if notion {
            (
                "6f9c1f44-8d0b-4c1d-9d57-2b8c1d3e4f50",
                "Sandbox Notion Workspace",
                "7c2d4b1e-3f5a-4c6b-8d9e-0a1b2c3d4e5f",
            )
        } else {
            ("T0SANDBOX1", "Sandbox Workspace", "U0SANDBOX1")
        };
        let org_wide = c.is_enterprise_install && !notion;
        let first_listed = org_wide.then(|| c.teams.first().map(|t| t.id.clone()));
        let team_id = c
            .team_id
            .or_else(|| team_hint.map(str::to_owned))
            .or(first_listed.flatten())
            .unwrap_or_else(|| def_team.to_owned());
        let team_name = c.team_name.unwrap_or_else(|| {
            if team_id == def_team {
                def_team_name.to_owned()
            } else {
                c.teams
                    .iter()
                    .find(|t| t.id == team_id)
                    .map_or_else(|| default_team_name(&team_id), |t| t.name.clone())
            }
        });
        let enterprise = match (c.enterprise_id, org_wide) {
            (Some(id), _) => Some((
                id,
                c.enterprise_name
                    .unwrap_or_else(|| "Sandbox Enterprise".into()),
            )),
            (None, true) => Some(("E0SANDBOX1".into(), "Sandbox Enterprise".into())),
            (None, false) => None,
        };
        Some(Identity {
            team_id,
            team_name,
            user_id: c.user_id.unwrap_or_else(|| def_user.to_owned()),
            user_name: c.user_name.unwrap_or_else(|| "Ada Lovelace".into()),
            user_email: c.user_email.unwrap_or_else(|| "ada@example.com".into()),
            enterprise,
            org_wide,
            teams: c.teams,
        })
    }

    pub(crate) fn new_grant(&mut self, grant: Grant) -> usize {
        self.grants.push(grant);
        self.grants.len() - 1
    }

    pub(crate) fn add_token(
        &mut self,
        token: &str,
        kind: TokenKind,
        grant: usize,
        ttl: Option<i64>,
    ) {
        let now = self.now();
        self.tokens.insert(
            token.to_owned(),
            TokenRec {
                kind,
                grant,
                issued_at: now,
                expires_at: ttl.map(|t| now + t),
                revoked: false,
                used_at: None,
                replay: None,
                born: Instant::now(),
            },
        );
        if kind == TokenKind::Access
            && let Some(g) = self.grants.get_mut(grant)
        {
            g.access.push(token.to_owned());
        }
    }

    /// State of a token of the given kind.
    pub(crate) fn token_state(&self, token: &str, kind: TokenKind) -> (TokenState, Option<usize>) {
        let Some(rec) = self.tokens.get(token) else {
            return (TokenState::Unknown, None);
        };
        if rec.kind != kind {
            return (TokenState::Unknown, None);
        }
        let grant_revoked = self.grants.get(rec.grant).is_none_or(|g| g.revoked);
        if rec.revoked || grant_revoked {
            return (TokenState::Revoked, Some(rec.grant));
        }
        if rec.expires_at.is_some_and(|e| self.now() >= e) {
            return (TokenState::Expired, Some(rec.grant));
        }
        (TokenState::Live, Some(rec.grant))
    }

    pub(crate) fn revoke_token(&mut self, token: &str) {
        if let Some(rec) = self.tokens.get_mut(token) {
            rec.revoked = true;
        }
    }

    pub(crate) fn revoke_grant(&mut self, grant: usize) {
        if let Some(g) = self.grants.get_mut(grant) {
            g.revoked = true;
        }
    }

    /// Keeps at most `max` live access tokens for the grant, revoking the oldest.
    pub(crate) fn enforce_live_limit(&mut self, grant: usize, max: usize) {
        let Some(g) = self.grants.get(grant) else {
            return;
        };
        let now = self.now();
        let live: Vec<String> = g
            .access
            .iter()
            .filter(|t| {
                self.tokens
                    .get(t.as_str())
                    .is_some_and(|r| !r.revoked && r.expires_at.is_none_or(|e| now < e))
            })
            .cloned()
            .collect();
        if live.len() > max {
            for t in &live[..live.len() - max] {
                self.revoke_token(t);
            }
        }
        // Forget revoked or expired tokens from the grant's list to keep it short.
        let tokens = &self.tokens;
        if let Some(g) = self.grants.get_mut(grant) {
            g.access.retain(|t| {
                tokens
                    .get(t.as_str())
                    .is_some_and(|r| !r.revoked && r.expires_at.is_none_or(|e| now < e))
            });
        }
    }

    /// Pops the fault for `path`, if one is queued.
    pub(crate) fn take_fault(&mut self, path: &str) -> Option<FaultKind> {
        let q = self.faults.get_mut(path)?;
        let (kind, left) = q.front_mut()?;
        let kind = kind.clone();
        *left = left.saturating_sub(1);
        if *left == 0 {
            q.pop_front();
        }
        if q.is_empty() {
            self.faults.remove(path);
        }
        Some(kind)
    }

    pub(crate) fn add_fault(&mut self, fault: Fault) {
        if fault.count == 0 {
            return;
        }
        self.faults
            .entry(fault.path)
            .or_default()
            .push_back((fault.kind, fault.count));
    }

    pub(crate) fn list_faults(&self) -> Vec<Fault> {
        let mut out: Vec<Fault> = self
            .faults
            .iter()
            .flat_map(|(p, q)| {
                q.iter().map(|(k, c)| Fault {
                    path: p.clone(),
                    kind: k.clone(),
                    count: *c,
                })
            })
            .collect();
        out.sort_by(|a, b| a.path.cmp(&b.path));
        out
    }

    pub(crate) fn count_op(&mut self, app: Option<&str>, op: &str, ok: bool) {
        let e = self
            .counters
            .per_operation
            .entry(op.to_owned())
            .or_default();
        e.requests += 1;
        e.succeeded += u64::from(ok);
        if let Some(app) = app {
            let e = self
                .counters
                .per_app
                .entry(app.to_owned())
                .or_default()
                .entry(op.to_owned())
                .or_default();
            e.requests += 1;
            e.succeeded += u64::from(ok);
        }
    }

    pub(crate) fn record(&mut self, mut req: RecordedRequest) {
        self.seq += 1;
        req.seq = self.seq;
        self.counters.total_requests += 1;
        *self.counters.per_path.entry(req.path.clone()).or_default() += 1;
        if let Some(f) = &req.fault {
            *self.counters.faults_applied.entry(f.clone()).or_default() += 1;
        }
        if self.limits.request_log_capacity == 0 {
            return;
        }
        req.body_len = req.body.len();
        req.body.truncate(self.limits.request_log_body_bytes);
        req.body.shrink_to_fit();
        while self.log.len() >= self.limits.request_log_capacity {
            self.log.pop_front();
        }
        self.log.push_back(req);
    }

    /// Forgets dead state older than [`Limits::state_retention`], at most once a second (every
    /// time when the retention is shorter).
    pub(crate) fn expire_old_state(&mut self) {
        let retention = self.limits.state_retention;
        if self.last_sweep.elapsed() < retention.min(Duration::from_secs(1)) {
            return;
        }
        self.last_sweep = Instant::now();
        let now = self.now();
        self.codes.retain(|_, code| {
            let dead = code.used || now - code.issued_at >= CODE_TTL_SECS;
            !(dead && code.born.elapsed() >= retention)
        });
        let dead: Vec<String> = self
            .tokens
            .iter()
            .filter(|(token, rec)| rec.born.elapsed() >= retention && self.is_dead(token, rec, now))
            .map(|(token, _)| token.clone())
            .collect();
        for token in dead {
            self.tokens.remove(&token);
        }
        // A grant no token leads to any more cannot be reached: keep only its place (grants are
        // numbered by their position), not its contents.
        let reachable: HashSet<usize> = self.tokens.values().map(|rec| rec.grant).collect();
        for (index, grant) in self.grants.iter_mut().enumerate() {
            if !reachable.contains(&index) && !grant.is_forgotten() {
                grant.forget();
            }
        }
    }

    /// Whether a token can no longer be used: revoked, expired, of a revoked grant, or a spent
    /// refresh token past its app's grace period.
    fn is_dead(&self, token: &str, rec: &TokenRec, now: i64) -> bool {
        if self.token_state(token, rec.kind).0 != TokenState::Live {
            return true;
        }
        let Some(used_at) = rec.used_at else {
            return false;
        };
        let grace = self
            .grants
            .get(rec.grant)
            .and_then(|g| self.apps.get(&g.client_id))
            .map_or(0, |app| {
                i64::try_from(app.refresh_grace_secs).unwrap_or(i64::MAX)
            });
        now >= used_at.saturating_add(grace)
    }

    /// The sizes of the state and the log, and the connection gauges.
    pub(crate) fn stats(&self, connections: &Connections) -> Stats {
        let (open, peak, refused) = connections.read();
        Stats {
            codes: self.codes.len(),
            tokens: self.tokens.len(),
            grants: self.grants.iter().filter(|g| !g.is_forgotten()).count(),
            installations: self.installs.len(),
            log_entries: self.log.len(),
            log_body_bytes: self.log.iter().map(|r| r.body.len()).sum(),
            connections_open: open,
            connections_peak: peak,
            connections_refused: refused,
            event_log_entries: 0,
            events_pending: 0,
        }
    }
}

impl Grant {
    /// Drops what the grant holds (it stays in its place, revoked).
    fn forget(&mut self) {
        self.revoked = true;
        self.access = Vec::new();
        self.scopes = Vec::new();
        self.legacy_token = None;
        self.identity = Identity {
            team_id: String::new(),
            team_name: String::new(),
            user_id: String::new(),
            user_name: String::new(),
            user_email: String::new(),
            enterprise: None,
            org_wide: false,
            teams: Vec::new(),
        };
        self.client_id = String::new();
        self.bot_id = String::new();
        self.bot_user_id = String::new();
    }

    fn is_forgotten(&self) -> bool {
        self.revoked && self.client_id.is_empty()
    }
}
