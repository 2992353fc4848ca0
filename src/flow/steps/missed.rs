//! The missed call as the alert targets hear about it: what the bridge and voicemail steps hand to
//! [`crate::alerts`] once nobody accepted, built from the call's line, input and stored variables.

use crate::alerts::{Alert, MissedCall};
use crate::flow::engine::{Ctx, Effect};
use crate::oncall::model::TierOnCall;

/// The call variable that keeps the first tier's numbers, for the text message that follows a voicemail.
const FIRST_TIER: &str = "first_tier";

/// Asks for the line's alert targets to be told that nobody accepted this call; `first_tier` is the chain's
/// first tier, whose engineers get text messages.
pub(crate) fn alert_missed(ctx: &mut Ctx<'_>, first_tier: Option<&TierOnCall>) {
    let phones: Vec<&str> = first_tier
        .map(|tier| tier.people.iter().map(|p| p.engineer.phone.as_str()).collect())
        .unwrap_or_default();
    ctx.state.set(FIRST_TIER, &phones.join(" "));
    let call = missed_call(ctx);
    ctx.effects.push(Effect::Alert(Alert::Missed(call)));
}

/// Asks for the alert targets to be given the voicemail the caller left, when the call was a missed one: a
/// message left for a case that another call is ringing engineers about opens no alert of its own.
pub(crate) fn alert_voicemail(ctx: &mut Ctx<'_>, recording_url: &str) {
    if !ctx.state.vars.contains_key(FIRST_TIER) {
        return;
    }
    let call = missed_call(ctx);
    ctx.effects.push(Effect::Alert(Alert::Voicemail {
        call,
        recording_url: recording_url.to_owned(),
    }));
}

fn missed_call(ctx: &Ctx<'_>) -> MissedCall {
    let var = |name: &str| ctx.state.vars.get(name).cloned();
    MissedCall {
        call_sid: ctx.input.call_sid().to_owned(),
        line: ctx.line.key.clone(),
        line_name: ctx.line.name.clone(),
        case: var("case_number"),
        customer: var("customer"),
        caller: ctx.input.from().to_owned(),
        rung: var("dialled")
            .map(|names| names.split(", ").map(str::to_owned).collect())
            .unwrap_or_default(),
        first_tier: var(FIRST_TIER)
            .map(|phones| phones.split_whitespace().map(str::to_owned).collect())
            .unwrap_or_default(),
        line_number: ctx.line.number.as_str().to_owned(),
        account_sid: ctx.input.param("AccountSid").map(str::to_owned),
        at: ctx.now,
    }
}
