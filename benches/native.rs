//! Native criterion benchmarks: the dense kernel the ranker runs, and the
//! network work of one EnhancedRL update at the default config.
//!
//! `cargo bench --bench native` (or `scripts/bench.sh`).

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use mtfuse::rl::net::{Adam, Head, Mlp};
use mtfuse::rl::TrainConfig;
use mtfuse::simd::{self, Activation, DenseShape};
use ndarray::Array2;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

fn dense_kernel(c: &mut Criterion) {
    let mut g = c.benchmark_group("dense_relu");
    let mut rng = StdRng::seed_from_u64(1);
    for (rows, inputs, outputs) in [(1, 12, 128), (50, 12, 128), (1000, 12, 128), (1000, 128, 64)] {
        let x: Vec<f32> = (0..rows * inputs).map(|_| rng.random_range(-1.0..1.0)).collect();
        let w: Vec<f32> = (0..inputs * outputs).map(|_| rng.random_range(-0.1..0.1)).collect();
        let b = vec![0.01f32; outputs];
        let mut y = vec![0f32; rows * outputs];
        let shape = DenseShape { rows, inputs, outputs };
        g.throughput(Throughput::Elements((2 * rows * inputs * outputs) as u64));
        g.bench_with_input(BenchmarkId::from_parameter(format!("{rows}x{inputs}x{outputs}")), &shape, |bench, &shape| {
            bench.iter(|| simd::dense(shape, &x, &w, &b, Activation::Relu, &mut y));
        });
    }
    g.finish();
}

/// The network work of one EnhancedRL update with the shipped model's sizes
/// and the default config: a batch of 64 lists, each of 6 shown pairs and
/// `critic_unshown` unshown ones (21 state inputs, 14 action dims, and the
/// margin column when `critic_margin` is on); the target actor over all 50
/// candidates of each next list, for the margins' cut-offs; both critic
/// groups' ensembles forward and backward with an Adam step; then the actor
/// forward, every critic's input gradient, and the actor's step.
fn training_update(c: &mut Criterion) {
    let cfg = TrainConfig::default();
    let (state, action, pairs) = (21, 14, cfg.batch * (6 + cfg.critic_unshown));
    let margin = cfg.critic_margin as usize;
    let mut rng = StdRng::seed_from_u64(2);
    let mut actor = Mlp::new(&[vec![state], cfg.actor_hidden.clone(), vec![action]].concat(), Head::Tanh, &mut rng);
    let mut actor_opt = Adam::new(&actor, cfg.actor_lr, cfg.clip);
    let widths = [vec![state + action + margin], cfg.critic_hidden.clone(), vec![1]].concat();
    let mut critics: Vec<Mlp> = (0..2 * cfg.ensemble).map(|_| Mlp::new(&widths, Head::Linear, &mut rng)).collect();
    let mut opts: Vec<Adam> = critics.iter().map(|m| Adam::new(m, cfg.critic_lr, cfg.clip)).collect();
    let candidates = Array2::from_shape_fn((cfg.batch * 50 * margin, state), |_| rng.random_range(-1.0..1.0f32));
    let s = Array2::from_shape_fn((pairs, state), |_| rng.random_range(-1.0..1.0f32));
    let x = Array2::from_shape_fn((pairs, state + action + margin), |_| rng.random_range(-1.0..1.0f32));
    let grad = Array2::from_elem((pairs, 1), 0.01f32);
    let mut g = c.benchmark_group("enhanced_update");
    g.throughput(Throughput::Elements(pairs as u64));
    g.bench_function("default_config_networks", |bench| {
        bench.iter(|| {
            if margin > 0 {
                std::hint::black_box(actor.predict(&candidates));
            }
            for (critic, opt) in critics.iter_mut().zip(&mut opts) {
                let tape = critic.forward(&x);
                let (grads, _) = critic.backward(&tape, &grad);
                opt.step(critic, &grads);
            }
            let atape = actor.forward(&s);
            let mut grad_a = Array2::<f32>::zeros((pairs, action));
            for critic in &critics {
                let tape = critic.forward(&x);
                let (_, gx) = critic.backward(&tape, &grad);
                grad_a += &gx.slice(ndarray::s![.., state..state + action]);
            }
            let (agrads, _) = actor.backward(&atape, &grad_a);
            actor_opt.step(&mut actor, &agrads);
        });
    });
    g.finish();
}

criterion_group!(benches, dense_kernel, training_update);
criterion_main!(benches);
