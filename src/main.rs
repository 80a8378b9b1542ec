//! The native `mtfuse` command line.

#[cfg(not(target_arch = "wasm32"))]
fn main() -> std::process::ExitCode {
    cli::main()
}

#[cfg(target_arch = "wasm32")]
fn main() {}

#[cfg(not(target_arch = "wasm32"))]
mod cli {
    use std::path::PathBuf;
    use std::process::ExitCode;

    use clap::{Parser, Subcommand};
    use mtfuse::{FeatureGroup, Ranker};

    #[derive(Parser)]
    #[command(name = "mtfuse", version, about = "Enhanced-State RL multi-task fusion: inspect, rank, train, evaluate")]
    struct Cli {
        #[command(subcommand)]
        command: Command,
    }

    #[derive(Subcommand)]
    enum Command {
        /// Print a weight blob's kind, schema and provenance.
        Inspect {
            /// Path to a .safetensors weight blob.
            blob: PathBuf,
            /// Print the schema as the TOML that `mtfuse pack` reads.
            #[arg(long)]
            toml: bool,
            /// Also write the blob's tensors as a plain safetensors file
            /// (mtfuse layout), which `pack` turns back into the blob.
            #[arg(long)]
            weights_out: Option<PathBuf>,
        },
        /// Pack an actor trained elsewhere: plain safetensors weights (PyTorch
        /// `nn.Linear` layout or mtfuse's) and a TOML schema become a blob.
        Pack {
            /// Safetensors file of the actor's weights and biases (F32, F64, F16 or BF16).
            #[arg(long)]
            weights: PathBuf,
            /// TOML schema: kind, objectives, hidden, action ranges, features (see `inspect --toml`).
            #[arg(long)]
            schema: PathBuf,
            /// How dense weights are laid out.
            #[arg(long, value_enum, default_value = "auto")]
            layout: mtfuse::pack::Layout,
            #[arg(long)]
            out: PathBuf,
        },
        /// Rank a JSON request (`{user, context, items, topK}`) with a blob; prints JSON.
        Rank {
            /// Path to a .safetensors weight blob.
            blob: PathBuf,
            /// Path to the request JSON, or `-` for standard input.
            request: PathBuf,
        },
        /// Write a blob with random weights and the 7 KuaiRand objectives, for
        /// benchmarks and load tests (not for ranking anyone).
        RandomBlob(RandomBlobArgs),
        /// Train a policy on the simulator and export its blob.
        Train(TrainArgs),
        /// Compare policies: simulated A/B and offline metrics on the held-out days.
        Eval(EvalArgs),
        /// Fit the user simulator on the KuaiRand log and print the fit report.
        FitSim(FitSimArgs),
        /// Run simulated sessions under a policy and print return, depth, long views and interactions.
        Simulate(SimulateArgs),
        /// Draw a training run's learning curves (SVG) from its metrics log.
        Plot(PlotArgs),
        /// Off-policy evaluation: a policy's session return estimated from logs
        /// another policy explored with (per-decision weighted importance sampling).
        Ope(OpeArgs),
        /// Session logs: import NDJSON log lines, print the simulator's reward spec.
        #[command(subcommand)]
        Log(LogCommand),
        /// How simulated return responds to each action dimension of a static blob
        /// (central finite differences on shared sessions).
        Probe(ProbeArgs),
    }

    #[derive(clap::Args)]
    struct ProbeArgs {
        /// A static blob, e.g. models/static.safetensors.
        blob: PathBuf,
        /// Step in normalised action units, each way.
        #[arg(long, default_value_t = 0.15)]
        step: f32,
        /// Sessions per evaluation.
        #[arg(long, default_value_t = 3000)]
        sessions: usize,
        #[arg(long)]
        sim: Option<PathBuf>,
        #[arg(long, default_value_t = 777)]
        seed: u64,
    }

    #[derive(clap::Args)]
    struct PlotArgs {
        /// A `.metrics.jsonl` written by `train`.
        metrics: PathBuf,
        /// Output SVG; default: next to the metrics as `.curves.svg`.
        #[arg(long)]
        out: Option<PathBuf>,
        /// Updates per round of that run (the x axis lays rounds end to end).
        #[arg(long, default_value_t = mtfuse::rl::TrainConfig::default().updates_per_round)]
        updates_per_round: usize,
    }


    #[derive(clap::Args)]
    struct RandomBlobArgs {
        /// Policy kind: static, user-level or enhanced.
        #[arg(long, default_value = "enhanced")]
        kind: String,
        /// Number of user features.
        #[arg(long, default_value_t = 12)]
        user: usize,
        /// Number of context features.
        #[arg(long, default_value_t = 4)]
        context: usize,
        /// Number of item features.
        #[arg(long, default_value_t = 17)]
        item: usize,
        /// Hidden widths, comma separated.
        #[arg(long, default_value = "128,64", value_delimiter = ',')]
        hidden: Vec<usize>,
        /// Seed for the weights.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Take the kind, features (names and normalisation), hidden widths
        /// and action ranges of this blob, so the random policy serves the
        /// same requests (a random-action baseline).
        #[arg(long)]
        like: Option<PathBuf>,
        /// With `--like` a static blob: this normalised action (2k values in
        /// [-1, 1], powers then biases) instead of a random one.
        #[arg(long, value_delimiter = ',', allow_hyphen_values = true)]
        action: Option<Vec<f32>>,
        /// Output path.
        #[arg(long)]
        out: PathBuf,
    }

    #[derive(clap::Args)]
    struct FitSimArgs {
        /// Folder with KuaiRand `log_*.csv` files (or one file).
        #[arg(long)]
        data: PathBuf,
        /// Where to write the fitted simulator.
        #[arg(long, default_value = "models/simulator.safetensors")]
        out: PathBuf,
        /// Count and report malformed rows instead of stopping at the first.
        #[arg(long)]
        skip_bad_rows: bool,
        /// First held-out date (yyyymmdd); earlier days train.
        #[arg(long, default_value_t = 20220505)]
        split_date: u32,
        /// Seed for the fit and the threshold calibration.
        #[arg(long, default_value_t = 7)]
        seed: u64,
        /// Share of training rows the MTL model sees (default: FitConfig's).
        #[arg(long)]
        mtl_subset: Option<f32>,
        /// MTL logit shifts per normalised item feature: 5 for click, then 5
        /// for long view, comma separated (default: FitConfig's).
        #[arg(long, value_delimiter = ',', allow_hyphen_values = true)]
        mtl_miscalibration: Option<Vec<f32>>,
        /// Position attention: the user looks at list position p with
        /// probability attention^p (default: SimConfig's 0.8; 1 = no decay).
        #[arg(long)]
        attention: Option<f32>,
        /// Give the truth per-user weights on the item features (the
        /// `interactions` variant), fitted on the log; the MTL model has none.
        #[arg(long)]
        interactions: bool,
        /// L2 on the interaction weights (default: FitConfig's).
        #[arg(long)]
        interaction_l2: Option<f32>,
        /// Fit on all users, or on one side of the fixed 75% / 25% split by
        /// user id hash (train on `train`, evaluate on `unseen`).
        #[arg(long, value_enum, default_value_t)]
        users: mtfuse::sim::data::UserSplit,
    }

    #[derive(clap::Args)]
    struct OpeArgs {
        /// Session logs: a path or a glob such as 'logs/*.parquet'.
        #[arg(long)]
        log: String,
        /// The policy to evaluate.
        #[arg(long)]
        policy: PathBuf,
        /// Bootstrap resamples of sessions for the 95% intervals.
        #[arg(long, default_value_t = 200)]
        bootstrap: usize,
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Importance sampling only: skip fitting the critics (FQE and DR).
        #[arg(long)]
        no_fitted_q: bool,
        /// Training config for the FQE critics (TOML, as `train --config`).
        #[arg(long)]
        config: Option<PathBuf>,
        /// Also write the report as JSON here.
        #[arg(long)]
        out: Option<PathBuf>,
    }

    #[derive(Subcommand)]
    enum LogCommand {
        /// Turn NDJSON log lines (www/log.js, the edge worker's POST /log)
        /// into a Parquet session log, checking every line and session.
        Import {
            /// NDJSON files, one logged request per line, sessions in any order.
            #[arg(required = true)]
            inputs: Vec<PathBuf>,
            /// The serving blob: its schema names the features and objectives.
            #[arg(long)]
            blob: PathBuf,
            /// The reward spec (JSON): `mtfuse log reward` prints the simulator's.
            #[arg(long)]
            reward: PathBuf,
            /// The Parquet session log to write.
            #[arg(long)]
            out: PathBuf,
        },
        /// Print the simulator's reward spec as JSON, for `log import --reward`.
        Reward {
            #[arg(long)]
            sim: Option<PathBuf>,
        },
        /// Print the session log's metadata (JSON) for a serving blob and a
        /// reward spec: what `etl/sessions.py --metadata` takes.
        Schema {
            #[arg(long)]
            blob: PathBuf,
            #[arg(long)]
            reward: PathBuf,
        },
    }

    #[derive(clap::Args)]
    struct SimulateArgs {
        /// A weight blob, `random`, `sort:<objective>` (e.g. `sort:click`), or
        /// `oracle`: the truth's expected reward from features, a yardstick.
        #[arg(long)]
        policy: String,
        /// Sessions to run; users are taken round-robin.
        #[arg(long, default_value_t = 2000)]
        sessions: usize,
        /// A fitted simulator file; the committed one is built in.
        #[arg(long)]
        sim: Option<PathBuf>,
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Write a session log (Parquet, docs/log-format.md) of what the
        /// policy, a weight blob, served and what the users did.
        #[arg(long)]
        log: Option<PathBuf>,
        /// Exploration half-width in the normalised action space: the
        /// serving policy's action plus U(−explore, explore) noise.
        #[arg(long, default_value_t = 0.0)]
        explore: f32,
        /// Draw the noise per item instead of once per request.
        #[arg(long)]
        per_item: bool,
        /// Write raw serving events instead (docs/log-format.md): impressions
        /// and response events in DIR, for the ETL job in etl/.
        #[arg(long, value_name = "DIR", conflicts_with = "log")]
        raw_events: Option<PathBuf>,
        /// With --raw-events: the faults of real event streams (duplicated,
        /// late and shuffled events, missing responses, no session ids).
        #[arg(long, requires = "raw_events")]
        faults: bool,
    }

    #[derive(clap::Args)]
    struct TrainArgs {
        /// static (cross-entropy search), user (UnifiedRL), enhanced (EnhancedRL),
        /// or recalibrated (the non-RL baseline: a JSON policy file for eval).
        #[arg(long)]
        algo: String,
        /// Hyper-parameters (TOML or JSON); defaults otherwise.
        #[arg(long)]
        config: Option<PathBuf>,
        /// Where to write the blob; metrics go next to it as `.metrics.jsonl`.
        #[arg(long)]
        out: PathBuf,
        /// Static blob whose action is the baseline for user/enhanced.
        #[arg(long, default_value = "models/static.safetensors")]
        baseline: PathBuf,
        /// A fitted simulator file; the committed one is built in.
        #[arg(long)]
        sim: Option<PathBuf>,
        /// With --log: the blob that served the log, shipped instead when the
        /// OPE gate rejects the trained one.
        #[arg(long)]
        behaviour: Option<PathBuf>,
        /// With --log: let the simulator's paired A/B against --behaviour
        /// decide instead of off-policy evaluation (which is still reported),
        /// to compare the two gates.
        #[arg(long)]
        gate_sim: bool,
        /// Train from session logs instead of the simulator: a Parquet file
        /// or a glob such as 'logs/*.parquet' (user and enhanced only).
        #[arg(long)]
        log: Option<String>,
    }

    #[derive(clap::Args)]
    struct EvalArgs {
        /// Policy blobs to compare; the first is the baseline for lifts.
        #[arg(long, num_args = 1.., default_values = ["models/static.safetensors", "models/user.safetensors", "models/enhanced.safetensors"])]
        policies: Vec<PathBuf>,
        /// Simulated sessions per policy.
        #[arg(long, default_value_t = 2000)]
        sessions: usize,
        /// KuaiRand log for the offline metrics on the held-out days; skipped without it.
        #[arg(long)]
        data: Option<PathBuf>,
        /// First held-out date of the log (must match the simulator's fit).
        #[arg(long, default_value_t = 20220505)]
        split_date: u32,
        /// Where to write the JSON results; Markdown goes next to it as `.md`.
        #[arg(long, default_value = "models/eval.json")]
        out: PathBuf,
        #[arg(long)]
        sim: Option<PathBuf>,
        #[arg(long, default_value_t = 2024)]
        seed: u64,
    }

    type Error = Box<dyn std::error::Error>;

    /// A CLI-level message ("cannot read x.toml") over the error that caused
    /// it, so `main` prints both as a chain.
    #[derive(Debug)]
    struct Context {
        message: String,
        source: Box<dyn std::error::Error>,
    }

    impl std::fmt::Display for Context {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str(&self.message)
        }
    }

    impl std::error::Error for Context {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            Some(self.source.as_ref())
        }
    }

    trait WithContext<T> {
        fn context(self, message: impl FnOnce() -> String) -> Result<T, Error>;
    }

    impl<T, E: std::error::Error + 'static> WithContext<T> for Result<T, E> {
        fn context(self, message: impl FnOnce() -> String) -> Result<T, Error> {
            self.map_err(|e| Box::new(Context { message: message(), source: Box::new(e) }) as Error)
        }
    }

    /// `println!` that returns an error (e.g. a closed pipe) instead of panicking.
    macro_rules! say {
        ($($t:tt)*) => {{
            use std::io::Write as _;
            writeln!(std::io::stdout(), $($t)*)?;
        }};
    }

    pub fn main() -> ExitCode {
        match run(Cli::parse()) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("mtfuse: {e}");
                let mut source = e.source();
                while let Some(s) = source {
                    eprintln!("  caused by: {s}");
                    source = s.source();
                }
                ExitCode::FAILURE
            }
        }
    }

    fn read(path: &PathBuf) -> Result<Vec<u8>, Error> {
        if path.as_os_str() == "-" {
            let mut buf = Vec::new();
            std::io::Read::read_to_end(&mut std::io::stdin(), &mut buf)?;
            return Ok(buf);
        }
        std::fs::read(path).context(|| format!("cannot read {}", path.display()))
    }

    fn load(path: &PathBuf) -> Result<Ranker, Error> {
        Ranker::from_bytes(&read(path)?).context(|| format!("cannot load {}", path.display()))
    }

    fn run(cli: Cli) -> Result<(), Error> {
        match cli.command {
            Command::Inspect { blob, toml, weights_out } => {
                let r = load(&blob)?;
                let b = r.blob();
                if let Some(path) = weights_out {
                    std::fs::write(&path, mtfuse::pack::plain_weights(b)).context(|| format!("cannot write {}", path.display()))?;
                    eprintln!("wrote {}", path.display());
                }
                if toml {
                    say!("{}", mtfuse::pack::SchemaFile::of(&b.meta).to_toml());
                    return Ok(());
                }
                say!("kind:        {}", b.meta.kind.as_str());
                say!("objectives:  {}", b.schema.objectives.join(", "));
                for (g, label) in [(FeatureGroup::User, "user"), (FeatureGroup::Context, "context"), (FeatureGroup::Item, "item")] {
                    say!("{:<12} {}", format!("{label}:"), b.schema.names(g).collect::<Vec<_>>().join(", "));
                }
                say!("hidden:      {:?}", b.meta.hidden);
                say!("action low:  {:?}", b.meta.action_low);
                say!("action high: {:?}", b.meta.action_high);
                if !b.meta.summary.is_null() {
                    say!("summary:     {}", b.meta.summary);
                }
            }
            Command::Pack { weights, schema, layout, out } => {
                let w = read(&weights)?;
                let s = std::fs::read_to_string(&schema).context(|| format!("cannot read {}", schema.display()))?;
                let bytes = mtfuse::pack::pack(&w, &s, layout).context(|| format!("cannot pack {} with {}", weights.display(), schema.display()))?;
                std::fs::write(&out, &bytes).context(|| format!("cannot write {}", out.display()))?;
                say!("wrote {} ({} bytes)", out.display(), bytes.len());
            }
            Command::Rank { blob, request } => {
                let mut r = load(&blob)?;
                let text = read(&request)?;
                let text = String::from_utf8(text).context(|| format!("{} is not UTF-8 text", request.display()))?;
                let req = mtfuse::RankRequest::from_json_text(&text)?;
                let ranked = r.rank(&req)?;
                say!("{}", serde_json::to_string_pretty(&ranked)?);
            }
            Command::FitSim(a) => fit_sim(a)?,
            Command::Train(a) => train(a)?,
            Command::Eval(a) => eval(a)?,
            Command::Simulate(a) => simulate(a)?,
            Command::Plot(a) => plot(a)?,
            Command::Probe(a) => probe(a)?,
            Command::Log(c) => log_command(c)?,
            Command::Ope(a) => ope(a)?,
            Command::RandomBlob(a) => random_blob(a)?,
        }
        Ok(())
    }

    fn random_blob(a: RandomBlobArgs) -> Result<(), Error> {
        let (meta, weights) = match &a.like {
            None => {
                let kind = match a.kind.as_str() {
                    "static" => mtfuse::PolicyKind::Static,
                    "user-level" | "user" => mtfuse::PolicyKind::UserLevel,
                    "enhanced" => mtfuse::PolicyKind::Enhanced,
                    other => return Err(format!("--kind: \"{other}\" is not static, user-level or enhanced").into()),
                };
                if a.action.is_some() {
                    return Err("--action needs --like: a static blob whose features to keep".into());
                }
                mtfuse::blob::random_policy(kind, [a.user, a.context, a.item], &a.hidden, a.seed)
            }
            Some(like) => {
                let base = load(like)?.blob().clone();
                let s = &base.schema;
                let counts = [s.user.len(), s.context.len(), s.item.len()];
                let (_, random) = mtfuse::blob::random_policy(base.meta.kind, counts, &base.meta.hidden, a.seed);
                let weights = match (&a.action, base.meta.kind) {
                    (None, _) => random,
                    (Some(v), mtfuse::PolicyKind::Static) if v.len() == base.meta.action_low.len() && v.iter().all(|x| x.is_finite() && x.abs() <= 1.0) => mtfuse::PolicyWeights::Static(v.clone()),
                    (Some(v), mtfuse::PolicyKind::Static) => return Err(format!("--action: {} values, expected {} in [-1, 1]", v.len(), base.meta.action_low.len()).into()),
                    (Some(_), kind) => return Err(format!("--action: {} is a {} blob, not a static one", like.display(), kind.as_str()).into()),
                };
                let mut meta = base.meta.clone();
                meta.summary = serde_json::json!({"algo": "random", "like": like.display().to_string(), "seed": a.seed, "action": a.action}).into();
                (meta, weights)
            }
        };
        std::fs::write(&a.out, mtfuse::Blob::to_bytes(&meta, &weights)?).context(|| format!("cannot write {}", a.out.display()))?;
        eprintln!("wrote {} ({} blob)", a.out.display(), meta.kind.as_str());
        Ok(())
    }

    /// The fitted simulator committed with the crate; what commands use without `--sim`.
    const EMBEDDED_SIM: &[u8] = include_bytes!("../models/simulator.safetensors");

    fn ope(a: OpeArgs) -> Result<(), Error> {
        let mut ranker = load(&a.policy)?;
        let train = match &a.config {
            Some(p) => mtfuse::rl::TrainConfig::from_file(p)?,
            None => mtfuse::rl::TrainConfig::default(),
        };
        let cfg = mtfuse::ope::OpeConfig { bootstrap: a.bootstrap, seed: a.seed, train: &train, fitted_q: !a.no_fitted_q, sessions: None };
        let r = mtfuse::ope::evaluate(&a.log, &mut ranker, &cfg).context(|| format!("cannot evaluate {}", a.policy.display()))?;
        let show = |x: Option<f64>| x.map_or("n/a".to_string(), |v| format!("{v:.4}"));
        say!("{} sessions, {} requests; the behaviour's return in the log {:.4} ± {:.4}", r.sessions, r.requests, r.behaviour_return, r.behaviour_ci);
        for (name, e) in [("PDWIS", Some(&r.pdwis)), ("FQE", r.fqe.as_ref()), ("DR", r.dr.as_ref())] {
            if let Some(e) = e {
                say!("{name:<6} {:>8}  95% CI [{}, {}]", show(e.value), show(e.ci_low), show(e.ci_high));
            }
        }
        if let Some(l) = &r.dr_lift {
            say!("DR − the behaviour's return: {}  95% CI [{}, {}] (paired)", show(l.value), show(l.ci_low), show(l.ci_high));
        }
        say!("importance weights: ESS {:.1} of {} sessions", r.ess, r.sessions);
        if r.pdwis.value.is_none() {
            say!("PDWIS: the log has no support for this policy (no session's actions could have come from it with the log's exploration)");
        }
        if let Some(out) = &a.out {
            std::fs::write(out, serde_json::to_string_pretty(&r).expect("serialises")).context(|| format!("cannot write {}", out.display()))?;
        }
        Ok(())
    }

    fn log_command(c: LogCommand) -> Result<(), Error> {
        use mtfuse::logs::{import_ndjson, LogSchema, RewardSpec};
        match c {
            LogCommand::Reward { sim } => {
                let spec = RewardSpec::of(&LogSchema::of_simulator(&load_sim(sim.as_ref())?));
                say!("{}", serde_json::to_string_pretty(&spec).expect("serialises"));
            }
            LogCommand::Schema { blob, reward } => {
                let (_, schema) = blob_log_schema(&blob, &reward)?;
                say!("{}", serde_json::to_string_pretty(&schema).expect("serialises"));
            }
            LogCommand::Import { inputs, blob, reward, out } => {
                let (ranker, schema) = blob_log_schema(&blob, &reward)?;
                let s = import_ndjson(&inputs, ranker.schema(), schema, &out).context(|| format!("cannot import into {}", out.display()))?;
                say!("imported {} lines: {} sessions, {} rows into {}", s.lines, s.sessions, s.rows, out.display());
            }
        }
        Ok(())
    }

    /// The serving blob and the session log schema it and a reward spec make.
    fn blob_log_schema(blob: &PathBuf, reward: &PathBuf) -> Result<(Ranker, mtfuse::logs::LogSchema), Error> {
        let ranker = load(blob)?;
        let text = String::from_utf8(read(reward)?).map_err(|_| format!("{}: not UTF-8", reward.display()))?;
        let spec: mtfuse::logs::RewardSpec = serde_json::from_str(&text).map_err(|e| format!("{}: not a reward spec: {e}", reward.display()))?;
        let schema = mtfuse::logs::import::log_schema(ranker.schema(), &ranker.blob().actions, &spec)?;
        Ok((ranker, schema))
    }

    pub fn load_sim(path: Option<&PathBuf>) -> Result<mtfuse::sim::Simulator, Error> {
        let bytes = match path {
            Some(p) => read(p)?,
            None => EMBEDDED_SIM.to_vec(),
        };
        mtfuse::sim::Simulator::from_bytes(&bytes).context(|| "cannot load the simulator".to_string())
    }

    fn fit_sim(a: FitSimArgs) -> Result<(), Error> {
        use mtfuse::sim::{data, fit};
        // Check the flags before the (possibly long) read of the log.
        if let Some(m) = a.mtl_miscalibration.as_ref().filter(|m| m.len() != 10) {
            return Err(format!("--mtl-miscalibration takes 10 numbers (5 item features for click, then for long view); got {}", m.len()).into());
        }
        if let Some(att) = a.attention.filter(|&x| !(x > 0.0 && x <= 1.0)) {
            return Err(format!("--attention must be in (0, 1]; got {att}").into());
        }
        let t0 = std::time::Instant::now();
        let mut log = data::load_dir(&a.data, a.skip_bad_rows)?;
        eprintln!("read {} rows ({} skipped) in {:.1}s", log.rows.len(), log.skipped, t0.elapsed().as_secs_f32());
        if a.users != data::UserSplit::All {
            log.rows.retain(|r| a.users.keeps(r.user));
            eprintln!("kept the {} rows of {:?} users", log.rows.len(), a.users);
        }
        for ex in &log.skipped_examples {
            eprintln!("  skipped: {ex}");
        }
        let mut cfg = fit::FitConfig { split_date: a.split_date, seed: a.seed, interactions: a.interactions, users: a.users, ..Default::default() };
        if let Some(l2) = a.interaction_l2 {
            cfg.interaction_l2 = l2;
        }
        if let Some(share) = a.mtl_subset {
            cfg.mtl_subset = share;
        }
        if let Some(m) = &a.mtl_miscalibration {
            for (row, chunk) in cfg.mtl_miscalibration.iter_mut().zip(m.chunks(5)) {
                row.copy_from_slice(chunk);
            }
        }
        let mut sim_cfg = mtfuse::sim::SimConfig::default();
        if let Some(att) = a.attention {
            sim_cfg.attention = att;
        }
        let (sim, report) = fit::fit(&log, &cfg, sim_cfg)?;
        say!("{}", report.markdown());
        say!("disappointment threshold (median random-list reward): {:.4}", report.threshold);
        let bytes = sim.to_bytes();
        std::fs::write(&a.out, &bytes).context(|| format!("cannot write {}", a.out.display()))?;
        eprintln!("wrote {} ({} bytes) in {:.1}s", a.out.display(), bytes.len(), t0.elapsed().as_secs_f32());
        Ok(())
    }

    /// Builds a policy from `--policy`.
    pub fn policy_from(spec: &str, seed: u64) -> Result<Box<dyn mtfuse::sim::Policy>, Error> {
        use mtfuse::sim::{RandomPolicy, SortByScore};
        if spec == "random" {
            return Ok(Box::new(RandomPolicy::new(seed)));
        }
        if let Some(obj) = spec.strip_prefix("sort:") {
            let k = mtfuse::sim::data::SIGNALS.iter().position(|s| *s == obj).ok_or_else(|| format!("--policy: unknown objective \"{obj}\" (objectives: {})", mtfuse::sim::data::SIGNALS.join(", ")))?;
            return Ok(Box::new(SortByScore { objective: k }));
        }
        Ok(Box::new(load(&PathBuf::from(spec))?))
    }

    fn simulate(a: SimulateArgs) -> Result<(), Error> {
        use mtfuse::sim::run_session;
        use mtfuse::stats::mean_ci;
        let sim = load_sim(a.sim.as_ref())?;
        if let Some(log) = &a.log {
            return simulate_log(&sim, &a, log);
        }
        if let Some(dir) = &a.raw_events {
            return simulate_raw_events(&sim, &a, dir);
        }
        if a.explore != 0.0 || a.per_item {
            return Err("--explore and --per-item apply to --log and --raw-events runs".into());
        }
        // The oracle reads the session's user from the simulator; build it per session.
        let mut policy = if a.policy == "oracle" { None } else { Some(policy_from(&a.policy, a.seed)?) };
        let bar = indicatif::ProgressBar::new(a.sessions as u64);
        let mut stats = Vec::with_capacity(a.sessions);
        for s in 0..a.sessions {
            let (user, session) = (s % sim.n_users(), (s / sim.n_users()) as u64);
            stats.push(match policy.as_mut() {
                Some(p) => run_session(&sim, p.as_mut(), user, a.seed, session, None)?,
                None => run_session(&sim, &mut mtfuse::sim::FeatureOracle::new(&sim, user), user, a.seed, session, None)?,
            });
            bar.inc(1);
        }
        bar.finish_and_clear();
        let show = |name: &str, f: &dyn Fn(&mtfuse::sim::SessionStats) -> f64| -> Result<(), Error> {
            let (m, ci) = mean_ci(stats.iter().map(f));
            say!("{name:<22} {m:>9.4} ± {ci:.4}");
            Ok(())
        };
        say!("policy {} over {} sessions (95% CI):", a.policy, a.sessions);
        show("return", &|s| s.ret)?;
        show("depth", &|s| s.depth as f64)?;
        show("long views", &|s| s.long_views as f64)?;
        show("clicks", &|s| s.clicks as f64)?;
        show("interactions", &|s| s.interactions as f64)?;
        show("play time (s)", &|s| s.play_s)?;
        Ok(())
    }

    /// The serving blob of a --log or --raw-events run, and its behaviour id.
    fn serving_blob(a: &SimulateArgs) -> Result<(Ranker, String), Error> {
        if !(a.explore.is_finite() && (0.0..=1.0).contains(&a.explore)) {
            return Err(format!("--explore: {} is not a half-width in [0, 1]", a.explore).into());
        }
        let bytes = read(&PathBuf::from(&a.policy))?;
        let ranker = Ranker::from_bytes(&bytes).context(|| format!("--policy {}: a session log needs a weight blob", a.policy))?;
        Ok((ranker, format!("crc32:{:08x}", mtfuse::blob::crc32(&bytes))))
    }

    /// Runs sessions under a blob plus exploration and writes them as raw
    /// serving events: user u's k-th session starts k × 6 hours after
    /// `EPOCH_MS` (plus u × 7 s), its requests 30 s apart.
    fn simulate_raw_events(sim: &mtfuse::sim::Simulator, a: &SimulateArgs, dir: &std::path::Path) -> Result<(), Error> {
        use mtfuse::logs::raw::{Faults, RawEventWriter, RawRequest, EPOCH_MS};
        use mtfuse::logs::{write::from_transition, LogSchema};
        use mtfuse::rng::{stream, Purpose};
        let (mut ranker, behaviour) = serving_blob(a)?;
        let mut explore = mtfuse::rl::explore::Explore::new(&mut ranker, a.explore, stream(a.seed, Purpose::LogNoise, 0, 0));
        explore.per_item = a.per_item;
        let faults = if a.faults { Faults::REALISTIC } else { Faults::NONE };
        let mut writer = RawEventWriter::create(dir, LogSchema::of_simulator(sim), faults, stream(a.seed, Purpose::RawFaults, 0, 0))?;
        let mut transitions = Vec::new();
        for s in 0..a.sessions {
            let (u, k) = (s % sim.n_users(), (s / sim.n_users()) as i64);
            transitions.clear();
            mtfuse::sim::run_session(sim, &mut explore, u, a.seed, k as u64, Some(&mut transitions))?;
            let session = format!("{}-{s}", a.seed);
            let user_id = sim.user_ids[u].to_string();
            for t in &transitions {
                let mut r = from_transition(sim, t, &session, &behaviour, a.explore, a.per_item);
                r.timestamp_ms = EPOCH_MS + k * 6 * 3_600_000 + u as i64 * 7_000 + t.t as i64 * 30_000;
                let candidate_ids: Vec<String> = t.candidates.iter().map(|&i| sim.item_ids[i as usize].to_string()).collect();
                let request_id = format!("{session}-{}", t.t);
                let session_hint = (!faults.no_session_hint).then_some(session.as_str());
                writer.push(&r, &RawRequest { request_id: &request_id, user_id: &user_id, candidate_ids: &candidate_ids, session_hint })?;
            }
        }
        let c = writer.finish()?;
        say!("wrote {}: {} impressions of {} requests in {} sessions, {} events ({} duplicated, {} late, {} responses missing)", dir.display(), c.impressions, c.requests, c.sessions, c.events, c.duplicated_events, c.late_events, c.missing_responses);
        Ok(())
    }

    /// Runs sessions under a blob plus exploration and writes them as a
    /// session log, as a production logger would.
    fn simulate_log(sim: &mtfuse::sim::Simulator, a: &SimulateArgs, out: &std::path::Path) -> Result<(), Error> {
        use mtfuse::logs::{write::from_transition, LogSchema, SessionLogWriter};
        use mtfuse::rng::{stream, Purpose};
        let (mut ranker, behaviour) = serving_blob(a)?;
        let mut explore = mtfuse::rl::explore::Explore::new(&mut ranker, a.explore, stream(a.seed, Purpose::LogNoise, 0, 0));
        explore.per_item = a.per_item;
        let mut writer = SessionLogWriter::create(out, LogSchema::of_simulator(sim))?;
        let bar = indicatif::ProgressBar::new(a.sessions as u64);
        let mut transitions = Vec::new();
        for s in 0..a.sessions {
            transitions.clear();
            mtfuse::sim::run_session(sim, &mut explore, s % sim.n_users(), a.seed, (s / sim.n_users()) as u64, Some(&mut transitions))?;
            for t in &transitions {
                writer.push(&from_transition(sim, t, &format!("{}-{s}", a.seed), &behaviour, a.explore, a.per_item))?;
            }
            bar.inc(1);
        }
        bar.finish_and_clear();
        let rows = writer.finish()?;
        say!("wrote {} ({rows} rows, {} sessions)", out.display(), a.sessions);
        Ok(())
    }

    fn train(a: TrainArgs) -> Result<(), Error> {
        use mtfuse::rl::{self, TrainConfig};
        let cfg = match &a.config {
            Some(p) => TrainConfig::from_file(p)?,
            None => TrainConfig::default(),
        };
        let bar = indicatif::ProgressBar::new_spinner();
        bar.enable_steady_tick(std::time::Duration::from_millis(200));
        let progress = |m: &str| {
            eprintln!("{m}");
            bar.set_message(m.to_string());
        };
        let t0 = std::time::Instant::now();
        let mut metrics = Vec::new();
        let kind = match a.algo.as_str() {
            "static" => mtfuse::PolicyKind::Static,
            "user" => mtfuse::PolicyKind::UserLevel,
            "enhanced" => mtfuse::PolicyKind::Enhanced,
            "recalibrated" => {
                train_recalibrated(&a, &cfg, &progress)?;
                bar.finish_and_clear();
                return Ok(());
            }
            other => return Err(format!("--algo: \"{other}\" is not static, user, enhanced or recalibrated").into()),
        };
        let bytes = match (kind, &a.log) {
            (mtfuse::PolicyKind::Static, Some(pattern)) => rl::train_static_from_log_files(pattern, &cfg, &mut metrics, &progress)?.1,
            (_, Some(pattern)) => {
                // No simulator on this path (unless --gate-sim): everything
                // comes from the log, and off-policy evaluation on held-out
                // sessions gates it.
                if cfg.gate {
                    train_from_log_gated(pattern, kind, &a, &cfg, &mut metrics, &progress)?
                } else {
                    let trained = rl::train_from_log_files(pattern, kind, &cfg, &mut metrics, &progress)?;
                    progress(&format!("training throughput: {:.0} pair-updates/s", trained.pair_updates_per_s));
                    trained.bytes
                }
            }
            (mtfuse::PolicyKind::Static, None) => {
                let sim = load_sim(a.sim.as_ref())?;
                let (action, ret) = rl::train_static(&sim, &cfg, &mut metrics, &progress)?;
                let summary = serde_json::json!({"algo": "static", "return": ret, "train_seconds": t0.elapsed().as_secs_f64()});
                let r = rl::static_ranker(&sim, &action, &cfg, summary)?;
                mtfuse::Blob::to_bytes(&r.blob().meta, &r.blob().weights)?
            }
            (_, None) => {
                let sim = load_sim(a.sim.as_ref())?;
                let base = load(&a.baseline)?;
                let mtfuse::PolicyWeights::Static(action) = &base.blob().weights else {
                    return Err(format!("--baseline {}: not a static blob", a.baseline.display()).into());
                };
                let trained = rl::train_rl(&sim, kind, action, &cfg, &mut metrics, &progress)?;
                progress(&format!("training throughput: {:.0} pair-updates/s", trained.pair_updates_per_s));
                trained.bytes
            }
        };
        bar.finish_and_clear();
        std::fs::write(&a.out, &bytes).context(|| format!("cannot write {}", a.out.display()))?;
        let metrics_path = a.out.with_extension("metrics.jsonl");
        let lines: Vec<String> = metrics.iter().map(|m| m.to_string()).collect();
        std::fs::write(&metrics_path, lines.join("\n") + "\n")?;
        let plot_path = a.out.with_extension("curves.svg");
        let svg = mtfuse::rl::plot::learning_curves_svg(&metrics, cfg.updates_per_round)?;
        std::fs::write(&plot_path, svg).context(|| format!("cannot write {}", plot_path.display()))?;
        say!("wrote {}, {} and {} in {:.1}s", a.out.display(), metrics_path.display(), plot_path.display(), t0.elapsed().as_secs_f64());
        Ok(())
    }

    /// The recalibrated baseline: a JSON file (model and static action) that
    /// `eval` takes as a policy; it is not a blob, since the core does not
    /// recalibrate scores.
    fn train_recalibrated(a: &TrainArgs, cfg: &mtfuse::rl::TrainConfig, progress: &dyn Fn(&str)) -> Result<(), Error> {
        if a.log.is_some() {
            return Err("--algo recalibrated trains in the simulator only; it takes no --log".into());
        }
        let t0 = std::time::Instant::now();
        let sim = load_sim(a.sim.as_ref())?;
        let base = load(&a.baseline)?;
        let mtfuse::PolicyWeights::Static(action) = &base.blob().weights else {
            return Err(format!("--baseline {}: not a static blob", a.baseline.display()).into());
        };
        let mut file = mtfuse::rl::recalibrated::train_recalibrated(&sim, action, cfg, &mut Vec::new(), progress)?;
        file.summary["train_seconds"] = t0.elapsed().as_secs_f64().into();
        std::fs::write(&a.out, serde_json::to_string_pretty(&file)?).context(|| format!("cannot write {}", a.out.display()))?;
        say!("wrote {} in {:.1}s", a.out.display(), t0.elapsed().as_secs_f64());
        Ok(())
    }

    /// Trains from logs with `cfg.restarts` restarts (seeds `seed`, `seed + 1`,
    /// …) and gates by off-policy evaluation (`mtfuse::ope::gate`): one
    /// held-out half picks the restart, the other judges it. A rejected blob
    /// is written beside the output, and `--behaviour` ships instead (or the
    /// command fails saying why). With `--gate-sim` the simulator's paired
    /// A/B against `--behaviour` decides, and the OPE judgement is reported
    /// beside it for comparison.
    fn train_from_log_gated(pattern: &str, kind: mtfuse::PolicyKind, a: &TrainArgs, cfg: &mtfuse::rl::TrainConfig, metrics: &mut Vec<serde_json::Value>, progress: &dyn Fn(&str)) -> Result<Vec<u8>, Error> {
        use mtfuse::ope::gate::{judge, judging_half, selection_half};
        let mut best: Option<(usize, f64, Vec<u8>)> = None;
        for r in 0..cfg.restarts.max(1) {
            let cfg_r = mtfuse::rl::TrainConfig { seed: cfg.seed + r as u64, ..cfg.clone() };
            let trained = mtfuse::rl::train_from_log_files(pattern, kind, &cfg_r, metrics, progress)?;
            if cfg.restarts <= 1 {
                best = Some((r, f64::NAN, trained.bytes));
                break;
            }
            let j = judge(pattern, &trained.bytes, cfg, selection_half).context(|| format!("cannot evaluate restart {r}"))?;
            progress(&format!("restart {r}: DR lift on the selection half {:+.4} [{:+.4}, {:+.4}], ESS {:.0} of {}", j.lift, j.low, j.high, j.ess, j.sessions));
            metrics.push(serde_json::json!({"gate": "ope-selection", "restart": r, "judgement": j}));
            if best.as_ref().is_none_or(|b| j.lift > b.1) {
                best = Some((r, j.lift, trained.bytes));
            }
        }
        let (restart, _, bytes) = best.expect("at least one restart");
        let half = if cfg.restarts <= 1 { mtfuse::ope::held_out } else { judging_half };
        let j = judge(pattern, &bytes, cfg, half).context(|| "the OPE gate cannot evaluate the trained blob".to_string())?;
        progress(&format!(
            "OPE gate on {} held-out sessions (restart {restart}): DR lift over the behaviour's return {:+.4} [{:+.4}, {:+.4}], importance-weight ESS {:.0}{}",
            j.sessions, j.lift, j.low, j.high, j.ess,
            if j.supported { "" } else { " (too little support: the log cannot judge it)" }
        ));
        let sim = if a.gate_sim { Some(sim_gate(&bytes, a, cfg, progress)?) } else { None };
        let keep = sim.map_or(j.passes(), |(_, low)| low > 0.0);
        metrics.push(serde_json::json!({"gate": if a.gate_sim { "sim" } else { "ope" }, "restart": restart, "ope": j, "sim_lift": sim.map(|s| s.0), "sim_lift_low": sim.map(|s| s.1), "kept": keep}));
        progress(if keep { "keeping the trained blob" } else { "rejecting the trained blob" });
        if keep {
            return Ok(bytes);
        }
        // Kept beside the output, so what the gate turned down can be evaluated.
        let rejected = a.out.with_extension("rejected.safetensors");
        std::fs::write(&rejected, &bytes).context(|| format!("cannot write {}", rejected.display()))?;
        progress(&format!("the rejected blob is {}", rejected.display()));
        match &a.behaviour {
            Some(b) => {
                progress(&format!("shipping the behaviour {} instead", b.display()));
                read(b)
            }
            None => Err(format!("the gate rejected the trained blob (DR lift {:+.4}, 95% CI [{:+.4}, {:+.4}], ESS {:.0} of {} held-out sessions); pass --behaviour to ship the serving blob instead, or set gate = false to ship it anyway", j.lift, j.low, j.high, j.ess, j.sessions).into()),
        }
    }

    /// The simulator's paired lift of `bytes` over `--behaviour` (mean and
    /// lower end of its 95% interval) on the training gate's sessions.
    fn sim_gate(bytes: &[u8], a: &TrainArgs, cfg: &mtfuse::rl::TrainConfig, progress: &dyn Fn(&str)) -> Result<(f64, f64), Error> {
        let behaviour = a.behaviour.as_ref().ok_or("--gate-sim compares with --behaviour: pass the serving blob")?;
        let sim = load_sim(a.sim.as_ref())?;
        let sessions = 2000;
        let returns = |r: &mut Ranker| -> Result<Vec<f64>, Error> { Ok(mtfuse::sim::run_sessions(&sim, r, sessions, cfg.seed)?.iter().map(|s| s.ret).collect()) };
        let (base, cand) = (returns(&mut load(behaviour)?)?, returns(&mut Ranker::from_bytes(bytes)?)?);
        let (lift, ci) = mtfuse::stats::paired_lift(&base, &cand);
        progress(&format!("simulator gate ({sessions} paired sessions): lift over the behaviour {lift:+.4} ± {ci:.4}"));
        Ok((lift, lift - ci))
    }

    fn probe(a: ProbeArgs) -> Result<(), Error> {
        use mtfuse::rl::{static_ranker, TrainConfig};
        use mtfuse::sim::run_sessions;
        use mtfuse::stats::mean_ci;
        let sim = load_sim(a.sim.as_ref())?;
        let base = load(&a.blob)?;
        let mtfuse::PolicyWeights::Static(action) = &base.blob().weights else {
            return Err(format!("{}: not a static blob", a.blob.display()).into());
        };
        let cfg = TrainConfig::default();
        let objectives = base.schema().objectives.clone();
        let ret = |v: &[f32]| -> Result<f64, Error> {
            let mut r = static_ranker(&sim, v, &cfg, serde_json::Value::Null)?;
            Ok(mean_ci(run_sessions(&sim, &mut r, a.sessions, a.seed)?.iter().map(|s| s.ret)).0)
        };
        say!("return at the blob's action: {:.4} ({} sessions)", ret(action)?, a.sessions);
        say!("{:<18} {:>8} {:>12}", "dimension", "action", "dReturn/da");
        for k in 0..action.len() {
            let (mut up, mut down) = (action.clone(), action.clone());
            up[k] = (up[k] + a.step).min(1.0);
            down[k] = (down[k] - a.step).max(-1.0);
            let grad = (ret(&up)? - ret(&down)?) / (up[k] - down[k]) as f64;
            let name = format!("{} {}", if k < objectives.len() { "power" } else { "bias" }, objectives[k % objectives.len()]);
            say!("{name:<18} {:>8.3} {grad:>12.4}", action[k]);
        }
        Ok(())
    }

    fn plot(a: PlotArgs) -> Result<(), Error> {
        let text = std::fs::read_to_string(&a.metrics).context(|| format!("cannot read {}", a.metrics.display()))?;
        let mut metrics = Vec::new();
        for (i, line) in text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
            metrics.push(serde_json::from_str(line).context(|| format!("{}:{}: not a JSON metrics line", a.metrics.display(), i + 1))?);
        }
        let out = a.out.unwrap_or_else(|| a.metrics.with_extension("").with_extension("curves.svg"));
        let svg = mtfuse::rl::plot::learning_curves_svg(&metrics, a.updates_per_round)?;
        std::fs::write(&out, svg).context(|| format!("cannot write {}", out.display()))?;
        say!("wrote {}", out.display());
        Ok(())
    }

    /// A blob, or a `.json` file from `train --algo recalibrated`.
    fn eval_policy(p: &PathBuf, sim: &mtfuse::sim::Simulator) -> Result<mtfuse::eval::EvalPolicy, Error> {
        use mtfuse::rl::recalibrated::{RecalibratedFile, RecalibratedPolicy};
        if p.extension().is_some_and(|e| e == "json") {
            let text = std::fs::read_to_string(p).context(|| format!("cannot read {}", p.display()))?;
            let f: RecalibratedFile = serde_json::from_str(&text).context(|| format!("{}: not a recalibrated policy file", p.display()))?;
            let ranker = mtfuse::rl::static_ranker(sim, &f.action, &mtfuse::rl::TrainConfig::default(), f.summary)?;
            return Ok(mtfuse::eval::EvalPolicy::Recalibrated(RecalibratedPolicy::new(f.recalibration, ranker)));
        }
        Ok(load(p)?.into())
    }

    fn eval(a: EvalArgs) -> Result<(), Error> {
        let sim = load_sim(a.sim.as_ref())?;
        let mut policies = Vec::new();
        for p in &a.policies {
            let name = p.file_stem().map_or_else(|| p.display().to_string(), |s| s.to_string_lossy().to_string());
            policies.push((name, eval_policy(p, &sim)?));
        }
        let ab = mtfuse::eval::simulated_ab(&sim, &mut policies, a.sessions, a.seed)?;
        let offline = match &a.data {
            Some(d) => {
                let log = mtfuse::sim::data::load_dir(d, false)?;
                mtfuse::eval::offline(&sim, &log.rows, a.split_date, &mut policies, a.seed)?
            }
            None => {
                eprintln!("no --data: offline metrics skipped");
                Vec::new()
            }
        };
        let md = mtfuse::eval::markdown(&ab, &offline);
        say!("{md}");
        std::fs::write(&a.out, serde_json::to_string_pretty(&serde_json::json!({"simulated_ab": ab, "offline": offline}))?)?;
        std::fs::write(a.out.with_extension("md"), md)?;
        eprintln!("wrote {} and {}", a.out.display(), a.out.with_extension("md").display());
        Ok(())
    }
}
