import pytest
import torch

from multisheets.models import build_model


@pytest.mark.parametrize("name,width", [("resnet18", 8), ("cnn", 8)])
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
