"""Scales a sweep can run at: the same spaces, from a seconds-long smoke test to the paper.

A preset fixes how long each trial trains, how metrics are sampled and the default grid
sizes; a space decides which cells are compared.
"""

from __future__ import annotations

from dataclasses import dataclass, field

#: the literature's run length (disentanglement_lib: 300k steps at batch 64)
PAPER_STEPS = 300_000
#: the study preset's run length, chosen by measurement (docs/results/README.md)
STUDY_STEPS = 1200
#: the study preset's learning rate, chosen by measuring posterior collapse (docs/results/README.md)
STUDY_LR = 3e-4


@dataclass(frozen=True)
class Preset:
    name: str
    description: str
    steps: int
    batch_size: int
    lr: float
    log_every: int
    checkpoint_every: int
    image_every: int
    seeds: int
    metrics: tuple[str, ...]
    eval_num_train: int
    eval_num_test: int
    eval_options: dict = field(default_factory=dict)
    #: L-VAE regulariser strengths of the ``lvae_reg`` space
    lambdas: tuple[float, ...] = (0.001, 0.01, 0.1, 1.0)
    #: fixed-beta reference grid (disentanglement_lib's)
    betas: tuple[float, ...] = (1.0, 2.0, 4.0, 6.0, 8.0, 16.0)
    architectures: tuple[str, ...] = ("conv", "conv_wide", "mlp")
    #: learning rate of L-VAE's loss weights (None: the network's); short presets raise it
    #: so the learned beta reaches its balance within the run, as the controllers' schedules
    #: are compressed
    objective_lr: float | None = None
    #: number of configurations Optuna suggests (each repeated over ``seeds``)
    optuna_samples: int = 20
    #: Adam betas of L-VAE's loss weights (TrainConfig.objective_betas; measured in
    #: docs/objectives.md, "Optimising the loss weights")
    objective_betas: tuple[float, float] = (0.5, 0.9)
    #: metrics along training every N steps (0: off), on small samples with the fast probe
    eval_every: int = 0
    track_num_train: int = 2000
    track_num_test: int = 1000
    #: deterministic kernels (bit-reproducible GPU runs)
    deterministic: bool = False

    @property
    def controller_time_scale(self) -> float:
        """How much shorter than the literature's run this one is: ControlVAE/DynamicVAE
        run in time compressed by this factor (schedule, integral gain and KL window
        rescaled together; docs/objectives.md, "Compressed time")."""
        return max(1.0, PAPER_STEPS / self.steps)


PRESETS: dict[str, Preset] = {
    p.name: p
    for p in (
        Preset(
            name="smoke",
            description="seconds per trial; what the tests use",
            # 60 steps: L-VAE's weights track their balance within 0.1 (log) by the end;
            # at 20 steps K swings from 0.01 to 130 nats and back and nothing settles
            steps=60,
            batch_size=32,
            lr=1e-3,
            objective_lr=0.1,
            log_every=5,
            checkpoint_every=20,
            image_every=0,
            seeds=1,
            metrics=("mig", "dci", "sap", "modularity", "active_units"),
            eval_num_train=400,
            eval_num_test=200,
            eval_options={"dci_probe": "hgb"},
            lambdas=(0.1, 1.0),
            betas=(4.0,),
            architectures=("conv", "mlp"),
            optuna_samples=2,
        ),
        Preset(
            name="local",
            description="the README's main job: a real comparison on a 2-core laptop in under "
            "12 minutes from a fresh clone",
            # retuned by measuring collapse (docs/presets.md): at 400 steps, batch 64 and
            # Adam 1e-3, 5 of 12 trials ended with no KL; at 3e-4 and batch 32 every measured
            # run (18, seeds 0-3) had left the mean-image state by step 650, and a step at
            # batch 32 costs about 0.6 of one at 64 (700 steps ~ 400 at 64)
            steps=700,
            batch_size=32,
            lr=STUDY_LR,
            objective_lr=0.1,
            log_every=25,
            checkpoint_every=200,
            image_every=350,
            seeds=2,
            metrics=("mig", "dci", "sap", "modularity", "active_units"),
            eval_num_train=3000,
            eval_num_test=1500,
            eval_options={"dci_probe": "hgb"},
            # no lambda = 0: its beta = R/K runs away (to ~1e9) and empties the code in every
            # run, two collapsed trials by design (the paper preset keeps it)
            lambdas=(0.1, 1.0),
            betas=(4.0, 16.0),
            architectures=("conv", "mlp"),
            optuna_samples=4,
        ),
        Preset(
            name="study",
            description="evidence at laptop scale: the lvae_reg question, 6 seeds per cell, "
            "metrics along training, in at most 100 minutes on 2 cores (docs/results/)",
            steps=STUDY_STEPS,
            batch_size=64,
            # 3e-4, not 1e-3: at 1e-3 the KL term emptied the codes in the first ~150 steps
            # and 3 of 5 beta = 16 seeds never recovered; at 3e-4 all did (docs/results/README.md)
            lr=STUDY_LR,
            objective_lr=0.1,
            log_every=50,
            checkpoint_every=500,
            image_every=0,
            # 6: the fewest paired seeds whose exact sign test can reach 95% (5 cannot)
            seeds=6,
            metrics=("mig", "dci", "sap", "modularity", "active_units"),
            eval_num_train=3000,
            eval_num_test=1500,
            eval_options={"dci_probe": "hgb"},
            lambdas=(0.1, 1.0),
            # the VAE and three betas across 2-16: with each L-VAE cell's beta-matched twin
            # (12 more trials) the study stays within 100 minutes on 2 cores (48 trials; the
            # 42-trial study without twins took 75.7 min, docs/results/README.md)
            betas=(1.0, 2.0, 4.0, 16.0),
            architectures=("conv",),
            eval_every=300,
            track_num_train=1000,
            track_num_test=500,
            optuna_samples=4,
        ),
        Preset(
            name="paper",
            description="the literature's scale: 300k steps at batch 64, full metric sample "
                        "sizes, 10 seeds",
            steps=PAPER_STEPS,
            batch_size=64,
            lr=1e-4,
            log_every=500,
            checkpoint_every=10_000,
            image_every=25_000,
            seeds=10,
            metrics=("mig", "dci", "sap", "modularity", "active_units", "factor_vae", "beta_vae"),
            eval_num_train=10_000,
            eval_num_test=5_000,
            eval_options={"dci_probe": "gbt"},
            lambdas=(0.0, 0.001, 0.003, 0.01, 0.03, 0.1, 0.3, 1.0),
            optuna_samples=40,
            objective_lr=0.01,
            deterministic=True,
        ),
    )
}


def get_preset(name: str) -> Preset:
    if name not in PRESETS:
        raise KeyError(f"unknown preset {name!r}; valid presets: {', '.join(PRESETS)}")
    return PRESETS[name]
