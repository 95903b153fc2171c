import pytest
import torch

from multisheets.models.zoo import FrozenScaleBatchNorm, IdentityInitConv, Whitening, build_model, init_whitening


@pytest.mark.parametrize("name,width", [("resnet18", 8), ("cnn", 8), ("fastnet", 8)])
@pytest.mark.parametrize("size", [32, 24])
def test_output_shapes(name, width, size):
    model = build_model(name, num_classes=7, mean=[0.5] * 3, std=[0.25] * 3, width=width)
    assert model(torch.rand(2, 3, size, size)).shape == (2, 7)


def test_resnet18_is_the_cifar_variant():
    model = build_model("resnet18", 10, [0.5] * 3, [0.25] * 3)
    stem = model.backbone[0][0]
    assert stem.kernel_size == (3, 3) and stem.stride == (1, 1)
    assert not any(isinstance(m, torch.nn.MaxPool2d) for m in model.modules())
    assert 11.0e6 < sum(p.numel() for p in model.parameters()) < 11.3e6


def test_unknown_model_is_named():
    with pytest.raises(ValueError, match="unknown model 'vgg'"):
        build_model("vgg", 10, [0.5] * 3, [0.25] * 3)


def test_fastnet_is_residual_free_with_a_fixed_whitening_stem():
    model = build_model("fastnet", 10, [0.5] * 3, [0.25] * 3)
    stem = model.backbone[0]
    assert isinstance(stem, Whitening) and stem.out_channels == 24 and not stem.weight.requires_grad
    assert stem.bias.requires_grad
    norms = [m for m in model.modules() if isinstance(m, FrozenScaleBatchNorm)]
    assert len(norms) == 6 and not any(m.weight.requires_grad for m in norms)
    convs = [m for m in model.modules() if isinstance(m, IdentityInitConv)]
    assert [c.out_channels for c in convs] == [64, 64, 256, 256, 256, 256]
    assert 1.9e6 < sum(p.numel() for p in model.parameters()) < 2.1e6
    first = convs[1].weight  # 64 -> 64: every filter starts as the identity
    assert torch.equal(first[:, :, 1, 1], torch.eye(64)) and first[:, :, 0].abs().sum() == 0


def test_whitening_stem_decorrelates_normalised_patches():
    torch.manual_seed(0)
    # Correlated channels and smooth images, like photographs: the raw 2x2 patch covariance is far from identity.
    base = torch.nn.functional.interpolate(torch.rand(200, 1, 8, 8), size=16, mode="bilinear")
    images = (255 * (0.6 * base + 0.4 * torch.rand(200, 3, 16, 16)).clamp(0, 1)).to(torch.uint8)
    model = build_model("fastnet", 10, [0.5] * 3, [0.2] * 3, width=8)
    init_whitening(model, images)
    stem = model.backbone[0]
    x = (images.float() / 255 - model.mean) / model.std
    features = torch.nn.functional.conv2d(x, stem.weight[:12]).permute(0, 2, 3, 1).reshape(-1, 12)
    covariance = features.T @ features / len(features)
    assert torch.allclose(covariance, torch.eye(12), atol=0.05)  # eps slightly shrinks the smallest directions
    assert torch.equal(stem.weight[12:], -stem.weight[:12])


def test_init_whitening_leaves_models_without_a_stem_alone():
    model = build_model("cnn", 10, [0.5] * 3, [0.25] * 3, width=4)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    init_whitening(model, torch.randint(0, 256, (8, 3, 16, 16), dtype=torch.uint8))
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())


def test_test_time_augmentation_averages_the_documented_views():
    torch.manual_seed(0)
    images = torch.rand(5, 3, 16, 16)
    plain = build_model("cnn", 10, [0.5] * 3, [0.25] * 3, width=4).eval()
    flip = build_model("cnn", 10, [0.5] * 3, [0.25] * 3, width=4, tta="flip").eval()
    full = build_model("cnn", 10, [0.5] * 3, [0.25] * 3, width=4, tta="flip_translate").eval()
    flip.load_state_dict(plain.state_dict())
    full.load_state_dict(plain.state_dict())
    with torch.no_grad():
        assert torch.allclose(flip(images), flip(images.flip(3)), atol=1e-6)  # mirror-invariant
        both = (plain(images) + plain(images.flip(3))) / 2
        assert torch.allclose(flip(images), both, atol=1e-6)
        padded = torch.nn.functional.pad(images, (1, 1, 1, 1), mode="reflect")
        shifted = [(plain(v) + plain(v.flip(3))) / 2 for v in (padded[:, :, :16, :16], padded[:, :, 2:, 2:])]
        assert torch.allclose(full(images), both / 2 + (shifted[0] + shifted[1]) / 4, atol=1e-5)
        full.train()  # training sees the plain model
        plain.train()
        assert torch.allclose(full(images), plain(images), atol=1e-6)


def test_test_time_augmentation_is_differentiable_for_attacks():
    model = build_model("cnn", 10, [0.5] * 3, [0.25] * 3, width=4, tta="flip_translate").eval()
    images = torch.rand(3, 3, 16, 16, requires_grad=True)
    model(images).logsumexp(1).sum().backward()
    assert images.grad is not None and images.grad.abs().sum() > 0


def test_unknown_tta_is_named():
    with pytest.raises(ValueError, match="unknown tta 'crops'"):
        build_model("cnn", 10, [0.5] * 3, [0.25] * 3, tta="crops")


def test_predict_can_skip_test_time_augmentation_and_restores_it():
    from multisheets.models.inference import predict
    from multisheets.models.runtime import make_runtime

    cpu = make_runtime({"device": "cpu"})
    model = build_model("cnn", 10, [0.5] * 3, [0.25] * 3, width=4, tta="flip").train()
    images = torch.randint(0, 256, (6, 3, 16, 16), dtype=torch.uint8)
    plain = predict(model, images, cpu, tta=False)
    assert model.tta == "flip" and model.training
    model.tta = "none"
    assert torch.allclose(plain, predict(model, images, cpu))


# Modules whose CUDA backward has no deterministic kernel (torch.use_deterministic_algorithms raises on them).
NONDETERMINISTIC_ON_CUDA = (
    torch.nn.AdaptiveAvgPool2d,
    torch.nn.AdaptiveMaxPool2d,
    torch.nn.AvgPool3d,
    torch.nn.MaxPool3d,
    torch.nn.ReflectionPad2d,
    torch.nn.ReplicationPad2d,
)


@pytest.mark.parametrize("name", ["resnet18", "cnn", "fastnet"])
def test_models_avoid_modules_without_deterministic_cuda_backward(name):
    model = build_model(name, 10, [0.5] * 3, [0.25] * 3, width=8)
    assert not [m for m in model.modules() if isinstance(m, NONDETERMINISTIC_ON_CUDA)]


def test_deterministic_stand_ins_match_the_torch_modules():
    from multisheets.models.zoo import GlobalPool, reflect_pad1

    x = torch.randn(3, 5, 7, 6)
    assert torch.equal(GlobalPool("max")(x), torch.nn.AdaptiveMaxPool2d(1)(x))
    assert torch.allclose(GlobalPool("mean")(x), torch.nn.AdaptiveAvgPool2d(1)(x), atol=1e-6)
    assert torch.equal(reflect_pad1(x), torch.nn.functional.pad(x, (1, 1, 1, 1), mode="reflect"))


def test_global_max_pool_gradient_is_finite_under_compile_and_bf16():
    """Inductor's backward of `amax` divides the gradient by the number of positions equal to the maximum, and
    recomputes those positions in fp32 against a maximum stored in bf16: no position matches, 0/0 = NaN in every
    weight below the pool (measured on an H200 with the fast preset, 2026-11-26; CPU inductor does the same).
    The pool must give eager's gradient under compile + bf16 autocast."""
    from multisheets.models.zoo import GlobalPool

    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3), torch.nn.GELU(), GlobalPool("max"), torch.nn.Flatten())
    images = torch.randn(16, 3, 8, 8)

    def weight_gradient(forward):
        net.zero_grad()
        with torch.autocast("cpu", torch.bfloat16):
            forward(images).float().square().sum().backward()
        return net[0].weight.grad.clone()

    eager = weight_gradient(net)
    compiled = weight_gradient(torch.compile(net))
    assert compiled.isfinite().all()
    assert torch.allclose(compiled, eager, rtol=0.05, atol=1e-2)
