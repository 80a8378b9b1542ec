//! The fast reader of rank requests: a well-formed request object is read
//! with plain property lookups into flat column buffers; anything else goes
//! to the validating serde path, which names what is wrong.

use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;

/// Property names as JS strings, made once per ranker so the object path
/// reads requests with plain property lookups.
pub(super) struct Keys {
    user: Vec<JsValue>,
    context: Vec<JsValue>,
    item: Vec<JsValue>,
    objectives: Vec<JsValue>,
    top: [JsValue; 5],
    item_fields: [JsValue; 3],
}

impl Keys {
    pub(super) fn new(s: &crate::Schema) -> Keys {
        let js = |names: Vec<&str>| names.into_iter().map(JsValue::from_str).collect::<Vec<_>>();
        Keys {
            user: js(s.names(crate::FeatureGroup::User).collect()),
            context: js(s.names(crate::FeatureGroup::Context).collect()),
            item: js(s.names(crate::FeatureGroup::Item).collect()),
            objectives: js(s.objectives.iter().map(String::as_str).collect()),
            top: ["user", "context", "items", "topK", "withActions"].map(JsValue::from_str),
            item_fields: ["id", "scores", "features"].map(JsValue::from_str),
        }
    }
}

#[derive(Default)]
pub(super) struct ColumnBuffers {
    pub(super) user: Vec<f32>,
    pub(super) context: Vec<f32>,
    pub(super) items: Vec<f32>,
    pub(super) scores: Vec<f32>,
    pub(super) ids: Vec<crate::ranker::ItemId>,
}

/// Reads `names` from a plain object whose own keys are exactly those names,
/// as finite numbers. `None` means "not that simple": the caller falls back
/// to the validating serde path, which explains what is wrong.
fn read_numbers(obj: &JsValue, names: &[JsValue], out: &mut Vec<f32>) -> Option<()> {
    if names.is_empty() && (obj.is_undefined() || obj.is_null()) {
        return Some(());
    }
    let o = obj.dyn_ref::<js_sys::Object>()?;
    if js_sys::Object::keys(o).length() as usize != names.len() {
        return None;
    }
    for k in names {
        let v = js_sys::Reflect::get(o, k).ok()?.as_f64()?;
        if !v.is_finite() || !(v as f32).is_finite() {
            return None;
        }
        out.push(v as f32);
    }
    Some(())
}

/// Fast read of a well-formed request into the column buffers, with
/// property lookups instead of generic deserialisation. Returns
/// `(topK, withActions)`, `None` for anything the serde path must explain,
/// or an error for unknown properties, which serde-wasm-bindgen would
/// silently skip.
pub(super) fn read(k: &Keys, c: &mut ColumnBuffers, req: &JsValue) -> Result<Option<(usize, bool)>, crate::RequestError> {
    let unknown = |field: String, key: &JsValue, known: &[JsValue]| {
        let names: Vec<String> = known.iter().filter_map(|k| k.as_string()).collect();
        crate::RequestError::new(crate::error::RequestErrorKind::Unknown, format!("{field}{}", key.as_string().unwrap_or_default()), format!("unknown field, expected one of {}", names.join(", ")))
    };
    if let Some(obj) = req.dyn_ref::<js_sys::Object>() {
        if let Some(key) = js_sys::Object::keys(obj).iter().find(|key| !k.top.contains(key)) {
            return Err(unknown(String::new(), &key, &k.top));
        }
        if let Ok(items) = js_sys::Reflect::get(obj, &k.top[2]).and_then(|v| v.dyn_into::<js_sys::Array>().map_err(JsValue::from)) {
            // Before any per-item work: `new Array(2 ** 32 - 1)` is one call.
            crate::ranker::check_item_count("items", items.length() as usize)?;
            for (j, item) in items.iter().enumerate() {
                if let Some(o) = item.dyn_ref::<js_sys::Object>() {
                    if let Some(key) = js_sys::Object::keys(o).iter().find(|key| !k.item_fields.contains(key)) {
                        return Err(unknown(format!("items[{j}]."), &key, &k.item_fields));
                    }
                }
            }
        }
    }
    Ok(read_known(k, c, req))
}

fn read_known(k: &Keys, c: &mut ColumnBuffers, req: &JsValue) -> Option<(usize, bool)> {
    let obj = req.dyn_ref::<js_sys::Object>()?;
    let known = js_sys::Object::keys(obj);
    if known.iter().any(|key| !k.top.contains(&key)) {
        return None;
    }
    let get = |o: &js_sys::Object, key: &JsValue| js_sys::Reflect::get(o, key).ok();
    c.user.clear();
    c.context.clear();
    c.items.clear();
    c.scores.clear();
    c.ids.clear();
    read_numbers(&get(obj, &k.top[0])?, &k.user, &mut c.user)?;
    read_numbers(&get(obj, &k.top[1])?, &k.context, &mut c.context)?;
    let items = get(obj, &k.top[2])?.dyn_into::<js_sys::Array>().ok()?;
    if items.length() == 0 {
        return None;
    }
    for item in items.iter() {
        let o = item.dyn_ref::<js_sys::Object>()?;
        let fields = js_sys::Object::keys(o);
        if fields.iter().any(|f| !k.item_fields.contains(&f)) {
            return None;
        }
        let id = get(o, &k.item_fields[0])?;
        c.ids.push(if let Some(s) = id.as_string() {
            crate::ranker::ItemId::Str(s)
        } else {
            let v = id.as_f64()?;
            if v.fract() == 0.0 && v.abs() < 9_007_199_254_740_992.0 { crate::ranker::ItemId::Int(v as i64) } else { crate::ranker::ItemId::Num(v) }
        });
        read_numbers(&get(o, &k.item_fields[1])?, &k.objectives, &mut c.scores)?;
        read_numbers(&get(o, &k.item_fields[2])?, &k.item, &mut c.items)?;
    }
    let n = c.ids.len();
    // A repeated id: the serde path names it.
    crate::ranker::check_unique_ids(c.ids.iter()).ok()?;
    let top = match get(obj, &k.top[3])? {
        v if v.is_undefined() => n,
        v => {
            let t = v.as_f64()?;
            if t.fract() != 0.0 || t < 1.0 || t > n as f64 {
                return None;
            }
            t as usize
        }
    };
    let with_actions = match get(obj, &k.top[4])? {
        v if v.is_undefined() => false,
        v => v.as_bool()?,
    };
    Some((top, with_actions))
}
