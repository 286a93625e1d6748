"""The one exception root of the DSM model: :class:`DSMError`, a :class:`pencils.PencilsError`.

Every error of the model (bad input to the theory, the Gaussian-equivalence
constants, the activations, the simulator) derives from it, so that the
command line reports all of them the same way (one ``pencils: error:`` line).
"""

from pencils import PencilsError

__all__ = ["DSMError"]


class DSMError(PencilsError, ValueError):
    """Bad input to the DSM model, or a computation of the model that cannot be done (the message says why)."""
