"""usagelens: what each team's infrastructure really uses, what it costs, what to cut."""

__version__ = "0.1.0"

from usagelens.app import Handlers, build
from usagelens.domain.errors import UsageLensError

__all__ = ["Handlers", "UsageLensError", "__version__", "build"]
