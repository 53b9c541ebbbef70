"""The policy guard: which policy verdicts are made under, and whether a write may go on."""

from __future__ import annotations

import json
from typing import Any

from usagelens.domain.errors import NotConfigured, PolicyMismatch
from usagelens.domain.policy import Policy, policy_from_document
from usagelens.ports import Store, StoreState, UnitOfWork


class PolicyGuard:
    """Hold the policy this process was configured with against the one the store keeps.

    ``configured=None`` follows the policy stored with the data (the default policy for
    a new store). A process configured with another policy than the store's must neither
    show nor write numbers: it is refused (PolicyMismatch) until a rebuild.
    """

    def __init__(self, store: Store, configured: Policy | None = None) -> None:
        self.store = store
        self.configured = configured
        self._stored: tuple[str, Policy] | None = None

    def in_force(self, state: StoreState) -> Policy:
        """Return the policy verdicts are made under, refusing one that disagrees."""
        wanted = self.configured
        if state.policy_fingerprint is None or state.policy_document is None:
            return wanted or Policy()
        if wanted is not None:
            if wanted.fingerprint != state.policy_fingerprint:
                raise PolicyMismatch(state.policy_fingerprint, wanted.fingerprint)
            return wanted
        cached = self._stored
        if cached is None or cached[0] != state.policy_fingerprint:
            policy = policy_from_document(json.loads(state.policy_document))
            cached = self._stored = (state.policy_fingerprint, policy)
        return cached[1]

    def current(self) -> Policy:
        """Return the policy in force for the store as it is now."""
        return self.in_force(self.store.state())

    def describe(self) -> dict[str, Any]:
        """Return the policy in force as a document, with its fingerprint and where it
        comes from (``USAGELENS_POLICY_FILE``, the store, or the defaults of a new store)."""
        state = self.store.state()
        policy = self.in_force(state)
        if self.configured is not None:
            source = "USAGELENS_POLICY_FILE"
        else:
            source = "store" if state.policy_fingerprint is not None else "defaults"
        return {
            "fingerprint": policy.fingerprint,
            "source": source,
            "policy": policy.to_document(),
        }

    def writable(self, uow: UnitOfWork) -> Policy:
        """Check a write may proceed; adopt the policy into a store that has none."""
        state = uow.state.get()
        if state.stale:
            raise NotConfigured(
                "the stored aggregates predate this version of usagelens: "
                "run `usagelens rebuild` (serve and the CLI do it when they open the store)"
            )
        policy = self.in_force(state)
        if state.policy_fingerprint is None:
            uow.state.set_policy(policy.fingerprint, json.dumps(policy.to_document()))
        return policy


__all__ = ["PolicyGuard"]
