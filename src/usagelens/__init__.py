"""usagelens: what each team's infrastructure really uses, what it costs, what to cut."""

__version__ = "0.1.0"

from usagelens.domain.errors import UsageLensError
from usagelens.services import UsageLens

__all__ = ["UsageLens", "UsageLensError", "__version__"]
