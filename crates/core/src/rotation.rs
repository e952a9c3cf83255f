//! Key rotation policies: when a key gets a new version by itself, when its owners are told it will expire,
//! and how long each new version lives. Durations are ISO 8601 (`P90D`, `P1Y`, `PT12H`); a month counts as
//! 30 days and a year as 365, which is all the precision a rotation schedule needs.

use crate::error::{Error, Result};

const DAY: i64 = 86_400;

/// The shortest `expiryTime` Key Vault accepts.
const SHORTEST_EXPIRY: i64 = 28 * DAY;

/// The shortest trigger Key Vault accepts: rotation at least 7 days after creation and at least 7 days before
/// expiry (and so, with an `expiryTime`, at most `expiryTime` less 7 days after creation).
const SHORTEST_TRIGGER: i64 = 7 * DAY;

/// An ISO 8601 duration, kept as written and as seconds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IsoDuration {
    text: String,
    seconds: i64,
}

impl IsoDuration {
    /// Parses `PnYnMnWnDTnHnMnS` (at least one part, whole numbers).
    pub fn parse(text: &str) -> Result<Self> {
        let invalid =
            || Error::invalid_input(format_args!("'{text}' is not an ISO 8601 duration such as P90D, P1Y6M or PT12H."));
        let body = text.strip_prefix('P').ok_or_else(invalid)?;
        let (date, time) = match body.split_once('T') {
            Some((date, time)) if !time.is_empty() => (date, Some(time)),
            Some(_) => return Err(invalid()),
            None => (body, None),
        };
        let mut seconds: i64 = 0;
        let mut parts = 0;
        for (section, units) in [
            (date, &[('Y', 365 * DAY), ('M', 30 * DAY), ('W', 7 * DAY), ('D', DAY)][..]),
            (time.unwrap_or_default(), &[('H', 3_600), ('M', 60), ('S', 1)][..]),
        ] {
            let mut rest = section;
            let mut allowed = units;
            while !rest.is_empty() {
                let digits = rest.find(|c: char| !c.is_ascii_digit()).ok_or_else(invalid)?;
                let number: i64 = rest[..digits].parse().map_err(|_| invalid())?;
                let designator = rest[digits..].chars().next().ok_or_else(invalid)?;
                // Each designator once, in order.
                let position = allowed.iter().position(|(d, _)| *d == designator).ok_or_else(invalid)?;
                let unit = allowed[position].1;
                allowed = &allowed[position + 1..];
                seconds = number.checked_mul(unit).and_then(|s| s.checked_add(seconds)).ok_or_else(invalid)?;
                parts += 1;
                rest = &rest[digits + designator.len_utf8()..];
            }
        }
        if parts == 0 {
            return Err(invalid());
        }
        Ok(Self { text: text.to_owned(), seconds })
    }

    /// As written.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// In seconds.
    pub fn seconds(&self) -> i64 {
        self.seconds
    }
}

/// What a lifetime action does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ActionType {
    /// Make a new version.
    Rotate,
    /// Tell the key's owners that it will expire.
    Notify,
}

impl ActionType {
    /// The action named `text`, any case.
    pub fn parse(text: &str) -> Result<Self> {
        match text.to_ascii_lowercase().as_str() {
            "rotate" => Ok(ActionType::Rotate),
            "notify" => Ok(ActionType::Notify),
            _ => Err(Error::invalid_input(format_args!(
                "The lifetime action '{text}' is not supported: use Rotate or Notify."
            ))),
        }
    }

    /// Key Vault's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            ActionType::Rotate => "Rotate",
            ActionType::Notify => "Notify",
        }
    }
}

/// When a lifetime action happens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Trigger {
    /// This long after the newest version was created.
    AfterCreate(IsoDuration),
    /// This long before the newest version expires.
    BeforeExpiry(IsoDuration),
}

/// One lifetime action: what, and when.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LifetimeAction {
    /// When.
    pub trigger: Trigger,
    /// What.
    pub action: ActionType,
}

/// A key's rotation policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RotationPolicy {
    /// The actions, at most one of each type.
    pub lifetime_actions: Vec<LifetimeAction>,
    /// How long each new version lives; `None`: new versions do not expire.
    pub expiry_time: Option<IsoDuration>,
}

impl RotationPolicy {
    /// The policy of a key nobody gave one: tell the owners 30 days before the key expires.
    pub fn default_policy() -> Self {
        Self {
            lifetime_actions: vec![LifetimeAction {
                trigger: Trigger::BeforeExpiry(IsoDuration { text: "P30D".into(), seconds: 30 * DAY }),
                action: ActionType::Notify,
            }],
            expiry_time: None,
        }
    }

    /// A policy, checked as Key Vault checks it.
    pub fn new(lifetime_actions: Vec<LifetimeAction>, expiry_time: Option<IsoDuration>) -> Result<Self> {
        for kind in [ActionType::Rotate, ActionType::Notify] {
            if lifetime_actions.iter().filter(|a| a.action == kind).count() > 1 {
                return Err(Error::invalid_input(format_args!(
                    "A rotation policy has at most one {} action.",
                    kind.as_str()
                )));
            }
        }
        for action in &lifetime_actions {
            let duration = match &action.trigger {
                Trigger::AfterCreate(d) => {
                    if action.action == ActionType::Notify {
                        return Err(Error::invalid_input(
                            "A Notify action is triggered by timeBeforeExpiry, not timeAfterCreate.",
                        ));
                    }
                    d
                }
                Trigger::BeforeExpiry(d) => d,
            };
            if duration.seconds < SHORTEST_TRIGGER {
                return Err(Error::invalid_input(format_args!(
                    "The trigger '{}' is too short: timeAfterCreate and timeBeforeExpiry are at least 7 days (P7D).",
                    duration.as_str()
                )));
            }
            match (&action.trigger, &expiry_time) {
                (Trigger::BeforeExpiry(before), Some(expiry)) if before.seconds >= expiry.seconds => {
                    return Err(Error::invalid_input("timeBeforeExpiry must be shorter than the policy's expiryTime."));
                }
                (Trigger::AfterCreate(after), Some(expiry)) if after.seconds > expiry.seconds - SHORTEST_TRIGGER => {
                    return Err(Error::invalid_input(
                        "timeAfterCreate must leave at least 7 days before the policy's expiryTime.",
                    ));
                }
                _ => {}
            }
        }
        if expiry_time.as_ref().is_some_and(|e| e.seconds < SHORTEST_EXPIRY) {
            return Err(Error::invalid_input("The expiryTime of a rotation policy is at least 28 days (P28D)."));
        }
        Ok(Self { lifetime_actions, expiry_time })
    }

    /// When the action of `kind` is due for a version created at `created` that expires at `expires`, if ever.
    fn due_at(&self, kind: ActionType, created: i64, expires: Option<i64>) -> Option<i64> {
        let action = self.lifetime_actions.iter().find(|a| a.action == kind)?;
        match &action.trigger {
            Trigger::AfterCreate(after) => Some(created.saturating_add(after.seconds)),
            Trigger::BeforeExpiry(before) => expires.map(|exp| exp.saturating_sub(before.seconds)),
        }
    }

    /// Whether the newest version, created at `created` and expiring at `expires`, is due for rotation at `now`.
    pub fn rotation_due(&self, created: i64, expires: Option<i64>, now: i64) -> bool {
        self.due_at(ActionType::Rotate, created, expires).is_some_and(|at| now >= at)
    }

    /// Whether the owners are due a notice at `now` about the newest version.
    pub fn notice_due(&self, created: i64, expires: Option<i64>, now: i64) -> bool {
        self.due_at(ActionType::Notify, created, expires).is_some_and(|at| now >= at)
    }

    /// The expiry of a version made at `now` under this policy.
    pub fn new_version_expiry(&self, now: i64) -> Option<i64> {
        self.expiry_time.as_ref().map(|e| now.saturating_add(e.seconds))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn duration(text: &str) -> Result<IsoDuration> {
        IsoDuration::parse(text)
    }

    #[test]
    fn durations_parse_as_iso_8601_says() -> Result<()> {
        assert_eq!(duration("P90D")?.seconds(), 90 * DAY);
        assert_eq!(duration("P1Y2M")?.seconds(), 365 * DAY + 60 * DAY);
        assert_eq!(duration("P2W")?.seconds(), 14 * DAY);
        assert_eq!(duration("PT12H30M5S")?.seconds(), 12 * 3_600 + 30 * 60 + 5);
        assert_eq!(duration("P1DT1M")?.seconds(), DAY + 60);
        assert_eq!(duration("P28D")?.as_str(), "P28D");
        for bad in ["", "P", "PT", "90D", "P1H", "PD", "P1D2Y", "P1.5D", "P1DT", "P99999999999999999999D"] {
            assert!(duration(bad).is_err(), "{bad}");
        }
        Ok(())
    }

    fn rotate_after(after: &str, expiry: Option<&str>) -> Result<RotationPolicy> {
        RotationPolicy::new(
            vec![LifetimeAction { trigger: Trigger::AfterCreate(duration(after)?), action: ActionType::Rotate }],
            expiry.map(duration).transpose()?,
        )
    }

    #[test]
    fn rotation_is_due_after_creation_or_before_expiry() -> Result<()> {
        let policy = rotate_after("P30D", Some("P90D"))?;
        assert!(!policy.rotation_due(0, None, 30 * DAY - 1));
        assert!(policy.rotation_due(0, None, 30 * DAY));
        assert_eq!(policy.new_version_expiry(100), Some(100 + 90 * DAY));

        let before = RotationPolicy::new(
            vec![LifetimeAction { trigger: Trigger::BeforeExpiry(duration("P7D")?), action: ActionType::Rotate }],
            None,
        )?;
        assert!(!before.rotation_due(0, None, 1_000 * DAY), "a version that never expires never comes due");
        assert!(before.rotation_due(0, Some(10 * DAY), 3 * DAY));
        assert!(!before.rotation_due(0, Some(10 * DAY), 3 * DAY - 1));

        let default = RotationPolicy::default_policy();
        assert!(!default.rotation_due(0, Some(DAY), 2 * DAY), "the default policy never rotates");
        assert!(default.notice_due(0, Some(40 * DAY), 10 * DAY));
        Ok(())
    }

    #[test]
    fn policies_key_vault_refuses_are_refused() -> Result<()> {
        assert!(rotate_after("P30D", Some("P27D")).is_err(), "expiryTime under 28 days");
        assert!(rotate_after("P0D", None).is_err(), "a zero trigger");
        assert!(rotate_after("PT1S", None).is_err(), "one version a second");
        assert!(rotate_after("P6DT23H", None).is_err(), "under Key Vault's 7 days");
        assert!(rotate_after("P7D", None).is_ok());
        assert!(rotate_after("P30D", Some("P36D")).is_err(), "no 7 days left before the expiry");
        assert!(rotate_after("P29D", Some("P36D")).is_ok());
        let notice_too_late =
            vec![LifetimeAction { trigger: Trigger::BeforeExpiry(duration("PT1H")?), action: ActionType::Notify }];
        assert!(RotationPolicy::new(notice_too_late, None).is_err());
        let twice = vec![
            LifetimeAction { trigger: Trigger::AfterCreate(duration("P30D")?), action: ActionType::Rotate },
            LifetimeAction { trigger: Trigger::BeforeExpiry(duration("P7D")?), action: ActionType::Rotate },
        ];
        assert!(RotationPolicy::new(twice, None).is_err(), "two Rotate actions");
        let notify_after =
            vec![LifetimeAction { trigger: Trigger::AfterCreate(duration("P30D")?), action: ActionType::Notify }];
        assert!(RotationPolicy::new(notify_after, None).is_err());
        let too_early =
            vec![LifetimeAction { trigger: Trigger::BeforeExpiry(duration("P60D")?), action: ActionType::Notify }];
        assert!(RotationPolicy::new(too_early, Some(duration("P30D")?)).is_err());
        assert_eq!(ActionType::parse("rOtAtE")?, ActionType::Rotate);
        assert!(ActionType::parse("Renew").is_err());
        Ok(())
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(256))]

        #[test]
        fn rotation_policies_of_any_shape_never_panic(
            after in proptest::prelude::any::<String>(),
            expiry in proptest::prelude::any::<String>(),
            digits in proptest::prelude::any::<u64>(),
        ) {
            let _ = duration(&after);
            let _ = rotate_after(&after, Some(&expiry));
            let _ = rotate_after(&format!("P{digits}D"), Some(&format!("PT{digits}S")));
        }
    }
}
