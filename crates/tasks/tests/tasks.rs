//! Task generators: shapes, the statistics the paper states, determinism, config parsing and errors.

use gentk_tasks::*;

fn svd_values(rows: usize, cols: usize, data: &[f64]) -> Vec<f64> {
    let m = faer::Mat::from_fn(rows, cols, |i, j| data[i * cols + j]);
    let s = m.thin_svd().unwrap();
    let v = s.S().column_vector();
    (0..cols).map(|i| v[i]).collect()
}

#[test]
fn memory_pro_noise_free_target_singular_values() {
    // PAPER.md §7.4: √(60n), √(15n), √(15n) = 42.43, 21.21, 21.21 for n = 30.
    let cfg = MemoryProConfig {
        n_samples: 30,
        ..Default::default()
    };
    let d = memory_pro(&cfg, false, 0).unwrap();
    assert_eq!((d.n, d.time, d.n_in, d.n_out), (30, 90, 3, 3));
    let s = svd_values(30 * 90, 3, &d.targets);
    let want = [
        (60.0f64 * 30.0).sqrt(),
        (15.0f64 * 30.0).sqrt(),
        (15.0f64 * 30.0).sqrt(),
    ];
    for (a, b) in s.iter().zip(want) {
        assert!((a - b).abs() < 1e-9, "{s:?}");
    }
    assert!((s[0] - 42.43).abs() < 5e-3 && (s[1] - 21.21).abs() < 5e-3);
    // Evenly spaced angles in order, fixation epochs, no input noise.
    assert!((d.input(1, 0, 1) - (2.0 * std::f64::consts::PI / 30.0).cos()).abs() < 1e-15);
    assert_eq!(d.input(0, 59, 0), 1.0);
    assert_eq!(d.input(0, 60, 0), 0.0);
    assert_eq!(d.input(0, 30, 1), 0.0);
    assert_eq!(d.target(3, 59, 1), 0.0);
    assert_eq!(d.target(3, 60, 1), d.input(3, 0, 1));
}

#[test]
fn memory_pro_variants() {
    let anti = memory_pro(
        &MemoryProConfig {
            n_samples: 8,
            anti: true,
            ..Default::default()
        },
        false,
        0,
    )
    .unwrap();
    assert_eq!(anti.target(2, 70, 2), -anti.input(2, 0, 2));
    let delay = memory_pro(
        &MemoryProConfig {
            n_samples: 8,
            delay: true,
            ..Default::default()
        },
        false,
        0,
    )
    .unwrap();
    assert_eq!(delay.input(2, 80, 1), delay.input(2, 0, 1));
    let noisy = memory_pro(
        &MemoryProConfig {
            n_samples: 2000,
            ..Default::default()
        },
        true,
        3,
    )
    .unwrap();
    // Input noise std 0.1·√2 on the memory-epoch cos channel (no signal there).
    let xs: Vec<f64> = (0..2000).map(|b| noisy.input(b, 45, 1)).collect();
    let sd = (xs.iter().map(|x| x * x).sum::<f64>() / 2000.0).sqrt();
    assert!((sd - 0.1 * 2f64.sqrt()).abs() < 0.01, "noise sd {sd}");
    let oh = memory_pro_one_hot(&MemoryProOneHotConfig::default(), false, 0).unwrap();
    assert_eq!((oh.n_in, oh.n_out), (31, 31));
    assert_eq!(oh.input(31, 5, 1 + 1), 1.0); // trial 31 → class 1
    assert_eq!(oh.target(31, 70, 2), 1.0);
}

#[test]
fn multi_task_shape_and_no_shared_state() {
    let cfg = MultiTaskConfig::default();
    let a = multi_task(&cfg, false, 0).unwrap();
    assert_eq!((a.n, a.time, a.n_in, a.n_out), (1000, 120, 7, 3));
    // Creating it twice does not change n_samples (kpflow's mutation is not reproduced).
    let b = multi_task(&cfg, false, 0).unwrap();
    assert_eq!(cfg.base.n_samples, 1000);
    assert_eq!(a, b);
    // Task channel k on during the context for the k-th quarter; delay tasks show the stimulus late.
    assert_eq!(a.input(0, 5, 3), 1.0);
    assert_eq!(a.input(600, 5, 5), 1.0);
    assert_eq!(a.input(600, 5, 3), 0.0);
    assert_eq!(a.input(0, 30 + 40, 1), 0.0);
    assert!(a.input(600, 30 + 40, 1) != 0.0 || a.input(600, 30 + 40, 2) != 0.0);
    assert_eq!(a.target(300, 100, 1), -a.input(300, 30, 1)); // MemAnti
}

#[test]
fn flip_flop_spike_rate_and_sample_and_hold() {
    let cfg = FlipFlopConfig {
        n_samples: 2000,
        ..Default::default()
    };
    let d = flip_flop(&cfg, false, 5).unwrap();
    let spikes = d.inputs.iter().filter(|v| **v != 0.0).count() as f64;
    let per_channel_per_trial = spikes / (2000.0 * 3.0);
    // ≈ T/20 = 4.5 spikes per channel per trial (Poisson total per column: sd ≈ 1.5 % here).
    assert!(
        (per_channel_per_trial - 4.5).abs() < 0.15,
        "{per_channel_per_trial}"
    );
    for b in 0..20 {
        for c in 0..3 {
            let mut held = 0.0;
            for t in 0..90 {
                if d.input(b, t, c) != 0.0 {
                    held = d.input(b, t, c);
                }
                assert_eq!(d.target(b, t, c), held);
            }
        }
    }
    let anti = flip_flop(
        &FlipFlopConfig {
            n_samples: 50,
            mix_anti: true,
            ..Default::default()
        },
        false,
        5,
    )
    .unwrap();
    assert_eq!(anti.n_in, 4);
    for b in 0..50 {
        let s = anti.input(b, 0, 3);
        assert!(s == 1.0 || s == -1.0);
        assert!((0..90).all(|t| anti.input(b, t, 3) == s));
    }
}

#[test]
fn low_rank_forecast_dynamics_and_seeds() {
    let cfg = LowRankForecastConfig {
        n_samples: 20,
        time: 10,
        dim: 12,
        latent: 3,
        d_inp: 5,
        d_targ: 4,
        ..Default::default()
    };
    let f = low_rank_forecast(&cfg, false).unwrap();
    let (k, dd, steps) = (3, 12, 11);
    // z_{t+1} = 0.8 z_t + 0.2 A z_t; A orthogonal.
    for b in 0..20 {
        for t in 0..10 {
            for i in 0..k {
                let zt = &f.z[b * steps * k + t * k..];
                let az: f64 = (0..k).map(|j| f.a[i * k + j] * zt[j]).sum();
                assert!(
                    (f.z[b * steps * k + (t + 1) * k + i] - (0.8 * zt[i] + 0.2 * az)).abs() < 1e-12
                );
            }
        }
    }
    let ata: f64 = (0..k)
        .map(|j| (0..k).map(|i| f.a[i * k + j] * f.a[i * k + 1]).sum::<f64>())
        .map(|v| v * v)
        .sum();
    assert!((ata - 1.0).abs() < 1e-12);
    // The target at t is the target feature map applied to x_{t+1}.
    let (_, _, wt, bt) = &f.features;
    for b in [0, 7] {
        for t in [0, 9] {
            let xn = &f.x[b * steps * dd + (t + 1) * dd..];
            for o in 0..4 {
                let v = ((0..dd).map(|i| wt[o * dd + i] * xn[i]).sum::<f64>() + bt[o]).sin();
                assert!((f.data.target(b, t, o) - v).abs() < 1e-12);
            }
        }
    }
    // Bit-reproducible; structure and data seeds act separately.
    assert_eq!(f, low_rank_forecast(&cfg, false).unwrap());
    let other_data = low_rank_forecast(
        &LowRankForecastConfig {
            seed_data: 9,
            ..cfg.clone()
        },
        false,
    )
    .unwrap();
    assert_eq!(other_data.a, f.a);
    assert_ne!(other_data.z, f.z);
    let other_struct = low_rank_forecast(
        &LowRankForecastConfig {
            seed: 9,
            ..cfg.clone()
        },
        false,
    )
    .unwrap();
    assert_ne!(other_struct.a, f.a);
    assert_eq!(other_struct.z[..k], f.z[..k]);
}

#[test]
fn teacher_student_inputs_have_the_requested_rank() {
    for (r, want) in [(1, 1), (4, 4), (16, 16), (40, 16)] {
        let cfg = TeacherStudentInputConfig {
            n_samples: 20,
            input_rank: r,
            ..Default::default()
        };
        let d = teacher_student_inputs(&cfg, 1).unwrap();
        let s = svd_values(20 * 40, 16, &d.inputs);
        let rank = s.iter().filter(|v| **v > 1e-9 * s[0]).count();
        assert_eq!(rank, want, "rank {r}: {s:?}");
    }
}

#[test]
fn circle_classes_are_balanced_and_gaussians_are_standard() {
    let c = circle(20_000, 3).unwrap();
    let inside = c.targets.iter().filter(|v| **v > 0.0).count() as f64 / 20_000.0;
    assert!((inside - 0.5).abs() < 0.02, "{inside}");
    let g = gaussian_sequences(10, 50, 8, 4).unwrap();
    let var = g.inputs.iter().map(|v| v * v).sum::<f64>() / g.inputs.len() as f64;
    assert!((var - 1.0).abs() < 0.1);
}

#[test]
fn generators_are_pure_functions_of_config_and_seed() {
    let all = [
        TaskConfig::FlipFlop(FlipFlopConfig {
            n_samples: 30,
            ..Default::default()
        }),
        TaskConfig::MemoryPro(MemoryProConfig {
            n_samples: 30,
            ..Default::default()
        }),
        TaskConfig::MultiTask(MultiTaskConfig {
            base: MemoryProConfig {
                n_samples: 8,
                ..Default::default()
            },
            ..Default::default()
        }),
        TaskConfig::TeacherStudent(Default::default()),
        TaskConfig::GaussianSequences(Default::default()),
        TaskConfig::Circle(CircleConfig { n_samples: 50 }),
        TaskConfig::GaussianClusters(GaussianClustersConfig {
            n_samples: 40,
            d_input: 6,
            ..Default::default()
        }),
    ];
    for cfg in &all {
        for noise in [false, true] {
            let a = generate(cfg, noise, 11).unwrap();
            assert_eq!(a, generate(cfg, noise, 11).unwrap(), "{cfg:?}");
            if noise {
                assert_ne!(
                    a,
                    generate(cfg, noise, 12).unwrap(),
                    "{cfg:?}: the seed must matter"
                );
            }
        }
    }
}

#[test]
fn gaussian_clusters_share_their_centres_across_sample_seeds() {
    let cfg = GaussianClustersConfig {
        n_samples: 3000,
        d_input: 20,
        classes: 3,
        center_scale: 2.0,
        centers_seed: 5,
    };
    let dims = TaskConfig::GaussianClusters(cfg.clone()).dims();
    // Class means of two sample draws (seeds 1 and 2) agree within the noise's standard error,
    // and each target row is one-hot.
    let means = |seed: u64| {
        let d = gaussian_clusters(&cfg, seed).unwrap();
        assert_eq!(
            (d.n, d.time, d.n_in, d.n_out),
            (dims.n, dims.time, dims.n_in, dims.n_out)
        );
        let mut sum = vec![0.0; 3 * 20];
        let mut count = [0usize; 3];
        for b in 0..d.n {
            let row: Vec<f64> = (0..3).map(|c| d.target(b, 0, c)).collect();
            assert_eq!(row.iter().sum::<f64>(), 1.0);
            let c = row.iter().position(|v| *v == 1.0).unwrap();
            count[c] += 1;
            for i in 0..20 {
                sum[c * 20 + i] += d.input(b, 0, i);
            }
        }
        assert!(count.iter().all(|&k| k > 800), "{count:?}");
        (0..60)
            .map(|j| sum[j] / count[j / 20] as f64)
            .collect::<Vec<_>>()
    };
    let (a, b) = (means(1), means(2));
    // Each mean has standard error ≈ 1/√1000 ≈ 0.032; centres are N(0, 4) apart.
    let worst = a
        .iter()
        .zip(&b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f64::max);
    assert!(worst < 0.25, "centres moved with the sample seed: {worst}");
    let spread = a.iter().map(|x| x * x).sum::<f64>() / 60.0;
    assert!((spread - 4.0).abs() < 2.0, "centre variance {spread}");
    assert!(
        gaussian_clusters(
            &GaussianClustersConfig {
                classes: 1,
                ..cfg.clone()
            },
            1
        )
        .is_err()
    );
}

#[test]
fn batches_are_seeded_subsets_or_the_first_trials() {
    let d = memory_pro(
        &MemoryProConfig {
            n_samples: 100,
            ..Default::default()
        },
        true,
        0,
    )
    .unwrap();
    let mut s1 = BatchSampler::new(10, true, 7).unwrap();
    let mut s2 = BatchSampler::new(10, true, 7).unwrap();
    let (a, b) = (s1.next(&d).unwrap(), s2.next(&d).unwrap());
    assert_eq!(a, b);
    assert_ne!(a, s1.next(&d).unwrap());
    let mut fixed = BatchSampler::new(10, false, 7).unwrap();
    assert_eq!(fixed.next(&d).unwrap(), d.head(10).unwrap());
    assert!(BatchSampler::new(200, true, 0).unwrap().next(&d).is_err());
}

#[test]
fn impossible_configs_name_the_field() {
    let e = |r: Result<Dataset>| r.unwrap_err().to_string();
    assert!(
        e(memory_pro(
            &MemoryProConfig {
                t_response: 0,
                ..Default::default()
            },
            false,
            0
        ))
        .contains("t_response")
    );
    assert!(
        e(memory_pro(
            &MemoryProConfig {
                noise_std: -1.0,
                ..Default::default()
            },
            true,
            0
        ))
        .contains("noise_std")
    );
    assert!(
        e(flip_flop(
            &FlipFlopConfig {
                time: 0,
                ..Default::default()
            },
            false,
            0
        ))
        .contains("`T`")
    );
    assert!(
        e(flip_flop(
            &FlipFlopConfig {
                n_spike: 0,
                ..Default::default()
            },
            false,
            0
        ))
        .contains("n_spike")
    );
    assert!(
        e(teacher_student_inputs(
            &TeacherStudentInputConfig {
                input_rank: 0,
                ..Default::default()
            },
            0
        ))
        .contains("input_rank")
    );
    assert!(
        e(multi_task(
            &MultiTaskConfig {
                base: MemoryProConfig {
                    n_samples: 3,
                    ..Default::default()
                },
                ..Default::default()
            },
            false,
            0
        ))
        .contains("n_samples")
    );
}

#[test]
fn task_configs_parse_from_toml_with_paper_defaults_and_reject_unknown_keys() {
    let cfg: TaskConfig =
        toml::from_str("kind = \"memory_pro\"\nn_samples = 30\nanti = true").unwrap();
    assert_eq!(
        cfg,
        TaskConfig::MemoryPro(MemoryProConfig {
            n_samples: 30,
            anti: true,
            ..Default::default()
        })
    );
    let cfg: TaskConfig =
        toml::from_str("kind = \"low_rank_forecast\"\nT = 10\nD_targ = 4").unwrap();
    let TaskConfig::LowRankForecast(c) = cfg else {
        panic!()
    };
    assert_eq!((c.time, c.d_targ, c.dim), (10, 4, 100));
    let err = toml::from_str::<TaskConfig>("kind = \"memory_pro\"\nn_sample = 30")
        .unwrap_err()
        .to_string();
    assert!(err.contains("n_sample"), "{err}");
    let err = toml::from_str::<TaskConfig>("kind = \"flip_flop\"\nT = \"ninety\"")
        .unwrap_err()
        .to_string();
    assert!(err.contains("invalid type"), "{err}");
}

#[test]
fn flattened_variant_configs_reject_unknown_keys_too() {
    for kind in ["memory_pro_one_hot", "multi_task"] {
        let err = toml::from_str::<TaskConfig>(&format!("kind = \"{kind}\"\nbogus = 1"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("bogus"), "{kind}: {err}");
        let ok: TaskConfig =
            toml::from_str(&format!("kind = \"{kind}\"\nn_samples = 8\nt_stim = 5")).unwrap();
        let d = generate(&ok, false, 0).unwrap();
        assert_eq!(d.time, if kind == "multi_task" { 95 } else { 65 });
    }
}

#[test]
fn dims_agree_with_the_generated_data_for_every_kind() {
    let cases = [
        r#"kind = "flip_flop"
T = 12
n_samples = 5
mix_anti = true"#,
        r#"kind = "memory_pro"
n_samples = 6
t_stim = 3
t_memory = 4
t_response = 5"#,
        r#"kind = "memory_pro_one_hot"
n_samples = 6
n_angles = 5"#,
        r#"kind = "multi_task"
n_samples = 10
t_context = 4"#,
        r#"kind = "low_rank_forecast"
n_samples = 4
T = 7
D_inp = 3
D_targ = 2"#,
        r#"kind = "teacher_student"
n_samples = 3
T = 6
input_dim = 5
input_rank = 2"#,
        r#"kind = "gaussian_sequences"
n_samples = 3
T = 4
d_input = 6"#,
        r#"kind = "circle"
n_samples = 9"#,
    ];
    for text in cases {
        let cfg: TaskConfig = toml::from_str(text).unwrap();
        for noise in [false, true] {
            let d = generate(&cfg, noise, 3).unwrap();
            let want = TaskDims {
                n: d.n,
                time: d.time,
                n_in: d.n_in,
                n_out: d.n_out,
            };
            assert_eq!(cfg.dims(), want, "{text}");
        }
        // A training set of its own size: 12 trials (multi-task rounds to a multiple of 4),
        // the rest of the shape unchanged.
        let bigger = cfg.with_samples(12);
        let d = generate(&bigger, true, 5).unwrap();
        assert_eq!(d.n, 12, "{text}");
        assert_eq!(
            (d.time, d.n_in, d.n_out),
            (cfg.dims().time, cfg.dims().n_in, cfg.dims().n_out)
        );
    }
}
