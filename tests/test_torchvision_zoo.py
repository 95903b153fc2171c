"""torchvision's architectures (`models.torchvision_zoo`): logits at every image size, torchvision's parameter names,
no op without a deterministic CUDA backward, and a graph that torch.compile traces whole.

Names are compared on the meta device (no memory, no arithmetic), so building the large networks at 224 px costs
nothing; shapes and op traces run for real on the CPU, on 1-2 images, one thread: about 70 s for the file on a
quiet 2-core CPU. The compile test traces dynamo and AOT autograd for every network (aot_eager: no inductor code
generation), 2-15 s a network, 76 s for the thirteen (several times that on a busy CPU): marked slow.
"""

import pytest
import torch
import torchvision.models as tv
from test_models import NONDETERMINISTIC_ON_CUDA
from torch.utils._python_dispatch import TorchDispatchMode
from torchvision.models.vision_transformer import VisionTransformer

from multisheets.models.architectures import ARCHITECTURES
from multisheets.models.torchvision_zoo import SMALL_IMAGE_SIDE, AdaptiveAvgPool
from multisheets.models.zoo import GlobalPool, build_model

pytestmark = pytest.mark.usefixtures("one_thread")

ZOO = [name for name, architecture in ARCHITECTURES.items() if architecture.sized]
# torchvision's own network of each name (at 224 px), which ours must match name for name
REFERENCE = {name: getattr(tv, name, None) for name in ZOO} | {
    "vit_ti_16": lambda num_classes: VisionTransformer(224, 16, 12, 3, 192, 768, num_classes=num_classes)
}
# What the small-image variant changes the shape of (everything else loads from an ImageNet state_dict)
SMALL_IMAGE_CHANGES = {
    **dict.fromkeys(["resnet34", "resnet50", "wide_resnet50_2"], {"conv1.weight"}),
    **dict.fromkeys(
        ["vgg11_bn", "vgg16_bn"],
        {f"classifier.{key}" for key in ("0.weight", "0.bias", "3.weight", "3.bias", "6.weight")},
    ),
    "densenet121": {"features.conv0.weight"},
    **dict.fromkeys(["mobilenet_v2", "mobilenet_v3_small", "mobilenet_v3_large", "efficientnet_b0"], set()),
    "convnext_tiny": {"features.0.0.weight"},
    **dict.fromkeys(["vit_b_16", "vit_ti_16"], {"conv_proj.weight", "encoder.pos_embedding"}),
}


def build(name, size, num_classes=10, tta="none"):
    return build_model(name, num_classes, [0.5] * 3, [0.25] * 3, tta=tta, image_size=(size, size))


def zeroed(make, *args, **kwargs):
    """`make(*args, **kwargs)` built on the meta device, then given zeroed CPU memory: which ops run and what shapes
    come out do not depend on the weights, and initialising 100 M+ parameters costs more than a pass over 2 images."""
    with torch.device("meta"):
        model = make(*args, **kwargs)
    model = model.to_empty(device="cpu")
    with torch.no_grad():
        for tensor in (*model.parameters(), *model.buffers()):
            tensor.zero_()
    return model


def test_every_registered_torchvision_network_is_covered_and_documented():
    from pathlib import Path

    from multisheets.study.config import SCHEMA

    assert set(SMALL_IMAGE_CHANGES) == set(ZOO) and len(ZOO) == 13
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    table = readme.split("### Architectures", 1)[1].split("\n### ", 1)[0]
    described = SCHEMA["$defs"]["hyperparameters"]["properties"]["model"]["description"]
    assert [name for name in ARCHITECTURES if f"`{name}`" not in table or name not in described] == []


def pooled_side(model, images):
    """The side of the feature map the network's last pool averages (ViT: of its grid of tokens), checking that
    the model gives one row of logits per image."""
    backbone = model.backbone
    if isinstance(backbone, VisionTransformer):
        assert model(images).shape == (2, 10)
        return backbone.image_size // backbone.patch_size
    pool = [m for m in backbone.modules() if isinstance(m, (GlobalPool, AdaptiveAvgPool))][-1]
    seen = []
    handle = pool.register_forward_pre_hook(lambda module, args: seen.append(args[0].shape))
    assert model(images).shape == (2, 10)
    handle.remove()
    assert seen[-1][2] == seen[-1][3]
    return seen[-1][2]


@pytest.mark.parametrize("name", ZOO)
@torch.no_grad()
def test_logits_at_every_image_size_and_the_positions_left_to_pool(name):
    """28 px (greyscale digits as RGB), 32 px (CIFAR), 64 px, 96 px (STL-10). A 32 px image keeps 4x4 positions
    (VGG 2x2, ViT 8x8 tokens) where torchvision's stem would leave 1x1; from 64 px on, torchvision's own 32x."""
    expected = {28: None, 32: 4, 64: 2, 96: 3}  # downsampled 8x below SMALL_IMAGE_SIDE, else 32x
    if name.startswith("vgg"):
        expected[32] = 2  # its five max-pools less the last
    if name.startswith("vit"):
        expected = {28: 7, 32: 8, 64: 4, 96: 6}  # 4x4 patches, else 16x16
    assert SMALL_IMAGE_SIDE == 64
    for size, side in expected.items():
        found = pooled_side(zeroed(build, name, size).train(), torch.rand(2, 3, size, size))
        assert side is None or found == side, (size, found)


@pytest.mark.parametrize("name", ZOO)
def test_parameter_names_are_torchvisions(name):
    """An ImageNet state_dict matches name for name (the pretrained-init loader relies on it): every shape at
    ImageNet sizes, all but the stem and head at small images."""
    with torch.device("meta"):
        reference = {key: value.shape for key, value in REFERENCE[name](num_classes=10).state_dict().items()}
        large = {key: value.shape for key, value in build(name, 224).backbone.state_dict().items()}
        small = {key: value.shape for key, value in build(name, 32).backbone.state_dict().items()}
    assert large == reference
    assert small.keys() == reference.keys()
    assert {key for key in small if small[key] != reference[key]} == SMALL_IMAGE_CHANGES[name]


@pytest.mark.parametrize("name", ZOO)
def test_no_module_without_a_deterministic_cuda_backward(name):
    with torch.device("meta"):
        for size in (32, 224):
            assert not [m for m in build(name, size).modules() if isinstance(m, NONDETERMINISTIC_ON_CUDA)]


# The aten ops of what torch.use_deterministic_algorithms(True) refuses on CUDA: the list "The following
# normally-nondeterministic operations will throw a RuntimeError when mode=True" of its documentation (PyTorch
# 2.x). Ops of its other list ("will act deterministically when mode=True") are fine: the runtime sets mode=True.
NONDETERMINISTIC_OPS = {
    *("avg_pool3d_backward", "_adaptive_avg_pool2d_backward", "_adaptive_avg_pool3d_backward"),
    *("adaptive_max_pool2d_backward", "fractional_max_pool2d_backward", "fractional_max_pool3d_backward"),
    *("max_unpool2d", "max_unpool3d"),  # MaxUnpool1d runs as max_unpool2d
    *("upsample_linear1d_backward", "upsample_bilinear2d_backward", "upsample_bicubic2d_backward"),
    *("upsample_trilinear3d_backward", "_upsample_bilinear2d_aa_backward", "_upsample_bicubic2d_aa_backward"),
    *("reflection_pad1d_backward", "reflection_pad2d_backward", "reflection_pad3d_backward"),
    *("nll_loss2d_forward", "_ctc_loss_backward", "_embedding_bag_dense_backward"),  # EmbeddingBag: any mode
    *("put", "put_", "histc", "bincount", "median", "grid_sampler_2d_backward", "grid_sampler_3d_backward"),
}


class OpLog(TorchDispatchMode):
    """Every aten op dispatched while active, forward and backward (what reaches the kernels)."""

    def __init__(self):
        super().__init__()
        self.ops = set()

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        name = func.name().removeprefix("aten::").split(".")[0]
        if name.startswith("scatter_reduce") and "prod" in (*args, *kwargs.values()):
            name = "scatter_reduce(prod)"  # refused on CUDA only with reduce="prod"
        self.ops.add(name)
        return func(*args, **kwargs)


def refused_ops(forward_backward) -> set[str]:
    with OpLog() as log:
        forward_backward()
    return (log.ops & NONDETERMINISTIC_OPS) | {op for op in log.ops if op == "scatter_reduce(prod)"}


def training_step(model, size):
    return lambda: model.train()(torch.rand(2, 3, size, size)).logsumexp(1).sum().backward()


def attack_step(model, size):
    """What an attack differentiates: the model in eval mode, test-time augmentation included, to its input."""
    images = torch.rand(1, 3, size, size, requires_grad=True)
    return lambda: model.eval()(images).logsumexp(1).sum().backward()


@pytest.mark.parametrize("name", ZOO)
def test_no_op_without_a_deterministic_cuda_backward(name):
    """The proof for `runtime.deterministic: true` on GPUs: one training step of the small-image variant and one
    attack gradient through the ImageNet variant (with test-time augmentation) dispatch no refused op."""
    torch.manual_seed(0)
    assert refused_ops(training_step(zeroed(build, name, 32), 32)) == set()
    large = zeroed(build, name, SMALL_IMAGE_SIDE, tta="flip_translate")
    assert refused_ops(attack_step(large, SMALL_IMAGE_SIDE)) == set()


def test_the_op_check_finds_what_torch_refuses():
    """Unmodified torchvision VGG pools to 7x7 with the refused kernel; so do upsampling and reflection padding.

    Unmodified ResNet has an AdaptiveAvgPool2d module, which the module check refuses, but its trace is clean: ATen
    computes an adaptive average pool to 1x1 as a mean (adaptive_avg_pool2d in ATen's AdaptiveAveragePooling.cpp,
    on every device), whose backward is deterministic. That is why the op trace, not the module list, is the proof.
    """
    torch.manual_seed(0)
    vgg = zeroed(tv.vgg11_bn, num_classes=10)
    assert refused_ops(training_step(vgg, 32)) == {"_adaptive_avg_pool2d_backward"}
    x = torch.rand(1, 2, 4, 4, requires_grad=True)
    upsampled = lambda: torch.nn.functional.interpolate(x, scale_factor=2, mode="bilinear").sum().backward()  # noqa: E731
    assert refused_ops(upsampled) == {"upsample_bilinear2d_backward"}
    padded = lambda: torch.nn.functional.pad(x, (1, 1, 1, 1), mode="reflect").sum().backward()  # noqa: E731
    assert refused_ops(padded) == {"reflection_pad2d_backward"}
    resnet = zeroed(tv.resnet34, num_classes=10)
    assert [type(m) for m in resnet.modules() if isinstance(m, NONDETERMINISTIC_ON_CUDA)] == [
        torch.nn.AdaptiveAvgPool2d
    ]
    assert refused_ops(training_step(resnet, 32)) == set()


@pytest.mark.parametrize("sizes", [(1, 7), (2, 7), (3, 7), (7, 7), (10, 7), (9, 4), (5, 1)])
def test_adaptive_avg_pool_is_torchs(sizes):
    side, out = sizes
    x = torch.randn(2, 3, side, side + 1, requires_grad=True)
    ours, theirs = AdaptiveAvgPool(out)(x), torch.nn.AdaptiveAvgPool2d(out)(x)
    assert torch.allclose(ours, theirs, atol=1e-6)
    weights = torch.randn_like(ours)
    ours_grad = torch.autograd.grad((ours * weights).sum(), x)[0]
    assert torch.allclose(ours_grad, torch.autograd.grad((theirs * weights).sum(), x)[0], atol=1e-6)


def test_fixed_width_and_image_size_are_asked_for():
    with pytest.raises(ValueError, match="'resnet50' has fixed widths .* width must be null, not 16"):
        build_model("resnet50", 10, [0.5] * 3, [0.25] * 3, width=16, image_size=(32, 32))
    with pytest.raises(ValueError, match="'resnet50' depends on the image size"):
        build_model("resnet50", 10, [0.5] * 3, [0.25] * 3)
    with pytest.raises(ValueError, match="square images whose side is a multiple of its 4x4 patches; these are 30x30"):
        build("vit_ti_16", 30)
    with pytest.raises(ValueError, match="these are 32x48"):
        build_model("vit_ti_16", 10, [0.5] * 3, [0.25] * 3, image_size=(32, 48))
    build_model("resnet18", 10, [0.5] * 3, [0.25] * 3, width=8, image_size=(32, 32))  # ours ignore image_size


@pytest.mark.slow
@pytest.mark.parametrize("name", ZOO)
def test_compiles_into_one_graph_with_aot_autograd(name):
    torch._dynamo.reset()
    torch.manual_seed(0)
    model = build(name, 32).train()
    compiled = torch.compile(model, backend="aot_eager", fullgraph=True)
    images = torch.rand(2, 3, 32, 32)
    compiled(images).logsumexp(1).sum().backward()
    assert all(p.grad is not None and p.grad.isfinite().all() for p in model.parameters() if p.requires_grad)
