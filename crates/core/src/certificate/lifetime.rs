//! A certificate's lifetime actions: what happens as a version ages (renewal, or a notice to the vault's
//! contacts), and when. Key Vault accepts `AutoRenew` and `EmailContacts`, each triggered either at a
//! percentage of the version's validity (1 to 99) or a number of days (at least one) before it expires.

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

const DAY: i64 = 86_400;

/// What a lifetime action does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LifetimeActionType {
    /// A new version is issued (a self-signed one, or one of the vault's local-CA issuer).
    AutoRenew,
    /// The vault's certificate contacts are told the version expires soon.
    EmailContacts,
}

impl LifetimeActionType {
    /// Key Vault's name.
    pub fn as_str(self) -> &'static str {
        match self {
            LifetimeActionType::AutoRenew => "AutoRenew",
            LifetimeActionType::EmailContacts => "EmailContacts",
        }
    }

    /// The action named `text`, in any case.
    pub fn parse(text: &str) -> Result<Self> {
        [LifetimeActionType::AutoRenew, LifetimeActionType::EmailContacts]
            .into_iter()
            .find(|kind| kind.as_str().eq_ignore_ascii_case(text))
            .ok_or_else(|| {
                Error::invalid_input(format_args!(
                    "The lifetime action '{text}' is not supported: use AutoRenew or EmailContacts."
                ))
            })
    }
}

/// When a lifetime action happens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LifetimeTrigger {
    /// At this percentage (1 to 99) of the version's validity.
    LifetimePercentage(u32),
    /// This many days (at least one) before the version expires.
    DaysBeforeExpiry(u32),
}

impl LifetimeTrigger {
    /// When it fires for a version valid from `not_before` to `expires` (Unix seconds).
    pub fn fires_at(self, not_before: i64, expires: i64) -> i64 {
        match self {
            LifetimeTrigger::LifetimePercentage(percent) => {
                not_before + (expires - not_before) * i64::from(percent.clamp(1, 99)) / 100
            }
            LifetimeTrigger::DaysBeforeExpiry(days) => expires - i64::from(days) * DAY,
        }
    }
}

/// One lifetime action of a policy, checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LifetimeAction {
    /// What it does.
    pub action: LifetimeActionType,
    /// When.
    pub trigger: LifetimeTrigger,
}

impl LifetimeAction {
    /// Key Vault's default: renew at 80% of the validity.
    pub const DEFAULT: LifetimeAction =
        LifetimeAction { action: LifetimeActionType::AutoRenew, trigger: LifetimeTrigger::LifetimePercentage(80) };
}

/// A lifetime action as a request gives it (any member absent), in the layout a policy is kept in.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LifetimeActionRequest {
    /// When.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trigger: Option<TriggerRequest>,
    /// What.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub action: Option<ActionTypeRequest>,
}

/// A lifetime action's trigger as a request gives it: exactly one of the members.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TriggerRequest {
    /// At this percentage of the validity.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lifetime_percentage: Option<u32>,
    /// This many days before expiry.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub days_before_expiry: Option<u32>,
}

/// What a lifetime action does, as a request names it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActionTypeRequest {
    /// `AutoRenew` or `EmailContacts`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub action_type: Option<String>,
}

impl LifetimeActionRequest {
    /// The action, checked as Key Vault checks it.
    pub fn parse(&self) -> Result<LifetimeAction> {
        let kind = self.action.as_ref().and_then(|a| a.action_type.as_deref()).unwrap_or_default();
        let action = LifetimeActionType::parse(kind)?;
        let trigger = match self.trigger.as_ref().map(|t| (t.lifetime_percentage, t.days_before_expiry)) {
            Some((Some(percent), None)) if (1..=99).contains(&percent) => LifetimeTrigger::LifetimePercentage(percent),
            Some((None, Some(days))) if days >= 1 => LifetimeTrigger::DaysBeforeExpiry(days),
            _ => {
                return Err(Error::invalid_input(
                    "A lifetime action's trigger has either lifetime_percentage (1..99) or days_before_expiry (≥ 1).",
                ));
            }
        };
        Ok(LifetimeAction { action, trigger })
    }
}

impl From<LifetimeAction> for LifetimeActionRequest {
    fn from(action: LifetimeAction) -> Self {
        let trigger = match action.trigger {
            LifetimeTrigger::LifetimePercentage(p) => {
                TriggerRequest { lifetime_percentage: Some(p), ..Default::default() }
            }
            LifetimeTrigger::DaysBeforeExpiry(d) => {
                TriggerRequest { days_before_expiry: Some(d), ..Default::default() }
            }
        };
        LifetimeActionRequest {
            trigger: Some(trigger),
            action: Some(ActionTypeRequest { action_type: Some(action.action.as_str().to_owned()) }),
        }
    }
}

/// When the first action of `kind` among `actions` fires for a version valid from `not_before` to `expires`.
pub fn due_at(actions: &[LifetimeAction], kind: LifetimeActionType, not_before: i64, expires: i64) -> Option<i64> {
    actions.iter().find(|a| a.action == kind).map(|a| a.trigger.fires_at(not_before, expires))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(kind: &str, percentage: Option<u32>, days: Option<u32>) -> LifetimeActionRequest {
        LifetimeActionRequest {
            trigger: Some(TriggerRequest { lifetime_percentage: percentage, days_before_expiry: days }),
            action: Some(ActionTypeRequest { action_type: Some(kind.to_owned()) }),
        }
    }

    fn message(result: Result<LifetimeAction>) -> String {
        result.err().map(|e| e.message().to_owned()).unwrap_or_default()
    }

    #[test]
    fn actions_and_triggers_are_checked_as_key_vault_does() {
        assert_eq!(request("AutoRenew", Some(80), None).parse(), Ok(LifetimeAction::DEFAULT));
        assert_eq!(
            request("emailcontacts", None, Some(30)).parse(),
            Ok(LifetimeAction {
                action: LifetimeActionType::EmailContacts,
                trigger: LifetimeTrigger::DaysBeforeExpiry(30)
            }),
            "the action's name in any case"
        );
        assert_eq!(
            message(request("Revoke", Some(80), None).parse()),
            "The lifetime action 'Revoke' is not supported: use AutoRenew or EmailContacts."
        );
        assert_eq!(
            message(LifetimeActionRequest::default().parse()),
            "The lifetime action '' is not supported: use AutoRenew or EmailContacts."
        );
        let trigger_rule =
            "A lifetime action's trigger has either lifetime_percentage (1..99) or days_before_expiry (≥ 1).";
        for (percentage, days) in
            [(Some(0), None), (Some(100), None), (None, Some(0)), (Some(50), Some(5)), (None, None)]
        {
            assert_eq!(
                message(request("AutoRenew", percentage, days).parse()),
                trigger_rule,
                "{percentage:?} {days:?}"
            );
        }
        let no_trigger = LifetimeActionRequest { trigger: None, ..request("AutoRenew", None, None) };
        assert_eq!(message(no_trigger.parse()), trigger_rule);
    }

    #[test]
    fn an_action_reads_back_from_its_request_form() {
        for action in [
            LifetimeAction::DEFAULT,
            LifetimeAction { action: LifetimeActionType::EmailContacts, trigger: LifetimeTrigger::DaysBeforeExpiry(7) },
        ] {
            assert_eq!(LifetimeActionRequest::from(action).parse(), Ok(action));
        }
    }

    #[test]
    fn triggers_fire_at_their_share_of_the_validity_or_days_before_expiry() {
        let (not_before, expires) = (1_000, 1_000 + 100 * DAY);
        assert_eq!(LifetimeTrigger::LifetimePercentage(80).fires_at(not_before, expires), 1_000 + 80 * DAY);
        assert_eq!(LifetimeTrigger::DaysBeforeExpiry(30).fires_at(not_before, expires), 1_000 + 70 * DAY);
        let actions = [
            LifetimeAction {
                action: LifetimeActionType::EmailContacts,
                trigger: LifetimeTrigger::DaysBeforeExpiry(10),
            },
            LifetimeAction::DEFAULT,
        ];
        assert_eq!(due_at(&actions, LifetimeActionType::AutoRenew, not_before, expires), Some(1_000 + 80 * DAY));
        assert_eq!(due_at(&actions, LifetimeActionType::EmailContacts, not_before, expires), Some(1_000 + 90 * DAY));
        assert_eq!(due_at(&actions[..1], LifetimeActionType::AutoRenew, not_before, expires), None);
    }
}
