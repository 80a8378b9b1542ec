//! The demo page's simulator (feature `demo`): realistic requests to rank,
//! and simulated sessions under a ranker for the in-browser A/B test.

use wasm_bindgen::prelude::*;

use super::Ranker;

/// The demo build may spend the bytes on serde-wasm-bindgen; the ranker builds do not.
fn to_js<T: serde::Serialize>(v: &T) -> Result<JsValue, JsError> {
    Ok(v.serialize(&serde_wasm_bindgen::Serializer::json_compatible())?)
}

/// The fitted user simulator, for the demo: realistic requests to rank, and
/// simulated sessions under a ranker (the in-browser A/B test).
#[wasm_bindgen]
pub struct Simulator {
    inner: crate::sim::Simulator,
}

#[wasm_bindgen]
impl Simulator {
    /// Loads `models/simulator.safetensors`. Throws on a bad file.
    #[wasm_bindgen(js_name = fromBytes)]
    pub fn from_bytes(bytes: &[u8]) -> Result<Simulator, JsError> {
        Ok(Simulator { inner: crate::sim::Simulator::from_bytes(bytes)? })
    }

    /// Number of simulated users; users are addressed by index `0..users`.
    #[wasm_bindgen(getter)]
    pub fn users(&self) -> u32 {
        self.inner.n_users() as u32
    }

    /// KuaiRand user id of simulator user `index`.
    #[wasm_bindgen(js_name = userId)]
    pub fn user_id(&self, index: u32) -> Result<u32, JsError> {
        self.inner.user_ids.get(index as usize).copied().ok_or_else(|| JsError::new(&format!("user: {index} is out of range 0..{}", self.inner.n_users())))
    }

    /// A request of `n` candidates for user `user` at `hour` (0–23) on `tab`
    /// and `weekday` (0 = Monday), drawn with `seed`: what `Ranker.rank` takes.
    #[wasm_bindgen(js_name = drawRequest, unchecked_return_type = "RankRequest")]
    pub fn draw_request(&self, user: u32, hour: u8, tab: u8, weekday: u8, n: u32, seed: u32) -> Result<JsValue, JsError> {
        if user as usize >= self.inner.n_users() || hour > 23 || weekday > 6 || n == 0 {
            return Err(JsError::new(&format!("drawRequest: user {user} (of {}), hour {hour} (0–23), weekday {weekday} (0–6) and n {n} (≥ 1) must be in range", self.inner.n_users())));
        }
        to_js(&self.inner.draw_request(user as usize, hour, tab, weekday, n as usize, seed as u64))
    }

    /// Runs sessions `first..first + count` under `ranker` (users round-robin,
    /// random streams from `seed`, as `mtfuse eval` does). Returns
    /// `[return, depth, long views, interactions]` per session, flattened.
    #[wasm_bindgen(js_name = runSessions)]
    pub fn run_sessions(&self, ranker: &mut Ranker, first: u32, count: u32, seed: u32) -> Result<Vec<f64>, JsError> {
        let n = self.inner.n_users();
        let mut out = Vec::with_capacity(count as usize * 4);
        for s in first as usize..(first + count) as usize {
            let st = crate::sim::run_session(&self.inner, &mut ranker.inner, s % n, seed as u64, (s / n) as u64, None)?;
            out.extend([st.ret, st.depth as f64, st.long_views as f64, st.interactions as f64]);
        }
        Ok(out)
    }

    /// User `user`'s sampled responses to the shown candidates of a request
    /// drawn by `drawRequest` (`shown`: candidate indices, best first), drawn
    /// with `seed`: `[{signals: {click: 0 | 1, …}, playS}]` in shown order,
    /// what a log line's `responses` holds.
    pub fn respond(&self, user: u32, #[wasm_bindgen(unchecked_param_type = "RankRequest")] request: JsValue, shown: Vec<u32>, seed: u32) -> Result<JsValue, JsError> {
        let sim = &self.inner;
        if user as usize >= sim.n_users() {
            return Err(JsError::new(&format!("user: {user} is out of range 0..{}", sim.n_users())));
        }
        let req = crate::RankRequest::from_json(&super::js_json::js_to_json(&request, "", 0)?)?;
        let context = sim
            .group(crate::FeatureGroup::Context)
            .map(|f| req.context.get(&f.name).copied().flatten().map(|v| v as f32).ok_or_else(|| JsError::new(&format!("context.{}: missing", f.name))))
            .collect::<Result<Vec<f32>, JsError>>()?;
        let mut rng = <rand::rngs::StdRng as rand::SeedableRng>::seed_from_u64(seed as u64);
        let mut out = Vec::with_capacity(shown.len());
        for (p, &c) in shown.iter().enumerate() {
            let item = req.items.get(c as usize).ok_or_else(|| JsError::new(&format!("shown[{p}]: candidate {c} is out of range 0..{}", req.items.len())))?;
            let index = match &item.id {
                crate::ranker::ItemId::Int(id) => sim.item_ids.iter().position(|&x| x as i64 == *id),
                _ => None,
            }
            .ok_or_else(|| JsError::new(&format!("items[{c}].id: {:?} is not a simulator item", item.id)))?;
            let r = sim.respond(user as usize, index, &context, &mut rng);
            let signals: std::collections::BTreeMap<&str, u8> = crate::blob::DEFAULT_OBJECTIVES.iter().copied().zip(r.signals).collect();
            out.push(serde_json::json!({"signals": signals, "playS": r.play_s}));
        }
        to_js(&out)
    }
}
