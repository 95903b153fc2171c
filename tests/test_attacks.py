"""Tests for multisheets.attacks on a small CNN trained on seeded synthetic data (CPU, a few seconds)."""

from __future__ import annotations

import sys

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from multisheets.interventions.attacks import fgsm, pgd, robust_predictions

N_CLASSES = 4
N_TEST = 1000
COLOURS = torch.tensor([[0.75, 0.35, 0.35], [0.35, 0.75, 0.35], [0.35, 0.35, 0.75], [0.65, 0.65, 0.35]])


def make_data(n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """3x16x16 images: a class-coloured disc of random centre/radius on grey, plus Gaussian noise."""
    g = torch.Generator().manual_seed(seed)
    labels = torch.randint(0, N_CLASSES, (n,), generator=g)
    yy, xx = torch.meshgrid(torch.arange(16.0), torch.arange(16.0), indexing="ij")
    cy = torch.randint(4, 12, (n, 1, 1), generator=g).float()
    cx = torch.randint(4, 12, (n, 1, 1), generator=g).float()
    radius = 2 + 2 * torch.rand(n, 1, 1, generator=g)
    mask = (((yy - cy) ** 2 + (xx - cx) ** 2) <= radius**2).float().unsqueeze(1)
    images = 0.5 * (1 - mask) + COLOURS[labels][:, :, None, None] * mask
    images = images + 0.3 * torch.randn(n, 3, 16, 16, generator=g)
    return images.clamp(0, 1), labels


class SmallCNN(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("mean", torch.full((1, 3, 1, 1), 0.5))
        self.register_buffer("std", torch.full((1, 3, 1, 1), 0.25))
        self.conv1 = nn.Conv2d(3, 8, 3, padding=1)
        self.bn = nn.BatchNorm2d(8)  # makes train/eval mode observable (running stats)
        self.conv2 = nn.Conv2d(8, 16, 3, padding=1)
        self.fc = nn.Linear(16, N_CLASSES)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = (x - self.mean) / self.std
        x = F.max_pool2d(F.relu(self.bn(self.conv1(x))), 2)
        x = F.relu(self.conv2(x))
        return self.fc(x.amax(dim=(2, 3)))


@pytest.fixture(scope="module")
def setup():
    torch.manual_seed(0)
    x_train, y_train = make_data(4000, seed=1)
    images, labels = make_data(N_TEST, seed=2)
    model = SmallCNN()
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    for _ in range(4):
        perm = torch.randperm(len(x_train))
        for i in range(0, len(x_train), 128):
            b = perm[i : i + 128]
            loss = F.cross_entropy(model(x_train[b]), y_train[b])
            opt.zero_grad()
            loss.backward()
            opt.step()
    opt.zero_grad(set_to_none=True)
    model.eval()
    for p in model.parameters():
        p.grad = None
    clean = accuracy(model, images, labels)
    assert clean >= 0.85, clean
    return model, images, labels


def accuracy(model: nn.Module, images: torch.Tensor, labels: torch.Tensor) -> float:
    with torch.no_grad():
        return (model(images).argmax(1) == labels).float().mean().item()


def linf_pgd_kwargs(eps: float, steps: int = 20, **kw) -> dict:
    return dict(norm="linf", eps=eps, step_size=2.5 * eps / steps, steps=steps, **kw)


def l2_pgd_kwargs(eps: float, steps: int = 20, **kw) -> dict:
    return dict(norm="l2", eps=eps, step_size=2.5 * eps / steps, steps=steps, **kw)


ATTACK_CASES = {
    "fgsm": lambda m, x, y, eps: fgsm(m, x, y, eps),
    "pgd_linf": lambda m, x, y, eps: pgd(m, x, y, **linf_pgd_kwargs(eps, steps=5)),
    "pgd_l2": lambda m, x, y, eps: pgd(m, x, y, **l2_pgd_kwargs(eps, steps=5)),
}


@pytest.mark.parametrize("name", list(ATTACK_CASES))
def test_eps_zero_returns_clean(setup, name):
    model, images, labels = setup
    x, y = images[:200], labels[:200]
    adv = ATTACK_CASES[name](model, x, y, 0.0)
    assert torch.equal(adv, x)
    kw = {} if name == "fgsm" else dict(step_size=0.01, steps=3)
    logits = robust_predictions(model, x, y, attack=name, batch_size=64, eps=0.0, **kw)
    with torch.no_grad():
        clean_logits = model(x)
    assert logits.dtype == torch.float32 and logits.shape == (200, N_CLASSES)
    torch.testing.assert_close(logits, clean_logits)


@pytest.mark.parametrize(("name", "eps"), [("fgsm", 8 / 255), ("pgd_linf", 8 / 255), ("pgd_l2", 0.5)])
def test_ball_range_params_and_mode(setup, name, eps):
    model, images, labels = setup
    x, y = images[:200], labels[:200]
    state = {k: v.clone() for k, v in model.state_dict().items()}
    model.train()  # the attack must evaluate in eval mode and restore train mode afterwards
    model.conv2.eval()  # mixed per-module modes are restored too
    try:
        adv = ATTACK_CASES[name](model, x, y, eps)
        assert model.training and model.bn.training and not model.conv2.training
    finally:
        model.eval()
    assert adv.shape == x.shape and adv.dtype == x.dtype and adv.device == x.device
    assert not adv.requires_grad
    assert adv.min() >= 0 and adv.max() <= 1
    delta = (adv - x).flatten(1)
    if name == "pgd_l2":
        assert delta.norm(dim=1).max() <= eps + 1e-5
    else:
        assert delta.abs().max() <= eps + 1e-6
    assert delta.abs().max() > 0  # it did perturb
    for k, v in model.state_dict().items():
        assert torch.equal(v, state[k]), k  # BatchNorm running stats untouched => ran in eval mode
    assert all(p.grad is None for p in model.parameters())
    assert accuracy(model, adv, y) < accuracy(model, x, y)


def robust_accuracy(model, images, labels, attack, **kw) -> float:
    logits = robust_predictions(model, images, labels, attack=attack, batch_size=500, **kw)
    return (logits.argmax(1) == labels).float().mean().item()


@pytest.mark.parametrize(
    ("attack", "grid", "steps"),
    [
        ("pgd_linf", [0, 0.5 / 255, 1 / 255, 2 / 255, 4 / 255, 8 / 255, 16 / 255], 10),
        ("pgd_l2", [0, 0.1, 0.25, 0.5, 1.0], 10),
        ("fgsm", [0, 1 / 255, 4 / 255, 8 / 255, 16 / 255], None),
    ],
)
def test_accuracy_falls_with_eps(setup, attack, grid, steps):
    model, images, labels = setup
    images, labels = images[:500], labels[:500]
    accs = []
    for eps in grid:
        kw = {}
        if steps is not None:
            kw = dict(step_size=2.5 * eps / steps, steps=steps, generator=torch.Generator().manual_seed(0))
        accs.append(robust_accuracy(model, images, labels, attack, eps=eps, **kw))
    assert accs[0] == pytest.approx(accuracy(model, images, labels))
    assert all(b <= a for a, b in zip(accs, accs[1:])), accs
    assert accs[-1] < accs[0] - 0.5, accs  # the curve actually falls on this toy model


@pytest.mark.parametrize("kwargs", [linf_pgd_kwargs(8 / 255, steps=5), l2_pgd_kwargs(0.5, steps=5)])
def test_determinism_and_restarts(setup, kwargs):
    model, images, labels = setup
    x, y = images[:300], labels[:300]

    def run(seed, restarts):
        return pgd(model, x, y, **kwargs, restarts=restarts, generator=torch.Generator().manual_seed(seed))

    a, b, c = run(0, 3), run(0, 3), run(1, 3)
    assert torch.equal(a, b)
    assert not torch.equal(a, c)
    # Restart 0 draws the same start as a single run; later restarts only replace non-fooled examples.
    single = run(0, 1)
    with torch.no_grad():
        fooled_single = model(single).argmax(1) != y
        fooled_multi = model(a).argmax(1) != y
    assert torch.equal(a[fooled_single], single[fooled_single])
    assert bool((fooled_multi | ~fooled_single).all())
    assert fooled_multi.sum() >= fooled_single.sum()


def test_autocast_bf16(setup):
    model, images, labels = setup
    x, y = images[:100], labels[:100]
    kw = linf_pgd_kwargs(8 / 255, steps=3, generator=torch.Generator().manual_seed(0))
    adv = pgd(model, x, y, **kw, autocast_dtype=torch.bfloat16)
    ref = pgd(model, x, y, **{**kw, "generator": torch.Generator().manual_seed(0)})
    assert adv.dtype == torch.float32
    assert (adv - x).abs().max() <= 8 / 255 + 1e-6 and adv.min() >= 0 and adv.max() <= 1
    assert abs(accuracy(model, adv, y) - accuracy(model, ref, y)) <= 0.1
    logits = robust_predictions(
        model,
        x,
        y,
        attack="pgd_linf",
        batch_size=50,
        autocast_dtype=torch.bfloat16,
        **{k: v for k, v in kw.items() if k != "norm"},
    )
    assert logits.dtype == torch.float32 and logits.shape == (100, N_CLASSES)


def test_invalid_choices(setup):
    model, images, labels = setup
    x, y = images[:4], labels[:4]
    with pytest.raises(ValueError, match="linf.*l2"):
        pgd(model, x, y, norm="l1", eps=0.1, step_size=0.01, steps=1)
    with pytest.raises(ValueError, match="fgsm.*pgd_linf.*pgd_l2"):
        robust_predictions(model, x, y, attack="cw", batch_size=2, eps=0.1)
    with pytest.raises(ValueError):
        fgsm(model, x, y, -0.1)


# ---------------------------------------------------------------- agreement with torchattacks


def _ta_accuracy(model, images, labels, attack) -> float:
    torch.manual_seed(1234)  # torchattacks draws its random start from the global RNG
    return accuracy(model, attack(images, labels), labels)


# Without a random start both implementations are deterministic and mathematically identical, so the
# robust accuracies must agree (they do exactly here). With a random start both are random; for Linf the
# start distributions match (uniform in the cube). For L2 they differ by design: we start uniformly in the
# ball (radius eps * U**(1/d), i.e. almost always ~eps in d = 768 dimensions), torchattacks uses radius
# eps * U. Starting on the sphere leaves more random noise in the perturbation after 20 steps, which makes
# our L2 attack ~0.5 pp weaker than torchattacks' on this model (seed-to-seed spread ~0.3 pp), hence the
# wider tolerance for that one case.
AGREEMENT_CASES = [
    ("linf", 4 / 255, False, 0.005),
    ("linf", 8 / 255, True, 0.005),
    ("l2", 0.25, False, 0.005),
    ("l2", 0.5, True, 0.015),
]


@pytest.mark.parametrize(("norm", "eps", "random_start", "tol"), AGREEMENT_CASES)
def test_pgd_agrees_with_torchattacks(setup, norm, eps, random_start, tol):
    torchattacks = pytest.importorskip("torchattacks")
    model, images, labels = setup
    steps, alpha = 20, 2.5 * eps / 20
    cls = torchattacks.PGD if norm == "linf" else torchattacks.PGDL2
    theirs = _ta_accuracy(
        model, images, labels, cls(model, eps=eps, alpha=alpha, steps=steps, random_start=random_start)
    )
    ours = robust_accuracy(
        model,
        images,
        labels,
        f"pgd_{norm}",
        eps=eps,
        step_size=alpha,
        steps=steps,
        random_start=random_start,
        generator=torch.Generator().manual_seed(0),
    )
    print(f"pgd_{norm} eps={eps:.4f} random_start={random_start}: ours={ours:.4f} torchattacks={theirs:.4f}")
    assert abs(ours - theirs) <= tol


@pytest.mark.parametrize("eps", [2 / 255, 8 / 255])
def test_fgsm_agrees_with_torchattacks(setup, eps):
    torchattacks = pytest.importorskip("torchattacks")
    model, images, labels = setup
    theirs = _ta_accuracy(model, images, labels, torchattacks.FGSM(model, eps=eps))
    ours = robust_accuracy(model, images, labels, "fgsm", eps=eps)
    print(f"fgsm eps={eps:.4f}: ours={ours:.4f} torchattacks={theirs:.4f}")
    assert abs(ours - theirs) <= 0.005


# ---------------------------------------------------------------- AutoAttack (torchattacks' implementation)


def test_autoattack_is_set_up_as_the_reference_implementation():
    torchattacks = pytest.importorskip("torchattacks")
    from multisheets.interventions.autoattack import REFERENCE_STEPS, reference_attack

    model = SmallCNN().eval()
    for version, kinds in [
        ("standard", ["APGD", "APGDT", "FAB", "Square"]),
        ("plus", ["APGD", "APGD", "FAB", "Square", "APGDT", "FAB"]),
        ("rand", ["APGD", "APGD"]),
    ]:
        attacks = reference_attack(model, "linf", 8 / 255, version, N_CLASSES, seed=3)._autoattack.attacks
        assert [type(attack).__name__ for attack in attacks] == kinds, version
        for attack in attacks:
            assert attack.seed == 3 and attack.eps == 8 / 255
            if isinstance(attack, torchattacks.Square):
                assert attack.n_queries == 5000 and not attack.rescale_schedule
            else:
                assert attack.steps == REFERENCE_STEPS  # torchattacks' own default is 10
            if isinstance(attack, torchattacks.APGDT | torchattacks.FAB):
                assert attack.n_target_classes == N_CLASSES - 1
    for attack in reference_attack(model, "l2", 0.5, "standard", 100, seed=0)._autoattack.attacks:
        if isinstance(attack, torchattacks.APGDT | torchattacks.FAB):
            assert attack.n_target_classes == 9  # the reference's top 9 (torchattacks' default: all 99 others)


def test_autoattack_refuses_what_it_cannot_run(setup, monkeypatch):
    pytest.importorskip("torchattacks")
    from multisheets.interventions.autoattack import autoattack

    model, images, labels = setup
    x, y = images[:4], labels[:4]
    assert torch.equal(autoattack(model, x, y, norm="linf", eps=0.0), x)
    with pytest.raises(ValueError, match="linf, l2"):
        autoattack(model, x, y, norm="l1", eps=0.1)
    with pytest.raises(ValueError, match="standard, plus, rand"):
        autoattack(model, x, y, norm="linf", eps=0.1, version="fast")
    with pytest.raises(ValueError, match="at least 4 classes"):
        autoattack(nn.Sequential(nn.Flatten(), nn.Linear(3 * 16 * 16, 3)), x, y, norm="linf", eps=0.1)
    monkeypatch.setitem(sys.modules, "torchattacks", None)  # as if it were not installed
    with pytest.raises(ImportError, match='pip install --no-deps "torchattacks>=3.5"'):
        robust_predictions(model, x, y, attack="autoattack_linf", batch_size=4, eps=0.1)


@pytest.mark.slow
@pytest.mark.parametrize(("norm", "eps"), [("linf", 8 / 255), ("l2", 0.5)])
def test_autoattack_is_no_weaker_than_our_pgd_and_stays_in_the_ball(setup, norm, eps):
    """AutoAttack's robust accuracy is at most our 50-step PGD's (plus one image of rounding), its images lie in the
    eps ball and [0, 1], and it leaves the model (modes, parameters, buffers, gradients) and the global RNG as they
    were. Each case ~20-40 s on one CPU core: the Square attack's 5,000 queries on the examples still robust."""
    pytest.importorskip("torchattacks")
    from multisheets.interventions.autoattack import autoattack

    model, images, labels = setup
    x, y = images[:100], labels[:100]
    state = {k: v.clone() for k, v in model.state_dict().items()}
    rng = torch.get_rng_state()
    model.train()
    model.conv2.eval()
    try:
        adv = autoattack(model, x, y, norm=norm, eps=eps, seed=0)
        assert model.training and model.bn.training and not model.conv2.training
    finally:
        model.eval()
    assert torch.equal(torch.get_rng_state(), rng)
    for k, v in model.state_dict().items():
        assert torch.equal(v, state[k]), k
    assert all(p.grad is None for p in model.parameters()) and all(p.requires_grad for p in model.parameters())
    assert adv.shape == x.shape and adv.dtype == x.dtype and adv.min() >= 0 and adv.max() <= 1
    delta = (adv - x).flatten(1)
    assert (delta.abs().max(dim=1).values if norm == "linf" else delta.norm(dim=1)).max() <= eps + 1e-6
    kwargs = linf_pgd_kwargs(eps, steps=50) if norm == "linf" else l2_pgd_kwargs(eps, steps=50)
    ours = accuracy(model, pgd(model, x, y, **kwargs, generator=torch.Generator().manual_seed(0)), y)
    theirs = accuracy(model, adv, y)
    print(f"{norm} eps={eps:.4f}: AutoAttack {theirs:.2f}, our PGD-50 {ours:.2f}, clean {accuracy(model, x, y):.2f}")
    assert theirs <= ours + 0.01


@pytest.mark.slow
def test_autoattack_is_reproducible_from_its_seed(setup):
    pytest.importorskip("torchattacks")
    model, images, labels = setup
    x, y = images[:40], labels[:40]  # at 16/255 nearly every image falls to APGD-CE: Square has little to do

    def run(seed):
        kw = dict(attack="autoattack_linf", batch_size=20, eps=16 / 255, seed=seed)
        return robust_predictions(model, x, y, **kw)

    first = run(0)
    assert torch.equal(first, run(0)) and first.shape == (40, N_CLASSES)


# Our PGD (a fixed step size, 2.5 eps / steps, from a random start) and APGD-CE (a step size that adapts, from
# the ball's centre, checkpoints that halve it and restart from the best point) maximise the same loss: with
# enough steps both reach about the same robust accuracy. Measured on this model with 500 images: see the print.
@pytest.mark.slow
@pytest.mark.parametrize(("norm", "eps"), [("linf", 4 / 255), ("linf", 8 / 255), ("l2", 0.5)])
def test_apgd_ce_agrees_with_our_pgd(setup, norm, eps):
    torchattacks = pytest.importorskip("torchattacks")
    model, images, labels = setup
    x, y = images[:500], labels[:500]
    apgd = torchattacks.APGD(model, norm={"linf": "Linf", "l2": "L2"}[norm], eps=eps, steps=100, seed=0, loss="ce")
    theirs = _ta_accuracy(model, x, y, apgd)
    kwargs = linf_pgd_kwargs(eps, steps=50) if norm == "linf" else l2_pgd_kwargs(eps, steps=50)
    kwargs = {k: v for k, v in kwargs.items() if k != "norm"} | {"generator": torch.Generator().manual_seed(0)}
    ours = robust_accuracy(model, x, y, f"pgd_{norm}", **kwargs)
    print(f"{norm} eps={eps:.4f}: APGD-CE (100 steps) {theirs:.3f}, our PGD (50 steps) {ours:.3f}")
    assert abs(ours - theirs) <= 0.03
