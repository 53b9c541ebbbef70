"""A course-compatible monitoring source that generates deterministic, realistic data."""

from usagelens.simulator.app import create_simulator_app
from usagelens.simulator.data import Company, company, price_list_yaml

__all__ = ["Company", "company", "create_simulator_app", "price_list_yaml"]
