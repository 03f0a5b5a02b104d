import pytest
import torch
from hypothesis import settings

settings.register_profile("minillm", deadline=None, max_examples=40, derandomize=True)
settings.load_profile("minillm")


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


def pytest_collection_modifyitems(config, items):
    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs CUDA")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)
