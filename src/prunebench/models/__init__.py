"""The model zoo: one registry, one builder per architecture, each registered with the input shape
and class count of the data set it is usually trained on.

Importing this package registers every model; adding a model means one new module plus one import
line below.
"""
from __future__ import annotations

from .zoo import FAMILIES, MODELS, build_model, model_info, register_model

from . import cnn1d, lenet, mlp, resnet_cifar, resnet_imagenet, vgg  # noqa: E402,F401  (registration)

__all__ = ["FAMILIES", "MODELS", "build_model", "model_info", "register_model"]
