"""Knowledge distillation towards a teacher's logits (Hinton, Vinyals & Dean, 2015).

Used to distil an ensemble of prompts into one prompt: the teacher's logits on the training
images are computed once and handed to :func:`promptkit.train.train_prompt`.
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor

__all__ = ["distillation_loss"]


def distillation_loss(student: Tensor, teacher: Tensor, *, temperature: float) -> Tensor:
    """``T^2 * KL(softmax(teacher / T) || softmax(student / T))``, averaged over the batch.

    Knowledge distillation (Hinton, Vinyals & Dean, 2015); the T^2 keeps the gradient scale
    independent of the temperature.

    Shape:
        student, teacher: ``(B, C)``; output: ``()``.
    """
    t = temperature
    return F.kl_div(F.log_softmax(student / t, dim=1), F.log_softmax(teacher / t, dim=1), log_target=True,
                    reduction="batchmean") * (t * t)
