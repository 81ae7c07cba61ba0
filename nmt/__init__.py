"""nmt: a small, readable, fast Transformer translation toolkit."""

from nmt.config import Config, load_config
from nmt.errors import NmtError

__version__ = "0.1.0"
__all__ = ["Config", "NmtError", "Translator", "load_config", "train", "__version__"]


def __getattr__(name: str):  # noqa: ANN202 - lazy: keep `import nmt` light
    if name == "Translator":
        from nmt.translate import Translator

        return Translator
    if name == "train":
        from nmt.trainer import train

        return train
    raise AttributeError(name)
