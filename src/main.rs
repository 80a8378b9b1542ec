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
        /// Output path.
        #[arg(long)]
        out: PathBuf,
    }

    type Error = Box<dyn std::error::Error>;

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
        std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()).into())
    }

    fn load(path: &PathBuf) -> Result<Ranker, Error> {
        Ranker::from_bytes(&read(path)?).map_err(|e| format!("{}: {e}", path.display()).into())
    }

    fn run(cli: Cli) -> Result<(), Error> {
        match cli.command {
            Command::Inspect { blob } => {
                let r = load(&blob)?;
                let b = r.blob();
                println!("kind:        {}", b.meta.kind.as_str());
                println!("objectives:  {}", b.schema.objectives.join(", "));
                for (g, label) in [(FeatureGroup::User, "user"), (FeatureGroup::Context, "context"), (FeatureGroup::Item, "item")] {
                    println!("{:<12} {}", format!("{label}:"), b.schema.names(g).collect::<Vec<_>>().join(", "));
                }
                println!("hidden:      {:?}", b.meta.hidden);
                println!("action low:  {:?}", b.meta.action_low);
                println!("action high: {:?}", b.meta.action_high);
                if !b.meta.summary.is_null() {
                    println!("summary:     {}", b.meta.summary);
                }
            }
            Command::Rank { blob, request } => {
                let mut r = load(&blob)?;
                let text = read(&request)?;
                let req = mtfuse::ranker::request_from(&mut serde_json::Deserializer::from_slice(&text))?;
                let ranked = r.rank(&req)?;
                println!("{}", serde_json::to_string_pretty(&ranked)?);
            }
            Command::RandomBlob(a) => {
                let kind = match a.kind.as_str() {
                    "static" => mtfuse::PolicyKind::Static,
                    "user-level" | "user" => mtfuse::PolicyKind::UserLevel,
                    "enhanced" => mtfuse::PolicyKind::Enhanced,
                    other => return Err(format!("--kind: \"{other}\" is not static, user-level or enhanced").into()),
                };
                let (meta, weights) = mtfuse::blob::random_policy(kind, [a.user, a.context, a.item], &a.hidden, a.seed);
                std::fs::write(&a.out, mtfuse::Blob::to_bytes(&meta, &weights)?).map_err(|e| format!("cannot write {}: {e}", a.out.display()))?;
                eprintln!("wrote {} ({} blob)", a.out.display(), kind.as_str());
            }
        }
        Ok(())
    }
}
