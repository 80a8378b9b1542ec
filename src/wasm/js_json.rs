//! A JS value read into a [`Json`] tree for the validating readers.
//! Read directly rather than through `JSON.stringify`, which would turn NaN
//! and ±Infinity into null and hide what the caller sent.

use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;

use crate::error::{RequestError, RequestErrorKind};
use crate::json::Json;
use crate::read;

/// Like `JSON.stringify`, properties whose value is undefined are skipped and
/// undefined array elements read as null. An array longer than the item
/// limit is refused before any element is read (`new Array(2 ** 32 - 1)` is
/// one JS call away).
pub(super) fn js_to_json(v: &JsValue, path: &str, depth: usize) -> Result<Json, RequestError> {
    let bad = |problem: &str| RequestError::new(RequestErrorKind::Malformed, if path.is_empty() { "request" } else { path }, problem);
    if depth > 64 {
        return Err(bad("is nested more than 64 levels deep (a cycle?)"));
    }
    if v.is_null() || v.is_undefined() {
        return Ok(Json::Null);
    }
    if let Some(b) = v.as_bool() {
        return Ok(Json::Bool(b));
    }
    if let Some(x) = v.as_f64() {
        return Ok(Json::Num(x));
    }
    if let Some(s) = v.as_string() {
        return Ok(Json::Str(s));
    }
    if let Some(a) = v.dyn_ref::<js_sys::Array>() {
        crate::ranker::check_item_count(if path.is_empty() { "request" } else { path }, a.length() as usize)?;
        return a.iter().enumerate().map(|(i, x)| js_to_json(&x, &read::index(path, i), depth + 1)).collect::<Result<_, _>>().map(Json::Arr);
    }
    if v.is_function() || v.is_symbol() || v.is_bigint() {
        return Err(bad("is a function, symbol or BigInt, which JSON cannot hold"));
    }
    let o = v.unchecked_ref::<js_sys::Object>();
    let mut out = Vec::new();
    for entry in js_sys::Object::entries(o).iter() {
        let entry = entry.unchecked_into::<js_sys::Array>();
        let (key, value) = (entry.get(0).as_string().unwrap_or_default(), entry.get(1));
        if !value.is_undefined() {
            let x = js_to_json(&value, &read::join(path, &key), depth + 1)?;
            out.push((key, x));
        }
    }
    Ok(Json::Obj(out))
}
