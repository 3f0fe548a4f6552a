//! `apps.auth.external.get` and `apps.auth.external.delete`.

use serde_json::json;

use crate::state::{GrantKind, Inner};
use crate::wire::{Reply, Req};

use super::{Args, SResult, caller, err, ok};

fn bot_caller(inner: &Inner, req: &Req, args: &Args) -> SResult<(String, String)> {
    let (_, g, _) = caller(inner, req, args, false)?;
    let gr = inner.grants.get(g).ok_or_else(|| err("internal_error"))?;
    if gr.kind != GrantKind::SlackBot {
        return Err(err("not_allowed_token_type").classify(Some(&gr.client_id), ""));
    }
    let app_id = inner
        .apps
        .get(&gr.client_id)
        .map(|a| a.app_id.clone())
        .unwrap_or_default();
    Ok((gr.client_id.clone(), app_id))
}

pub(super) fn external_get(inner: &mut Inner, req: &Req, args: &Args) -> Reply {
    let (cid, _) = match bot_caller(inner, req, args) {
        Ok(c) => c,
        Err(r) => return r,
    };
    let Some(id) = args.get("external_token_id").map(str::to_owned) else {
        return err("invalid_arguments").classify(Some(&cid), "");
    };
    let force = args.flag("force_refresh");
    let fresh = if force {
        Some(format!("00D3j00000025Zh!{}", inner.alnum(60)))
    } else {
        None
    };
    let Some(t) = inner
        .external
        .iter_mut()
        .find(|t| t.external_token_id == id && t.client_id == cid)
    else {
        return err("token_not_found").classify(Some(&cid), "");
    };
    if let Some(f) = fresh {
        t.external_token = f;
    }
    let value = t.external_token.clone();
    ok(&json!({"ok": true, "external_token": value, "token_response_extras": null}))
        .classify(Some(&cid), "")
}

pub(super) fn external_delete(inner: &mut Inner, req: &Req, args: &Args) -> Reply {
    let (cid, app_id) = match bot_caller(inner, req, args) {
        Ok(c) => c,
        Err(r) => return r,
    };
    let c = Some(cid.as_str());
    let sel_app = args.get("app_id");
    let sel_provider = args.get("provider_key");
    let sel_id = args.get("external_token_id");
    if sel_app.is_none() && sel_provider.is_none() && sel_id.is_none() {
        return err("invalid_args").classify(c, "");
    }
    if sel_app.is_some_and(|a| a != app_id) {
        return err("app_not_found").classify(c, "");
    }
    let mine = |t: &crate::model::ExternalToken| t.client_id == cid;
    if let Some(p) = sel_provider
        && !inner
            .external
            .iter()
            .any(|t| mine(t) && t.provider_key == p)
    {
        return err("providers_not_found").classify(c, "");
    }
    if let Some(i) = sel_id
        && !inner
            .external
            .iter()
            .any(|t| mine(t) && t.external_token_id == i)
    {
        return err("token_not_found").classify(c, "");
    }
    let before = inner.external.len();
    inner.external.retain(|t| {
        !(mine(t)
            && sel_provider.is_none_or(|p| t.provider_key == p)
            && sel_id.is_none_or(|i| t.external_token_id == i))
    });
    if inner.external.len() == before {
        return err("no_tokens_found").classify(c, "");
    }
    ok(&json!({"ok": true})).classify(c, "")
}
