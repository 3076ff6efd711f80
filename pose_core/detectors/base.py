"""The result type of every person detector, and the interface of a family's box decoder."""
from __future__ import annotations

import abc
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class PersonBox:
    """One detected person: (x0, y0) top-left and (x1, y1) bottom-right corner in pixels, and a score."""
    x0: float
    y0: float
    x1: float
    y1: float
    score: float

    @property
    def width(self) -> float:
        return self.x1 - self.x0

    @property
    def height(self) -> float:
        return self.y1 - self.y0


class BoxDecoder(abc.ABC):
    """Raw network outputs of one image -> person boxes in network-input pixels, best first."""

    @abc.abstractmethod
    def decode(self, outputs: list[np.ndarray], input_size: tuple[int, int]) -> list[PersonBox]:
        ...
