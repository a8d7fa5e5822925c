//! Public ids: internal integers shown with a prefix (`usr_12`, `ptn_3`), so
//! that an id says what it names and the store keeps compact integer keys.

/// The public id of a citizen.
pub fn user(id: i64) -> String {
    format!("usr_{id}")
}

/// The public id of a partner.
pub fn partner(id: i64) -> String {
    format!("ptn_{id}")
}

/// Parses a public partner id.
pub fn parse_partner(text: &str) -> Option<i64> {
    text.strip_prefix("ptn_")?.parse().ok().filter(|id| *id > 0)
}

/// The public id of an energy ball.
pub fn ball(id: i64) -> String {
    format!("bal_{id}")
}

/// Parses a public ball id.
pub fn parse_ball(text: &str) -> Option<i64> {
    text.strip_prefix("bal_")?.parse().ok().filter(|id| *id > 0)
}

/// The public id of a funded pool.
pub fn pool(id: i64) -> String {
    format!("pool_{id}")
}

/// Parses a public pool id.
pub fn parse_pool(text: &str) -> Option<i64> {
    text.strip_prefix("pool_")?.parse().ok().filter(|id| *id > 0)
}

/// The public id of a team challenge.
pub fn challenge(id: i64) -> String {
    format!("chl_{id}")
}

/// Parses a public challenge id.
pub fn parse_challenge(text: &str) -> Option<i64> {
    text.strip_prefix("chl_")?.parse().ok().filter(|id| *id > 0)
}

/// The public id of a challenge team.
pub fn team(id: i64) -> String {
    format!("team_{id}")
}

/// Parses a public team id.
pub fn parse_team(text: &str) -> Option<i64> {
    text.strip_prefix("team_")?.parse().ok().filter(|id| *id > 0)
}

/// The public id of a friend request.
pub fn friend_request(id: i64) -> String {
    format!("frq_{id}")
}

/// Parses a public friend request id.
pub fn parse_friend_request(text: &str) -> Option<i64> {
    text.strip_prefix("frq_")?.parse().ok().filter(|id| *id > 0)
}

/// The public id of a sponsor.
pub fn sponsor(id: i64) -> String {
    format!("spn_{id}")
}

/// Parses a public sponsor id.
pub fn parse_sponsor(text: &str) -> Option<i64> {
    text.strip_prefix("spn_")?.parse().ok().filter(|id| *id > 0)
}

/// The public id of a redeemable project.
pub fn project(id: i64) -> String {
    format!("prj_{id}")
}

/// Parses a public project id.
pub fn parse_project(text: &str) -> Option<i64> {
    text.strip_prefix("prj_")?.parse().ok().filter(|id| *id > 0)
}

/// The public id of a redemption.
pub fn redemption(id: i64) -> String {
    format!("rdm_{id}")
}

/// Parses a public redemption id.
pub fn parse_redemption(text: &str) -> Option<i64> {
    text.strip_prefix("rdm_")?.parse().ok().filter(|id| *id > 0)
}

/// The public id of a campaign.
pub fn campaign(id: i64) -> String {
    format!("cmp_{id}")
}

/// Parses a public campaign id.
pub fn parse_campaign(text: &str) -> Option<i64> {
    text.strip_prefix("cmp_")?.parse().ok().filter(|id| *id > 0)
}

/// The public id of a co-planting plan.
pub fn coplanting(id: i64) -> String {
    format!("cpl_{id}")
}

/// Parses a public co-planting plan id.
pub fn parse_coplanting(text: &str) -> Option<i64> {
    text.strip_prefix("cpl_")?.parse().ok().filter(|id| *id > 0)
}

/// The public id of a demand-response program.
pub fn program(id: i64) -> String {
    format!("prg_{id}")
}

/// Parses a public program id.
pub fn parse_program(text: &str) -> Option<i64> {
    text.strip_prefix("prg_")?.parse().ok().filter(|id| *id > 0)
}

/// The public id of a demand-response event.
pub fn energy_event(id: i64) -> String {
    format!("dre_{id}")
}

/// Parses a public demand-response event id.
pub fn parse_energy_event(text: &str) -> Option<i64> {
    text.strip_prefix("dre_")?.parse().ok().filter(|id| *id > 0)
}

/// The public id of an invitation to an event.
pub fn invitation(id: i64) -> String {
    format!("inv_{id}")
}

/// Parses a public invitation id.
pub fn parse_invitation(text: &str) -> Option<i64> {
    text.strip_prefix("inv_")?.parse().ok().filter(|id| *id > 0)
}

/// The public id of a household's settlement of an event.
pub fn settlement(id: i64) -> String {
    format!("stl_{id}")
}

/// Parses a public settlement id.
pub fn parse_settlement(text: &str) -> Option<i64> {
    text.strip_prefix("stl_")?.parse().ok().filter(|id| *id > 0)
}

/// Parses a public citizen id.
pub fn parse_user(text: &str) -> Option<i64> {
    text.strip_prefix("usr_")?.parse().ok().filter(|id| *id > 0)
}

#[cfg(test)]
mod tests {
    #[test]
    fn ball_and_user_ids_round_trip() {
        assert_eq!(super::parse_ball(&super::ball(7)), Some(7));
        assert_eq!(super::parse_user(&super::user(9)), Some(9));
        assert_eq!(super::parse_pool(&super::pool(4)), Some(4));
        assert_eq!(super::parse_pool("pool_0"), None);
        assert_eq!(super::parse_friend_request(&super::friend_request(4)), Some(4));
        assert_eq!(super::parse_friend_request("usr_4"), None);
        assert_eq!(super::parse_sponsor(&super::sponsor(2)), Some(2));
        assert_eq!(super::parse_project(&super::project(3)), Some(3));
        assert_eq!(super::parse_redemption(&super::redemption(5)), Some(5));
        assert_eq!(super::parse_project("rdm_5"), None);
        assert_eq!(super::parse_campaign(&super::campaign(6)), Some(6));
        for bad in ["7", "bal_", "bal_x", "bal_-1", "bal_0", "usr_7"] {
            assert_eq!(super::parse_ball(bad), None, "{bad}");
        }
    }

    #[test]
    fn partner_ids_round_trip() {
        assert_eq!(super::parse_partner(&super::partner(42)), Some(42));
        for bad in ["42", "ptn_", "ptn_x", "ptn_-1", "ptn_0", "usr_1"] {
            assert_eq!(super::parse_partner(bad), None, "{bad}");
        }
    }
}
