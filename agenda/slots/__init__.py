"""Weekly pools of SNP slots (fixed and floating), the CPTS charter and its rules.

The demo step is registered here, when the models are first imported (before any
blueprint), so that the slots exist before the demo steps of the packages that use them.
"""

from agenda.slots import demo as _demo  # noqa: E402,F401
from agenda.slots import tasks as _tasks  # noqa: E402,F401
