//! The JSON shapes of the API (request and response bodies), with their
//! OpenAPI schemas. Field names here are a contract with partners and apps.

use canopy_core::ingest::{EventIn, Outcome};
use canopy_core::methodology::{Bound, Methodology};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

/// `POST /v1/users`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateUser {
    /// 3 to 32 characters: lower-case letters, digits, `_`, `.`, `-`.
    pub username: String,
    /// 8 to 256 characters.
    pub password: String,
    /// 1 to 64 characters, shown to friends.
    pub display_name: String,
    /// ISO 3166-2 home region such as `CN-BJ`.
    pub region: String,
    /// Optional district: a GB/T 2260 six-digit county-level code in the region, such as `110108` (Haidian,
    /// Beijing); `invalid_district` otherwise.
    #[serde(default)]
    pub district: Option<String>,
}

/// A newly registered citizen.
#[derive(Debug, Serialize, ToSchema)]
pub struct UserCreated {
    /// Public id (`usr_…`).
    pub id: String,
    /// Login name.
    pub username: String,
    /// Home region.
    pub region: String,
    /// District (GB/T 2260 code), if given.
    pub district: Option<String>,
    /// Name shown to friends.
    pub display_name: String,
}

/// `POST /v1/sessions`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateSession {
    /// Login name.
    pub username: String,
    /// Password.
    pub password: String,
}

/// A session token.
#[derive(Debug, Serialize, ToSchema)]
pub struct SessionCreated {
    /// Opaque bearer token: send `Authorization: Bearer <token>`.
    pub token: String,
    /// When it stops working (RFC 3339).
    pub expires_at: String,
}

/// `GET /v1/me`.
#[derive(Debug, Serialize, ToSchema)]
pub struct Me {
    /// Public id.
    pub id: String,
    /// Login name.
    pub username: String,
    /// Name shown to friends.
    pub display_name: String,
    /// Home region.
    pub region: String,
    /// District: a GB/T 2260 county-level code in the region (`110108`), or null if none was given.
    pub district: Option<String>,
    /// The district's name in Chinese as GB/T 2260 gives it (`海淀区`), or null.
    pub district_name: Option<String>,
    /// The district's city: its GB/T 2260 prefecture code (`110100`; a municipality is one city), or null.
    pub city: Option<String>,
    /// The city's name (`北京市`), or null.
    pub city_name: Option<String>,
    /// Verified reductions, grams of CO2e.
    pub reduction_grams: i64,
    /// Green energy collected (spendable), grams.
    pub energy_grams: i64,
    /// Green energy still in uncollected balls, grams.
    pub balls_grams: i64,
    /// Green energy held for co-planting plans not yet complete, grams.
    pub held_energy_grams: i64,
    /// Money paid for power saved at peak (red packets), fen.
    pub money_fen: i64,
}

/// `POST /v1/partners`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreatePartner {
    /// Display name (1 to 100 characters).
    pub name: String,
    /// Behaviour categories the partner may report.
    pub categories: Vec<String>,
    /// ISO 3166-2 regions the partner operates in: an event may name one of
    /// them (or the citizen's own) as its `region`. Default: none.
    #[serde(default)]
    pub regions: Vec<String>,
}

/// A new partner and its signing secret (shown once; never in `Debug`).
#[derive(Serialize, ToSchema)]
pub struct PartnerCreated {
    /// Public id (`ptn_…`), sent as `Canopy-Partner`.
    pub id: String,
    /// Display name.
    pub name: String,
    /// Permitted categories.
    pub categories: Vec<String>,
    /// Registered regions.
    pub regions: Vec<String>,
    /// The HMAC-SHA256 signing secret. Shown only in this response.
    pub secret: String,
    /// The secret's id (`sec_…`), to retire it after a rotation.
    pub secret_id: String,
}

impl std::fmt::Debug for PartnerCreated {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PartnerCreated").field("id", &self.id).field("secret", &"[redacted]").finish_non_exhaustive()
    }
}

/// A partner's new secret from a rotation (shown once; never in `Debug`).
#[derive(Serialize, ToSchema)]
pub struct SecretIssued {
    /// The secret's id (`sec_…`).
    pub id: String,
    /// The HMAC-SHA256 signing secret. Shown only in this response.
    pub secret: String,
    /// When it was issued.
    pub created_at: String,
}

impl std::fmt::Debug for SecretIssued {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SecretIssued").field("id", &self.id).field("secret", &"[redacted]").finish_non_exhaustive()
    }
}

/// One of a partner's secrets as listed (never the secret itself).
#[derive(Debug, Serialize, ToSchema)]
pub struct SecretView {
    /// The secret's id (`sec_…`).
    pub id: String,
    /// When it was issued.
    pub created_at: String,
    /// When it stops verifying (set when a newer secret was issued).
    pub expires_at: Option<String>,
    /// When it was retired, if it was.
    pub retired_at: Option<String>,
    /// Whether it verifies signatures now.
    pub active: bool,
}

/// `GET /v1/partners/{id}/secrets`.
#[derive(Debug, Serialize, ToSchema)]
pub struct SecretList {
    /// The partner's secrets, oldest first.
    pub secrets: Vec<SecretView>,
}

/// A partner as listed (never with its secret).
#[derive(Debug, Serialize, ToSchema)]
pub struct PartnerView {
    /// Public id.
    pub id: String,
    /// Display name.
    pub name: String,
    /// Permitted categories.
    pub categories: Vec<String>,
    /// Registered regions.
    pub regions: Vec<String>,
    /// When it was created.
    pub created_at: String,
}

/// `GET /v1/partners`.
#[derive(Debug, Serialize, ToSchema)]
pub struct PartnerList {
    /// Every partner.
    pub partners: Vec<PartnerView>,
}

/// `POST /v1/me/consents`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct GrantConsent {
    /// The partner (`ptn_…`).
    pub partner_id: String,
    /// Categories the partner may report for the citizen.
    pub scopes: Vec<String>,
}

/// A link code for the partner.
#[derive(Debug, Serialize, ToSchema)]
pub struct ConsentGranted {
    /// Single-use code the citizen gives the partner; valid 10 minutes.
    pub link_code: String,
    /// When the code expires.
    pub expires_at: String,
    /// The partner.
    pub partner_id: String,
    /// The granted scopes.
    pub scopes: Vec<String>,
}

/// One consent.
#[derive(Debug, Serialize, ToSchema)]
pub struct ConsentView {
    /// The partner.
    pub partner_id: String,
    /// The partner's name.
    pub partner_name: String,
    /// Granted categories.
    pub scopes: Vec<String>,
    /// Whether the consent is in force.
    pub active: bool,
    /// Whether the partner has bound its user reference.
    pub linked: bool,
    /// When it was granted.
    pub granted_at: String,
    /// When it was revoked.
    pub revoked_at: Option<String>,
}

/// `GET /v1/me/consents`.
#[derive(Debug, Serialize, ToSchema)]
pub struct ConsentList {
    /// Every consent, active and revoked.
    pub consents: Vec<ConsentView>,
}

/// `POST /v1/partner/links`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateLink {
    /// The code the citizen got from `POST /v1/me/consents`.
    pub link_code: String,
    /// The partner's own reference for the citizen (1 to 128 bytes, no control characters).
    pub user_ref: String,
}

/// A bound user reference.
#[derive(Debug, Serialize, ToSchema)]
pub struct LinkCreated {
    /// The partner's reference.
    pub user_ref: String,
    /// Categories the partner may report for this citizen.
    pub scopes: Vec<String>,
    /// When it was linked.
    pub linked_at: String,
}

/// `POST /v1/partner/events`: a batch of at most 10,000 events.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EventBatch {
    /// At most 10,000 events.
    pub events: Vec<EventIn>,
}

/// The outcomes of a batch, one per event, in the order sent.
#[derive(Debug, Serialize, ToSchema)]
pub struct EventResults {
    /// One result per event.
    pub results: Vec<Outcome>,
}

/// The event behind a ledger entry.
#[derive(Debug, Serialize, ToSchema)]
pub struct LedgerEvent {
    /// The reporting partner.
    pub partner: String,
    /// The partner's name.
    pub partner_name: Option<String>,
    /// The partner's event id.
    pub id: String,
    /// Behaviour code.
    pub behavior: String,
    /// When the act happened.
    pub occurred_at: String,
    /// The region whose methodology applied.
    pub region: String,
    /// Inputs as reported.
    #[schema(value_type = Object)]
    pub inputs: serde_json::Map<String, Value>,
}

/// The methodology behind a ledger entry.
#[derive(Debug, Serialize, ToSchema)]
pub struct LedgerMethodology {
    /// Methodology id.
    pub id: String,
    /// Version.
    pub version: String,
    /// Title.
    pub title: Option<String>,
    /// The formula that produced the grams.
    pub formula: Option<String>,
}

/// One ledger entry.
#[derive(Debug, Serialize, ToSchema)]
pub struct LedgerEntry {
    /// Entry id: the transfer's sequence number, as text (also the cursor).
    pub id: String,
    /// The transfer's global, gap-free sequence number in commit order.
    pub seq: i64,
    /// When it was posted.
    pub at: String,
    /// The citizen's account: `reduction`, `energy`, …
    pub account: String,
    /// Signed amount in `unit`: positive in, negative out.
    pub grams: i64,
    /// The amount's unit: `g_co2e`, `g_energy`, …
    pub unit: String,
    /// What the transfer is: `reduction_verified`, `energy_issued`, …
    pub kind: String,
    /// Why it was posted.
    pub cause: LedgerCause,
    /// The reported act.
    pub event: Option<LedgerEvent>,
    /// The methodology that quantified it.
    pub methodology: Option<LedgerMethodology>,
    /// The other citizen (`usr_…`) of a transfer between two citizens: the
    /// friend who took from one's ball or watered one, or whose ball one
    /// took from or whom one watered.
    pub counterpart: Option<String>,
}

/// The cause of a ledger entry.
#[derive(Debug, Serialize, ToSchema)]
pub struct LedgerCause {
    /// `event`, `game_action`, `redemption` or `settlement`.
    pub kind: String,
    /// The cause's reference: the partner's event id for an event, the
    /// action's, redemption's or settlement's id otherwise.
    pub reference: String,
}

/// `GET /v1/me/ledger`.
#[derive(Debug, Serialize, ToSchema)]
pub struct LedgerPage {
    /// Entries, newest first.
    pub entries: Vec<LedgerEntry>,
    /// Pass as `cursor` for the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

/// A methodology input.
#[derive(Debug, Serialize, ToSchema)]
pub struct InputView {
    /// Input name.
    pub name: String,
    /// Unit.
    pub unit: String,
    /// `number` or `integer`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Inclusive lower bound.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub minimum: Option<String>,
    /// Exclusive lower bound.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exclusive_minimum: Option<String>,
    /// Inclusive upper bound.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub maximum: Option<String>,
    /// Exclusive upper bound.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exclusive_maximum: Option<String>,
    /// What it means.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

/// A methodology's formula.
#[derive(Debug, Serialize, ToSchema)]
pub struct FormulaView {
    /// Baseline emissions, grams.
    pub baseline: String,
    /// Project emissions, grams.
    pub project: String,
    /// The whole formula: whole grams, rounded down, never negative.
    pub text: String,
}

/// Per-citizen caps.
#[derive(Debug, Serialize, ToSchema)]
pub struct CapsView {
    /// Acts a day.
    pub per_day_count: Option<u32>,
    /// Grams a day.
    pub per_day_grams: Option<i64>,
    /// Acts a month.
    pub per_month_count: Option<u32>,
    /// Grams a month.
    pub per_month_grams: Option<i64>,
}

/// A methodology.
#[derive(Debug, Serialize, ToSchema)]
pub struct MethodologyView {
    /// Id.
    pub id: String,
    /// Version.
    pub version: String,
    /// `id@version`, as named in event results.
    pub key: String,
    /// Title.
    pub title: String,
    /// Issuing authority.
    pub issuer: String,
    /// Source reference.
    pub source: String,
    /// Behaviour code.
    pub behavior: String,
    /// Category.
    pub category: String,
    /// ISO codes or `*`.
    pub regions: Vec<String>,
    /// First day in force.
    pub valid_from: String,
    /// Last day in force.
    pub valid_to: Option<String>,
    /// Inputs.
    pub inputs: Vec<InputView>,
    /// Formula.
    pub formula: FormulaView,
    /// Caps.
    pub caps: CapsView,
    /// The version of the same id this one supersedes, if any.
    pub supersedes: Option<String>,
    /// The version that supersedes this one, if any.
    pub superseded_by: Option<String>,
    /// The last day this version matches events: `valid_to`, or the day
    /// before a superseding version takes effect; `null` = open-ended.
    pub valid_until: Option<String>,
    /// The most grams one event can yield, found at load from the inputs'
    /// bounds.
    pub grams_max: i64,
}

/// `GET /v1/methodologies`.
#[derive(Debug, Serialize, ToSchema)]
pub struct MethodologyList {
    /// Every published methodology.
    pub methodologies: Vec<MethodologyView>,
    /// Every supersession, a recorded fact of its own.
    pub supersessions: Vec<SupersessionView>,
}

/// A supersession: from `from`, `new_version` replaces `old_version`.
#[derive(Debug, Serialize, ToSchema)]
pub struct SupersessionView {
    /// Methodology id.
    pub id: String,
    /// The version superseded.
    pub old_version: String,
    /// The version that supersedes it.
    pub new_version: String,
    /// The first day the new version applies.
    pub from: String,
}

/// `POST /v1/methodologies` as JSON (a raw TOML body works too).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PublishMethodology {
    /// The methodology file's TOML text.
    pub toml: String,
    /// A file name for error messages.
    pub source_name: Option<String>,
}

/// `GET /healthz`.
#[derive(Debug, Serialize, ToSchema)]
pub struct Health {
    /// `ok`.
    pub status: String,
    /// Events waiting for the writer.
    pub queued_events: usize,
}

fn bound_text(bound: &Option<Bound>, exclusive: bool) -> Option<String> {
    bound.as_ref().filter(|b| b.exclusive == exclusive).map(|b| b.value.normalize().to_string())
}

impl From<&Methodology> for MethodologyView {
    fn from(m: &Methodology) -> Self {
        MethodologyView {
            id: m.id.clone(),
            version: m.version.clone(),
            key: m.key(),
            title: m.title.clone(),
            issuer: m.issuer.clone(),
            source: m.source.clone(),
            behavior: m.behavior.clone(),
            category: m.category.to_string(),
            regions: m.regions.iter().map(|r| r.to_string()).collect(),
            valid_from: m.valid_from.to_string(),
            valid_to: m.valid_to.map(|d| d.to_string()),
            inputs: m
                .inputs
                .iter()
                .map(|i| InputView {
                    name: i.name.clone(),
                    unit: i.unit.clone(),
                    kind: i.kind.as_str().to_owned(),
                    minimum: bound_text(&i.minimum, false),
                    exclusive_minimum: bound_text(&i.minimum, true),
                    maximum: bound_text(&i.maximum, false),
                    exclusive_maximum: bound_text(&i.maximum, true),
                    description: i.description.clone(),
                })
                .collect(),
            formula: FormulaView {
                baseline: m.baseline.source().to_owned(),
                project: m.project.source().to_owned(),
                text: m.formula_text(),
            },
            caps: CapsView {
                per_day_count: m.caps.per_day_count,
                per_day_grams: m.caps.per_day_grams,
                per_month_count: m.caps.per_month_count,
                per_month_grams: m.caps.per_month_grams,
            },
            supersedes: m.supersedes.clone(),
            superseded_by: None,
            valid_until: m.valid_to.map(|d| d.to_string()),
            grams_max: m.grams_max,
        }
    }
}

/// One energy ball, as its owner sees it.
#[derive(Debug, Serialize, ToSchema)]
pub struct BallOut {
    /// Public id (`bal_…`).
    pub id: String,
    /// The behaviour whose acts filled it.
    pub behavior: String,
    /// The behaviour's category.
    pub category: String,
    /// All the energy that went into it, grams.
    pub grams: i64,
    /// What is left to collect, grams (0 once collected or expired).
    pub remaining_grams: i64,
    /// `growing`, `ripe`, `collected` or `expired`.
    pub state: String,
    /// When it ripens (RFC 3339).
    pub ripens_at: String,
    /// When it vanishes if not collected (RFC 3339).
    pub expires_at: String,
    /// What friends took from it.
    pub taken: Vec<BallTakenOut>,
}

/// A friend's take from a ball.
#[derive(Debug, Serialize, ToSchema)]
pub struct BallTakenOut {
    /// The friend's public id.
    pub user_id: String,
    /// The friend's display name.
    pub display_name: String,
    /// Grams taken.
    pub grams: i64,
    /// When (RFC 3339).
    pub at: String,
}

/// `GET /v1/me/balls`.
#[derive(Debug, Serialize, ToSchema)]
pub struct BallsOut {
    /// Newest first: every open ball, and those that closed within the last ball lifetime.
    pub balls: Vec<BallOut>,
}

/// `POST /v1/me/balls/{id}/collect`.
#[derive(Debug, Serialize, ToSchema)]
pub struct CollectedOne {
    /// Grams moved into the citizen's energy.
    pub collected_grams: i64,
    /// The citizen's energy afterwards, grams.
    pub energy_grams: i64,
}

/// `POST /v1/me/balls/collect`.
#[derive(Debug, Serialize, ToSchema)]
pub struct CollectedAll {
    /// Grams moved into the citizen's energy.
    pub collected_grams: i64,
    /// Balls collected.
    pub balls: i64,
    /// The citizen's energy afterwards, grams.
    pub energy_grams: i64,
}

/// `POST /v1/me/friends/requests` and `POST /v1/me/blocks`: a citizen by username.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NameCitizen {
    /// The other citizen's login name.
    pub username: String,
}

/// A friend request that was sent.
#[derive(Debug, Serialize, ToSchema)]
pub struct FriendRequestCreated {
    /// The request's id (`frq_…`); when the other citizen's request was
    /// pending, theirs, which this one answered.
    pub id: String,
    /// `pending`, or `accepted` when the other citizen had asked too and
    /// the two are friends now.
    pub status: String,
}

/// A pending friend request.
#[derive(Debug, Serialize, ToSchema)]
pub struct FriendRequestOut {
    /// The request's id (`frq_…`).
    pub id: String,
    /// The other citizen's public id (`usr_…`).
    pub user_id: String,
    /// The other citizen's login name.
    pub username: String,
    /// The other citizen's display name.
    pub display_name: String,
    /// When it was sent (RFC 3339).
    pub created_at: String,
}

/// `GET /v1/me/friends/requests`.
#[derive(Debug, Serialize, ToSchema)]
pub struct FriendRequestsOut {
    /// Requests sent to the citizen, newest first (at most 500).
    pub incoming: Vec<FriendRequestOut>,
    /// Requests the citizen sent that are pending, newest first.
    pub outgoing: Vec<FriendRequestOut>,
}

/// A friend, or a citizen one blocks.
#[derive(Debug, Serialize, ToSchema)]
pub struct FriendOut {
    /// Public id (`usr_…`).
    pub user_id: String,
    /// Login name.
    pub username: String,
    /// Display name.
    pub display_name: String,
    /// Since when (RFC 3339).
    pub since: String,
}

/// `GET /v1/me/friends`.
#[derive(Debug, Serialize, ToSchema)]
pub struct FriendsOut {
    /// Oldest friendship first.
    pub friends: Vec<FriendOut>,
}

/// `GET /v1/me/blocks`.
#[derive(Debug, Serialize, ToSchema)]
pub struct BlocksOut {
    /// The citizens one blocks, oldest block first.
    pub blocks: Vec<FriendOut>,
}

/// `PUT /v1/me/privacy` and `GET /v1/me/privacy`.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PrivacyBody {
    /// Who sees the citizen's balls: `friends` (default) or `nobody`.
    pub forest: String,
    /// Whether friends may take a share of ripe balls (default true; only
    /// when the forest is shown to friends).
    pub friends_may_collect: bool,
}

/// One of a friend's balls.
#[derive(Debug, Serialize, ToSchema)]
pub struct FriendBallOut {
    /// Public id (`bal_…`).
    pub id: String,
    /// The behaviour whose acts filled it.
    pub behavior: String,
    /// The behaviour's category.
    pub category: String,
    /// All the energy that went into it, grams.
    pub grams: i64,
    /// What is left in it, grams.
    pub remaining_grams: i64,
    /// `growing`, `ripe` or `expired` (awaiting the sweep).
    pub state: String,
    /// When it ripens (RFC 3339).
    pub ripens_at: String,
    /// When it vanishes if not collected (RFC 3339).
    pub expires_at: String,
    /// Whether the viewer may take a share now.
    pub may_collect: bool,
    /// The grams the viewer would take now (0 when they may not).
    pub collectable_grams: i64,
    /// Why the viewer may not take now: the code a collect would be refused
    /// with (`ball_not_ripe`, `already_taken`, `ball_protected`, …).
    pub refusal: Option<String>,
}

/// `GET /v1/friends/{user_id}/balls`.
#[derive(Debug, Serialize, ToSchema)]
pub struct FriendBallsOut {
    /// The friend (`usr_…`).
    pub user_id: String,
    /// The friend's open balls, newest first (at most 200).
    pub balls: Vec<FriendBallOut>,
    /// Grams the viewer took from friends on their local day.
    pub taken_today_grams: i64,
    /// The most grams one may take from friends per local day.
    pub daily_limit_grams: i64,
}

/// `POST /v1/friends/{user_id}/balls/{id}/collect`.
#[derive(Debug, Serialize, ToSchema)]
pub struct FriendCollectedOut {
    /// Grams moved into the collector's energy.
    pub collected_grams: i64,
    /// The collector's energy afterwards, grams.
    pub energy_grams: i64,
}

/// `POST /v1/friends/{user_id}/water`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WaterIn {
    /// Grams of one's own energy to give: one of the allowed amounts
    /// (`CANOPY_WATER_AMOUNTS_G`, default 10, 20, 50).
    pub grams: i64,
}

/// What a watering did.
#[derive(Debug, Serialize, ToSchema)]
pub struct WateredOut {
    /// Grams given.
    pub watered_grams: i64,
    /// The giver's energy afterwards, grams.
    pub energy_grams: i64,
    /// Waterings of this friend still allowed on the giver's local day.
    pub waterings_left: i64,
}
