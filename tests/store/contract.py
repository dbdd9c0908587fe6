"""The store contract: the tests every ``Store`` implementation must pass.

Subclass ``StoreContract`` in a ``test_*.py`` module and implement its two
factories (``open_store``, ``open_unreachable_store``); every test below then
runs against that implementation. The rules of ``broker/store/base.py`` map to:

- atomic conditional transitions: ``SessionContract`` and ``RaceContract``;
- listing and paging: ``ListingContract``;
- side effects in the same transaction: ``EffectContract``;
- all-or-nothing imports: ``ReferenceContract``;
- consent requests decided once, an approval's consent in the same transaction:
  ``ConsentRequestContract``;
- viewer tokens claimed once, atomically, in their region: ``ViewerTokenContract``;
- console sign-ins used once or within their idle bound: ``ConsoleSessionContract``;
- the unit registry and session holders: ``UnitRegistryContract``;
- use from several threads' event loops: ``ThreadContract``;
- the grant's read never older than the last change, and its revision
  guarding the insert: ``GrantReadContract``;
- ``UnavailableError`` / ``NotFoundError`` / ``ConflictError``: all of them.
"""

from __future__ import annotations

from tests.store.contract_consent_requests import ConsentRequestContract
from tests.store.contract_console import ConsoleSessionContract
from tests.store.contract_effects import EffectContract
from tests.store.contract_grants import GrantReadContract
from tests.store.contract_listing import ListingContract
from tests.store.contract_races import RaceContract, ThreadContract
from tests.store.contract_reference import ReferenceContract
from tests.store.contract_sessions import SessionContract
from tests.store.contract_units import UnitRegistryContract
from tests.store.contract_viewer import ViewerTokenContract


class StoreContract(
    ReferenceContract,
    GrantReadContract,
    SessionContract,
    ListingContract,
    EffectContract,
    RaceContract,
    ThreadContract,
    ViewerTokenContract,
    ConsoleSessionContract,
    ConsentRequestContract,
    UnitRegistryContract,
):
    """Every rule of the ``Store`` protocol, as tests."""
